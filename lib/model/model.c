/* model.c -- the MLP the real mode trains: its blocks (forward, and the two
 * halves of the backward), the synthetic task, the deterministic start, the
 * partition of blocks into stages, and the cost of a block measured on this
 * rank.  (The single-process run it is checked against is reference.c.)
 *
 * One block:  h = x W1 + b1   (rows x hidden)
 *             a = gelu(h)      (rows x hidden)
 *             y = x + a W2 + b2  (rows x width)
 * W2 is kept transposed, as W2t (width x hidden), so that the backward's
 * da = dy W2^T reads it row by row.  The other way round, that multiply had to
 * pack W2 column by column straight after the rest of the stage had pushed it
 * out of the cache, and ran well below its five siblings (make bench compares
 * each multiply inside a stage with the same call made bare).
 * The task: imitate a fixed random teacher, y* = tanh(x A), under the mean
 * squared error.  Inputs, teacher and initial weights are all made from the
 * seed by hashing their position, so any rank makes exactly its own part and
 * the numbers do not depend on how the work is split.
 * Left out on purpose: other layer kinds, optimisers other than plain SGD.
 */
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pp_model_cfg_default(pp_model_cfg *c)
{
    c->depth = 8;
    c->width = 128;
    c->hidden = 512;
    c->batch = 64;
    c->steps = 10;
    c->lr = 0.1f;
    c->seed = 1;
    c->checkpoint = 0;
    c->features = 0;
}

int pp_model_io(const pp_model_cfg *c)
{
    return c->features > 0 ? c->features : c->width;
}

long pp_block_params(const pp_model_cfg *c)
{
    return 2L * c->width * c->hidden + c->hidden + c->width;
}

long pp_stage_act_floats(const pp_model_cfg *c, int blocks, int last, int rows)
{
    long top = c->features > 0 ? c->width + (long)c->features : c->width;   /* the output layer's input, the loss gradient */
    return (long)rows * ((long)blocks * (c->width + 2L * c->hidden) + (last ? top : 0));
}

