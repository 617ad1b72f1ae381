/* train.c -- the model split over the pipeline: each rank holds the blocks
 * of its stages, and the executor calls in here for every compute action of
 * the schedule (real mode).
 *
 * Who owns what during a step (M micro-batches of `rows` samples):
 *   - message buffers, one per boundary, direction and micro-batch, made at
 *     the start of the step so the executor can post every receive early;
 *   - for every block and micro-batch, what its forward stored for its
 *     backward (x, h, a): made by F, freed by B (or by W: h could go at I,
 *     but a stored micro-batch stays one size, so that memory counts in
 *     micro-batches held, as the formulas do).  With checkpointing
 *     (cfg.checkpoint) F stores only the stage's input, the first block's
 *     x, and the B (or I) of that micro-batch first runs the forward again
 *     to make the rest, which B (or W) frees as before;
 *   - between an I and its W, the gradients W needs (dy, dh): kept apart
 *     (PP_MEM_IW), freed by W;
 *   - with the end layers (cfg.features): the output layer's input and the
 *     loss gradient, made by the last stage's F and freed by its B (or W);
 *     the gradient at the last block's output, made from them by B or I;
 *     on the first stage the first block's dx, the input layer's weight
 *     gradient's, made by B (freed at once) or I (freed by W);
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
 * On GPU ranks (--device gpu) tensors live in device memory and a message
 * to another rank travels in a buffer of its own (mirror.c).  The trainer's
 * state is in trainer.h; --dump writes it out (dump.c).
 * Left out on purpose: weight stashing (PipeDream's asynchronous updates);
 * every step ends with one SGD update after the last micro-batch.
 */
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static saved *sv(pp_trainer *tr, int l, int m)
{
    return &tr->sv[(size_t)l * tr->M + m];
}

/* Rows first .. first + rows - 1 of a packed tensor, as a tensor that owns nothing. */
static pp_tensor rows_of(const pp_tensor *whole, int first, int rows)
{
    pp_tensor v = {whole->data + (long)first * whole->cols, rows, whole->cols, PP_MEM_OTHER, NULL};
    return v;
}

static pp_status new_t(pp_trainer *tr, pp_mem_role r, int rows, int cols, pp_tensor **out)
{
    return pp_tensor_new(&tr->mem, r, rows, cols, out);
}

/* This rank's slice of a message (all of it when T = 1): floats first .. first + count - 1. */
static void my_slice(const pp_trainer *tr, const pp_tensor *b, long *first, long *count)
{
    pp_slice_of((long)b->rows * b->cols, tr->g->T, tr->g->tp_rank, first, count);
}

/* A message this rank has just made: on a GPU rank, on its way into the
 * buffer MPI sends it from (the executor sends once the copy is done). */
static void message_out(pp_trainer *tr, int dir, int s, int m)
{
    pp_tensor *b = *msg(tr, dir, s, m);
    long first, count;
    my_slice(tr, b, &first, &count);
    pp_mirror_out(&tr->mirrors, slot(tr, dir, s, m), b->data, first, count);
}

/* ---- forward ------------------------------------------------------------- */

/* Records a collective for the step's events (the executor puts it after
 * the compute that ran it). */
static pp_status span(pp_trainer *tr, double t0, long bytes, int end_of_step)
{
    pp_event e = {.type = PP_EV_ALLREDUCE, .kind = end_of_step ? PP_IDLE : tr->cur.kind, .stage = tr->cur.stage,
                  .mb = end_of_step ? -1 : tr->cur.mb, .t0 = t0, .t1 = pp_now(), .bytes = bytes};
    return tr->step_now ? pp_step_record(tr->step_now, e) : PP_OK;   /* outside a step: nothing to record */
}

/* Lets the step's messages move between blocks (outside a step: nothing to do). */
static pp_status between_blocks(pp_trainer *tr)
{
    return tr->step_now ? pp_step_progress(tr->step_now) : PP_OK;
}

/* How a collective waits: inside a step with the step's waiter (it asks the
 * watchdog), outside with a plain test-and-sleep. */
static const pp_waiter *waiter(const pp_trainer *tr)
{
    return tr->step_now ? pp_step_waiter(tr->step_now) : &tr->plain_wait;
}

/* A received message, ready to use: it holds only this rank's slice
 * (T > 1), so the group puts the slices together first; one that arrived
 * in a host copy goes to the device. */
static pp_status arrived(pp_trainer *tr, int dir, int s, int m)
{
    pp_tensor *b = *msg(tr, dir, s, m);
    float *host = pp_mirror(&tr->mirrors, slot(tr, dir, s, m)), *where = host ? host : b->data;
    long n = (long)b->rows * b->cols;
    pp_status st = PP_OK, rec = PP_OK;
    if (tr->g->T > 1) {
        double t0 = pp_now();
        st = pp_allgather_slices(where, n, tr->g->tp, waiter(tr), &tr->comm.gather_sent);
        tr->comm.gather_size += n * (long)sizeof(float);
        tr->comm.gather_calls++;
        tr->comm.gather_s += pp_now() - t0;
        rec = span(tr, t0, n * (long)sizeof(float), 0);
    }
    if (host && st == PP_OK) pp_ops_now()->from_host(b->data, host, pp_tensor_bytes(b));
    return st != PP_OK ? st : rec;
}

