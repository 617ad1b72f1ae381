/* train.c -- the model split over the pipeline: each rank holds the blocks
 * of its stages, and the executor calls in here for every compute action of
 * the schedule (real mode).
 *
 * Who owns what during a step (M micro-batches of `rows` samples):
 *   - message buffers, one per boundary, direction and micro-batch, made at
 *     the start of the step so the executor can post every receive early;
 *   - for every block and micro-batch, what its forward stored for its
 *     backward (x, h, a): made by F, freed by B (or by W);
 *   - gradients, added micro-batch by micro-batch in order 0, 1, 2, ...:
 *     a W that a schedule runs before its turn is kept (with what it needs)
 *     and done right after the one before it.  The sum of floats depends on
 *     its order, so this is what keeps the result equal to the
 *     single-process loop under every schedule.
 *
 * On a grid (T tensor-parallel ranks, D replicas):
 *   - each of a stage's T ranks holds one slice of every block (Megatron
 *     style: W1 by columns, W2 by rows) and the group sums its partial
 *     results twice per block and micro-batch (pp_block_forward and
 *     pp_block_backward_input call the reducer);
 *   - the activations and gradients between stages are whole on every rank
 *     of a group; each rank sends only its slice (1/T of the message) to the
 *     rank with its t in the next stage, and the receiving group puts the
 *     slices together (all-gather) before using them.  The bytes between
 *     stages are then those of one tensor, spread over T links;
 *   - replica d trains on its share of the batch; after the last
 *     micro-batch the replicas' gradients are summed (ordered all-reduce)
 *     and every replica takes the same SGD step.
 * Left out on purpose: weight stashing (PipeDream's asynchronous updates);
 * every step ends with one SGD update after the last micro-batch.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one block keeps for one micro-batch between its forward and its
 * weight gradient. */
typedef struct {
    pp_tensor *x;     /* block input (rows x width) */
    pp_tensor *h;     /* x W1 + b1 (rows x hidden): freed once dh is made */
    pp_tensor *a;     /* gelu(h) (rows x hidden) */
    pp_tensor *dy;    /* gradient at the block output (rows x width), kept from I to W */
    pp_tensor *dh;    /* gradient at h (rows x hidden), kept from I to W */
} saved;

/* Message buffers, by direction: received by stage s from s-1, sent by s to
 * s+1, received by s from s+1, sent by s to s-1. */
enum { IN_F, OUT_F, IN_B, OUT_B, NDIRS };

struct pp_trainer {
    const pp_grid *g;
    pp_model_cfg cfg;
    pp_partition part;
    int S, me;            /* stages; this rank's place in its pipeline */
    int T, D;             /* tensor-parallel group size, replicas */
    int share;            /* samples of each batch this replica trains on: batch / D */
    pp_reducer tp;        /* the group's sum (T > 1) */
    pp_comm_stats comm;   /* this step's communication */
    double poll_s;        /* sleep between tests while waiting in a collective */
    pp_action cur;        /* the compute under way (for the collectives' events) */
    pp_event spans[64];   /* collectives run since the executor last took them */
    int nspans;
    int stage_rank[PP_MAX_STAGES];
    pp_mem mem;
    pp_block *w, *grad;   /* [depth]: only this rank's blocks are allocated */
    /* the step under way */
    int step, M, rows;
    pp_tensor *A;         /* last stage: the teacher's matrix (width x width), made once */
    /* x, t and y are kept until the next step starts, for --dump */
    pp_tensor *x;         /* first and last stage: the batch's inputs (batch x width) */
    pp_tensor *t;         /* last stage: targets (batch x width) */
    pp_tensor *y;         /* last stage: the model's outputs (batch x width) */
    pp_tensor **msg;      /* [NDIRS][S*M] message buffers, NULL where none */
    saved *sv;            /* [depth * M] */
    int w_next[PP_MAX_STAGES];   /* per stage: the micro-batch whose W is added next */
    char *w_asked;        /* [S*M] the schedule ran this W, its turn has not come */
    double loss;          /* last stage: this step's loss so far */
    pp_work work;
};

static int mine(const pp_trainer *t, int s)
{
    return t->stage_rank[s] == t->me;
}

static pp_tensor **msg(pp_trainer *t, int dir, int s, int m)
{
    return &t->msg[(size_t)dir * t->S * t->M + (size_t)s * t->M + m];
}