/* ---- numbers from the seed ------------------------------------------------ */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform number in [-1, 1) for position i of stream `stream`. */
static float uniform(unsigned long seed, uint64_t stream, uint64_t i)
{
    uint64_t h = mix(mix(mix((uint64_t)seed) ^ stream) ^ i);
    return (float)((double)(h >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
}

enum { STREAM_INPUT = 1, STREAM_TEACHER = 2, STREAM_IN_LAYER = 3, STREAM_OUT_LAYER = 4, STREAM_BLOCK = 16 };

/* Fills a rows x cols host array with scale * uniform numbers of a stream,
 * starting at position first * cols. */
static void fill(float *host, int rows, int cols, unsigned long seed, uint64_t stream, uint64_t first, float scale)
{
    for (long i = 0; i < (long)rows * cols; i++)
        host[i] = scale * uniform(seed, stream, first * (uint64_t)cols + (uint64_t)i);
}

pp_status pp_model_inputs(const pp_model_cfg *c, int step, int first, pp_tensor *x)
{
    float *host = malloc(pp_tensor_bytes(x) + 1);
    if (!host) return PP_ENOMEM;
    fill(host, x->rows, x->cols, c->seed, STREAM_INPUT, (uint64_t)step * (uint64_t)c->batch + (uint64_t)first, 1.0f);
    pp_ops_now()->from_host(x->data, host, pp_tensor_bytes(x));
    free(host);
    return PP_OK;
}

pp_status pp_model_teacher(const pp_model_cfg *c, pp_mem *mem, pp_tensor **A)
{
    int d = pp_model_io(c);
    pp_status st = pp_tensor_new(mem, PP_MEM_OTHER, d, d, A);
    if (st != PP_OK) return st;
    float *host = malloc(pp_tensor_bytes(*A));
    if (!host) {
        pp_tensor_free(*A);
        *A = NULL;
        return PP_ENOMEM;
    }
    /* Scaled so that x A has unit variance: tanh then bends it. */
    fill(host, d, d, c->seed, STREAM_TEACHER, 0, 3.0f / sqrtf((float)d));
    pp_ops_now()->from_host((*A)->data, host, pp_tensor_bytes(*A));
    free(host);
    return PP_OK;
}

void pp_model_targets(const pp_tensor *A, const pp_tensor *x, pp_tensor *t)
{
    int d = A->cols;
    pp_ops_now()->gemm(0, 0, x->rows, d, d, x->data, A->data, 0.0f, t->data);
    pp_ops_now()->tanh_(t->data, (long)t->rows * d);
}

/* ---- a block's weights ---------------------------------------------------- */

void pp_block_free(pp_block *b)
{
    if (!b) return;
    pp_tensor_free(b->W1);
    pp_tensor_free(b->b1);
    pp_tensor_free(b->W2t);
    pp_tensor_free(b->b2);
    memset(b, 0, sizeof *b);
}

/* Allocates a block's four tensors (zeroed) under `role`, for a slice of
 * f columns of W1 (and rows of W2, so columns of W2t). */
static pp_status block_new(const pp_model_cfg *c, int f, pp_mem *mem, pp_mem_role role, pp_block *b)
{
    memset(b, 0, sizeof *b);
    int d = c->width;
    pp_status st;
    if ((st = pp_tensor_new(mem, role, d, f, &b->W1)) != PP_OK || (st = pp_tensor_new(mem, role, 1, f, &b->b1)) != PP_OK ||
        (st = pp_tensor_new(mem, role, d, f, &b->W2t)) != PP_OK || (st = pp_tensor_new(mem, role, 1, d, &b->b2)) != PP_OK)
        pp_block_free(b);
    return st;
}

/* Block l's starting weights: W1 uniform in +-1/sqrt(width), W2 in
 * +-0.5/sqrt(hidden) (small, so the residual stack starts near the
 * identity), biases zero.  Slice t of T takes hidden columns
 * t f/T .. (t+1) f/T - 1 of W1 and the same rows of W2: the numbers are
 * those of the whole block, cut. */
static pp_status block_init(const pp_model_cfg *c, int l, int T, int t, pp_block *b)
{
    int d = c->width, f = c->hidden, fs = f / T;
    float *host = malloc((size_t)d * f * sizeof *host), *cut = malloc((size_t)d * fs * sizeof *cut);
    if (!host || !cut) {
        free(host), free(cut);
        return PP_ENOMEM;
    }
    fill(host, d, f, c->seed, STREAM_BLOCK + 2 * (uint64_t)l, 0, 1.0f / sqrtf((float)d));
    for (int i = 0; i < d; i++) memcpy(cut + (long)i * fs, host + (long)i * f + (long)t * fs, (size_t)fs * sizeof *cut);
    pp_ops_now()->from_host(b->W1->data, cut, pp_tensor_bytes(b->W1));
    fill(host, fs, d, c->seed, STREAM_BLOCK + 2 * (uint64_t)l + 1, (uint64_t)t * fs, 0.5f / sqrtf((float)f));
    for (int i = 0; i < fs; i++)   /* W2's rows become W2t's columns */
        for (int j = 0; j < d; j++) cut[(long)j * fs + i] = host[(long)i * d + j];
    pp_ops_now()->from_host(b->W2t->data, cut, pp_tensor_bytes(b->W2t));
    free(host), free(cut);
    return PP_OK;
}

pp_status pp_block_pair_new(const pp_model_cfg *c, int l, int T, int t, pp_mem *mem, pp_block *w, pp_block *g)
{
    memset(g, 0, sizeof *g);
    if (T < 1 || c->hidden % T != 0 || t < 0 || t >= T) return PP_EARG;
    pp_status st;
    if ((st = block_new(c, c->hidden / T, mem, PP_MEM_PARAMS, w)) != PP_OK || (st = block_init(c, l, T, t, w)) != PP_OK ||
        (st = block_new(c, c->hidden / T, mem, PP_MEM_GRADS, g)) != PP_OK)
        pp_block_free(w);
    return st;
}

/* ---- forward and backward of one block ------------------------------------ */

/* The tensor-parallel sum of a partial result, if there is one. */
static pp_status tp_sum(const pp_reducer *r, float *buf, long n)
{
    return r ? r->sum(r->ctx, buf, n) : PP_OK;
}

/* Forward of one block on x (rows x width).  Writes h and a (rows x the
 * block's hidden columns) and y (rows x width).  With a reducer (tensor
 * parallel), a W2 holds only some rows, a W2 is a partial sum, and the
 * reducer adds the group's partial sums before the bias and the residual. */
pp_status pp_block_forward(const pp_block *w, const pp_tensor *x, pp_tensor *h, pp_tensor *a, pp_tensor *y,
                           const pp_reducer *r)
{
    const pp_ops *op = pp_ops_now();
    int n = x->rows, d = x->cols, f = w->W1->cols;
    op->gemm(0, 0, n, f, d, x->data, w->W1->data, 0.0f, h->data);   /* h = x W1 */
    op->add_bias(h->data, w->b1->data, n, f);                         /* h += b1  */
    op->gelu(a->data, h->data, (long)n * f);                          /* a = gelu(h) */
    op->gemm(0, 1, n, d, f, a->data, w->W2t->data, 0.0f, y->data);    /* y = a W2 */
    pp_status st = tp_sum(r, y->data, (long)n * d);                   /* summed over the group */
    op->add_bias(y->data, w->b2->data, n, d);                         /* y += b2  */
    op->add(y->data, y->data, x->data, (long)n * d);                  /* y += x (residual) */
    return st;
}

/* The input half of the backward ("I"): from dy (rows x width) makes
 * dh (rows x hidden) and, if dx is not NULL, dx = dy + dh W1^T (with a
 * reducer, dh W1^T is summed over the group first). */
pp_status pp_block_backward_input(const pp_block *w, const pp_tensor *h, const pp_tensor *dy, pp_tensor *dh,
                                  pp_tensor *dx, const pp_reducer *r)
{
    const pp_ops *op = pp_ops_now();
    int n = dy->rows, d = dy->cols, f = w->W1->cols;
    op->gemm(0, 0, n, f, d, dy->data, w->W2t->data, 0.0f, dh->data); /* da = dy W2^T */
    op->gelu_backward(dh->data, dh->data, h->data, (long)n * f);    /* dh = da gelu'(h) */
    if (!dx) return PP_OK;
    op->gemm(0, 1, n, d, f, dh->data, w->W1->data, 0.0f, dx->data);  /* dx = dh W1^T */
    pp_status st = tp_sum(r, dx->data, (long)n * d);                 /* summed over the group */
    op->add(dx->data, dx->data, dy->data, (long)n * d);              /* dx += dy (residual) */
    return st;
}

/* The weight half ("W"): adds this micro-batch's gradients to g. */
void pp_block_backward_weight(pp_block *g, const pp_tensor *x, const pp_tensor *a, const pp_tensor *dy,
                              const pp_tensor *dh)
{
    const pp_ops *op = pp_ops_now();
    int n = dy->rows, d = dy->cols, f = dh->cols;
    op->gemm(1, 0, d, f, n, dy->data, a->data, 1.0f, g->W2t->data); /* gW2 += a^T dy, stored transposed */
    op->sum_rows_acc(g->b2->data, dy->data, n, d);                   /* gb2 += sum dy */
    op->gemm(1, 0, d, f, n, x->data, dh->data, 1.0f, g->W1->data);  /* gW1 += x^T dh */
    op->sum_rows_acc(g->b1->data, dh->data, n, f);                   /* gb1 += sum dh */
}

/* w -= lr g, and g back to zero for the next step. */
void pp_block_sgd(pp_block *w, pp_block *g, float lr)
{
    const pp_ops *op = pp_ops_now();
    op->sgd(w->W1->data, g->W1->data, lr, (long)w->W1->rows * w->W1->cols);
    op->sgd(w->b1->data, g->b1->data, lr, w->b1->cols);
    op->sgd(w->W2t->data, g->W2t->data, lr, (long)w->W2t->rows * w->W2t->cols);
    op->sgd(w->b2->data, g->b2->data, lr, w->b2->cols);
}

pp_status pp_block_part_to_host(const pp_block *w, int k, float *host, int *rows, int *cols)
{
    const pp_tensor *t[4] = {w->W1, w->b1, w->W2t, w->b2};
    *rows = t[k]->rows, *cols = t[k]->cols;
    if (k != 2) {
        pp_ops_now()->to_host(host, t[k]->data, pp_tensor_bytes(t[k]));
        return PP_OK;
    }
    float *tr = malloc(pp_tensor_bytes(t[k]) + 1);
    if (!tr) return PP_ENOMEM;
    pp_ops_now()->to_host(tr, t[k]->data, pp_tensor_bytes(t[k]));
    *rows = t[k]->cols, *cols = t[k]->rows;   /* back to hidden x width */
    for (int i = 0; i < *rows; i++)
        for (int j = 0; j < *cols; j++) host[(long)i * *cols + j] = tr[(long)j * *rows + i];
    free(tr);
    return PP_OK;
}

pp_status pp_block_to_host(const pp_block *w, float *host)
{
    pp_status st = PP_OK;
    for (int k = 0; k < 4 && st == PP_OK; k++) {
        int rows, cols;
        st = pp_block_part_to_host(w, k, host, &rows, &cols);
        host += (long)rows * cols;
    }
    return st;
}

/* ---- the input and output layers -------------------------------------------- */

pp_status pp_end_pair_new(const pp_model_cfg *c, int out, pp_mem *mem, pp_tensor **w, pp_tensor **g)
{
    *w = *g = NULL;
    if (c->features <= 0) return PP_EARG;
    int rows = out ? c->width : c->features, cols = out ? c->features : c->width;
    float *host = malloc((size_t)rows * cols * sizeof *host);
    pp_status st = host ? pp_tensor_new(mem, PP_MEM_PARAMS, rows, cols, w) : PP_ENOMEM;
    if (st == PP_OK) st = pp_tensor_new(mem, PP_MEM_GRADS, rows, cols, g);
    if (st == PP_OK) {   /* uniform in +-1/sqrt(rows): x W keeps about the scale of x */
        fill(host, rows, cols, c->seed, out ? STREAM_OUT_LAYER : STREAM_IN_LAYER, 0, 1.0f / sqrtf((float)rows));
        pp_ops_now()->from_host((*w)->data, host, pp_tensor_bytes(*w));
    } else {
        pp_tensor_free(*w), pp_tensor_free(*g);
        *w = *g = NULL;
    }
    free(host);
    return st;
}

void pp_end_forward(const pp_tensor *W, const pp_tensor *x, pp_tensor *y)
{
    pp_ops_now()->gemm(0, 0, x->rows, W->cols, W->rows, x->data, W->data, 0.0f, y->data);   /* y = x W */
}

void pp_end_backward_input(const pp_tensor *W, const pp_tensor *dy, pp_tensor *dx)
{
    pp_ops_now()->gemm(0, 1, dy->rows, W->rows, W->cols, dy->data, W->data, 0.0f, dx->data);   /* dx = dy W^T */
}

void pp_end_backward_weight(pp_tensor *g, const pp_tensor *x, const pp_tensor *dy)
{
    pp_ops_now()->gemm(1, 0, g->rows, g->cols, x->rows, x->data, dy->data, 1.0f, g->data);   /* g += x^T dy */
}

/* ---- partitions ----------------------------------------------------------- */

/* Equal shares; the remainder one each to the first (front) or last stages. */
static void equal_shares(int L, int S, int front, int *count)
{
    for (int s = 0; s < S; s++) {
        int extra = front ? s < L % S : s >= S - L % S;
        count[s] = L / S + extra;
    }
}

/* Contiguous shares that make the most expensive stage as cheap as possible
 * (dynamic programming over "the first i blocks on the first s stages"). */
static pp_status balanced_shares(int L, int S, const double *cost, int *count)
{
    double *best = malloc((size_t)(S + 1) * (L + 1) * sizeof *best);
    int *cut = malloc((size_t)(S + 1) * (L + 1) * sizeof *cut);
    double *prefix = malloc((size_t)(L + 1) * sizeof *prefix);
    if (!best || !cut || !prefix) {
        free(best), free(cut), free(prefix);
        return PP_ENOMEM;
    }
    prefix[0] = 0;
    for (int i = 0; i < L; i++) prefix[i + 1] = prefix[i] + cost[i];
#define AT(s, i) ((s) * (L + 1) + (i))
    for (int i = 0; i <= L; i++) best[AT(1, i)] = i ? prefix[i] : HUGE_VAL, cut[AT(1, i)] = 0;
    for (int s = 2; s <= S; s++)
        for (int i = 0; i <= L; i++) {
            best[AT(s, i)] = HUGE_VAL;
            for (int j = s - 1; j < i; j++) {   /* stages 1..s-1 take j blocks, stage s the rest */
                double worst = fmax(best[AT(s - 1, j)], prefix[i] - prefix[j]);
                if (worst < best[AT(s, i)] - 1e-12) best[AT(s, i)] = worst, cut[AT(s, i)] = j;
            }
        }
    for (int s = S, i = L; s >= 1; s--) {
        count[s - 1] = i - cut[AT(s, i)];
        i = cut[AT(s, i)];
    }
#undef AT
    free(best), free(cut), free(prefix);
    return PP_OK;
}

static pp_status bad(char *err, size_t n, const char *fmt, int a, int b, const char *text)
{
    char line[160];
    snprintf(line, sizeof line, fmt, a, b);
    snprintf(err, n, "%s%s", line, text ? text : "");
    return PP_EARG;
}

/* A list "3,5,4,4": whole numbers >= 1, S of them, summing to L. */
static pp_status list_shares(const char *how, int L, int S, int *count, char *err, size_t n)
{
    int k = 0, sum = 0;
    const char *p = how;
    char hint[120], like[64] = "";
    int even[PP_MAX_STAGES];
    if (S <= L) {   /* an example that fits: the even split */
        equal_shares(L, S, 1, even);
        for (int s = 0; s < S && strlen(like) + 12 < sizeof like; s++)
            snprintf(like + strlen(like), sizeof like - strlen(like), "%s%d", s ? "," : "", even[s]);
    }
    snprintf(hint, sizeof hint, ": give one count per stage, each at least 1, summing to the depth%s%s%s",
             like[0] ? " (like " : "", like, like[0] ? ")" : "");
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < 1 || v > L) {
            snprintf(err, n, "--layers: '%s' has a bad count at '%.*s'%s", how, (int)strcspn(p, ","), p, hint);
            return PP_EARG;
        }
        if (k < PP_MAX_STAGES) count[k] = (int)v;
        k++;
        sum += (int)v;
        p = *end ? end + 1 : end;
    }
    if (k != S)
        return bad(err, n, k == 1 ? "--layers: %d count for %d stages" : S == 1 ? "--layers: %d counts for %d stage"
                                                                              : "--layers: %d counts for %d stages",
                   k, S, hint);
    if (sum != L) return bad(err, n, "--layers: the counts add up to %d blocks, but the model has %d", sum, L, hint);
    return PP_OK;
}