/* The input of stage s for micro-batch m: the batch (first stage), the
 * previous stage's output (when it runs here), or what was received. */
static pp_status input_of(pp_trainer *tr, int s, int m, pp_tensor *in)
{
    if (s == 0) {
        *in = rows_of(tr->x, m * tr->rows, tr->rows);
        return PP_OK;
    }
    if (mine(tr, s - 1)) {
        *in = **msg(tr, OUT_F, s - 1, m);
        return PP_OK;
    }
    *in = **msg(tr, IN_F, s, m);
    return arrived(tr, IN_F, s, m);
}

/* The tensor-parallel sum, counted. */
static pp_status tp_sum(void *ctx, float *buf, long n)
{
    pp_trainer *tr = ctx;
    double t0 = pp_now();
    float *host = pp_host_vector(&tr->mirrors, buf, n);
    pp_status st = host ? pp_allreduce_ordered(host, n, tr->g->tp, waiter(tr), &tr->comm.tp_sent) : PP_ENOMEM;
    if (st == PP_OK) pp_host_vector_back(buf, host, n);
    tr->comm.tp_size += n * (long)sizeof(float);
    tr->comm.tp_calls++;
    tr->comm.tp_s += pp_now() - t0;
    pp_status rec = span(tr, t0, n * (long)sizeof(float), 0);
    return st != PP_OK ? st : rec;
}

static const pp_reducer *reducer(const pp_trainer *tr)
{
    return tr->g->T > 1 ? &tr->tp : NULL;
}

/* Runs stage s's blocks forward on micro-batch m from its stored input
 * (the first block's x) into y, storing what the backward needs: each
 * block's h and a, and the next block's input.  An F does this, or with
 * --checkpoint the recompute just before the backward. */
static pp_status forward_stored(pp_trainer *tr, int s, int m, pp_tensor *y)
{
    int first = tr->part.first[s], last = tr->part.first[s + 1] - 1, n = tr->rows;
    int d = tr->cfg.width, f = tr->cfg.hidden / tr->g->T;
    pp_status st;
    /* What a tensor allocated here holds is freed with the step (end_step), so a failure just returns. */
    for (int l = first; l <= last; l++) {
        saved *k = sv(tr, l, m);
        if ((st = new_t(tr, PP_MEM_ACTS, n, f, &k->h)) != PP_OK || (st = new_t(tr, PP_MEM_ACTS, n, f, &k->a)) != PP_OK)
            return st;
        pp_tensor *out = y;
        if (l < last) {                     /* the next block's input: stored */
            if ((st = new_t(tr, PP_MEM_ACTS, n, d, &sv(tr, l + 1, m)->x)) != PP_OK) return st;
            out = sv(tr, l + 1, m)->x;
        }
        if ((st = pp_block_forward(&tr->w[l], k->x, k->h, k->a, out, reducer(tr))) != PP_OK) return st;
        if (l < last && (st = between_blocks(tr)) != PP_OK) return st;   /* messages move between blocks */
    }
    return PP_OK;
}

/* The same on x (rows x width) into y (not x), storing nothing: h, a and
 * the outputs between blocks live in scratch space freed on return.  A
 * forward under --checkpoint, and pp_trainer_forward_stage. */
static pp_status forward_unstored(pp_trainer *tr, int s, const pp_tensor *x, pp_tensor *y)
{
    int first = tr->part.first[s], last = tr->part.first[s + 1] - 1, n = x->rows;
    int d = tr->cfg.width, f = tr->cfg.hidden / tr->g->T;
    pp_tensor *h = NULL, *a = NULL, *between[2] = {NULL, NULL};   /* between: two outputs, in turn */
    pp_status st;
    if ((st = new_t(tr, PP_MEM_OTHER, n, f, &h)) != PP_OK || (st = new_t(tr, PP_MEM_OTHER, n, f, &a)) != PP_OK ||
        (st = new_t(tr, PP_MEM_OTHER, n, d, &between[0])) != PP_OK ||
        (st = new_t(tr, PP_MEM_OTHER, n, d, &between[1])) != PP_OK)
        goto done;
    const pp_tensor *in = x;
    for (int l = first; l <= last && st == PP_OK; l++) {
        pp_tensor *out = l == last ? y : between[(l - first) % 2];
        st = pp_block_forward(&tr->w[l], in, h, a, out, reducer(tr));
        if (st == PP_OK && l < last) st = between_blocks(tr);
        in = out;
    }
done:
    pp_tensor_free(h), pp_tensor_free(a), pp_tensor_free(between[0]), pp_tensor_free(between[1]);
    return st;
}

/* The last stage: micro-batch m's loss, from the model's output (its rows
 * of tr->y), and the loss's gradient, stored in the top block's saved
 * (keep) or dropped (checkpointing's F: the recompute makes it again). */
static pp_status loss_of(pp_trainer *tr, int m, int keep)
{
    int n = tr->rows, io = pp_model_io(&tr->cfg);
    saved *top = sv(tr, tr->part.first[tr->S] - 1, m);
    pp_tensor **grad = tr->Wout ? &top->out_dy : &top->dy;   /* at the output layer's output, or the last block's */
    pp_tensor y = rows_of(tr->y, m * n, n), target = rows_of(tr->targets, m * n, n);
    pp_status st = new_t(tr, keep ? PP_MEM_ACTS : PP_MEM_OTHER, n, io, grad);
    if (st != PP_OK) return st;
    tr->mb_loss[m] = pp_ops_now()->mse((*grad)->data, y.data, target.data, (long)n * io,
                                       1.0f / ((float)tr->cfg.batch * (float)io));
    if (!keep) pp_tensor_free(*grad), *grad = NULL;
    return PP_OK;
}