static saved *sv(pp_trainer *t, int l, int m)
{
    return &t->sv[(size_t)l * t->M + m];
}

/* Rows first .. first + rows - 1 of a packed tensor, as a tensor that owns nothing. */
static pp_tensor rows_of(const pp_tensor *whole, int first, int rows)
{
    pp_tensor v = {whole->data + (long)first * whole->cols, rows, whole->cols, PP_MEM_OTHER, NULL};
    return v;
}

static pp_status new_t(pp_trainer *t, pp_mem_role r, int rows, int cols, pp_tensor **out)
{
    return pp_tensor_new(&t->mem, r, rows, cols, out);
}

/* ---- forward ------------------------------------------------------------- */

/* Notes a collective for the step's events (the executor takes them). */
static void span(pp_trainer *t, double t0, long bytes, int end_of_step)
{
    if (t->nspans >= (int)(sizeof t->spans / sizeof t->spans[0])) return;
    pp_event e = {PP_EV_ALLREDUCE, end_of_step ? PP_IDLE : t->cur.kind, t->cur.stage, end_of_step ? -1 : t->cur.mb,
                  0, t0, pp_now(), bytes};
    t->spans[t->nspans++] = e;
}

static int take_spans(void *ctx, pp_event *out, int max)
{
    pp_trainer *t = ctx;
    int n = t->nspans < max ? t->nspans : max;
    memcpy(out, t->spans, (size_t)n * sizeof *out);
    memmove(t->spans, t->spans + n, (size_t)(t->nspans - n) * sizeof *out);
    t->nspans -= n;
    return n;
}

/* A received message holds only this rank's slice (T > 1): the group puts
 * the slices together first. */
static pp_status gathered(pp_trainer *t, pp_tensor *b)
{
    if (t->T == 1) return PP_OK;
    double t0 = pp_now();
    long n = (long)b->rows * b->cols;
    pp_status st = pp_allgather_slices(b->data, n, t->g->tp, t->poll_s, &t->comm.gather_sent);
    t->comm.gather_size += n * (long)sizeof(float);
    t->comm.gather_calls++;
    t->comm.gather_s += pp_now() - t0;
    span(t, t0, n * (long)sizeof(float), 0);
    return st;
}

/* The input of stage s for micro-batch m: the batch (first stage), the
 * previous stage's output (when it runs here), or what was received. */
static pp_status input_of(pp_trainer *t, int s, int m, pp_tensor *in)
{
    if (s == 0) {
        *in = rows_of(t->x, m * t->rows, t->rows);
        return PP_OK;
    }
    if (mine(t, s - 1)) {
        *in = **msg(t, OUT_F, s - 1, m);
        return PP_OK;
    }
    *in = **msg(t, IN_F, s, m);
    return gathered(t, *msg(t, IN_F, s, m));
}

/* The tensor-parallel sum, counted. */
static pp_status tp_sum(void *ctx, float *buf, long n)
{
    pp_trainer *t = ctx;
    double t0 = pp_now();
    pp_status st = pp_allreduce_ordered(buf, n, t->g->tp, t->poll_s, &t->comm.tp_sent);
    t->comm.tp_size += n * (long)sizeof(float);
    t->comm.tp_calls++;
    t->comm.tp_s += pp_now() - t0;
    span(t, t0, n * (long)sizeof(float), 0);
    return st;
}

static const pp_reducer *reducer(const pp_trainer *t)
{
    return t->T > 1 ? &t->tp : NULL;
}