pp_status pp_partition_make(const char *how, int L, int S, const double *cost, pp_partition *out, char *err,
                            size_t n)
{
    int count[PP_MAX_STAGES];
    if (S < 1 || S > PP_MAX_STAGES) return bad(err, n, "%d stages: from 1 to %d are allowed", S, PP_MAX_STAGES, NULL);
    if (S > L)
        return bad(err, n, "%d stages but only %d blocks: every stage needs at least one block (raise --depth or start fewer ranks)",
                   S, L, NULL);
    pp_status st = PP_OK;
    if (strcmp(how, "front") == 0 || strcmp(how, "back") == 0) equal_shares(L, S, how[0] == 'f', count);
    else if (strcmp(how, "balanced") == 0 && cost) st = balanced_shares(L, S, cost, count);
    else if (strchr("0123456789", how[0]) && how[0]) st = list_shares(how, L, S, count, err, n);
    else {
        snprintf(err, n, "--partition: '%s' is not a partition: use front, back, balanced, or --layers with counts like 3,5,4,4", how);
        return PP_EARG;
    }
    if (st != PP_OK) return st;
    out->nstages = S;
    out->depth = L;
    out->first[0] = 0;
    for (int s = 0; s < S; s++) out->first[s + 1] = out->first[s] + count[s];
    return PP_OK;
}

