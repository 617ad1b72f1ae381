/* reference.c -- the whole model on one process, trained by the plain
 * micro-batch loop that the pipeline must reproduce:
 *
 *   for every step:
 *     for every replica r (data parallel; one when there is none), in order:
 *       for every micro-batch m of r's share of the batch, in order:
 *         forward through the input layer (if any), every block and the
 *         output layer (if any), loss;
 *         backward the same way back, adding m's gradients to r's sum;
 *     the replicas' sums added in replica order;
 *     SGD with the total, gradients back to zero.
 *
 * It calls the same block functions as the pipeline, in the same order for
 * each micro-batch, so a correct pipeline ends on exactly the same bits.
 * Left out on purpose: any parallelism (that is the point).
 */
#include "model.h"

#include <stdlib.h>
#include <string.h>

long pp_model_params(const pp_model_cfg *c)
{
    return (long)c->depth * pp_block_params(c) + (c->features > 0 ? 2L * c->features * c->width : 0);
}

/* The input and output layers' weights and gradients (features > 0; else NULL). */
typedef struct {
    pp_tensor *Win, *gin, *Wout, *gout;
} ends;

/* Everything one micro-batch keeps between its forward and its backward. */
typedef struct {
    pp_tensor **x, **h, **a;   /* [depth] each block's input, pre-activation, activation */
    pp_tensor *top;            /* with an output layer: the last block's output, its input (rows x width) */
    pp_tensor *y, *dy;         /* the model's output and the loss gradient (rows x io) */
} keep;

/* The per-block lists of a keep; 1 if they were allocated. */
static int keep_lists(keep *k, int L)
{
    k->x = calloc((size_t)L, sizeof *k->x);
    k->h = calloc((size_t)L, sizeof *k->h);
    k->a = calloc((size_t)L, sizeof *k->a);
    return k->x && k->h && k->a;
}

static void keep_free(keep *k, int L)
{
    for (int l = 0; l < L; l++) {
        pp_tensor_free(k->x[l]), pp_tensor_free(k->h[l]), pp_tensor_free(k->a[l]);
        k->x[l] = k->h[l] = k->a[l] = NULL;
    }
    pp_tensor_free(k->top), pp_tensor_free(k->y), pp_tensor_free(k->dy);
    k->top = k->y = k->dy = NULL;
}

/* Forward of rows of x through the input layer (if any) and every block,
 * then the output layer (if any); the blocks' inputs, h and a are kept in
 * k (and the output layer's input in k->top), the output in k->y. */
static pp_status forward_all(const pp_model_cfg *c, pp_block *w, const ends *e, const pp_tensor *x, keep *k,
                             pp_mem *mem)
{
    int n = x->rows, d = c->width, f = c->hidden, io = pp_model_io(c);
    pp_status st = pp_tensor_new(mem, PP_MEM_ACTS, n, d, &k->x[0]);
    if (st == PP_OK && e->Win) pp_end_forward(e->Win, x, k->x[0]);
    else if (st == PP_OK) pp_ops_now()->copy(k->x[0]->data, x->data, pp_tensor_bytes(x));
    for (int l = 0; l < c->depth && st == PP_OK; l++) {
        pp_tensor **y = l + 1 < c->depth ? &k->x[l + 1] : e->Wout ? &k->top : &k->y;
        pp_mem_role r = l + 1 < c->depth || e->Wout ? PP_MEM_ACTS : PP_MEM_OTHER;
        if ((st = pp_tensor_new(mem, PP_MEM_ACTS, n, f, &k->h[l])) == PP_OK &&
            (st = pp_tensor_new(mem, PP_MEM_ACTS, n, f, &k->a[l])) == PP_OK &&
            (st = pp_tensor_new(mem, r, n, d, y)) == PP_OK)
            st = pp_block_forward(&w[l], k->x[l], k->h[l], k->a[l], *y, NULL);
    }
    if (st == PP_OK && e->Wout && (st = pp_tensor_new(mem, PP_MEM_OTHER, n, io, &k->y)) == PP_OK)
        pp_end_forward(e->Wout, k->top, k->y);
    return st;
}

/* Backward from k->dy through the output layer (if any), every block and
 * the input layer (if any), adding to the gradients g and e's. */