static pp_status forward(pp_trainer *t, int s, int m)
{
    int first = t->part.first[s], last = t->part.first[s + 1] - 1, n = t->rows;
    int d = t->cfg.width, f = t->cfg.hidden / t->T;
    pp_tensor in;
    pp_status st = input_of(t, s, m, &in);
    if (st == PP_OK) st = new_t(t, PP_MEM_ACTS, n, d, &sv(t, first, m)->x);
    if (st == PP_OK) pp_ops_now()->copy(sv(t, first, m)->x->data, in.data, pp_tensor_bytes(&in));
    pp_tensor out = {0};
    for (int l = first; l <= last && st == PP_OK; l++) {
        saved *k = sv(t, l, m);
        if ((st = new_t(t, PP_MEM_ACTS, n, f, &k->h)) != PP_OK || (st = new_t(t, PP_MEM_ACTS, n, f, &k->a)) != PP_OK)
            break;
        pp_tensor *y;
        if (l < last) {                     /* the next block's input: stored */
            if ((st = new_t(t, PP_MEM_ACTS, n, d, &sv(t, l + 1, m)->x)) != PP_OK) break;
            y = sv(t, l + 1, m)->x;
        } else if (s < t->S - 1) {          /* the stage's output: into the send buffer */
            y = *msg(t, OUT_F, s, m);
        } else {                            /* the model's output */
            out = rows_of(t->y, m * n, n);
            y = &out;
        }
        st = pp_block_forward(&t->w[l], k->x, k->h, k->a, y, reducer(t));
        if (st == PP_OK && l < last) st = pp_exec_progress();   /* messages move between blocks */
    }
    /* The last stage turns the output into the loss and keeps its gradient. */
    if (st == PP_OK && s == t->S - 1 && (st = new_t(t, PP_MEM_ACTS, n, d, &sv(t, last, m)->dy)) == PP_OK) {
        pp_tensor target = rows_of(t->t, m * n, n);
        t->loss += pp_ops_now()->mse(sv(t, last, m)->dy->data, out.data, target.data, (long)n * d,
                                     1.0f / ((float)t->cfg.batch * (float)d));
    }
    return st;
}

/* ---- backward ------------------------------------------------------------ */

/* The gradient arriving at stage s's output for micro-batch m (a received
 * one is put together from its slices first: *st says if that failed). */
static pp_tensor *grad_in(pp_trainer *t, int s, int m, pp_status *st)
{
    if (s == t->S - 1) return sv(t, t->part.first[s + 1] - 1, m)->dy;
    if (mine(t, s + 1)) return *msg(t, OUT_B, s + 1, m);
    *st = gathered(t, *msg(t, IN_B, s, m));
    return *msg(t, IN_B, s, m);
}

static void free_saved(saved *k)
{
    pp_tensor_free(k->x), pp_tensor_free(k->h), pp_tensor_free(k->a);
    pp_tensor_free(k->dy), pp_tensor_free(k->dh);
    memset(k, 0, sizeof *k);
}

/* Where block l's input gradient goes: the next block down (made here), the
 * send buffer (the stage's first block), or nowhere (the model's input). */
static pp_status dx_for(pp_trainer *t, int s, int l, int m, pp_mem_role r, pp_tensor **dx)
{
    if (l > t->part.first[s]) return new_t(t, r, t->rows, t->cfg.width, dx);
    *dx = s > 0 ? *msg(t, OUT_B, s, m) : NULL;
    return PP_OK;
}

/* The whole backward of stage s for micro-batch m, block by block from the
 * top, adding the gradients at once; what the forward stored is freed as it
 * is used.  Only while m's turn to add has come (see the file comment). */
static pp_status backward_fused(pp_trainer *t, int s, int m)
{
    int first = t->part.first[s], last = t->part.first[s + 1] - 1;
    pp_status st = PP_OK;
    pp_tensor *dy = grad_in(t, s, m, &st), *dh = NULL, *dx = NULL;
    for (int l = last; l >= first && st == PP_OK; l--) {
        saved *k = sv(t, l, m);
        if ((st = new_t(t, PP_MEM_OTHER, t->rows, t->cfg.hidden / t->T, &dh)) != PP_OK ||
            (st = dx_for(t, s, l, m, PP_MEM_OTHER, &dx)) != PP_OK)
            break;
        st = pp_block_backward_input(&t->w[l], k->h, dy, dh, dx, reducer(t));
        pp_block_backward_weight(&t->grad[l], k->x, k->a, dy, dh);
        if (l < last) pp_tensor_free(dy);   /* scratch made by the block above */
        pp_tensor_free(dh);
        free_saved(k);
        dy = dx, dh = dx = NULL;
        if (st == PP_OK && l > first) st = pp_exec_progress();
    }
    return st;
}

/* The input half alone (I): makes dh and dx for every block and keeps dy and
 * dh (with x and a) for the weight half; h is no longer needed. */
