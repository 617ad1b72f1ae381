/* pp.h -- libpp: pipeline parallelism over MPI, small enough to read in an afternoon.
 *
 * The whole library follows one idea: a schedule is data.  A builder (or a CSV
 * file written by hand) gives every rank a list of actions such as "2F0"
 * (stage 2, forward, micro-batch 0).  The validator proves the lists cannot
 * deadlock, the simulator predicts their timeline, the executor runs them over
 * MPI, the trace records what really happened, and the report puts measured,
 * predicted and formula figures side by side.
 *
 * Every function returns a pp_status (PP_OK is 0) and never exits; pp_strerror()
 * names the problem.  Objects the library allocates are freed with the matching
 * pp_..._free(), which accepts NULL.
 *
 * Two ways to compute: timed (every action sleeps a set number of ticks) and
 * real (a small MLP trained through the pipeline, checked against a
 * single-process run of the same micro-batch loop).
 * The grid adds tensor parallelism (each block's two matrices split over T
 * ranks, Megatron style) and data parallelism (D replicas on different
 * samples, gradients summed after the step's last micro-batch).
 */
#ifndef PP_H
#define PP_H

#include <stddef.h>
#include <stdio.h>
#include <mpi.h>

/* ---- status codes ------------------------------------------------------- */

typedef enum {
    PP_OK = 0,
    PP_EARG,   /* a bad argument or option value */
    PP_EMPI,   /* an MPI call failed */
    PP_ENOMEM, /* out of memory */
    PP_ESCHED, /* the schedule is incomplete, inconsistent or would deadlock */
    PP_EIO,    /* a file could not be read or written */
    PP_EPARSE, /* a text (action, CSV cell, option) could not be parsed */
    PP_EFAULT  /* a failure injected on purpose with PP_FAULT=RANK:ACTION (tests) */
} pp_status;

/* Returns a one-line description of a status code. */
const char *pp_strerror(pp_status st);

/* ---- clock -------------------------------------------------------------- */
/* Seconds on this process's monotonic clock.  Different machines disagree
 * about this clock; pp_grid_new() measures each rank's offset from rank 0 so
 * that traces can be put on rank 0's clock. */
double pp_now(void);

/* Sleeps until this process's clock reads t (absolute, seconds). */
void pp_sleep_until(double t);

/* Waits for a request without spinning: test, then sleep poll_s, so that a
 * laptop can run more ranks than it has cores.  With poll_s = 0 it tests as
 * fast as it can but offers the core to any other runnable process between
 * tests (for the clock ping-pong, which wants the reply the moment it lands).
 * Returns PP_OK or PP_EMPI. */
pp_status pp_wait(MPI_Request *req, double poll_s);
/* A barrier over comm whose waiting ranks sleep (pp_wait): a rank done early
 * leaves the cores to the ranks still working. */
pp_status pp_barrier(MPI_Comm comm, double poll_s);

/* For tests: adds an artificial offset (seconds) to this process's clock, as
 * if the rank ran on a machine whose clock disagrees with rank 0's. */
void pp_clock_inject_offset(double seconds);

/* ---- grid: ranks and their place in the pipeline ------------------------ */

/* The job's ranks form a grid of P pipeline stages x T tensor-parallel ranks
 * x D data-parallel replicas (size = P x T x D).  Placement: rank
 * w = t + T x (p + P x d), so the T ranks of one tensor-parallel group are
 * neighbours (on one machine, where mpiexec fills machines in rank order)
 * and a replica's P x T ranks are contiguous.  With T = D = 1 the grid is a
 * plain pipeline and every rank's pipe_rank is its rank. */
typedef struct {
    MPI_Comm world;     /* the communicator the grid was made from */
    MPI_Comm all;       /* every rank of the job (its own context): gathers, the live view, the start */
    MPI_Comm pipe;      /* this rank's pipeline: the P ranks with its t and d, ordered by stage */
    MPI_Comm tp;        /* its tensor-parallel group: the T ranks with its p and d */
    MPI_Comm dp;        /* its data-parallel group: the D replicas of its p and t */
    int rank, size;     /* this rank and the number of ranks in the whole job */
    int P, T, D;        /* the grid's shape */
    int pipe_rank, tp_rank, dp_rank;   /* p, t and d of this rank */
    int prev, next;     /* neighbouring ranks in pipe, MPI_PROC_NULL at the ends */
    double clock_offset;   /* this rank's clock minus rank 0's, seconds (estimated) */
    double clock_rtt;      /* fastest ping-pong round trip seen while estimating, seconds */
} pp_grid;

/* Makes a plain pipeline grid over `world` (collective): P = size, T = D = 1,
 * and estimates clock offsets. */
pp_status pp_grid_new(MPI_Comm world, pp_grid **out);
/* Collective: reshapes g into P x T x D with P = size / (T x D).  On a shape
 * that does not fit the ranks returns PP_EARG (g unchanged) with a one-line
 * reason that shows the arithmetic. */
