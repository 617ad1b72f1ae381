/* internal.h -- what the modules of libpp share with each other but not with
 * the demos.  Nothing here is part of the public API (pp.h).
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include "pp.h"

#include <stdarg.h>

/* The outcome of replaying a lowered schedule when it cannot finish. */
typedef struct {
    pp_bad_kind kind;   /* PP_BAD_NONE when the replay finished */
    int rank, index;    /* where, in the lowered schedule */
    char msg[256];
    int *blocked;       /* [nranks] for a deadlock: the index each rank is stuck at, or -1 */
} pp_replay_fail;

/* Replays a lowered schedule (sends and receives explicit) rank by rank with
 * the given costs in ticks, the way the executor will run it: a compute
 * starts when the rank is free and its inputs are there; a receive waits for
 * its send (or, when `waits` is 0, completes at once: only the order of each
 * rank's own list is then checked); sends never wait.  Fills `run` (may be
 * NULL) with the predicted events.  Returns PP_OK, or PP_ESCHED with `fail`
 * filled in (the caller frees fail->blocked). */
pp_status pp_replay(const pp_sched *lowered, const pp_costs *c, pp_run *run, int waits,
                    pp_replay_fail *fail);

/* Index of (stage, micro-batch) in per-step arrays of S*M entries. */
static inline int pp_sm(const pp_sched *s, int stage, int mb)
{
    return stage * s->nmb + mb;
}

/* Frees the per-rank index arrays returned by pp_sched_lower(). */
void pp_free_index(int **idx, int nranks);

/* Message tag for one activation (dir 0) or gradient (dir 1) arriving at
 * stage `stage` for micro-batch `mb`: unique per message in a step, so that a
 * receive posted early can only match the message it is for. */
static inline int pp_tag(int stage, int mb, int dir, int M)
{
    return (stage * M + mb) * 2 + dir;
}

/* The median of five timings (sorts v in place). */
double pp_median5(double *v);

/* Reads a whole file into a malloc'd, NUL-terminated text (its length in
 * *len if len is not NULL); NULL if it cannot be read. */
char *pp_read_text(const char *path, long *len);


/* ---- the live view (live.c: MPI side; view.c: the screen; term.c: the terminal) ---- */

/* Keys turned into commands by the view, carried out by rank 0's live channel. */
enum { PP_CMD_NONE, PP_CMD_PAUSE, PP_CMD_STEP, PP_CMD_FASTER, PP_CMD_SLOWER, PP_CMD_QUIT };

/* Collective over g->pipe.  `view` is the screen on rank 0 (NULL elsewhere). */
pp_status pp_live_new(const pp_grid *g, pp_view *view, pp_live **out);
void pp_live_free(pp_live *l);
/* Every rank, before each step; rank 0 keeps the predicted run to choose steps by. */
pp_status pp_live_begin(pp_live *l, const pp_run *pred, double tick_s);
/* The executor's hooks: the common start (local clock), MPI progress (sends
 * events, takes control; `waiting` while the rank waits or holds), the tick
 * in force, the pause gate before a compute (1: hold), a compute done, and
 * the end of this rank's list (rank 0 keeps going until every rank is done). */
void pp_live_started(pp_live *l, double start);
pp_status pp_live_poll(pp_live *l, const pp_evlist *mine, double now, int waiting);
double pp_live_tick(const pp_live *l);
/* Rank 0: the tick was changed (+ or -) during this step. */
int pp_live_retimed(const pp_live *l);
int pp_live_hold_here(pp_live *l);
void pp_live_computed(pp_live *l);
pp_status pp_live_finish(pp_live *l, const pp_evlist *mine, double poll_s);

/* The view (rank 0).  Every call may come from the thread running the step
 * while the view's own thread draws: the view locks what it shares. */
void pp_view_add(pp_view *v, int rank, const pp_event *e, int n);
void pp_view_started(pp_view *v, double start);
int pp_view_take_cmd(pp_view *v);
void pp_view_set_control(pp_view *v, int paused, double tick_s);
/* A line the panel shows under the figures (loss, samples/s). */
void pp_view_note(pp_view *v, const char *text);
/* Shows `prompt` and waits for a key: returns 1 for q (quit), 0 for any other. */
int pp_view_wait_key(pp_view *v, const char *prompt);

/* view.c: opening the view on a terminal, one step at a time, and closing it. */
pp_status pp_view_open(int fd, int keys_stdin, const char *prog, pp_view **out);
void pp_view_close(pp_view *v);
/* One row per rank of a T x D grid of pipelines running s (T = D = 1: one pipeline). */
pp_status pp_view_begin_run(pp_view *v, const pp_sched *s, const pp_run *pred, const pp_exec_opts *o, int T, int D);
pp_status pp_view_end_run(pp_view *v, const pp_run *meas);
/* live.c: after a step, every rank learns whether q was pressed (collective);
 * between steps and at the end, every rank waits for rank 0's key (1: quit). */