static pp_status backward_input(pp_trainer *t, int s, int m)
{
    int first = t->part.first[s], last = t->part.first[s + 1] - 1;
    saved *top = sv(t, last, m);
    pp_status st = PP_OK;
    if (!top->dy) {   /* a received gradient: copied, its buffer belongs to the step */
        pp_tensor *in = grad_in(t, s, m, &st);
        if (st == PP_OK && (st = new_t(t, PP_MEM_ACTS, t->rows, t->cfg.width, &top->dy)) == PP_OK)
            pp_ops_now()->copy(top->dy->data, in->data, pp_tensor_bytes(in));
    }
    for (int l = last; l >= first && st == PP_OK; l--) {
        saved *k = sv(t, l, m);
        pp_tensor *dx = NULL;
        if ((st = new_t(t, PP_MEM_ACTS, t->rows, t->cfg.hidden / t->T, &k->dh)) != PP_OK ||
            (st = dx_for(t, s, l, m, PP_MEM_ACTS, &dx)) != PP_OK)
            break;
        st = pp_block_backward_input(&t->w[l], k->h, k->dy, k->dh, dx, reducer(t));
        pp_tensor_free(k->h);
        k->h = NULL;
        if (l > first) sv(t, l - 1, m)->dy = dx;
    }
    return st;
}

/* The weight half (W) of micro-batch m on stage s, from what I kept. */
static void backward_weight(pp_trainer *t, int s, int m)
{
    for (int l = t->part.first[s + 1] - 1; l >= t->part.first[s]; l--) {
        saved *k = sv(t, l, m);
        pp_block_backward_weight(&t->grad[l], k->x, k->a, k->dy, k->dh);
        free_saved(k);
    }
}

/* The schedule ran W of micro-batch m: add it, and any that waited for it. */
static void weight_in_order(pp_trainer *t, int s, int m)
{
    t->w_asked[s * t->M + m] = 1;
    while (t->w_next[s] < t->M && t->w_asked[s * t->M + t->w_next[s]]) {
        backward_weight(t, s, t->w_next[s]);
        t->w_next[s]++;
    }
}

/* ---- the executor's hooks ------------------------------------------------ */

static pp_status compute(void *ctx, pp_action a)
{
    pp_trainer *t = ctx;
    if (a.stage < 0 || a.stage >= t->S || !mine(t, a.stage) || a.mb < 0 || a.mb >= t->M) return PP_ESCHED;
    t->cur = a;
    switch (a.kind) {
    case PP_F: return forward(t, a.stage, a.mb);
    case PP_B:
        if (t->w_next[a.stage] == a.mb) {
            t->w_next[a.stage]++;
            return backward_fused(t, a.stage, a.mb);
        } else {
            pp_status st = backward_input(t, a.stage, a.mb);
            if (st == PP_OK) weight_in_order(t, a.stage, a.mb);
            return st;
        }
    case PP_I: return backward_input(t, a.stage, a.mb);
    case PP_W: weight_in_order(t, a.stage, a.mb); return PP_OK;
    default: return PP_ESCHED;
    }
}

static void *buffer(void *ctx, pp_action a, size_t *bytes)
{
    pp_trainer *t = ctx;
    int dir = a.kind == PP_RECV_F ? IN_F : a.kind == PP_SEND_F ? OUT_F : a.kind == PP_RECV_B ? IN_B : OUT_B;
    pp_tensor *b = a.stage >= 0 && a.stage < t->S && a.mb >= 0 && a.mb < t->M ? *msg(t, dir, a.stage, a.mb) : NULL;
    if (!b) {
        *bytes = 0;
        return NULL;
    }
    /* This rank's slice of the message (all of it when T = 1). */
    long first, count;
    pp_slice_of((long)b->rows * b->cols, t->T, t->g->tp_rank, &first, &count);
    *bytes = (size_t)count * sizeof(float);
    if (dir == OUT_F || dir == OUT_B) t->comm.pipe_bytes += (long)*bytes, t->comm.pipe_msgs++;
    return b->data + first;
}

/* ---- a step -------------------------------------------------------------- */

/* Frees what a step made (its inputs, targets and outputs stay until the
 * next step, for --dump). */
static void end_step(pp_trainer *t)
{
    for (int i = 0; t->msg && i < NDIRS * t->S * t->M; i++) pp_tensor_free(t->msg[i]);
    for (int i = 0; t->sv && i < t->cfg.depth * t->M; i++) free_saved(&t->sv[i]);
    free(t->msg), free(t->sv), free(t->w_asked);
    t->msg = NULL, t->sv = NULL, t->w_asked = NULL;
}

/* Frees the last step's inputs, targets and outputs. */
static void free_batch(pp_trainer *t)
{
    pp_tensor_free(t->x), pp_tensor_free(t->t), pp_tensor_free(t->y);
    t->x = t->t = t->y = NULL;
}