pp_status pp_grid_shape(pp_grid *g, int T, int D, char *err, size_t errlen);
/* The grid position of job rank w. */
void pp_grid_coords(const pp_grid *g, int w, int *p, int *t, int *d);
int pp_grid_rank_of(const pp_grid *g, int p, int t, int d);
void pp_grid_free(pp_grid *g);

/* ---- sums over a group, in a fixed order -------------------------------- */

/* All-reduce (sum) of n floats over comm, in place, as a reduce-scatter then
 * an all-gather: chunk j is added on rank j in rank order, so every rank
 * gets the same bits every run.  Waits sleeping (poll_s between tests).
 * Adds the bytes this rank sent, 2 (size-1)/size of the vector (whole when
 * size divides n), to *wire_bytes (may be NULL). */
pp_status pp_allreduce_ordered(float *buf, long n, MPI_Comm comm, double poll_s, long *wire_bytes);
/* Every rank holds slice `rank` of n floats (see pp_slice_of) in buf; after
 * the call every rank holds all of them.  Adds this rank's bytes sent. */
pp_status pp_allgather_slices(float *buf, long n, MPI_Comm comm, double poll_s, long *wire_bytes);
/* Slice t of n floats cut into T nearly equal parts: its first float and count. */
void pp_slice_of(long n, int T, int t, long *first, long *count);

/* ---- schedules: per-rank lists of actions, built, read, checked --------- */

typedef enum {
    PP_F,       /* forward of one micro-batch through one stage */
    PP_B,       /* full backward: input and weight gradients together */
    PP_I,       /* backward for the input gradient only (zero-bubble schedules) */
    PP_W,       /* backward for the weight gradient only (zero-bubble schedules) */
    PP_SEND_F,  /* send this stage's forward output to the next stage */
    PP_RECV_F,  /* receive this stage's forward input from the previous stage */
    PP_SEND_B,  /* send this stage's input gradient to the previous stage */
    PP_RECV_B,  /* receive this stage's output gradient from the next stage */
    PP_IDLE,    /* an empty slot: written by hand for alignment, skipped when run */
    PP_NKINDS
} pp_kind;

/* "2F0": stage 2, forward, micro-batch 0.  An idle slot has stage = mb = -1. */
typedef struct {
    int stage;
    pp_kind kind;
    int mb;
} pp_action;

/* Which formula family a schedule belongs to (the formulas differ). */
typedef enum { PP_FAM_CUSTOM, PP_FAM_NAIVE, PP_FAM_GPIPE, PP_FAM_1F1B } pp_family;

typedef struct {
    char name[32];      /* "gpipe", "1f1b", ... or the file it came from */
    pp_family family;
    int nranks;         /* P: one action list per rank */
    int nstages;        /* S: stages (equal to P for the schedules built here) */
    int nmb;            /* M: micro-batches per step */
    int *stage_rank;    /* [nstages] the rank that runs each stage */
    int *len;           /* [nranks] actions per rank */
    pp_action **acts;   /* [nranks][len[r]] each rank's list, run in order */
    int *cap;           /* [nranks] room allocated per list (kept by pp_sched_push) */
} pp_sched;

/* Builders.  Naive: one micro-batch at a time through every stage and back.
 * GPipe: all forwards, then all backwards.  1F1B: P - r warm-up forwards on
 * rank r, then one forward and one backward in turn, then the cool-down. */
pp_status pp_sched_naive(int P, int M, pp_sched **out);
pp_status pp_sched_gpipe(int P, int M, pp_sched **out);
pp_status pp_sched_1f1b(int P, int M, pp_sched **out);
/* Builds by name ("naive", "gpipe", "1f1b"). */
pp_status pp_sched_build(const char *name, int P, int M, pp_sched **out);
/* The names pp_sched_build() accepts, as "naive, gpipe, 1f1b". */
const char *pp_sched_names(void);

/* An empty schedule with P lists, to be filled with pp_sched_push(). */
pp_status pp_sched_new(int P, pp_sched **out);
pp_status pp_sched_push(pp_sched *s, int rank, pp_action a);
/* Sets nstages, nmb and stage_rank from the actions (after pushing). */
pp_status pp_sched_finish(pp_sched *s);
void pp_sched_free(pp_sched *s);

/* Adds the sends and receives that a compute-only schedule implies: a
 * RECV before every compute that needs a remote input, a SEND after every
 * compute whose output another rank needs.  A schedule that already holds
 * communication actions is copied unchanged.  src_index (optional) receives,
 * per rank, the index in `s` each new action comes from. */
pp_status pp_sched_lower(const pp_sched *s, pp_sched **out, int ***src_index);

/* Action notation: "2F0", "3B1", "1W4", "0SEND_F2".  Returns the length
 * written (snprintf-like); an idle action writes "". */