/* Where stage s's blocks put micro-batch m's output: the send buffer; on
 * the last stage the model's output rows, or with an output layer its
 * input, made here (stored under `role`). */
static pp_status blocks_out(pp_trainer *tr, int s, int m, pp_mem_role role, pp_tensor *rows, pp_tensor **y)
{
    if (s < tr->S - 1) {
        *y = *msg(tr, OUT_F, s, m);
        return PP_OK;
    }
    if (!tr->Wout) {
        *rows = rows_of(tr->y, m * tr->rows, tr->rows);
        *y = rows;
        return PP_OK;
    }
    saved *top = sv(tr, tr->part.first[s + 1] - 1, m);
    pp_status st = new_t(tr, role, tr->rows, tr->cfg.width, &top->out_x);
    *y = top->out_x;
    return st;
}

/* The last stage after its blocks: the output layer makes the model's
 * output from what the blocks put out (without one they wrote it), then
 * the loss (not in inference); what the output layer read stays only if
 * `keep`. */
static pp_status model_end(pp_trainer *tr, int m, int keep)
{
    saved *top = sv(tr, tr->part.first[tr->S] - 1, m);
    pp_status st = PP_OK;
    if (tr->Wout) {
        pp_tensor z = rows_of(tr->y, m * tr->rows, tr->rows);
        pp_end_forward(tr->Wout, top->out_x, &z);
    }
    if (!tr->infer) st = loss_of(tr, m, keep);
    if (!keep) pp_tensor_free(top->out_x), top->out_x = NULL;
    return st;
}

/* F: the stage's input is stored (the first block's x: what arrived, or on
 * the first stage the batch, through the input layer if there is one),
 * then the blocks run, storing the rest of what the backward needs, or
 * with --checkpoint nothing more (the backward runs them again first).
 * Inference stores nothing: the input layer's output, if any, lives only
 * while the blocks read it. */
static pp_status forward(pp_trainer *tr, int s, int m)
{
    int first = tr->part.first[s], n = tr->rows, d = tr->cfg.width;
    int keep = !tr->cfg.checkpoint && !tr->infer, in_layer = s == 0 && tr->Win;
    saved *k = sv(tr, first, m);
    pp_tensor in, rows, *y;
    pp_status st;
    if ((st = input_of(tr, s, m, &in)) != PP_OK) return st;
    if (!tr->infer || in_layer) {
        if ((st = new_t(tr, tr->infer ? PP_MEM_OTHER : PP_MEM_ACTS, n, d, &k->x)) != PP_OK) return st;
        if (in_layer) pp_end_forward(tr->Win, &in, k->x);
        else pp_ops_now()->copy(k->x->data, in.data, pp_tensor_bytes(&in));
    }
    if ((st = blocks_out(tr, s, m, keep ? PP_MEM_ACTS : PP_MEM_OTHER, &rows, &y)) != PP_OK ||
        (st = keep ? forward_stored(tr, s, m, y) : forward_unstored(tr, s, k->x ? k->x : &in, y)) != PP_OK)
        return st;
    if (s < tr->S - 1) message_out(tr, OUT_F, s, m);
    else st = model_end(tr, m, keep);
    if (tr->infer) pp_tensor_free(k->x), k->x = NULL;
    return st;
}

/* --checkpoint, just before micro-batch m's backward on stage s (B, or I):
 * its forward again from the input its F kept, storing this time what the
 * backward needs, freed by B or W as an F's would be (W needs each block's
 * x and a, so they stay past I).  The same operations on the same numbers:
 * the same bits.  On the last stage the output layer and the loss run
 * again too, for the loss's gradient (the loss it also gives is the F's,
 * bit for bit). */
static pp_status recompute(pp_trainer *tr, int s, int m)
{
    if (!tr->cfg.checkpoint) return PP_OK;
    pp_tensor rows, *y = NULL;
    pp_status st;
    if (s < tr->S - 1) {   /* the output is not needed again: into scratch, not the sent buffer */
        if ((st = new_t(tr, PP_MEM_OTHER, tr->rows, tr->cfg.width, &y)) == PP_OK) st = forward_stored(tr, s, m, y);
        pp_tensor_free(y);
        return st;
    }
    if ((st = blocks_out(tr, s, m, PP_MEM_ACTS, &rows, &y)) == PP_OK) st = forward_stored(tr, s, m, y);
    return st == PP_OK ? model_end(tr, m, 1) : st;
}

/* ---- backward ------------------------------------------------------------ */

/* The gradient arriving at stage s's output for micro-batch m (a received
 * one is put together from its slices first: *st says if that failed). */
static pp_tensor *grad_in(pp_trainer *tr, int s, int m, pp_status *st)
{
    if (s == tr->S - 1) return sv(tr, tr->part.first[s + 1] - 1, m)->dy;
    if (mine(tr, s + 1)) return *msg(tr, OUT_B, s + 1, m);
    *st = arrived(tr, IN_B, s, m);
    return *msg(tr, IN_B, s, m);
}