/* Makes the step's message buffers, inputs and targets. */
static pp_status begin_step(pp_trainer *t, int M)
{
    int d = t->cfg.width, S = t->S;
    t->M = M;
    t->rows = t->share / M;
    t->loss = 0;
    memset(&t->comm, 0, sizeof t->comm);
    t->nspans = 0;
    free_batch(t);
    t->msg = calloc((size_t)NDIRS * S * M, sizeof *t->msg);
    t->sv = calloc((size_t)t->cfg.depth * M, sizeof *t->sv);
    t->w_asked = calloc((size_t)S * M, 1);
    if (!t->msg || !t->sv || !t->w_asked) return PP_ENOMEM;
    memset(t->w_next, 0, sizeof t->w_next);
    pp_status st = PP_OK;
    for (int s = 0; s < S && st == PP_OK; s++) {
        if (!mine(t, s)) continue;
        /* Receive buffers only from another rank; send buffers always (a
         * neighbour stage on this rank reads them directly). */
        int need[NDIRS] = {s > 0 && !mine(t, s - 1), s < S - 1, s < S - 1 && !mine(t, s + 1), s > 0};
        for (int dir = 0; dir < NDIRS; dir++)
            for (int m = 0; m < M && need[dir] && st == PP_OK; m++)
                st = new_t(t, PP_MEM_COMM, t->rows, d, msg(t, dir, s, m));
    }
    if (st == PP_OK && (mine(t, 0) || mine(t, S - 1))) {
        st = new_t(t, PP_MEM_OTHER, t->share, d, &t->x);
        if (st == PP_OK) st = pp_model_inputs(&t->cfg, t->step, t->g->dp_rank * t->share, t->x);
    }
    if (st == PP_OK && mine(t, S - 1)) {
        if ((st = new_t(t, PP_MEM_OTHER, t->share, d, &t->t)) == PP_OK)
            st = new_t(t, PP_MEM_OTHER, t->share, d, &t->y);
        /* One micro-batch at a time, as the single-process loop makes them. */
        for (int m = 0; m < M && st == PP_OK; m++) {
            pp_tensor xm = rows_of(t->x, m * t->rows, t->rows), tm = rows_of(t->t, m * t->rows, t->rows);
            pp_model_targets(t->A, &xm, &tm);
        }
    }
    return st;
}

/* Data parallel, after this rank's last action (the executor's finish
 * hook): every gradient of this rank's blocks summed over the replicas (in
 * replica order). */
static pp_status sum_replicas(void *ctx)
{
    pp_trainer *t = ctx;
    if (t->D == 1) return PP_OK;
    double t0 = pp_now();
    pp_status st = PP_OK;
    for (int l = 0; l < t->cfg.depth && st == PP_OK; l++) {
        if (!t->grad[l].W1) continue;
        pp_tensor *g[4] = {t->grad[l].W1, t->grad[l].b1, t->grad[l].W2t, t->grad[l].b2};
        for (int k = 0; k < 4 && st == PP_OK; k++) {
            long n = (long)g[k]->rows * g[k]->cols;
            st = pp_allreduce_ordered(g[k]->data, n, t->g->dp, t->poll_s, &t->comm.dp_sent);
            t->comm.dp_size += n * (long)sizeof(float);
            t->comm.dp_calls++;
        }
    }
    t->comm.dp_s = pp_now() - t0;
    span(t, t0, t->comm.dp_size, 1);
    return st;
}

/* The step's loss: each replica's share, added in replica order. */
static pp_status sum_loss(pp_trainer *t)
{
    pp_status st = PP_OK;
    double *parts = malloc((size_t)t->D * sizeof *parts);
    if (st == PP_OK && !parts) st = PP_ENOMEM;
    if (st == PP_OK && MPI_Allgather(&t->loss, 1, MPI_DOUBLE, parts, 1, MPI_DOUBLE, t->g->dp) != MPI_SUCCESS)
        st = PP_EMPI;
    for (int r = 0; r < t->D && st == PP_OK; r++) t->loss = r == 0 ? parts[0] : t->loss + parts[r];
    free(parts);
    return st;
}