int pp_action_str(pp_action a, char *buf, size_t n);
pp_status pp_action_parse(const char *text, pp_action *out);
int pp_kind_is_compute(pp_kind k);
const char *pp_kind_name(pp_kind k);   /* "F", "SEND_F", ... */

/* The compute-only CSV form: one row per rank, one action per cell, an empty
 * cell is an idle slot.  Text in, schedule out; schedule in, text out. */
pp_status pp_sched_from_csv(const char *text, pp_sched **out, char *err, size_t errlen);
pp_status pp_sched_load(const char *path, pp_sched **out, char *err, size_t errlen);
/* Returns a malloc'd CSV text; the caller frees it. */
char *pp_sched_to_csv(const pp_sched *s);
pp_status pp_sched_save(const pp_sched *s, const char *path);

/* ---- validator ---------------------------------------------------------- */

typedef enum {
    PP_BAD_NONE,
    PP_BAD_STAGE,        /* a stage split over two ranks, or stages not 0..S-1 */
    PP_BAD_DUPLICATE,    /* the same action twice */
    PP_BAD_MISSING,      /* an F, B (or I and W) that a stage must run is absent */
    PP_BAD_ORDER,        /* an action before the local action it needs (B before its F) */
    PP_BAD_UNMATCHED,    /* a send without its receive, or a receive without its send */
    PP_BAD_DEADLOCK      /* a cycle of waits */
} pp_bad_kind;

typedef struct {
    pp_bad_kind kind;
    int rank, index;     /* the first bad action: rank and position in its list */
    char msg[256];       /* one line: what is wrong and why */
    char missing[24];    /* for PP_BAD_MISSING: the absent action, "1B3" */
    char *grid;          /* malloc'd step-by-rank grid marking the bad action, or NULL */
} pp_check;

/* Checks a schedule before anything runs.  Returns PP_OK or PP_ESCHED with
 * `out` filled in; free out->grid with pp_check_clear(). */
pp_status pp_sched_validate(const pp_sched *s, pp_check *out);
void pp_check_clear(pp_check *c);

/* ---- trace events ------------------------------------------------------- */

typedef enum {
    PP_EV_COMPUTE,  /* F, B, I or W (see kind) */
    PP_EV_WAIT,     /* waiting for a message to arrive (kind: RECV_F or RECV_B) */
    PP_EV_SEND,     /* a message on its way: posted at t0, seen complete at t1 */
    PP_EV_HOLD,     /* held by the live view's pause (space), not part of the schedule */
    PP_EV_ALLREDUCE /* a collective of the grid: a tensor-parallel all-reduce or all-gather inside
                       a compute (kind F or B, its micro-batch), or the data-parallel gradient sum
                       at the end of the step (kind IDLE, mb -1) */
} pp_ev_type;

typedef struct {
    int type;       /* pp_ev_type */
    int kind;       /* pp_kind of the action */
    int stage, mb;
    int inflight;   /* micro-batches whose activations this rank holds after the event */
    double t0, t1;  /* seconds since the step started, on rank 0's clock */
    long bytes;     /* message size for WAIT and SEND events */
} pp_event;

/* A growable list of events, one per rank. */
typedef struct {
    pp_event *ev;
    int n, cap;
} pp_evlist;

pp_status pp_evlist_push(pp_evlist *l, pp_event e);
void pp_evlist_clear(pp_evlist *l);

/* ---- costs and the simulator ------------------------------------------- */

typedef struct {
    double ticks[4];       /* cost of F, B, I, W in ticks (default 1, 2, 1, 1) */
    const double *stage_scale; /* optional [nstages] multiplier per stage, NULL = all 1 */
    double latency;        /* ticks from a send to its receive being usable (default 0) */
    double allreduce;      /* ticks of the tensor-parallel all-reduce that ends every F, B and I
                              (default 0: none; set it only on a grid with T > 1); scaled
                              per stage like the ticks (real mode: one per block) */
    double dp_sum;         /* ticks of the replicas' gradient sum that ends a step (default 0;
                              set it only with D > 1).  In timed mode both are real all-reduces
                              of the payload that last this long */
} pp_costs;

void pp_costs_default(pp_costs *c);
double pp_costs_of(const pp_costs *c, pp_kind k, int stage);

/* A whole step: every rank's events and the figures derived from them.
 * Filled by the simulator (predicted) or by the executor (measured, rank 0). */
typedef struct {
    int P, M;             /* P: rows, one per rank (P x T x D of them for a whole grid) */
    int T, D;             /* the grid's tensor- and data-parallel sizes (1 for one pipeline) */
    int in_ticks;         /* 1: times are in ticks (predicted); 0: in seconds (measured) */
    pp_evlist *ranks;     /* [P] */
    double makespan;      /* same unit as events */
    double *busy;         /* [P] compute time per rank */
    int *peak_inflight;   /* [P] peak micro-batches whose activations are held */
    long *bytes_sent;     /* [P] */
    int paused;           /* the live view held the ranks (space) during the step: a HOLD event */
    int retimed;          /* measured runs: the tick was changed (+ or -) during the step */
} pp_run;