static void free_saved(saved *k)
{
    pp_tensor_free(k->x), pp_tensor_free(k->h), pp_tensor_free(k->a);
    pp_tensor_free(k->dy), pp_tensor_free(k->dh);
    pp_tensor_free(k->out_x), pp_tensor_free(k->out_dy), pp_tensor_free(k->in_dy);
    memset(k, 0, sizeof *k);
}

/* Where block l's input gradient goes: the next block down (made here), the
 * send buffer (the stage's first block), the input layer's weight gradient
 * (made here), or nowhere (the model's input). */
static pp_status dx_for(pp_trainer *tr, int s, int l, int m, pp_mem_role r, pp_tensor **dx)
{
    if (l > tr->part.first[s] || (s == 0 && tr->Win)) return new_t(tr, r, tr->rows, tr->cfg.width, dx);
    *dx = s > 0 ? *msg(tr, OUT_B, s, m) : NULL;
    return PP_OK;
}

/* The output layer's input half, on the last stage: the gradient at the
 * last block's output, dy = out_dy Wout^T, made once per micro-batch under
 * `role` (without an output layer the loss gave it). */
static pp_status output_layer_input(pp_trainer *tr, int s, int m, pp_mem_role role)
{
    saved *top = sv(tr, tr->part.first[s + 1] - 1, m);
    if (s < tr->S - 1 || !tr->Wout || top->dy) return PP_OK;
    pp_status st = new_t(tr, role, tr->rows, tr->cfg.width, &top->dy);
    if (st == PP_OK) pp_end_backward_input(tr->Wout, top->out_dy, top->dy);
    return st;
}

/* The end layers' weight halves for micro-batch m, in its turn.  Wout's,
 * from its input and the loss gradient (last stage), comes before the
 * blocks' own, which free what it reads.  Win's, from the batch's rows and
 * dx0, the first block's dx (first stage), comes after the blocks made dx0. */
static void output_layer_weight(pp_trainer *tr, int s, int m)
{
    saved *top = sv(tr, tr->part.first[s + 1] - 1, m);
    if (s == tr->S - 1 && tr->Wout) pp_end_backward_weight(tr->gout, top->out_x, top->out_dy);
}

static void input_layer_weight(pp_trainer *tr, int s, int m, const pp_tensor *dx0)
{
    if (s > 0 || !tr->Win) return;
    pp_tensor x = rows_of(tr->x, m * tr->rows, tr->rows);
    pp_end_backward_weight(tr->gin, &x, dx0);
}

/* The whole backward of stage s for micro-batch m, block by block from the
 * top, adding the gradients at once; what the forward stored is freed as it
 * is used.  Only while m's turn to add has come (see the file comment). */
static pp_status backward_fused(pp_trainer *tr, int s, int m)
{
    int first = tr->part.first[s], last = tr->part.first[s + 1] - 1;
    pp_status st = output_layer_input(tr, s, m, PP_MEM_OTHER);
    if (st == PP_OK) output_layer_weight(tr, s, m);
    pp_tensor *dy = st == PP_OK ? grad_in(tr, s, m, &st) : NULL, *dh = NULL, *dx = NULL;
    pp_tensor *given = dy, *sent = s > 0 ? *msg(tr, OUT_B, s, m) : NULL;   /* not this function's to free */
    for (int l = last; l >= first && st == PP_OK; l--) {
        saved *k = sv(tr, l, m);
        if ((st = new_t(tr, PP_MEM_OTHER, tr->rows, tr->cfg.hidden / tr->g->T, &dh)) != PP_OK ||
            (st = dx_for(tr, s, l, m, PP_MEM_OTHER, &dx)) != PP_OK)
            break;
        st = pp_block_backward_input(&tr->w[l], k->h, dy, dh, dx, reducer(tr));
        pp_block_backward_weight(&tr->grad[l], k->x, k->a, dy, dh);
        if (l < last) pp_tensor_free(dy);   /* scratch made by the block above */
        pp_tensor_free(dh);
        free_saved(k);
        dy = dx, dh = dx = NULL;
        if (st == PP_OK && l > first) st = between_blocks(tr);
    }
    if (st == PP_OK) input_layer_weight(tr, s, m, dy);   /* dy: the first block's dx */
    if (dy != given && dy != sent) pp_tensor_free(dy);    /* scratch made here (or left by a failure) */
    if (st == PP_OK && s > 0) message_out(tr, OUT_B, s, m);
    return st;
}

/* The input half alone (I): makes dh and dx for every block and keeps dy and
 * dh (beside x, h and a) for the weight half. */