int pp_live_quit(pp_live *l);
int pp_live_hold(pp_live *l, const char *prompt);

/* export.c: --trace, --events, --svg and the --csv table (rank 0).  Opening
 * checks the paths can be written; close(keep=0) leaves nothing behind. */
typedef struct pp_export pp_export;
pp_status pp_export_open(const char *trace, const char *events, const char *svg, const char *table, pp_export **out,
                         char *err, size_t errlen);
pp_status pp_export_run(pp_export *x, const pp_run *r, const pp_sched *s, const pp_exec_opts *o, const char *prog);
/* One row of the table (no newline), after `header` if it is the first. */
void pp_export_table_row(pp_export *x, const char *header, const char *fmt, va_list ap);
pp_status pp_export_close(pp_export *x, int keep);

/* ---- the compute backend (tensor.c: CPU through CBLAS) ---- */

/* Every operation the model does on tensor memory.  All matrices are packed
 * row-major; n counts floats.  Each runs in a fixed order, so the same
 * inputs give the same bits. */
typedef struct {
    const char *name;
    void *(*alloc)(size_t bytes);      /* zeroed, or NULL */
    void (*release)(void *p);
    void (*copy)(void *dst, const void *src, size_t bytes);        /* backend to backend */
    void (*to_host)(void *dst, const void *src, size_t bytes);     /* backend to host */
    void (*from_host)(void *dst, const void *src, size_t bytes);   /* host to backend */
    /* C (m x n) = op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n. */
    void (*gemm)(int trans_a, int trans_b, int m, int n, int k, const float *A, const float *B, float beta,
                 float *C);
    void (*add_bias)(float *X, const float *b, int rows, int cols);          /* X[r] += b */
    void (*gelu)(float *out, const float *h, long n);
    void (*gelu_backward)(float *dh, const float *da, const float *h, long n); /* dh = da gelu'(h) */
    void (*add)(float *out, const float *a, const float *b, long n);
    void (*sum_rows_acc)(float *out, const float *X, int rows, int cols);    /* out += column sums */
    /* dy = 2 scale (y - t); returns scale * sum (y - t)^2. */
    double (*mse)(float *dy, const float *y, const float *t, long n, float scale);
    void (*tanh_)(float *x, long n);
    void (*sgd)(float *w, float *g, float lr, long n);   /* w -= lr g, then g = 0 */
} pp_ops;

/* The backend in use on this rank. */
const pp_ops *pp_ops_now(void);

/* ---- model.c: one block of the MLP ---- */

typedef struct {
    pp_tensor *W1;   /* (width, hidden) */
    pp_tensor *b1;   /* (1, hidden) */
    pp_tensor *W2t;  /* W2 (hidden, width) stored transposed: (width, hidden); see model.c */
    pp_tensor *b2;   /* (1, width) */
} pp_block;

/* Block l's weights, made from the seed and charged as parameters, and its
 * gradients, zeroed and charged as gradients.  Slice t of T (tensor
 * parallel): hidden columns t f/T .. (t+1) f/T - 1 of W1 and b1, the same
 * rows of W2 (columns of W2t), and all of b2; T = 1, t = 0 is the whole
 * block.  PP_EARG if T does not divide the hidden width. */
pp_status pp_block_pair_new(const pp_model_cfg *c, int l, int T, int t, pp_mem *mem, pp_block *w, pp_block *g);
void pp_block_free(pp_block *b);

/* Copies part k (0 W1, 1 b1, 2 W2, 3 b2) of a block to host memory in the
 * model's own layout (W2 as hidden x width) and gives its shape.
 * pp_block_to_host copies all four, one after another in that order. */
pp_status pp_block_part_to_host(const pp_block *w, int k, float *host, int *rows, int *cols);

/* Sums a partial result over a tensor-parallel group, in place. */
typedef struct {
    pp_status (*sum)(void *ctx, float *buf, long n);
    void *ctx;
} pp_reducer;

/* r NULL: the whole block on this rank.  Otherwise one slice, and r adds
 * the group's partial sums (once in the forward, once in the input half of
 * the backward). */
pp_status pp_block_forward(const pp_block *w, const pp_tensor *x, pp_tensor *h, pp_tensor *a, pp_tensor *y,
                           const pp_reducer *r);
pp_status pp_block_backward_input(const pp_block *w, const pp_tensor *h, const pp_tensor *dy, pp_tensor *dh,
                                  pp_tensor *dx, const pp_reducer *r);
void pp_block_backward_weight(pp_block *g, const pp_tensor *x, const pp_tensor *a, const pp_tensor *dy,
                              const pp_tensor *dh);
void pp_block_sgd(pp_block *w, pp_block *g, float lr);
pp_status pp_block_to_host(const pp_block *w, float *host);

#endif /* PP_INTERNAL_H */