pp_status pp_run_new(int P, int M, pp_run **out);
/* Pipeline stages in a run: its rows / (T x D). */
int pp_run_depth(const pp_run *r);
void pp_run_free(pp_run *r);
/* Recomputes makespan, busy, peaks, bytes and paused from the events. */
void pp_run_summarize(pp_run *r);

/* Replays the schedule with the given costs (in ticks); fills a pp_run whose
 * times are in ticks.  The schedule must validate. */
pp_status pp_simulate(const pp_sched *s, const pp_costs *c, pp_run **out);

/* ---- theory: the formulas, and the measured counterparts ---------------- */

/* Bubble as a fraction of the step: (P-1)/(M+P-1) for GPipe and 1F1B,
 * (P-1)/P for naive; negative when no formula applies (custom schedules). */
double pp_theory_bubble_step(pp_family f, int P, int M);
/* Bubble over ideal (bubble-free) time: (P-1)/M for GPipe and 1F1B, P-1 naive. */
double pp_theory_bubble_ideal(pp_family f, int P, int M);
/* Peak micro-batches with stored activations on the rank running `stage`:
 * GPipe M, 1F1B min(M, P - stage), naive 1; negative when unknown. */
int pp_theory_peak_inflight(pp_family f, int P, int M, int stage);
/* The formulas as text, e.g. "(P-1)/(M+P-1)". */
const char *pp_theory_bubble_step_text(pp_family f);
const char *pp_theory_bubble_ideal_text(pp_family f);
const char *pp_theory_peak_text(pp_family f);

/* Measured from a run: idle / (P x makespan), and idle / busy. */
double pp_run_bubble_step(const pp_run *r);
double pp_run_bubble_ideal(const pp_run *r);

/* ---- the live view (opaque: see the demos' options --no-tui, --tty) ---- */

typedef struct pp_live pp_live;   /* the ranks' channel to the view while a step runs */
typedef struct pp_view pp_view;   /* the screen, on rank 0 */

/* ---- tensors and memory: float32 matrices counted by role --------------- */

/* What a piece of memory is for.  Every tensor is counted under one role on
 * the rank that allocated it, so the memory figures come from the real
 * allocations rather than from a formula. */
typedef enum {
    PP_MEM_PARAMS,  /* weights and biases */
    PP_MEM_GRADS,   /* their gradients, accumulated over the micro-batches */
    PP_MEM_ACTS,    /* activations a forward stores for its backward */
    PP_MEM_COMM,    /* buffers that messages between stages travel in */
    PP_MEM_OTHER,   /* the input batch, targets, scratch space */
    PP_MEM_NROLES
} pp_mem_role;

/* Bytes in use now and at their peak, per role and in all. */
typedef struct {
    long now[PP_MEM_NROLES], peak[PP_MEM_NROLES];
    long now_total, peak_total;
} pp_mem;

/* A row-major matrix of float32: rows x cols, in the backend's memory. */
typedef struct {
    float *data;
    int rows, cols;
    pp_mem_role role;
    pp_mem *mem;        /* the counter it is charged to (may be NULL) */
} pp_tensor;

/* Allocates a zeroed rows x cols tensor charged to `mem` under `role`. */
pp_status pp_tensor_new(pp_mem *mem, pp_mem_role role, int rows, int cols, pp_tensor **out);
void pp_tensor_free(pp_tensor *t);
size_t pp_tensor_bytes(const pp_tensor *t);
/* A checksum students can compare by eye: the sum of all elements, in double. */
double pp_tensor_sum(const pp_tensor *t);
/* Resets the peaks to the amounts in use now (between phases). */
void pp_mem_reset_peak(pp_mem *m);
const char *pp_mem_role_name(pp_mem_role r);   /* "parameters", ... */
/* The backend the tensors live on: "cpu (OpenBLAS, 1 thread per rank)". */
const char *pp_backend_name(void);
/* Floating-point operations and seconds spent in matrix multiplies on this
 * rank since the last reset (reset: start counting again). */
void pp_backend_gemm_stats(double *flops, double *seconds, int reset);

/* ---- the model: an MLP of residual blocks, and its partition into stages - */

/* The model: `depth` blocks y = x + gelu(x W1 + b1) W2 + b2 of width `width`
 * (W1: width x hidden, W2: hidden x width), trained with SGD on the mean
 * squared error against a fixed random teacher, y* = tanh(x A).  Every number
 * (inputs, teacher, initial weights) comes from `seed`, keyed by position, so
 * that any rank can make exactly the part it needs. */
typedef struct {
    int depth, width, hidden;
    int batch;          /* samples per step, split into M micro-batches */
    int steps;          /* training steps a demo runs */
    float lr;           /* SGD learning rate */
    unsigned long seed;
} pp_model_cfg;