static pp_status backward_input(pp_trainer *tr, int s, int m)
{
    int first = tr->part.first[s], last = tr->part.first[s + 1] - 1;
    saved *top = sv(tr, last, m);
    pp_status st = output_layer_input(tr, s, m, PP_MEM_IW);
    if (st == PP_OK && !top->dy) {   /* a received gradient: copied, its buffer belongs to the step */
        pp_tensor *in = grad_in(tr, s, m, &st);
        if (st == PP_OK && (st = new_t(tr, PP_MEM_IW, tr->rows, tr->cfg.width, &top->dy)) == PP_OK)
            pp_ops_now()->copy(top->dy->data, in->data, pp_tensor_bytes(in));
    }
    for (int l = last; l >= first && st == PP_OK; l--) {
        saved *k = sv(tr, l, m);
        pp_tensor *dx = NULL;
        if ((st = new_t(tr, PP_MEM_IW, tr->rows, tr->cfg.hidden / tr->g->T, &k->dh)) != PP_OK ||
            (st = dx_for(tr, s, l, m, PP_MEM_IW, &dx)) != PP_OK)
            break;
        st = pp_block_backward_input(&tr->w[l], k->h, k->dy, k->dh, dx, reducer(tr));
        if (l > first) sv(tr, l - 1, m)->dy = dx;
        else if (s == 0 && tr->Win) k->in_dy = dx;   /* for the input layer's W */
    }
    if (st == PP_OK && s > 0) message_out(tr, OUT_B, s, m);
    return st;
}

/* The weight half (W) of micro-batch m on stage s, from what I kept. */
static void backward_weight(pp_trainer *tr, int s, int m)
{
    output_layer_weight(tr, s, m);
    input_layer_weight(tr, s, m, sv(tr, tr->part.first[s], m)->in_dy);
    for (int l = tr->part.first[s + 1] - 1; l >= tr->part.first[s]; l--) {
        saved *k = sv(tr, l, m);
        pp_block_backward_weight(&tr->grad[l], k->x, k->a, k->dy, k->dh);
        free_saved(k);
    }
}

/* Adds, in turn, every weight gradient of stage s that the schedule has
 * already run (it waited for the one before it). */
static void weights_due(pp_trainer *tr, int s)
{
    while (tr->w_next[s] < tr->M && tr->w_asked[s * tr->M + tr->w_next[s]]) {
        backward_weight(tr, s, tr->w_next[s]);
        tr->w_next[s]++;
    }
}

/* The schedule ran W of micro-batch m: add it, and any that waited for it. */
static void weight_in_order(pp_trainer *tr, int s, int m)
{
    tr->w_asked[s * tr->M + m] = 1;
    weights_due(tr, s);
}

/* ---- the executor's hooks ------------------------------------------------ */

/* Seconds this thread has run on a CPU (a rank computes on one thread). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static pp_status compute(void *ctx, pp_step *step, pp_action a)
{
    pp_trainer *tr = ctx;
    if (a.stage < 0 || a.stage >= tr->S || !mine(tr, a.stage) || a.mb < 0 || a.mb >= tr->M) return PP_ESCHED;
    tr->cur = a;
    tr->step_now = step;
    double cpu0 = cpu_now(), ops0 = pp_backend_gemm_ops();
    pp_status st = PP_ESCHED;
    switch (a.kind) {
    case PP_F: st = forward(tr, a.stage, a.mb); break;
    case PP_B:
        if ((st = recompute(tr, a.stage, a.mb)) != PP_OK) break;
        if (tr->w_next[a.stage] == a.mb) {   /* its turn: input and weights at once */
            tr->w_next[a.stage]++;
            if ((st = backward_fused(tr, a.stage, a.mb)) == PP_OK) weights_due(tr, a.stage);
        } else if ((st = backward_input(tr, a.stage, a.mb)) == PP_OK) {
            weight_in_order(tr, a.stage, a.mb);
        }
        break;
    case PP_I:
        if ((st = recompute(tr, a.stage, a.mb)) == PP_OK) st = backward_input(tr, a.stage, a.mb);
        break;
    case PP_W: weight_in_order(tr, a.stage, a.mb); st = PP_OK; break;
    default: break;
    }
    tr->cpu_s += cpu_now() - cpu0;
    tr->flops += pp_backend_gemm_ops() - ops0;
    return st == PP_OK ? pp_backend_status() : st;   /* a GPU's failure shows here */
}

/* A send's bytes are in its buffer once its copy out (if any) has ended. */
static int ready(void *ctx, pp_action a)
{
    pp_trainer *tr = ctx;
    int dir = a.kind == PP_SEND_F ? OUT_F : OUT_B;
    return pp_mirror_ready(&tr->mirrors, slot(tr, dir, a.stage, a.mb));
}

static void *buffer(void *ctx, pp_action a, size_t *bytes)
{
    pp_trainer *tr = ctx;
    int dir = a.kind == PP_RECV_F ? IN_F : a.kind == PP_SEND_F ? OUT_F : a.kind == PP_RECV_B ? IN_B : OUT_B;
    pp_tensor *b = a.stage >= 0 && a.stage < tr->S && a.mb >= 0 && a.mb < tr->M ? *msg(tr, dir, a.stage, a.mb) : NULL;
    if (!b) {
        *bytes = 0;
        return NULL;
    }
    /* This rank's slice of the message (all of it when T = 1), in the
     * buffer it travels in on a GPU rank. */
    long first, count;
    my_slice(tr, b, &first, &count);
    *bytes = (size_t)count * sizeof(float);
    if (dir == OUT_F || dir == OUT_B) tr->comm.pipe_bytes += (long)*bytes, tr->comm.pipe_msgs++;
    float *host = pp_mirror(&tr->mirrors, slot(tr, dir, a.stage, a.mb));
    return (host ? host : b->data) + first;
}

/* ---- a step -------------------------------------------------------------- */

/* Frees what a step made (its inputs, targets and outputs stay until the
 * next step, for --dump). */
