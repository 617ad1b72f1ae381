/* pp.h -- libpp's core: pipeline parallelism over MPI, small enough to read in an evening.
 *
 * The whole library follows one idea: a schedule is data.  A builder (or a CSV
 * file written by hand) gives every rank a list of actions such as "2F0"
 * (stage 2, forward, micro-batch 0).  Data flows one way:
 *
 *   pp_sched_build()  ->  pp_sched_validate()  ->  pp_simulate()   predicted run
 *   (or a CSV file)       proves it cannot          pp_exec_step()  measured run
 *                         deadlock; returns the
 *                         lowered schedule
 *
 * and the runs' figures sit beside the formulas (pp_theory_...).  This header
 * is the map a demo needs; pp_plugin.h plugs real compute in (pp_model.h's
 * small MLP is one), pp_fault.h puts bugs in on purpose, pp_demo.h has the
 * demos' options, live view and reports.  lib/README.md gives a reading order.
 *
 * Every function returns a pp_status (PP_OK is 0) and never exits;
 * pp_strerror() names the problem.  Objects the library allocates are freed
 * with the matching pp_..._free(), which accepts NULL.
 */
#ifndef PP_H
#define PP_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <mpi.h>

typedef enum {
    PP_OK = 0,
    PP_EARG,   /* a bad argument or option value */
    PP_EMPI,   /* an MPI call failed */
    PP_ENOMEM, /* out of memory */
    PP_ESCHED, /* the schedule is incomplete, inconsistent or would deadlock */
    PP_EIO,    /* a file could not be read or written */
    PP_EPARSE, /* a text (action, CSV cell, option) could not be parsed */
    PP_EFAULT, /* a failure injected on purpose (--fault error:RANK:ACTION, tests) */
    PP_EHANG,  /* the watchdog stopped a step in which no rank made progress */
    PP_EDEVICE /* the compute device (a GPU) failed */
} pp_status;

const char *pp_strerror(pp_status st);

/* ---- clock and waiting -------------------------------------------------- */

/* Seconds on this process's monotonic clock (pp_grid_new() measures each
 * rank's offset from rank 0's). */
double pp_now(void);
/* Sleeps until this process's clock reads t (absolute, seconds). */
void pp_sleep_until(double t);
/* Waits for a request without spinning: test, then sleep poll_s, so that a
 * laptop can run more ranks than it has cores (poll_s = 0: test and yield). */
pp_status pp_wait(MPI_Request *req, double poll_s);
/* A barrier whose waiting ranks sleep the same way. */
pp_status pp_barrier(MPI_Comm comm, double poll_s);

/* ---- the grid: ranks and their places ----------------------------------- */

/* The job's ranks form P pipeline stages x T tensor-parallel ranks x D
 * data-parallel replicas.  Rank w sits at t = w mod T, p = (w / T) mod P,
 * d = w / (T P) (pp_place): a tensor-parallel group is T neighbouring ranks. */
typedef struct {
    MPI_Comm all;       /* every rank (its own context): gathers, the live view, the start */
    MPI_Comm pipe;      /* this rank's pipeline: the P ranks with its t and d, by stage */
    MPI_Comm tp;        /* its tensor-parallel group: the T ranks with its p and d */
    MPI_Comm dp;        /* its data-parallel group: the D replicas of its p and t */
    MPI_Comm node;      /* the ranks on this rank's machine (they share its memory), by rank */
    int cores;          /* the cores the ranks of this machine may run on */
    int rank, size;     /* this rank and the number of ranks */
    int P, T, D;        /* the grid's shape */
    int pipe_rank, tp_rank, dp_rank;   /* p, t and d of this rank */
    double clock_offset;   /* this rank's clock minus rank 0's, seconds (estimated) */
    double clock_rtt;      /* fastest ping-pong round trip seen while estimating, seconds */
    struct pp_watchdog *wd; /* every rank's state in memory the ranks of one machine share (watchdog.c) */
} pp_grid;

/* The one place the rank-to-place formula is written: where rank w of a grid
 * with P stages and T tensor-parallel ranks sits; and the rank at p, t, d. */
void pp_place(int P, int T, int w, int *p, int *t, int *d);
int pp_place_rank(int P, int T, int p, int t, int d);
/* Collective: a plain pipeline over `world` (P = size, T = D = 1), with clock offsets. */
pp_status pp_grid_new(MPI_Comm world, pp_grid **out);
/* Collective: reshapes g into P x T x D, P = size / (T x D).  A shape that does
 * not fit gives PP_EARG (g unchanged) and a reason showing the arithmetic. */