static pp_status backward_all(const pp_model_cfg *c, pp_block *w, pp_block *g, const ends *e, const pp_tensor *x,
                              keep *k, pp_mem *mem)
{
    int n = k->dy->rows, d = c->width, f = c->hidden;
    pp_tensor *dy = k->dy, *dh = NULL, *dx = NULL;
    pp_status st = PP_OK;
    if (e->Wout && (st = pp_tensor_new(mem, PP_MEM_OTHER, n, d, &dy)) == PP_OK) {
        pp_end_backward_input(e->Wout, k->dy, dy);
        pp_end_backward_weight(e->gout, k->top, k->dy);
    }
    for (int l = c->depth - 1; l >= 0 && st == PP_OK; l--) {
        st = pp_tensor_new(mem, PP_MEM_OTHER, n, f, &dh);
        if (st == PP_OK && (l > 0 || e->Win)) st = pp_tensor_new(mem, PP_MEM_OTHER, n, d, &dx);
        if (st != PP_OK) break;
        st = pp_block_backward_input(&w[l], k->h[l], dy, dh, dx, NULL);
        pp_block_backward_weight(&g[l], k->x[l], k->a[l], dy, dh);
        if (dy != k->dy) pp_tensor_free(dy);
        pp_tensor_free(dh);
        dy = dx, dh = dx = NULL;
    }
    if (st == PP_OK && e->Win) pp_end_backward_weight(e->gin, x, dy);   /* dy: the input layer's output gradient */
    if (dy != k->dy) pp_tensor_free(dy);
    return st;
}

/* into += from for one tensor, then from = 0. */
static void add_grad(pp_tensor *into, pp_tensor *from)
{
    long n = (long)into->rows * into->cols;
    pp_ops_now()->add(into->data, into->data, from->data, n);
    pp_ops_now()->sgd(from->data, from->data, 0.0f, n);   /* w -= 0 g, then g = 0: only the zeroing */
}

/* Adds gradient sums: into += from (every tensor of every block, then the
 * end layers'), then from = 0. */
static void add_grads(const pp_model_cfg *c, pp_block *into, pp_block *from, const ends *e_into, const ends *e_from)
{
    for (int l = 0; l < c->depth; l++) {
        pp_tensor *a[4] = {into[l].W1, into[l].b1, into[l].W2t, into[l].b2};
        pp_tensor *b[4] = {from[l].W1, from[l].b1, from[l].W2t, from[l].b2};
        for (int k = 0; k < 4; k++) add_grad(a[k], b[k]);
    }
    if (e_into->gin) add_grad(e_into->gin, e_from->gin), add_grad(e_into->gout, e_from->gout);
}

/* The whole model: its blocks' weights (from the seed), their zeroed
 * gradients, and the end layers (features > 0). */
typedef struct {
    pp_block *w, *g;   /* [depth] */
    ends e;
} whole;

/* One step over the batch: D replicas' shares in M micro-batches each;
 * replica 0 sums into model's gradients, the others into other's, added to
 * model's in order; the loss likewise. */
static pp_status one_step(const pp_model_cfg *c, whole *model, whole *other, const pp_tensor *A, int step, int D, int M,
                          keep *k, double *loss, pp_mem *mem)
{
    int share = c->batch / D, rows = share / M, io = pp_model_io(c);
    pp_tensor *x = NULL, *t = NULL;
    pp_status st = PP_OK;
    for (int rep = 0; rep < D && st == PP_OK; rep++) {
        whole *into = rep == 0 ? model : other;   /* the weights are always model's */
        ends e = {model->e.Win, into->e.gin, model->e.Wout, into->e.gout};
        double part = 0;
        for (int mb = 0; mb < M && st == PP_OK; mb++) {
            if ((st = pp_tensor_new(mem, PP_MEM_OTHER, rows, io, &x)) == PP_OK &&
                (st = pp_tensor_new(mem, PP_MEM_OTHER, rows, io, &t)) == PP_OK &&
                (st = pp_model_inputs(c, step, rep * share + mb * rows, x)) == PP_OK &&
                (st = forward_all(c, model->w, &e, x, k, mem)) == PP_OK &&
                (st = pp_tensor_new(mem, PP_MEM_ACTS, rows, io, &k->dy)) == PP_OK) {
                pp_model_targets(A, x, t);
                part += pp_ops_now()->mse(k->dy->data, k->y->data, t->data, (long)rows * io,
                                          1.0f / ((float)c->batch * (float)io));
                st = backward_all(c, model->w, into->g, &e, x, k, mem);
            }
            keep_free(k, c->depth);
            pp_tensor_free(x), pp_tensor_free(t);
            x = t = NULL;
        }
        if (rep > 0 && st == PP_OK) add_grads(c, model->g, other->g, &model->e, &other->e);
        *loss = rep == 0 ? part : *loss + part;
    }
    for (int l = 0; l < c->depth && st == PP_OK; l++) pp_block_sgd(&model->w[l], &model->g[l], c->lr);
    if (st == PP_OK && model->e.Win) {
        const pp_ops *op = pp_ops_now();
        op->sgd(model->e.Win->data, model->e.gin->data, c->lr, (long)model->e.Win->rows * model->e.Win->cols);
        op->sgd(model->e.Wout->data, model->e.gout->data, c->lr, (long)model->e.Wout->rows * model->e.Wout->cols);
    }
    return st;
}