static void end_step(pp_trainer *tr)
{
    tr->step_now = NULL;
    pp_ops_now()->sync();   /* no copy still reads a buffer freed below */
    for (int i = 0; tr->msg && i < NDIRS * tr->S * tr->M; i++) pp_tensor_free(tr->msg[i]);
    for (int i = 0; tr->sv && i < tr->cfg.depth * tr->M; i++) free_saved(&tr->sv[i]);
    free(tr->msg), free(tr->sv), free(tr->w_asked), free(tr->mb_loss);
    tr->msg = NULL, tr->sv = NULL, tr->w_asked = NULL, tr->mb_loss = NULL;
}

/* Frees the last step's inputs, targets and outputs. */
static void free_batch(pp_trainer *tr)
{
    pp_tensor_free(tr->x), pp_tensor_free(tr->targets), pp_tensor_free(tr->y);
    tr->x = tr->targets = tr->y = NULL;
}

/* GPU ranks: a buffer for every message that crosses to another rank. */
static pp_status make_mirrors(pp_trainer *tr)
{
    if (!pp_mirrors_needed(&tr->mirrors, tr->M)) return PP_OK;   /* the CPU, or M as before */
    int n = NDIRS * tr->S * tr->M;
    char *need = calloc((size_t)n, 1);
    if (!need) return PP_ENOMEM;
    for (int dir = 0; dir < NDIRS; dir++)
        for (int s = 0; s < tr->S; s++)
            for (int m = 0; m < tr->M && mine(tr, s) && crosses(tr, dir, s); m++) need[slot(tr, dir, s, m)] = 1;
    pp_status st = pp_mirrors_make(&tr->mirrors, tr->M, n, need, (size_t)tr->rows * tr->cfg.width * sizeof(float));
    free(need);
    return st;
}

/* Makes the step's message buffers, inputs and targets. */
static pp_status begin_step(pp_trainer *tr, int M)
{
    int d = tr->cfg.width, S = tr->S;
    tr->M = M;
    tr->rows = tr->share / M;
    tr->loss = 0;
    tr->cpu_s = 0;
    tr->flops = 0;
    memset(&tr->comm, 0, sizeof tr->comm);
    tr->step_now = NULL;
    free_batch(tr);
    tr->msg = calloc((size_t)NDIRS * S * M, sizeof *tr->msg);
    tr->sv = calloc((size_t)tr->cfg.depth * M, sizeof *tr->sv);
    tr->w_asked = calloc((size_t)S * M, 1);
    tr->mb_loss = calloc((size_t)M, sizeof *tr->mb_loss);
    if (!tr->msg || !tr->sv || !tr->w_asked || !tr->mb_loss) return PP_ENOMEM;
    memset(tr->w_next, 0, sizeof tr->w_next);
    pp_status st;
    for (int s = 0; s < S; s++) {
        if (!mine(tr, s)) continue;
        /* Receive buffers only from another rank; send buffers always (a
         * neighbour stage on this rank reads them directly). */
        int need[NDIRS] = {crosses(tr, IN_F, s), s < S - 1, crosses(tr, IN_B, s), s > 0};
        for (int dir = 0; dir < NDIRS; dir++)
            for (int m = 0; m < M && need[dir]; m++)
                if ((st = new_t(tr, PP_MEM_COMM, tr->rows, d, msg(tr, dir, s, m))) != PP_OK) return st;
    }
    if ((st = make_mirrors(tr)) != PP_OK) return st;
    int io = pp_model_io(&tr->cfg);   /* the model's input and output: width, or the features */
    if (mine(tr, 0) || mine(tr, S - 1)) {
        if ((st = new_t(tr, PP_MEM_OTHER, tr->share, io, &tr->x)) != PP_OK ||
            (st = pp_model_inputs(&tr->cfg, tr->step, tr->g->dp_rank * tr->share, tr->x)) != PP_OK)
            return st;
    }
    if (!mine(tr, S - 1)) return PP_OK;
    if ((st = new_t(tr, PP_MEM_OTHER, tr->share, io, &tr->y)) != PP_OK) return st;
    if (tr->infer) return PP_OK;   /* inference: no loss, no targets */
    if ((st = new_t(tr, PP_MEM_OTHER, tr->share, io, &tr->targets)) != PP_OK) return st;
    /* One micro-batch at a time, as the single-process loop makes them. */
    for (int m = 0; m < M; m++) {
        pp_tensor xm = rows_of(tr->x, m * tr->rows, tr->rows), tm = rows_of(tr->targets, m * tr->rows, tr->rows);
        pp_model_targets(tr->A, &xm, &tm);
    }
    return PP_OK;
}

/* One gradient summed over the replicas (in replica order), counted. */
static pp_status sum_over_replicas(pp_trainer *tr, pp_tensor *g)
{
    long n = (long)g->rows * g->cols;
    float *host = pp_host_vector(&tr->mirrors, g->data, n);
    pp_status st = host ? pp_allreduce_ordered(host, n, tr->g->dp, waiter(tr), &tr->comm.dp_sent) : PP_ENOMEM;
    if (st == PP_OK) pp_host_vector_back(g->data, host, n);
    tr->comm.dp_size += n * (long)sizeof(float);
    tr->comm.dp_calls++;
    return st;
}