pp_status pp_trainer_step(pp_trainer *t, const pp_sched *s, const pp_exec_opts *o, pp_run **meas, double *loss)
{
    *meas = NULL;
    if (s->nstages != t->S || s->nmb < 1 || t->share % s->nmb != 0) return PP_EARG;
    for (int k = 0; k < t->S; k++)
        if (s->stage_rank[k] != t->stage_rank[k]) return PP_EARG;
    pp_status st = begin_step(t, s->nmb);
    pp_exec_opts real = *o;
    real.work = &t->work;
    t->poll_s = o->poll_wait_s;
    if (st == PP_OK) st = pp_exec_step(t->g, s, &real, meas);
    /* After the last micro-batch: the replicas' gradients were summed (the
     * finish hook), and the losses are; then one SGD update. */
    if (st == PP_OK && t->D > 1) st = sum_loss(t);
    for (int l = 0; l < t->cfg.depth && st == PP_OK; l++)
        if (t->w[l].W1) pp_block_sgd(&t->w[l], &t->grad[l], t->cfg.lr);
    end_step(t);
    if (st == PP_OK && MPI_Bcast(&t->loss, 1, MPI_DOUBLE, t->stage_rank[t->S - 1], t->g->pipe) != MPI_SUCCESS)
        st = PP_EMPI;
    *loss = t->loss;
    t->step++;
    return st;
}

/* ---- making, reading, freeing -------------------------------------------- */

pp_status pp_trainer_new(const pp_grid *g, const pp_model_cfg *c, const pp_partition *part, const int *stage_rank,
                         pp_trainer **out)
{
    *out = NULL;
    if (part->depth != c->depth || part->nstages < 1) return PP_EARG;
    pp_trainer *t = calloc(1, sizeof *t);
    if (!t) return PP_ENOMEM;
    t->g = g;
    t->cfg = *c;
    t->part = *part;
    t->S = part->nstages;
    t->me = g->pipe_rank;
    t->T = g->T, t->D = g->D;
    t->share = c->batch / g->D;
    t->tp = (pp_reducer){tp_sum, t};
    t->poll_s = 20e-6;
    if (c->hidden % g->T != 0 || c->batch % g->D != 0) {
        free(t);
        return PP_EARG;
    }
    for (int s = 0; s < t->S; s++) t->stage_rank[s] = stage_rank ? stage_rank[s] : s;
    t->work = (pp_work){t, buffer, compute, sum_replicas, take_spans};
    t->w = calloc((size_t)c->depth, sizeof *t->w);
    t->grad = calloc((size_t)c->depth, sizeof *t->grad);
    pp_status st = t->w && t->grad ? PP_OK : PP_ENOMEM;
    for (int s = 0; s < t->S && st == PP_OK; s++)
        for (int l = part->first[s]; l < part->first[s + 1] && mine(t, s) && st == PP_OK; l++)
            st = pp_block_pair_new(c, l, t->T, g->tp_rank, &t->mem, &t->w[l], &t->grad[l]);
    if (st == PP_OK && mine(t, t->S - 1)) st = pp_model_teacher(c, &t->mem, &t->A);
    if (st != PP_OK) {
        pp_trainer_free(t);
        return st;
    }
    *out = t;
    return PP_OK;
}

void pp_trainer_free(pp_trainer *t)
{
    if (!t) return;
    end_step(t);
    for (int l = 0; l < t->cfg.depth; l++) {
        if (t->w) pp_block_free(&t->w[l]);
        if (t->grad) pp_block_free(&t->grad[l]);
    }
    free_batch(t);
    pp_tensor_free(t->A);
    free(t->w), free(t->grad);
    free(t);
}

const pp_work *pp_trainer_work(pp_trainer *t)
{
    return &t->work;
}

pp_mem *pp_trainer_mem(pp_trainer *t)
{
    return &t->mem;
}

pp_status pp_trainer_mem_all(pp_trainer *t, pp_mem *all)
{
    int rc = MPI_Gather(&t->mem, (int)sizeof t->mem, MPI_BYTE, all, (int)sizeof t->mem, MPI_BYTE, 0, t->g->all);
    return rc == MPI_SUCCESS ? PP_OK : PP_EMPI;
}

const pp_comm_stats *pp_trainer_comm(const pp_trainer *t)
{
    return &t->comm;
}

pp_status pp_trainer_comm_all(pp_trainer *t, pp_comm_stats *all)
{
    int n = (int)sizeof t->comm;
    int rc = MPI_Gather(&t->comm, n, MPI_BYTE, all, n, MPI_BYTE, 0, t->g->all);
    return rc == MPI_SUCCESS ? PP_OK : PP_EMPI;
}