static pp_status model_new(const pp_model_cfg *c, whole *m, pp_mem *mem)
{
    memset(m, 0, sizeof *m);
    m->w = calloc((size_t)c->depth, sizeof *m->w);
    m->g = calloc((size_t)c->depth, sizeof *m->g);
    if (!m->w || !m->g) return PP_ENOMEM;
    pp_status st = PP_OK;
    for (int l = 0; l < c->depth && st == PP_OK; l++) st = pp_block_pair_new(c, l, 1, 0, mem, &m->w[l], &m->g[l]);
    if (st == PP_OK && c->features > 0 && (st = pp_end_pair_new(c, 0, mem, &m->e.Win, &m->e.gin)) == PP_OK)
        st = pp_end_pair_new(c, 1, mem, &m->e.Wout, &m->e.gout);
    return st;
}

static void model_free(const pp_model_cfg *c, whole *m)
{
    for (int l = 0; l < c->depth; l++) {
        if (m->w) pp_block_free(&m->w[l]);
        if (m->g) pp_block_free(&m->g[l]);
    }
    free(m->w), free(m->g);
    pp_tensor_free(m->e.Win), pp_tensor_free(m->e.gin), pp_tensor_free(m->e.Wout), pp_tensor_free(m->e.gout);
    memset(m, 0, sizeof *m);
}

pp_status pp_reference_train(const pp_model_cfg *c, int M, int steps, float *params, double *losses, pp_mem *mem)
{
    return pp_reference_train_dp(c, 1, M, steps, params, losses, mem);
}

pp_status pp_reference_train_dp(const pp_model_cfg *c, int D, int M, int steps, float *params, double *losses,
                                 pp_mem *mem)
{
    if (M < 1 || D < 1 || c->batch % (D * M) != 0) return PP_EARG;
    whole m = {0}, r = {0};   /* r: a second set of gradients for the replicas after the first (its weights unused) */
    pp_tensor *A = NULL;
    keep k = {0};
    pp_status st = keep_lists(&k, c->depth) ? model_new(c, &m, mem) : PP_ENOMEM;
    if (st != PP_OK || (D > 1 && (st = model_new(c, &r, mem)) != PP_OK) || (st = pp_model_teacher(c, mem, &A)) != PP_OK)
        goto done;
    for (int s = 0; s < steps; s++) {
        double loss = 0;
        if ((st = one_step(c, &m, &r, A, s, D, M, &k, &loss, mem)) != PP_OK) goto done;
        if (losses) losses[s] = loss;
    }
    for (int l = 0; l < c->depth && params; l++)
        if ((st = pp_block_to_host(&m.w[l], params + l * pp_block_params(c))) != PP_OK) goto done;
    if (params && m.e.Win) {   /* then Win and Wout, after the blocks */
        float *at = params + (long)c->depth * pp_block_params(c);
        pp_ops_now()->to_host(at, m.e.Win->data, pp_tensor_bytes(m.e.Win));
        pp_ops_now()->to_host(at + (long)c->features * c->width, m.e.Wout->data, pp_tensor_bytes(m.e.Wout));
    }
done:
    model_free(c, &m);
    model_free(c, &r);
    pp_tensor_free(A);
    free(k.x), free(k.h), free(k.a);
    return st;
}

pp_status pp_reference_forward(const pp_model_cfg *c, const pp_tensor *x, pp_tensor *y)
{
    whole m = {0};
    keep k = {0};
    pp_status st = keep_lists(&k, c->depth) ? model_new(c, &m, NULL) : PP_ENOMEM;
    if (st == PP_OK && (st = forward_all(c, m.w, &m.e, x, &k, NULL)) == PP_OK)
        pp_ops_now()->copy(y->data, k.y->data, pp_tensor_bytes(y));
    keep_free(&k, c->depth);
    model_free(c, &m);
    free(k.x), free(k.h), free(k.a);
    return st;
}
