/* reference.c -- the whole model on one process, trained by the plain
 * micro-batch loop that the pipeline must reproduce:
 *
 *   for every step:
 *     for every replica r (data parallel; one when there is none), in order:
 *       for every micro-batch m of r's share of the batch, in order:
 *         forward through every block, loss;
 *         backward through every block, adding m's gradients to r's sum;
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
    return (long)c->depth * pp_block_params(c);
}

/* Everything one micro-batch keeps between its forward and its backward. */
typedef struct {
    pp_tensor **x, **h, **a;   /* [depth] each block's input, pre-activation, activation */
    pp_tensor *y, *dy;         /* the output and the loss gradient (rows x width) */
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
    pp_tensor_free(k->y), pp_tensor_free(k->dy);
    k->y = k->dy = NULL;
}

/* Forward of rows of x through every block; the blocks' inputs, h and a are
 * kept in k, the output in k->y. */
static pp_status forward_all(const pp_model_cfg *c, pp_block *w, const pp_tensor *x, keep *k, pp_mem *mem)
{
    int n = x->rows, d = c->width, f = c->hidden;
    pp_status st = pp_tensor_new(mem, PP_MEM_ACTS, n, d, &k->x[0]);
    if (st == PP_OK) pp_ops_now()->copy(k->x[0]->data, x->data, pp_tensor_bytes(x));
    for (int l = 0; l < c->depth && st == PP_OK; l++) {
        pp_tensor **y = l + 1 < c->depth ? &k->x[l + 1] : &k->y;
        pp_mem_role r = l + 1 < c->depth ? PP_MEM_ACTS : PP_MEM_OTHER;
        if ((st = pp_tensor_new(mem, PP_MEM_ACTS, n, f, &k->h[l])) == PP_OK &&
            (st = pp_tensor_new(mem, PP_MEM_ACTS, n, f, &k->a[l])) == PP_OK &&
            (st = pp_tensor_new(mem, r, n, d, y)) == PP_OK)
            st = pp_block_forward(&w[l], k->x[l], k->h[l], k->a[l], *y, NULL);
    }
    return st;
}

/* Backward from k->dy through every block, adding to the gradients g. */
static pp_status backward_all(const pp_model_cfg *c, pp_block *w, pp_block *g, keep *k, pp_mem *mem)
{
    int n = k->dy->rows, d = c->width, f = c->hidden;
    pp_tensor *dy = k->dy, *dh = NULL, *dx = NULL;
    pp_status st = PP_OK;
    for (int l = c->depth - 1; l >= 0 && st == PP_OK; l--) {
        st = pp_tensor_new(mem, PP_MEM_OTHER, n, f, &dh);
        if (st == PP_OK && l > 0) st = pp_tensor_new(mem, PP_MEM_OTHER, n, d, &dx);
        if (st != PP_OK) break;
        st = pp_block_backward_input(&w[l], k->h[l], dy, dh, l > 0 ? dx : NULL, NULL);
        pp_block_backward_weight(&g[l], k->x[l], k->a[l], dy, dh);
        if (dy != k->dy) pp_tensor_free(dy);
        pp_tensor_free(dh);
        dy = dx, dh = dx = NULL;
    }
    if (dy != k->dy) pp_tensor_free(dy);
    return st;
}

/* Adds gradient sums: into += from (every tensor of every block), then from = 0. */
static void add_grads(const pp_model_cfg *c, pp_block *into, pp_block *from)
{
    const pp_ops *op = pp_ops_now();
    for (int l = 0; l < c->depth; l++) {
        pp_tensor *a[4] = {into[l].W1, into[l].b1, into[l].W2t, into[l].b2};
        pp_tensor *b[4] = {from[l].W1, from[l].b1, from[l].W2t, from[l].b2};
        for (int k = 0; k < 4; k++) {
            long n = (long)a[k]->rows * a[k]->cols;
            op->add(a[k]->data, a[k]->data, b[k]->data, n);
            op->sgd(b[k]->data, b[k]->data, 0.0f, n);   /* w -= 0 g, then g = 0: only the zeroing */
        }
    }
}

/* One step over the batch: D replicas' shares in M micro-batches each;
 * replica 0 sums into g, the others into gr, added to g in order; the loss
 * likewise. */