void pp_model_cfg_default(pp_model_cfg *c);
/* Floats in one block's parameters: 2*width*hidden + hidden + width. */
long pp_block_params(const pp_model_cfg *c);
/* Floats a forward stores per micro-batch of `rows` samples for a stage of
 * `blocks` blocks: each block keeps its input x, h = x W1 + b1 and gelu(h);
 * the last stage also keeps the loss gradient. */
long pp_stage_act_floats(const pp_model_cfg *c, int blocks, int last, int rows);

/* Which blocks each stage runs: stage s runs blocks first[s] .. first[s+1]-1. */
#define PP_MAX_STAGES 64
typedef struct {
    int nstages, depth;
    int first[PP_MAX_STAGES + 1];
} pp_partition;

/* Makes a partition of `depth` blocks over S stages.  `how` is "front" (equal
 * shares, the remainder one each to the first stages), "back" (to the last
 * stages), "balanced" (contiguous shares that make the slowest stage as fast
 * as possible, by the measured cost per block in `cost`, [depth]), or a list
 * of counts such as "3,5,4,4".  On a bad request returns PP_EARG with a
 * one-line reason in err. */
pp_status pp_partition_make(const char *how, int depth, int S, const double *cost, pp_partition *out,
                            char *err, size_t errlen);
/* "0-2 | 3-7 | 8-11 | 12-15" */
void pp_partition_str(const pp_partition *p, char *buf, size_t n);

/* The task's numbers: the inputs of samples first .. first + x->rows - 1 of
 * step `step` (x: rows x width); the teacher's matrix A (width x width, made
 * once from the seed, charged to mem as OTHER); and targets t = tanh(x A). */
pp_status pp_model_inputs(const pp_model_cfg *c, int step, int first, pp_tensor *x);
pp_status pp_model_teacher(const pp_model_cfg *c, pp_mem *mem, pp_tensor **A);
void pp_model_targets(const pp_tensor *A, const pp_tensor *x, pp_tensor *t);

/* The single-process reference: the whole model on this process, the same
 * micro-batch loop with no pipeline (each micro-batch forward through every
 * block, then backward, gradients added in micro-batch order, SGD after the
 * last).  params (may be NULL) receives depth x pp_block_params() floats,
 * block by block in the order W1, b1, W2, b2; losses (may be NULL) one loss
 * per step; mem (may be NULL) counts its allocations.  With steps = 0 it
 * only runs the forward of x (batch rows) into y, from the starting weights. */
pp_status pp_reference_train(const pp_model_cfg *c, int M, int steps, float *params, double *losses, pp_mem *mem);
/* The same with D data-parallel replicas: replica r takes samples
 * r B/D .. (r+1) B/D - 1 of the batch in M micro-batches; each replica's
 * gradients are summed apart, then the sums are added in replica order (as
 * the grid's ordered all-reduce does).  D = 1 is pp_reference_train. */
pp_status pp_reference_train_dp(const pp_model_cfg *c, int D, int M, int steps, float *params, double *losses,
                                 pp_mem *mem);
pp_status pp_reference_forward(const pp_model_cfg *c, const pp_tensor *x, pp_tensor *y);

/* Floats in the whole model's parameters. */
long pp_model_params(const pp_model_cfg *c);

/* Measures, on this rank, the seconds one block takes for a micro-batch of
 * `rows` samples: forward, backward (B), its input half (I) and weight half
 * (W); and the loss and its gradient, which the last stage's forward adds.
 * (Inputs and targets are made before the step starts, so they cost no
 * stage anything.)  Medians of five runs after one to warm up. */
enum { PP_COST_F, PP_COST_B, PP_COST_I, PP_COST_W, PP_COST_LOSS, PP_MODEL_NCOSTS };
pp_status pp_model_measure(const pp_model_cfg *c, int rows, double cost[PP_MODEL_NCOSTS]);

/* ---- executor ----------------------------------------------------------- */

/* What the executor asks of real compute.  In timed mode it is absent and an
 * action sleeps; in real mode the model computes and owns the message
 * buffers.  Any model (or backend) that fills this in runs under every
 * schedule. */
typedef struct {
    void *ctx;
    /* The buffer the message of a SEND_F, SEND_B, RECV_F or RECV_B action
     * travels in, and its size in bytes (*bytes). */
    void *(*buffer)(void *ctx, pp_action a, size_t *bytes);
    /* Runs a compute action (F, B, I or W): reads its input from the buffer
     * its receive filled (or its own stage's data), writes what it sends into
     * the buffer of its send. */
    pp_status (*compute)(void *ctx, pp_action a);
    /* Optional: runs after this rank's last action (the data-parallel
     * gradient sum), while the step's clock still runs. */
    pp_status (*finish)(void *ctx);
    /* Optional: moves the collectives (PP_EV_ALLREDUCE) the last compute or
     * finish ran into out (at most max), times on this rank's clock
     * (pp_now); returns how many. */
    int (*spans)(void *ctx, pp_event *out, int max);
} pp_work;