int pp_trainer_blocks(const pp_trainer *t, int s, int *first)
{
    *first = t->part.first[s];
    return t->part.first[s + 1] - t->part.first[s];
}

long pp_trainer_act_bytes(const pp_trainer *t, int s, int M)
{
    int blocks = t->part.first[s + 1] - t->part.first[s];
    pp_model_cfg slice = t->cfg;   /* h and a hold this rank's hidden columns only */
    slice.hidden /= t->T;
    return (long)sizeof(float) * pp_stage_act_floats(&slice, blocks, s == t->S - 1, t->share / M);
}

pp_status pp_trainer_forward_stage(pp_trainer *t, int s, const pp_tensor *x, pp_tensor *y)
{
    if (s < 0 || s >= t->S || !mine(t, s)) return PP_EARG;
    int n = x->rows, d = t->cfg.width, f = t->cfg.hidden / t->T;
    pp_tensor *cur = NULL, *h = NULL, *a = NULL, *nxt = NULL;
    pp_status st = new_t(t, PP_MEM_OTHER, n, d, &cur);
    if (st == PP_OK) st = new_t(t, PP_MEM_OTHER, n, f, &h);
    if (st == PP_OK) st = new_t(t, PP_MEM_OTHER, n, f, &a);
    if (st == PP_OK) st = new_t(t, PP_MEM_OTHER, n, d, &nxt);
    if (st == PP_OK) pp_ops_now()->copy(cur->data, x->data, pp_tensor_bytes(x));
    for (int l = t->part.first[s]; l < t->part.first[s + 1] && st == PP_OK; l++) {
        st = pp_block_forward(&t->w[l], cur, h, a, nxt, reducer(t));
        pp_tensor *swap = cur;
        cur = nxt, nxt = swap;
    }
    if (st == PP_OK) pp_ops_now()->copy(y->data, cur->data, pp_tensor_bytes(y));
    pp_tensor_free(cur), pp_tensor_free(h), pp_tensor_free(a), pp_tensor_free(nxt);
    return st;
}

/* Puts slice t of T of a block (W1 columns, b1, W2 rows, b2) into the whole
 * block's layout W1, b1, W2, b2. */
static void place_slice(const pp_model_cfg *c, int T, int t, const float *slice, float *whole)
{
    int d = c->width, f = c->hidden, fs = f / T;
    float *W1 = whole, *b1 = W1 + (long)d * f, *W2 = b1 + f, *b2 = W2 + (long)f * d;
    for (int i = 0; i < d; i++) memcpy(W1 + (long)i * f + (long)t * fs, slice + (long)i * fs, (size_t)fs * sizeof *W1);
    slice += (long)d * fs;
    memcpy(b1 + (long)t * fs, slice, (size_t)fs * sizeof *b1);
    slice += fs;
    memcpy(W2 + (long)t * fs * d, slice, (size_t)fs * d * sizeof *W2);
    slice += (long)fs * d;
    memcpy(b2, slice, (size_t)d * sizeof *b2);
}

pp_status pp_trainer_params(pp_trainer *t, float *params)
{
    return pp_trainer_params_of(t, 0, params);
}