pp_status pp_grid_shape(pp_grid *g, int T, int D, char *err, size_t errlen);
void pp_grid_free(pp_grid *g);

/* ---- schedules: one list of actions per rank ---------------------------- */

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
typedef struct { int stage; pp_kind kind; int mb; } pp_action;

/* Which formulas apply (they differ by family). */
/* PP_FAM_FORWARD: inference, forward passes only (pp_sched_forward). */
typedef enum { PP_FAM_CUSTOM, PP_FAM_NAIVE, PP_FAM_GPIPE, PP_FAM_1F1B, PP_FAM_INTERLEAVED, PP_FAM_ZBH1, PP_FAM_ZBV,
               PP_FAM_FORWARD } pp_family;

typedef struct {
    char name[32];      /* "gpipe", "1f1b", ... or the file it came from */
    pp_family family;
    int nranks;         /* P: one action list per rank */
    int nstages;        /* S: stages (P, or v P when a rank holds v chunks) */
    int chunks;         /* v: the most stages one rank runs (1 in a plain pipeline) */
    int nmb;            /* M: micro-batches per step */
    int *stage_rank;    /* [nstages] the rank that runs each stage */
    int *len;           /* [nranks] actions per rank */
    pp_action **acts;   /* [nranks][len[r]] each rank's list, run in order */
    int *cap;           /* [nranks] room allocated per list */
    pp_status err;      /* the first failure while pushing (later pushes do nothing) */
    char note[640];     /* how a file was read, when it was not the kit's own form ("" else) */
    int lowered;        /* set by pp_sched_validate(): checked, sends and receives explicit */
    int forward_only;   /* inference (pp_sched_forward): forwards only, no activation kept */
} pp_sched;

/* Builds by name for P ranks (build.c; each builder by itself, by hand or
 * for given costs: pp_build.h); v: chunks per rank, for interleaved (0 =
 * 2; the others take 0 or 1).  A refusal says why in err (may be NULL). */
pp_status pp_sched_build(const char *name, int P, int M, int v, pp_sched **out, char *err, size_t errlen);
/* Boundaries s -> s+1 between stages on different ranks (P-1 in a plain
 * pipeline): where messages go. */
int pp_sched_edges(const pp_sched *s);
const char *pp_sched_names(void);   /* "naive, gpipe, 1f1b, interleaved, zbh1, zbv" */
int pp_sched_is_builder(const char *name);
void pp_sched_free(pp_sched *s);

/* The CSV form: one row per rank, one action per cell, an empty cell is an
 * idle slot; with no send or receive in it, they are implied.  PyTorch's
 * two forms read too (sched.c says how); s->note says what was read so. */
pp_status pp_sched_from_csv(const char *text, pp_sched **out, char *err, size_t errlen);
pp_status pp_sched_load(const char *path, pp_sched **out, char *err, size_t errlen);

/* ---- validation --------------------------------------------------------- */

/* Why a schedule was refused. */
typedef struct {
    int kind;            /* pp_bad_kind (core.h): stage, duplicate, missing, order, unmatched, deadlock */
    int rank, index;     /* the first bad action: rank and position in its list */
    char msg[256];       /* one line: what is wrong and why */
    char missing[24];    /* for a missing action: the absent action, "1B3" */
    char *grid;          /* malloc'd step-by-rank grid marking the bad action, or NULL */
} pp_check;

/* Checks a schedule before anything runs, and lowers it: the sends and
 * receives a compute-only schedule implies are made explicit, once.  On
 * PP_OK, *lowered (if not NULL) receives the lowered schedule, the one
 * pp_simulate() and pp_exec_step() take; on PP_ESCHED, *why says where (free
 * its grid with pp_check_clear()). */
pp_status pp_sched_validate(const pp_sched *s, pp_sched **lowered, pp_check *why);
void pp_check_clear(pp_check *c);

/* ---- costs -------------------------------------------------------------- */