typedef struct {
    double tick_s;        /* seconds per tick (default 0.010) */
    pp_costs costs;       /* op costs in ticks */
    size_t payload;       /* bytes per activation or gradient message (default 64 KiB) */
    double poll_wait_s;   /* sleep between tests while waiting for a message */
    double poll_busy_s;   /* sleep between tests while "computing" */
    double spin_s;        /* test-and-yield (no sleep) for this long at the edges:
                             the end of a compute, the start of a wait, just after a send */
    pp_live *live;        /* the live view's channel, or NULL for none */
    const pp_work *work;  /* real compute, or NULL for timed mode */
} pp_exec_opts;

void pp_exec_opts_default(pp_exec_opts *o);

/* Runs one step of the schedule: every rank runs its own list (collective
 * over g->pipe), sleeping for each action (timed mode) or computing it
 * (o->work set: real mode; payload and ticks are then unused).  On rank 0, *out receives the whole step's events on rank 0's
 * clock; other ranks get NULL.  The schedule must have validated.  On a
 * failure inside the step the other ranks are left waiting: abort the job. */
pp_status pp_exec_step(const pp_grid *g, const pp_sched *s, const pp_exec_opts *o,
                        pp_run **out);

/* For real compute: lets MPI move this rank's messages now (the sends still
 * on their way, the next receive), in the middle of a compute action.  The
 * model calls it between blocks; outside a step it does nothing. */
pp_status pp_exec_progress(void);

/* ---- training: the model split over the pipeline ---------------------- */

/* This rank's share of the model (its stages' blocks and their gradients)
 * and what one step needs.  Opaque. */
typedef struct pp_trainer pp_trainer;

/* What one rank's communication of one step adds up to, counted where the
 * bytes are handed to MPI.  "size" is the size of the vector a collective
 * works on; "sent" the bytes this rank itself sent to others. */
typedef struct {
    long pipe_bytes;     /* pipeline messages (activations and gradients) sent */
    int pipe_msgs;
    long tp_size, tp_sent;      /* tensor-parallel all-reduces (two per block and micro-batch) */
    int tp_calls;
    double tp_s;
    long gather_size, gather_sent;  /* all-gathers of the slices a stage received */
    int gather_calls;
    double gather_s;
    long dp_size, dp_sent;      /* data-parallel all-reduce of the gradients, after the last micro-batch */
    int dp_calls;
    double dp_s;
} pp_comm_stats;

/* Collective over the grid: every rank makes the weights of the blocks of
 * the stages it runs (stage s on pipeline rank stage_rank[s]; NULL means
 * stage s on pipeline rank s), from the seed, so they equal the
 * single-process start.  With T > 1 each rank holds slice t of every block
 * (hidden columns of W1, rows of W2: T must divide the hidden width); with
 * D > 1 replica d trains on samples d B/D .. (d+1) B/D - 1 of each batch
 * (D x M must divide the batch). */
pp_status pp_trainer_new(const pp_grid *g, const pp_model_cfg *c, const pp_partition *part,
                         const int *stage_rank, pp_trainer **out);
void pp_trainer_free(pp_trainer *t);
/* One training step under schedule s (collective): makes the batch, runs the
 * schedule with real compute, then the SGD update.  o's live view and poll
 * settings are used; its ticks and payload are not.  On rank 0 *meas gets the
 * step's events (as pp_exec_step); every rank gets the step's loss.  The
 * batch must divide into s->nmb micro-batches. */
pp_status pp_trainer_step(pp_trainer *t, const pp_sched *s, const pp_exec_opts *o, pp_run **meas,
                          double *loss);
/* Runs this rank's stages forward without storing anything (for a forward
 * pass alone): stage `stage`'s blocks on x (rows x width) into y. */
pp_status pp_trainer_forward_stage(pp_trainer *t, int stage, const pp_tensor *x, pp_tensor *y);
/* Collective: rank 0 receives every block's parameters (as
 * pp_reference_train lays them out) into params. */
pp_status pp_trainer_params(pp_trainer *t, float *params);
/* The same from one replica (data parallel), put together from its slices. */
pp_status pp_trainer_params_of(pp_trainer *t, int replica, float *params);
/* The hooks pp_trainer_step gives the executor (for the view to know the
 * step computes for real). */
const pp_work *pp_trainer_work(pp_trainer *t);
/* This rank's communication in the last step. */
const pp_comm_stats *pp_trainer_comm(const pp_trainer *t);
/* Collective: rank 0 gets every rank's counts of the last step (all: [size]). */
pp_status pp_trainer_comm_all(pp_trainer *t, pp_comm_stats *all);
/* This rank's memory, counted by role since the trainer was made. */
pp_mem *pp_trainer_mem(pp_trainer *t);
/* Collective: rank 0 gets every rank's memory counts (all: [P]). */
pp_status pp_trainer_mem_all(pp_trainer *t, pp_mem *all);
/* Blocks stage s runs: first block in *first, how many returned. */
int pp_trainer_blocks(const pp_trainer *t, int stage, int *first);
/* Stored-activation bytes one micro-batch leaves on stage `stage` (formula). */
long pp_trainer_act_bytes(const pp_trainer *t, int stage, int M);
/* Collective: writes the weights (blockL_W1.npy ...) and the last step's
 * input.npy, target.npy and output.npy into dir, each by the rank that holds
 * it, as NumPy files.  Written as .tmp and renamed only if every rank
 * succeeded.  On failure returns PP_EIO with the reason in err (rank 0). */