static pp_status one_step(const pp_model_cfg *c, pp_block *w, pp_block *g, pp_block *gr, const pp_tensor *A,
                          int step, int D, int M, keep *k, double *loss, pp_mem *mem)
{
    int share = c->batch / D, rows = share / M, d = c->width;
    pp_tensor *x = NULL, *t = NULL;
    pp_status st = PP_OK;
    for (int r = 0; r < D && st == PP_OK; r++) {
        double part = 0;
        for (int m = 0; m < M && st == PP_OK; m++) {
            if ((st = pp_tensor_new(mem, PP_MEM_OTHER, rows, d, &x)) == PP_OK &&
                (st = pp_tensor_new(mem, PP_MEM_OTHER, rows, d, &t)) == PP_OK &&
                (st = pp_model_inputs(c, step, r * share + m * rows, x)) == PP_OK &&
                (st = forward_all(c, w, x, k, mem)) == PP_OK &&
                (st = pp_tensor_new(mem, PP_MEM_ACTS, rows, d, &k->dy)) == PP_OK) {
                pp_model_targets(A, x, t);
                part += pp_ops_now()->mse(k->dy->data, k->y->data, t->data, (long)rows * d,
                                          1.0f / ((float)c->batch * (float)d));
                st = backward_all(c, w, r == 0 ? g : gr, k, mem);
            }
            keep_free(k, c->depth);
            pp_tensor_free(x), pp_tensor_free(t);
            x = t = NULL;
        }
        if (r > 0 && st == PP_OK) add_grads(c, g, gr);
        *loss = r == 0 ? part : *loss + part;
    }
    for (int l = 0; l < c->depth && st == PP_OK; l++) pp_block_sgd(&w[l], &g[l], c->lr);
    return st;
}

/* The whole model's weights (from the seed) and zeroed gradients. */
static pp_status model_new(const pp_model_cfg *c, pp_block **w, pp_block **g, pp_mem *mem)
{
    *w = calloc((size_t)c->depth, sizeof **w);
    *g = calloc((size_t)c->depth, sizeof **g);
    if (!*w || !*g) return PP_ENOMEM;
    pp_status st = PP_OK;
    for (int l = 0; l < c->depth && st == PP_OK; l++) st = pp_block_pair_new(c, l, 1, 0, mem, &(*w)[l], &(*g)[l]);
    return st;
}

static void model_free(const pp_model_cfg *c, pp_block *w, pp_block *g)
{
    for (int l = 0; l < c->depth; l++) {
        if (w) pp_block_free(&w[l]);
        if (g) pp_block_free(&g[l]);
    }
    free(w), free(g);
}

pp_status pp_reference_train(const pp_model_cfg *c, int M, int steps, float *params, double *losses, pp_mem *mem)
{
    return pp_reference_train_dp(c, 1, M, steps, params, losses, mem);
}

pp_status pp_reference_train_dp(const pp_model_cfg *c, int D, int M, int steps, float *params, double *losses,
                                 pp_mem *mem)
{
    if (M < 1 || D < 1 || c->batch % (D * M) != 0) return PP_EARG;
    pp_block *w = NULL, *g = NULL, *gr = NULL, *unused = NULL;
    pp_tensor *A = NULL;
    keep k = {0};
    pp_status st = keep_lists(&k, c->depth) ? model_new(c, &w, &g, mem) : PP_ENOMEM;
    /* A second set of gradients for the replicas after the first (its
     * weights are not used). */
    if (st != PP_OK || (D > 1 && (st = model_new(c, &unused, &gr, mem)) != PP_OK) ||
        (st = pp_model_teacher(c, mem, &A)) != PP_OK)
        goto done;
    for (int s = 0; s < steps; s++) {
        double loss = 0;
        if ((st = one_step(c, w, g, gr, A, s, D, M, &k, &loss, mem)) != PP_OK) goto done;
        if (losses) losses[s] = loss;
    }
    for (int l = 0; l < c->depth && params; l++)
        if ((st = pp_block_to_host(&w[l], params + l * pp_block_params(c))) != PP_OK) goto done;
done:
    model_free(c, w, g);
    if (D > 1) model_free(c, unused, gr);
    pp_tensor_free(A);
    free(k.x), free(k.h), free(k.a);
    return st;
}

pp_status pp_reference_forward(const pp_model_cfg *c, const pp_tensor *x, pp_tensor *y)
{
    pp_block *w = NULL, *g = NULL;
    keep k = {0};
    pp_status st = keep_lists(&k, c->depth) ? model_new(c, &w, &g, NULL) : PP_ENOMEM;
    if (st == PP_OK && (st = forward_all(c, w, x, &k, NULL)) == PP_OK)
        pp_ops_now()->copy(y->data, k.y->data, pp_tensor_bytes(y));
    keep_free(&k, c->depth);
    model_free(c, w, g);
    free(k.x), free(k.h), free(k.a);
    return st;
}