void pp_partition_str(const pp_partition *p, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int s = 0; s < p->nstages && k < n; s++) {
        int a = p->first[s], b = p->first[s + 1] - 1;
        if (a == b) k += (size_t)snprintf(buf + k, n - k, "%s%d", s ? " | " : "", a);
        else k += (size_t)snprintf(buf + k, n - k, "%s%d-%d", s ? " | " : "", a, b);
    }
}

/* ---- measured costs ------------------------------------------------------- */


/* The median of five rounds of each of the end layers' costs, after one
 * to warm up: into cost[PP_COST_IN_F ..]; the output layer's F includes
 * the loss over its width. */
static pp_status measure_ends(const pp_model_cfg *c, int rows, double cost[PP_MODEL_NCOSTS])
{
    int K = c->features, d = c->width;
    pp_tensor *Win = NULL, *gin = NULL, *Wout = NULL, *gout = NULL, *x = NULL, *h = NULL, *z = NULL, *dz = NULL;
    pp_status st = pp_end_pair_new(c, 0, NULL, &Win, &gin);
    if (st == PP_OK) st = pp_end_pair_new(c, 1, NULL, &Wout, &gout);
    pp_tensor **all[4] = {&x, &h, &z, &dz};
    int cols[4] = {K, d, K, K};
    for (int k = 0; k < 4 && st == PP_OK; k++) st = pp_tensor_new(NULL, PP_MEM_OTHER, rows, cols[k], all[k]);
    if (st == PP_OK) st = pp_model_inputs(c, 0, 0, x);
    const pp_ops *op = pp_ops_now();
    enum { IN_F, IN_B, OUT_F, OUT_B, LOSS, N };
    double v[N][5];
    for (int r = 0; r < 6 && st == PP_OK; r++) {
        double t[N + 1];
        op->sync(), t[0] = pp_now();
        pp_end_forward(Win, x, h);                 /* input layer: x Win */
        op->sync(), t[1] = pp_now();
        pp_end_backward_weight(gin, x, h);         /* its W (no input gradient: the data needs none) */
        op->sync(), t[2] = pp_now();
        pp_end_forward(Wout, h, z);                /* output layer: h Wout */
        op->sync(), t[3] = pp_now();
        pp_end_backward_input(Wout, z, h);         /* its I, then its W */
        pp_end_backward_weight(gout, h, z);
        op->sync(), t[4] = pp_now();
        op->mse(dz->data, z->data, z->data, (long)rows * K, 1.0f);
        t[5] = pp_now();
        for (int k = 0; k < N && r > 0; k++) v[k][r - 1] = t[k + 1] - t[k];
    }
    if (st == PP_OK) st = pp_backend_status();
    int where[N - 1] = {PP_COST_IN_F, PP_COST_IN_B, PP_COST_OUT_F, PP_COST_OUT_B};
    for (int k = 0; k < N - 1 && st == PP_OK; k++) cost[where[k]] = pp_median5(v[k]);
    if (st == PP_OK) cost[PP_COST_OUT_F] += pp_median5(v[LOSS]);
    for (int k = 0; k < 4; k++) pp_tensor_free(*all[k]);
    pp_tensor_free(Win), pp_tensor_free(gin), pp_tensor_free(Wout), pp_tensor_free(gout);
    return st;
}