pp_status pp_trainer_dump(pp_trainer *t, const char *dir, char *err, size_t errlen);

/* Writes a rows x cols float32 array as a NumPy .npy file (version 1.0). */
pp_status pp_npy_write(const char *path, const float *data, int rows, int cols);

/* ---- reports: plain text for output that is not a terminal -------------- */

/* One row per rank, one character per time slot: F/B/I/W blocks with the
 * micro-batch where it fits, '.' idle.  `slot` is the time per column in the
 * run's unit; width caps the row length (longer runs are rescaled). */
void pp_report_timeline(FILE *f, const pp_run *r, double slot, int width);
/* The per-rank table and the measured / predicted / formula bubble lines. */
void pp_report_summary(FILE *f, const pp_run *measured, const pp_run *predicted,
                       const pp_sched *s, const pp_exec_opts *o);

/* Mean seconds per row spent waiting for pipeline messages in a run. */
double pp_run_wait_s(const pp_run *r);
/* The communication table of a grid's step (rank 0): every rank's counts
 * (all: [g->size]) summed, beside their formulas: pipeline bytes
 * 2(P-1) B d 4, tensor-parallel all-reduces T (2L-1) B d 4 and all-gathers
 * T 2(P-1) B d 4, the data-parallel sum D params 4.  wait_ms: the pipeline's
 * waiting time per rank.  The sums go to *sum (may be NULL). */
void pp_report_comm(FILE *f, const pp_comm_stats *all, const pp_grid *g, const pp_model_cfg *c, double wait_ms,
                    pp_comm_stats *sum);

/* ---- command line shared by the demos ---------------------------------- */

#define PP_MAX_MB_LIST 32

typedef struct {
    int mb[PP_MAX_MB_LIST];  /* -m/--microbatches: one value or a list "1,2,4" */
    int nmb;
    int mb_list_ok;          /* set by the demo: 1 if a list of M is accepted */
    char schedule[256];      /* --schedule: a builder name or a CSV file */
    double tick_ms;          /* --tick-ms */
    size_t payload;          /* --payload: bytes, "64K" and "1M" accepted */
    double ticks[4];         /* --cost F=1,B=2,I=1,W=1 */
    double ar_ticks;         /* --cost AR=0.5: ticks of one all-reduce on a grid (timed mode) */
    char csv[256];           /* --csv FILE: write the demo's table for plotting */
    char save[256];          /* --save-schedule FILE: write the schedule as CSV */
    int no_tui;              /* --no-tui: plain text even on a terminal */
    char tty[256];           /* --tty PATH: the terminal to draw on (else found, or PP_TTY) */
    int exit_at_end;         /* --exit: leave at once when done, no final picture */
    char trace[256];         /* --trace FILE.json: Chrome trace events (Perfetto) */
    char events[256];        /* --events FILE.csv: every event */
    char svg[256];           /* --svg FILE.svg: the timeline as a picture */
    int help;                /* --help given */
    int m_given;             /* -m was on the command line */
    int no_schedule;         /* set by the demo: --schedule is refused (the demo picks) */
    int real;                /* set by the demo: it computes for real; the model options
                                below are accepted and the timed ones (--tick-ms,
                                --cost, --payload) refused */
    pp_model_cfg model;      /* --depth, --width, --hidden, --batch, --steps, --lr, --seed */
    char partition[16];      /* --partition front|back|balanced */
    char layers[256];        /* --layers 3,5,4,4: blocks per stage (checked once P is known) */
    char dump[256];          /* --dump DIR: write weights, inputs and outputs as .npy */
    int grid_ok;             /* set by the demo: --tp and --dp are accepted */
    int csv_ok;              /* set by the demo: it prints a table, and --csv writes it */
    int no_steps;            /* set by the demo: it runs no pipeline step, so --steps, --lr,
                                --save-schedule, --trace, --events and --svg are refused */
    unsigned long given;     /* bit k: the k-th option of pp_cli_given's list was given */
    int tp, dp;              /* --tp T, --dp D: the grid (P = ranks / (T x D)) */
} pp_opts;

/* The defaults: M = 8, schedule 1f1b, tick 10 ms, 64 KiB, F=1 B=2 I=1 W=1;
 * the model of pp_model_cfg_default, partition front. */
void pp_cli_defaults(pp_opts *o);