pp_status pp_trainer_params_of(pp_trainer *t, int replica, float *params)
{
    const pp_grid *g = t->g;
    if (replica < 0 || replica >= t->D) return PP_EARG;   /* the same verdict on every rank */
    long per = pp_block_params(&t->cfg), fs = t->cfg.hidden / t->T;
    long slice = 2 * (long)t->cfg.width * fs + fs + t->cfg.width;
    float *buf = malloc((size_t)slice * sizeof *buf);
    pp_status st = buf ? PP_OK : PP_ENOMEM;
    /* Slice by slice: the owner sends, rank 0 receives in the same order, so
     * each blocking send meets its receive. */
    for (int s = 0; s < t->S; s++)
        for (int l = t->part.first[s]; l < t->part.first[s + 1]; l++)
            for (int k = 0; k < t->T; k++) {
                int owner = pp_grid_rank_of(g, t->stage_rank[s], k, replica);
                if (owner == g->rank) {
                    if (st == PP_OK) st = pp_block_to_host(&t->w[l], buf);
                    if (owner != 0 && MPI_Send(buf, (int)slice, MPI_FLOAT, 0, l, g->all) != MPI_SUCCESS) st = PP_EMPI;
                } else if (g->rank == 0 &&
                           MPI_Recv(buf, (int)slice, MPI_FLOAT, owner, l, g->all, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                    st = PP_EMPI;
                }
                if (g->rank == 0 && st == PP_OK) place_slice(&t->cfg, t->T, k, buf, params + l * per);
            }
    free(buf);
    return st;
}

/* ---- --dump: NumPy files ------------------------------------------------- */

pp_status pp_npy_write(const char *path, const float *data, int rows, int cols)
{
    char head[128];
    int n = snprintf(head, sizeof head, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    /* Magic (6) + version (2) + length (2) + header, padded with spaces to a
     * multiple of 64 and ended by a newline, as the format asks. */
    int total = (10 + n + 1 + 63) / 64 * 64;
    while (10 + n + 1 < total) head[n++] = ' ';
    head[n++] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return PP_EIO;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(head, 1, (size_t)n, f) == (size_t)n &&
             fwrite(data, sizeof *data, (size_t)rows * cols, f) == (size_t)rows * cols;
    return fclose(f) == 0 && ok ? PP_OK : PP_EIO;
}

/* Writes rows x cols floats as dir/name.npy.tmp; adds the name to the list
 * to rename. */
static pp_status dump_host(const char *dir, const char *name, const float *host, int rows, int cols,
                           char names[][48], int *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy.tmp", dir, name);
    snprintf(names[(*n)++], 48, "%s", name);
    return pp_npy_write(path, host, rows, cols);
}

static pp_status dump_one(const char *dir, const char *name, const pp_tensor *x, char names[][48], int *n)
{
    float *host = malloc(pp_tensor_bytes(x) + 1);
    if (!host) return PP_ENOMEM;
    pp_ops_now()->to_host(host, x->data, pp_tensor_bytes(x));
    pp_status st = dump_host(dir, name, host, x->rows, x->cols, names, n);
    free(host);
    return st;
}

/* Part k of block w, in the model's layout (pp_block_part_to_host). */
static pp_status dump_part(const char *dir, const char *name, const pp_block *w, int k, char names[][48], int *n)
{
    float *host = malloc(pp_tensor_bytes(w->W1));   /* the largest part: W1 and W2 are the same size */
    int rows, cols;
    pp_status st = host ? pp_block_part_to_host(w, k, host, &rows, &cols) : PP_ENOMEM;
    if (st == PP_OK) st = dump_host(dir, name, host, rows, cols, names, n);
    free(host);
    return st;
}

pp_status pp_trainer_dump(pp_trainer *t, const char *dir, char *err, size_t errlen)
{
    if (t->T * t->D > 1) {
        snprintf(err, errlen, "--dump: writes whole blocks from one pipeline: run it with --tp 1 --dp 1");
        return PP_EARG;
    }
    int cap = 4 * t->cfg.depth + 3, n = 0;
    char (*names)[48] = calloc((size_t)cap, sizeof *names);
    pp_status st = names ? PP_OK : PP_ENOMEM;
    static const char *part_name[4] = {"W1", "b1", "W2", "b2"};
    for (int l = 0; l < t->cfg.depth && st == PP_OK; l++) {
        if (!t->w[l].W1) continue;
        for (int k = 0; k < 4 && st == PP_OK; k++) {
            char name[48];
            snprintf(name, sizeof name, "block%d_%s", l, part_name[k]);
            st = dump_part(dir, name, &t->w[l], k, names, &n);
        }
    }
    if (st == PP_OK && mine(t, 0) && t->x) st = dump_one(dir, "input", t->x, names, &n);
    if (st == PP_OK && mine(t, t->S - 1) && t->y) {
        st = dump_one(dir, "target", t->t, names, &n);
        if (st == PP_OK) st = dump_one(dir, "output", t->y, names, &n);
    }
    /* Every rank's files go into place only if every rank wrote its own. */
    int ok = st == PP_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, t->g->all);
    for (int i = 0; i < n; i++) {
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s.npy.tmp", dir, names[i]);
        snprintf(to, sizeof to, "%s/%s.npy", dir, names[i]);
        if (!all || rename(from, to) != 0) unlink(from);
    }
    free(names);
    if (!all) snprintf(err, errlen, "--dump: could not write the .npy files into '%s' (%s)", dir,
                       ok ? "another rank failed" : strerror(errno));
    return all ? PP_OK : PP_EIO;
}