pp_status pp_model_measure(const pp_model_cfg *c, int rows, double cost[PP_MODEL_NCOSTS])
{
    int d = c->width, f = c->hidden;
    pp_block w, g;
    pp_tensor *x = NULL, *h = NULL, *a = NULL, *y = NULL, *dh = NULL, *dx = NULL;
    pp_status st = pp_block_pair_new(c, 0, 1, 0, NULL, &w, &g);
    if (st != PP_OK) return st;
    pp_tensor **all[6] = {&x, &h, &a, &y, &dh, &dx};
    int cols[6] = {d, f, f, d, f, d};
    for (int k = 0; k < 6 && st == PP_OK; k++) st = pp_tensor_new(NULL, PP_MEM_OTHER, rows, cols[k], all[k]);
    if (st == PP_OK) st = pp_model_inputs(c, 0, 0, x);
    /* Six rounds, the first to warm the caches; the median of the other five.
     * The loss is measured against y itself: the cost is the same.  On a GPU each part is waited for before the clock is read (sync), so
     * the times are the device's, not the launches'. */
    const pp_ops *op = pp_ops_now();
    double v[PP_COST_LOSS + 1][5];
    for (int r = 0; r < 6 && st == PP_OK; r++) {
        op->sync();
        double t0 = pp_now();
        pp_block_forward(&w, x, h, a, y, NULL);
        op->sync();
        double t1 = pp_now();
        pp_block_backward_input(&w, h, y, dh, dx, NULL);
        op->sync();
        double t2 = pp_now();
        pp_block_backward_weight(&g, x, a, y, dh);
        op->sync();
        double t3 = pp_now();
        op->mse(dx->data, y->data, y->data, (long)rows * d, 1.0f);
        double t4 = pp_now();
        if (r == 0) continue;
        double span[PP_COST_LOSS + 1] = {t1 - t0, t3 - t1, t2 - t1, t3 - t2, t4 - t3};
        for (int k = 0; k <= PP_COST_LOSS; k++) v[k][r - 1] = span[k];
    }
    if (st == PP_OK) st = pp_backend_status();
    for (int k = 0; k <= PP_COST_LOSS && st == PP_OK; k++) cost[k] = pp_median5(v[k]);
    for (int k = PP_COST_LOSS + 1; k < PP_MODEL_NCOSTS; k++) cost[k] = 0;
    for (int k = 0; k < 6; k++) pp_tensor_free(*all[k]);
    pp_block_free(&w), pp_block_free(&g);
    return st == PP_OK && c->features > 0 ? measure_ends(c, rows, cost) : st;
}

void pp_model_block_s(const pp_model_cfg *c, const double cost[PP_MODEL_NCOSTS], double *block_s)
{
    int L = c->depth, again = c->checkpoint ? 1 : 0;   /* a forward run again before its backward */
    for (int l = 0; l < L; l++) block_s[l] = (1 + again) * cost[PP_COST_F] + cost[PP_COST_B];
    if (c->features <= 0) {   /* end layers measured for another model are not this one's */
        block_s[L - 1] += (1 + again) * cost[PP_COST_LOSS];
        return;
    }
    block_s[0] += cost[PP_COST_IN_F] + cost[PP_COST_IN_B];
    block_s[L - 1] += (1 + again) * cost[PP_COST_OUT_F] + cost[PP_COST_OUT_B];   /* its F holds its loss */
}