/* Parses argv into o (o holds the demo's defaults on entry).  On error returns
 * PP_EARG with a one-line message in err. */
pp_status pp_cli_parse(int argc, char **argv, pp_opts *o, char *err, size_t errlen);
/* Was option `name` ("--steps") on the command line? */
int pp_cli_given(const pp_opts *o, const char *name);
/* The usage text for the common options. */
void pp_cli_usage(FILE *f, const char *prog, const char *what, const pp_opts *defaults);

/* The demos' start: MPI_Init, grid, options, schedule (built or loaded on rank
 * 0 and shared), validation.  On bad input rank 0 prints one clear message
 * and every rank finalizes and exits with status 2; --help exits 0. */
typedef struct {
    const char *prog;
    pp_grid *grid;
    pp_opts opt;
    pp_exec_opts exec;
    int tui;                 /* the live view is on (same on every rank) */
    int quit;                /* q was pressed: the demo stops (same on every rank) */
    int tty_fd;              /* rank 0: the terminal found, until the view opens */
    int keys_stdin;          /* rank 0: keys come on stdin (mpiexec forwards them) */
    pp_live *live;
    pp_view *view;           /* rank 0 */
    struct pp_export *exports; /* rank 0 */
    /* real mode (pp_demo_model) */
    double cost[PP_MODEL_NCOSTS]; /* seconds per block and per micro-batch, measured on rank 0 */
    int cost_M;              /* the M they were measured for (0: not yet) */
    double stage_scale[PP_MAX_STAGES]; /* blocks per stage: the simulator's per-stage cost */
} pp_demo;

void pp_demo_start(pp_demo *d, int *argc, char ***argv, const char *what);
/* Builds (or loads) the schedule named in d->opt for M micro-batches and
 * validates it; on failure reports and exits all ranks (status 2). */
pp_sched *pp_demo_schedule(pp_demo *d, const char *name, int M);
/* Collective: rank 0's verdict `bad` is shared; if set, rank 0 prints the
 * message and every rank finalizes and exits with status 2. */
void pp_demo_refuse_if(pp_demo *d, int bad, const char *fmt, ...);
/* Predicts (simulator, in ticks) and runs (timed executor) one schedule.
 * Every rank gets *pred; *meas is set on rank 0 only. */
void pp_demo_run(pp_demo *d, const pp_sched *s, pp_run **pred, pp_run **meas);
/* Between steps and at the end, with the live view: shows `prompt` and waits
 * for a key on rank 0 (every rank waits, sleeping).  Returns 1 if q was
 * pressed (d->quit is set).  Without the view, or with --exit, returns 0 at once. */
int pp_demo_hold(pp_demo *d, const char *prompt);
/* Real mode, after pp_demo_start: checks the model options against P and
 * every M (refusing bad ones on all ranks), measures the cost of a block
 * and makes the partition.  Every rank gets the same partition. */
void pp_demo_model(pp_demo *d, pp_partition *part);
/* One training step of t under s, with the live view (as pp_demo_run): *pred
 * is the simulator's prediction from the measured costs (ticks of 1 ms),
 * *meas (rank 0) the step's events, *loss the step's loss (every rank). */
void pp_demo_train(pp_demo *d, pp_trainer *t, const pp_sched *s, pp_run **pred, pp_run **meas, double *loss);
/* Trains t under s for the model's --steps steps (as pp_demo_train), showing
 * each step's loss and samples/s in the view.  Every rank gets the last
 * loss; rank 0 gets the last step's events in *last (the caller frees them;
 * NULL elsewhere, or if q stopped the demo before a step ran). */
void pp_demo_train_steps(pp_demo *d, pp_trainer *t, const pp_sched *s, double *loss, pp_run **last);
/* Rank 0: a line the live view shows under its figures (loss, samples/s). */
void pp_demo_note(pp_demo *d, const char *fmt, ...);
/* Rank 0, with --csv: one row of the demo's table (printf-style, no newline),
 * after `header` (the column names) if it is the first. */
void pp_demo_csv_row(pp_demo *d, const char *header, const char *fmt, ...);
/* Prints the schedule's one-line description: name, P, M (if show_m), costs,
 * tick, payload. */
void pp_demo_header(FILE *f, const pp_demo *d, const pp_sched *s, int show_m);
/* The grid demos' heading: the ranks as P x T x D and where rank w sits. */
void pp_demo_grid_header(FILE *f, const pp_grid *g);
/* Ends the demo: frees, MPI_Finalize, returns the exit status to use. */
int pp_demo_end(pp_demo *d);
/* Prints (rank 0) and aborts every rank: used by PP_CHECK. */
void pp_die(const char *file, int line, const char *call, pp_status st, const char *hint);

#define PP_CHECK(call, hint)                                      \
    do {                                                          \
        pp_status pp_st_ = (call);                                \
        if (pp_st_ != PP_OK) pp_die(__FILE__, __LINE__, #call, pp_st_, hint); \
    } while (0)

#endif /* PP_H */