/* Data parallel, after this rank's last action (the executor's finish
 * hook): every gradient of this rank's blocks (and end layers) summed over
 * the replicas. */
static pp_status sum_replicas(void *ctx, pp_step *step)
{
    pp_trainer *tr = ctx;
    if (tr->g->D == 1) return PP_OK;
    tr->step_now = step;
    double t0 = pp_now();
    pp_status st = PP_OK;
    for (int l = 0; l < tr->cfg.depth && st == PP_OK; l++) {
        if (!tr->grad[l].W1) continue;
        pp_tensor *g[4] = {tr->grad[l].W1, tr->grad[l].b1, tr->grad[l].W2t, tr->grad[l].b2};
        for (int k = 0; k < 4 && st == PP_OK; k++) st = sum_over_replicas(tr, g[k]);
    }
    if (st == PP_OK && tr->gin) st = sum_over_replicas(tr, tr->gin);
    if (st == PP_OK && tr->gout) st = sum_over_replicas(tr, tr->gout);
    tr->comm.dp_s = pp_now() - t0;
    pp_status rec = span(tr, t0, tr->comm.dp_size, 1);
    tr->step_now = NULL;
    return st != PP_OK ? st : rec;
}

/* The step's loss: each replica's share, added in replica order. */
static pp_status sum_loss(pp_trainer *tr)
{
    double *parts = malloc((size_t)tr->g->D * sizeof *parts);
    if (!parts) return PP_ENOMEM;
    pp_status st = MPI_Allgather(&tr->loss, 1, MPI_DOUBLE, parts, 1, MPI_DOUBLE, tr->g->dp) == MPI_SUCCESS ? PP_OK : PP_EMPI;
    for (int r = 0; r < tr->g->D && st == PP_OK; r++) tr->loss = r == 0 ? parts[0] : tr->loss + parts[r];
    free(parts);
    return st;
}

pp_status pp_trainer_step(pp_trainer *tr, const pp_sched *s, const pp_exec_opts *o, pp_run **meas, double *loss)
{
    *meas = NULL;
    if (s->nstages != tr->S || s->nmb < 1 || tr->share % s->nmb != 0) return PP_EARG;
    for (int k = 0; k < tr->S; k++)
        if (s->stage_rank[k] != tr->stage_rank[k]) return PP_EARG;
    pp_exec_opts real = *o;
    real.work = &tr->work;
    tr->infer = s->forward_only;
    tr->plain_wait.poll_s = o->poll_wait_s;
    pp_status st;
    if ((st = begin_step(tr, s->nmb)) != PP_OK || (st = pp_exec_step(tr->g, s, &real, meas)) != PP_OK) goto done;
    /* After the last micro-batch: the micro-batches' losses are added in
     * their order (as one process adds them, whatever order the forwards
     * ran in), the replicas' gradients were summed (the finish hook), and
     * the losses are; then one SGD update. */
    for (int m = 0; m < tr->M; m++) tr->loss += tr->mb_loss[m];
    if (tr->g->D > 1 && (st = sum_loss(tr)) != PP_OK) goto done;
    for (int l = 0; l < tr->cfg.depth && !tr->infer; l++)   /* inference: nothing to learn */
        if (tr->w[l].W1) pp_block_sgd(&tr->w[l], &tr->grad[l], tr->cfg.lr);
    pp_tensor *end_w[2] = {tr->Win, tr->Wout}, *end_g[2] = {tr->gin, tr->gout};
    for (int k = 0; k < 2 && !tr->infer; k++)
        if (end_w[k]) pp_ops_now()->sgd(end_w[k]->data, end_g[k]->data, tr->cfg.lr, (long)end_w[k]->rows * end_w[k]->cols);
    if (MPI_Bcast(&tr->loss, 1, MPI_DOUBLE, tr->stage_rank[tr->S - 1], tr->g->pipe) != MPI_SUCCESS) st = PP_EMPI;
    if (st == PP_OK) st = pp_backend_status();   /* a GPU failure in the sums or the update */
done:
    end_step(tr);
    *loss = tr->loss;
    tr->step++;
    return st;
}

/* ---- making, reading, freeing -------------------------------------------- */

pp_status pp_trainer_new(const pp_grid *g, const pp_model_cfg *c, const pp_partition *part, const int *stage_rank,
                         pp_trainer **out)
{
    *out = NULL;
    if (part->depth != c->depth || part->nstages < 1 || c->features < 0) return PP_EARG;
    pp_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return PP_ENOMEM;
    tr->g = g;
    tr->cfg = *c;
    tr->part = *part;
    tr->S = part->nstages;
    tr->me = g->pipe_rank;
    tr->share = c->batch / g->D;
    tr->tp = (pp_reducer){tp_sum, tr};
    tr->plain_wait.poll_s = 20e-6;
    if (c->hidden % g->T != 0 || c->batch % g->D != 0) {
        free(tr);
        return PP_EARG;
    }
    for (int s = 0; s < tr->S; s++) tr->stage_rank[s] = stage_rank ? stage_rank[s] : s;
    tr->work = (pp_work){tr, buffer, compute, sum_replicas, ready};
    tr->w = calloc((size_t)c->depth, sizeof *tr->w);
    tr->grad = calloc((size_t)c->depth, sizeof *tr->grad);
    pp_status st = tr->w && tr->grad ? PP_OK : PP_ENOMEM;
    for (int s = 0; s < tr->S && st == PP_OK; s++)
        for (int l = part->first[s]; l < part->first[s + 1] && mine(tr, s) && st == PP_OK; l++)
            st = pp_block_pair_new(c, l, tr->g->T, g->tp_rank, &tr->mem, &tr->w[l], &tr->grad[l]);
    if (st == PP_OK && mine(tr, 0) && c->features > 0) st = pp_end_pair_new(c, 0, &tr->mem, &tr->Win, &tr->gin);
    if (st == PP_OK && mine(tr, tr->S - 1) && c->features > 0)
        st = pp_end_pair_new(c, 1, &tr->mem, &tr->Wout, &tr->gout);
    if (st == PP_OK && mine(tr, tr->S - 1)) st = pp_model_teacher(c, &tr->mem, &tr->A);
    if (st != PP_OK) {
        pp_trainer_free(tr);
        return st;
    }
    *out = tr;
    return PP_OK;
}