typedef struct {
    double tick_s;         /* seconds per tick (default 0.010) */
    double ticks[4];       /* F, B, I, W in ticks (default 1, 2, 1, 1) */
    const double *stage_scale; /* [nstages] multiplier per stage, or NULL: all 1 */
    double latency;        /* ticks from a send to its receive being usable (default 0) */
    double allreduce;      /* ticks of the tensor-parallel sum ending each F, B, I (T > 1) */
    double allreduce_again; /* ticks a B or I adds when it runs its forward again first
                               (checkpointing): that forward's sum (default 0) */
    double dp_sum;         /* ticks of the replicas' gradient sum ending a step (default 0; D > 1) */
    const double *release; /* [M] ticks after the start when micro-batch m arrives: its forward
                              on stage 0 begins no sooner (requests in a stream), or NULL: at once */
    const int *machine;    /* [nranks] the machine each rank computes on, numbered 0 to nranks - 1,
                              or NULL: every rank has a core of its own (default) */
    const int *cores;      /* [nranks] with machine: the cores of machine m, taken in turns by the
                              ranks computing there (real compute, more ranks than cores) */
    double turn;           /* with machine: ticks a compute keeps a core before a rank queued for one
                              gets it (the operating system's time slice); 0: to its end */
    double handoff;        /* with machine: ticks from a core's release to the start of the compute
                              that waited for it (the kit's gate, exec.c; default 0) */
    int woken_first;       /* with machine and turn 0: a race for a core just given back, between a
                              rank and a rank its message woke, goes to the woken one (1) or to the
                              waker (0, default); see sim.c */
    const double *took;    /* [4 x nstages x M] seconds each compute of a measured step took, by its
                              kind (F, B, I, W) and then stage x M + micro-batch, in place of its
                              ticks in the simulator (below 0: its ticks), or NULL: the ticks;
                              the caller's, only read */
    const double *took_msg; /* [2 x nstages x M] seconds each message of a measured step took from its
                              send to its receive being usable, forward messages then backward, by
                              the sending stage x M + micro-batch, in place of latency (below 0:
                              latency), or NULL: latency; the caller's, only read */
} pp_costs;

void pp_costs_default(pp_costs *c);

/* A link between ranks, as a model (--link): a message of n bytes is handed
 * to MPI latency_s + 8 n / (gbps 1e9) seconds after its send begins, and the
 * messages between one pair of ranks cross one after another (exec.c); a
 * collective's pieces leave one after another, each paying the whole of
 * pp_link_s (collective.c).  The machine's own delivery comes on top.  gbps
 * 0: no model. */
typedef struct { double gbps, latency_s; } pp_link;
/* Seconds a message of `bytes` takes to cross link l (0 without a model). */
double pp_link_s(const pp_link *l, long bytes);

/* ---- runs: what every rank did in one step ------------------------------ */

typedef enum {
    PP_EV_COMPUTE,  /* F, B, I or W (see kind) */
    PP_EV_WAIT,     /* waiting for a message to arrive (kind: RECV_F or RECV_B) */
    PP_EV_SEND,     /* a message on its way: posted at t0, seen complete at t1 */
    PP_EV_HOLD,     /* paused by the live view (space), not part of the schedule */
    PP_EV_ALLREDUCE /* a collective: in a compute (its kind, mb), or the replicas' sum (IDLE) */
} pp_ev_type;

typedef struct {
    int type;       /* pp_ev_type */
    int kind;       /* pp_kind of the action */
    int stage, mb;
    int inflight;   /* activations this rank stores after the event: forwards whose weight gradient
                       (B or W) has not run, one per stage and micro-batch */
    double t0, t1;  /* seconds since the step started, on rank 0's clock */
    long bytes;     /* message size for WAIT and SEND events */
    double core_s;  /* a real compute with more ranks than cores: how long it waited for its turn on
                       a core before t0 (exec.c's gate; 0 else) */
    int came;       /* a WAIT: PP_CAME_BEFORE if its message had come when the rank got to it (its
                       first test found it), PP_CAME_AFTER if not; 0: not known (a made-up run) */
} pp_event;

enum { PP_CAME_BEFORE = 1, PP_CAME_AFTER = 2 };

typedef struct { pp_event *ev; int n, cap; } pp_evlist;   /* one row's events, in order */

/* A whole step, predicted (pp_simulate) or measured (pp_exec_step).  Times in
 * seconds.  Rows are ranks: one per pipeline stage, or every rank of a grid. */
typedef struct {
    int nrows, M;
    int T, D;             /* the grid's tensor- and data-parallel sizes (1 for one pipeline) */
    pp_evlist *ranks;     /* [nrows] */
    double makespan;
    double *busy;         /* [nrows] compute time per row */
    int *peak_inflight;   /* [nrows] peak activations stored (as pp_event.inflight counts them) */
    long *bytes_sent;     /* [nrows] */
    int paused, retimed, quit;  /* the live view paused it, changed the tick, or q cut it short */
    int handoffs;         /* real compute with more ranks than cores: computes that waited for a
                             core (exec.c's gate), and */
    double handoff_s;     /* the mean time from a core's release to the start of such a compute */
    int cores;            /* the cores every rank took in turn (the one machine's), or 0: not so */
    int refs;             /* owners: pp_run_free() drops one, the last frees */
} pp_run;