void pp_trainer_free(pp_trainer *tr)
{
    if (!tr) return;
    end_step(tr);
    for (int l = 0; l < tr->cfg.depth; l++) {
        if (tr->w) pp_block_free(&tr->w[l]);
        if (tr->grad) pp_block_free(&tr->grad[l]);
    }
    free_batch(tr);
    pp_mirrors_free(&tr->mirrors);
    pp_tensor_free(tr->A);
    pp_tensor_free(tr->Win), pp_tensor_free(tr->gin), pp_tensor_free(tr->Wout), pp_tensor_free(tr->gout);
    free(tr->w), free(tr->grad);
    free(tr);
}

const pp_work *pp_trainer_work(pp_trainer *tr)
{
    return &tr->work;
}

pp_mem *pp_trainer_mem(pp_trainer *tr)
{
    return &tr->mem;
}

pp_status pp_trainer_mem_all(pp_trainer *tr, pp_mem *all)
{
    int rc = MPI_Gather(&tr->mem, (int)sizeof tr->mem, MPI_BYTE, all, (int)sizeof tr->mem, MPI_BYTE, 0, tr->g->all);
    return rc == MPI_SUCCESS ? PP_OK : PP_EMPI;
}

double pp_trainer_cpu_s(const pp_trainer *tr)
{
    return tr->cpu_s;
}

double pp_trainer_flops(const pp_trainer *tr)
{
    return tr->flops;
}

const pp_comm_stats *pp_trainer_comm(const pp_trainer *tr)
{
    return &tr->comm;
}

pp_status pp_trainer_comm_all(pp_trainer *tr, pp_comm_stats *all)
{
    int n = (int)sizeof tr->comm;
    int rc = MPI_Gather(&tr->comm, n, MPI_BYTE, all, n, MPI_BYTE, 0, tr->g->all);
    return rc == MPI_SUCCESS ? PP_OK : PP_EMPI;
}

int pp_trainer_blocks(const pp_trainer *tr, int s, int *first)
{
    *first = tr->part.first[s];
    return tr->part.first[s + 1] - tr->part.first[s];
}

long pp_trainer_iw_bytes(const pp_trainer *tr, int s, int M)
{
    long blocks = tr->part.first[s + 1] - tr->part.first[s], rows = tr->share / M;
    long dh = rows * (tr->cfg.hidden / tr->g->T), dy = rows * tr->cfg.width;
    /* dh for every block; dy for every block but the top one of the last
     * stage, whose dy (the loss gradient) its forward stored, unless an
     * output layer made it; and the first block's dx for the input layer */
    int stored = s == tr->S - 1 && !tr->Wout, in_layer = s == 0 && tr->Win;
    return (long)sizeof(float) * (blocks * dh + (blocks - stored + in_layer) * dy);
}

long pp_trainer_input_bytes(const pp_trainer *tr, int s, int M)
{
    (void)s;   /* every stage's input is a micro-batch of the model's width */
    return (long)sizeof(float) * (tr->share / M) * tr->cfg.width;
}

long pp_trainer_peak_act_bytes(const pp_trainer *tr, int s, int M, int held)
{
    long whole = pp_trainer_act_bytes(tr, s, M);
    if (held <= 0 || !tr->cfg.checkpoint) return held * whole;
    return (held - 1) * pp_trainer_input_bytes(tr, s, M) + whole;
}

long pp_trainer_act_bytes(const pp_trainer *tr, int s, int M)
{
    int blocks = tr->part.first[s + 1] - tr->part.first[s];
    pp_model_cfg slice = tr->cfg;   /* h and a hold this rank's hidden columns only */
    slice.hidden /= tr->g->T;
    return (long)sizeof(float) * pp_stage_act_floats(&slice, blocks, s == tr->S - 1, tr->share / M);
}

const pp_tensor *pp_trainer_outputs(const pp_trainer *tr)
{
    return tr->y;
}

pp_status pp_trainer_forward_stage(pp_trainer *tr, int s, const pp_tensor *x, pp_tensor *y)
{
    if (s < 0 || s >= tr->S || !mine(tr, s) || x == y) return PP_EARG;
    pp_status st = forward_unstored(tr, s, x, y);
    pp_ops_now()->sync();   /* done when it returns, on a GPU too (callers time it) */
    return st != PP_OK ? st : pp_backend_status();
}