/* Row `row`'s place in its pipeline (its stage, where each rank runs one). */
int pp_run_pipe_rank(const pp_run *r, int row);
void pp_run_free(pp_run *r);

/* Replays a lowered schedule with the given costs: every rank's predicted
 * events, in seconds. */
pp_status pp_simulate(const pp_sched *lowered, const pp_costs *c, pp_run **out);

/* ---- the executor ------------------------------------------------------- */

/* Real compute and devices plug in through pp_plugin.h, the live view
 * through core.h's hooks; pp_fault.h has the bugs put in on purpose. */
#include "pp_fault.h"

typedef struct {
    pp_costs costs;       /* what each action costs, and the tick */
    size_t payload;       /* bytes per activation or gradient message (default 64 KiB) */
    pp_link link;         /* the link every message between ranks crosses (gbps 0: none) */
    double poll_wait_s, poll_busy_s;  /* sleep between tests: waiting (or a held send due), "computing" */
    double spin_s;        /* test-and-yield at the edges (exec.c's slice()) */
    double start_ahead_s; /* the common start is set this far ahead of its broadcast (0: the
                             executor's own lead, setup.c); a rank told later begins late.  Tests
                             of many short steps shorten it */
    const struct pp_watch *watch;    /* the live view, or NULL */
    const struct pp_work *work;      /* real compute, or NULL for timed mode */
    const struct pp_device *device;  /* the device computes run on, or NULL: the host's cores */
    int cores_in_turn;    /* real compute on the host, one pipeline, more ranks than cores on a
                             machine: 1 (default) the ranks take its cores in turn, a whole compute
                             each (exec.c); 0 the operating system shares them out */
    double watchdog_s;      /* no progress for this long stops a step: 0 off, < 0 default */
    pp_fault fault;         /* a bug put in on purpose, for lessons and tests */
    const volatile sig_atomic_t *interrupted;  /* Ctrl-C (or NULL): a stuck step then stops */
} pp_exec_opts;

void pp_exec_opts_default(pp_exec_opts *o);

/* Collective over the grid: every rank runs its own list of the lowered
 * schedule, sleeping for each action (timed mode) or computing it (o->work).
 * Rank 0 gets the whole step's events on its clock in *out; other ranks NULL.
 * On a failure inside the step the other ranks are left waiting: abort. */
pp_status pp_exec_step(const pp_grid *g, const pp_sched *lowered, const pp_exec_opts *o, pp_run **out);

/* ---- theory: the formulas, and their measured counterparts -------------- */

/* For P ranks, M micro-batches and v chunks per rank: the bubble as a share
 * of the step ((P-1)/(M+P-1) for GPipe and 1F1B, ...) and over the ideal
 * time ((P-1)/M, ...); negative: no formula.  theory.c gives each one's why. */
double pp_theory_bubble_step(pp_family f, int P, int M, int v);
double pp_theory_bubble_ideal(pp_family f, int P, int M, int v);
/* Peak (chunk, micro-batch) pairs whose activations pipeline rank r stores
 * at once: GPipe M, 1F1B min(M, P - r), ...; negative when unknown. */
int pp_theory_peak_inflight(pp_family f, int P, int M, int v, int rank);
/* The formulas as text, e.g. "(P-1)/(M+P-1)". */
const char *pp_theory_bubble_step_text(pp_family f);
const char *pp_theory_bubble_ideal_text(pp_family f);
const char *pp_theory_peak_text(pp_family f);
/* The condition of f's formulas that this run breaks, in words ("F, I and
 * W do not cost the same"), or NULL when they hold. */
const char *pp_theory_broken(pp_family f, int P, int M, int v, const pp_costs *c);

/* Inference on P stages of stage_s seconds each, requests arriving every
 * gap_s seconds (0: all waiting): requests per second at steady state, and
 * one request's time from end to end without queueing (P stage_s). */
void pp_theory_stream(int P, double stage_s, double gap_s, double *rate, double *latency_s);

/* Measured from a run: idle / (rows x makespan), and idle / busy. */
double pp_run_bubble_step(const pp_run *r);
double pp_run_bubble_ideal(const pp_run *r);

#endif /* PP_H */
