/* core.h -- what the core's modules share with each other and with the rest
 * of libpp, but not with the demos.  Nothing here is public (pp.h is).
 */
#ifndef PP_CORE_H
#define PP_CORE_H

#include "pp.h"
#include "pp_build.h"
#include "pp_plugin.h"

#include <stdatomic.h>

/* ---- validation: why a schedule was refused ---- */

typedef enum {
    PP_BAD_NONE,
    PP_BAD_STAGE,        /* a stage split over two ranks, or stages not 0..S-1 */
    PP_BAD_DUPLICATE,    /* the same action twice */
    PP_BAD_MISSING,      /* an F, B (or I and W) that a stage must run is absent */
    PP_BAD_ORDER,        /* an action before the local action it needs (B before its F) */
    PP_BAD_UNMATCHED,    /* a send without its receive, or a receive without its send */
    PP_BAD_DEADLOCK      /* a cycle of waits */
} pp_bad_kind;


/* pp_sched_validate without its last check, the replay that finds
 * deadlocks: for a lesson that runs one on purpose (--no-validate), so that
 * the watchdog can be seen to catch it.  Every check that keeps the run
 * safe (sizes, stages, actions present once) still holds. */
pp_status pp_sched_lower_unchecked(const pp_sched *s, pp_sched **lowered, pp_check *why);

/* ---- actions and schedules ---- */

/* "2F0", "3B1", "1W4", "0SEND_F2"; an idle action writes "".  Returns the
 * length written (snprintf-like). */
int pp_action_str(pp_action a, char *buf, size_t n);
pp_status pp_action_parse(const char *text, pp_action *out);

/* The CSV form of a schedule (pp_sched_from_csv reads it): malloc'd text,
 * or a file. */
char *pp_sched_to_csv(const pp_sched *s);   /* malloc'd; the caller frees it */
pp_status pp_sched_save(const pp_sched *s, const char *path);


int pp_kind_is_compute(pp_kind k);
static inline int pp_is_send(pp_kind k)
{
    return k == PP_SEND_F || k == PP_SEND_B;
}

static inline int pp_is_recv(pp_kind k)
{
    return k == PP_RECV_F || k == PP_RECV_B;
}
const char *pp_kind_name(pp_kind k);   /* "F", "SEND_F", ... */

/* Index of (stage, micro-batch) in per-step arrays of S*M entries. */
static inline int pp_sm(const pp_sched *s, int stage, int mb)
{
    return stage * s->nmb + mb;
}

/* Message tag for one activation (dir 0) or gradient (dir 1) arriving at
 * stage `stage` for micro-batch `mb`: unique per message in a step, so that a
 * receive posted early can only match the message it is for. */
static inline int pp_tag(int stage, int mb, int dir, int M)
{
    return (stage * M + mb) * 2 + dir;
}

/* The stage at the other end of a send or receive: the next one for a
 * forward's send and a gradient's receive, the one before for the others. */
static inline int pp_peer_stage(pp_action a)
{
    return a.kind == PP_SEND_F || a.kind == PP_RECV_B ? a.stage + 1 : a.stage - 1;
}

/* Where receive a's message is kept in [direction][stage x micro-batch]
 * arrays (pp_costs.took_msg's order): forward messages by the stage that
 * sends them, then backward ones. */
static inline int pp_msg_slot(const pp_sched *lo, pp_action a)
{
    return (a.kind == PP_RECV_B) * lo->nstages * lo->nmb + pp_sm(lo, pp_peer_stage(a), a.mb);
}

/* Micro-batches in the first round of the interleaved builder's order (P
 * when M is a multiple of P; the warm-up and the peak depend on it). */
int pp_interleaved_round(int P, int M);

/* Adds the sends and receives a compute-only schedule implies: a RECV before
 * every compute that needs a remote input, a SEND after every compute whose
 * output another rank needs.  A schedule that already holds communication
 * actions is copied unchanged.  src[r][i] (freed with pp_free_index) is the
 * index in s that lowered action i of rank r comes from. */
pp_status pp_sched_lower(const pp_sched *s, pp_sched **out, int ***src);
/* Does the schedule hold a send or a receive (then none is implied)? */
int pp_sched_has_comm(const pp_sched *s);
void pp_free_index(int **idx, int nranks);

/* The outcome of replaying a lowered schedule when it cannot finish. */
typedef struct {
    pp_bad_kind kind;   /* PP_BAD_NONE when the replay finished */
    int rank, index;    /* where, in the lowered schedule */
    char msg[256];
    int *blocked;       /* [nranks] for a deadlock: the index each rank is stuck at, or -1 */
} pp_replay_fail;

/* Replays a lowered schedule rank by rank with the given costs, the way the
 * executor will run it: a compute starts when the rank is free and its inputs
 * are there; a receive waits for its send (or, when `waits` is 0, completes
 * at once: only the order of each rank's own list is then checked); sends
 * never wait.  Fills `run` (may be NULL) with the predicted events.  Returns
 * PP_OK, or PP_ESCHED with `fail` filled in (the caller frees fail->blocked). */
pp_status pp_replay(const pp_sched *lowered, const pp_costs *c, pp_run *run, int waits, pp_replay_fail *fail);
/* For each action i of `rank`'s list in lowered schedule lo: a receive's
 * not_before[i] is when its message is sent in the replay with costs c
 * (seconds since the start), every other action's 0.  With c.latency 0 and
 * the step's own ticks, timed mode never sends sooner, so a waiting rank may
 * sleep until shortly before (exec.c). */
pp_status pp_replay_sends(const pp_sched *lo, const pp_costs *c, int rank, double *not_before);

/* ---- the executor's watcher ---- */

/* Who watches a step as it runs (the live view).  The executor calls poll
 * often (while it waits and between slices of a compute) with the events so
 * far and the one under way (`open`: its t1 is -1, its type -1 when there is
 * none), asks hold before every compute, and tick for the tick in force; at
 * the end, rank 0's end returns the whole step's events, which then need no
 * gather. */
typedef struct pp_watch pp_watch;
struct pp_watch {
    void *ctx;
    void (*start)(void *ctx, double t0, int cores);   /* the common start, this rank's clock; the cores
                                                         its ranks take in turn (pp_run.cores) */
    pp_status (*poll)(void *ctx, const pp_evlist *mine, const pp_event *open, double now, int waiting);
    int (*hold)(void *ctx);                /* 1: paused, do not start the next compute */
    double (*tick)(void *ctx);             /* seconds per tick now */
    pp_status (*end)(void *ctx, const pp_evlist *mine, pp_run **all);
};

/* ---- the watchdog (watchdog.c; step.h has its side of a step) ---- */

typedef struct pp_watchdog pp_watchdog;
/* Collective over `all`: the shared table (pp_grid_new makes it); on a
 * crowded machine (more ranks on `node` than its `cores`) it also rings bells
 * and gates the cores (step.h). */
pp_status pp_watchdog_new(MPI_Comm all, MPI_Comm node, int cores, pp_watchdog **out);
void pp_watchdog_free(pp_watchdog *w);
/* The cores of a crowded machine (with the bells, step.h), taken in turn by
 * real computes, first asked first served, a whole compute each: are they
 * gated, and how many (0: not gated; the gate is only where every rank of
 * the job runs on the one machine); ask for one (returns the ask's number); is the core of ask k free
 * for it now; sleep until a core is given to this rank, or until `until`;
 * this rank waited for ask k's core and has it now (counts the handoff, from
 * the give to now); give the core back once the compute is done; the
 * handoffs counted so far on this machine (their sum in seconds, and *n). */
int pp_core_gated(const pp_watchdog *w);
int pp_core_count(const pp_watchdog *w);
unsigned long long pp_core_ask(pp_watchdog *w);
int pp_core_mine(const pp_watchdog *w, unsigned long long k);
void pp_core_wait(pp_watchdog *w, double until);
void pp_core_got(pp_watchdog *w, unsigned long long k);
void pp_core_give(pp_watchdog *w);
double pp_core_handoffs(const pp_watchdog *w, long long *n);
/* While waiting: PP_EHANG if another rank found the step stuck, or if no
 * rank has progressed for `limit` seconds (then this rank writes the report,
 * if it is the first, saying so if the user `interrupted` with Ctrl-C);
 * PP_OK otherwise.  limit <= 0: only the former. */
pp_status pp_watchdog_check(pp_watchdog *w, const pp_sched *lowered, double limit, int interrupted);
/* The longest action of the schedule at these costs, seconds. */
double pp_watchdog_slowest(const pp_sched *lowered, const pp_costs *c);

/* What the ranks of one machine share beside their slots: the report a rank
 * writes when it finds a step stuck, and the flags with which the demo layer
 * prints it once, after the hang (demo/after_hang.c). */
enum { PP_REPORT_BYTES = 16384 };
typedef struct {
    _Atomic int fired;     /* 0, or 1 + the rank that found the hang */
    _Atomic int answered;  /* rank 0 will print the report */
    _Atomic int ready;     /* the report is written whole */
    _Atomic int told;      /* a rank wrote its error in the report's place */
    char report[PP_REPORT_BYTES];
} pp_watchdog_board;
/* The board, or NULL: no watchdog, or (shared set) none the ranks share
 * (they are on several machines).  A rank's process on this machine (0 if
 * not known). */
pp_watchdog_board *pp_watchdog_board_of(const pp_watchdog *w, int shared);
int pp_watchdog_pid(const pp_watchdog *w, int rank);

/* Where fault f strikes in pipeline rank `rank`'s lowered list: *at, and
 * for swap *from, the receive moved to just before *at.  0: nowhere. */
int pp_fault_site(const pp_fault *f, const pp_sched *lowered, int rank, int *at, int *from);

/* ---- events and runs ---- */

pp_status pp_evlist_push(pp_evlist *l, pp_event e);
void pp_evlist_clear(pp_evlist *l);
/* A run of `rows` empty rows (T = D = 1), owned once. */
pp_status pp_run_new(int rows, int M, pp_run **out);
/* One more owner: the view keeps the run it draws while the demo reads it. */
pp_run *pp_run_keep(pp_run *r);
/* Recomputes makespan, busy, peaks, bytes and paused from the events. */
void pp_run_summarize(pp_run *r);
/* Collective over g->all: every rank's events (`mine`) into a run on rank 0
 * (*out; NULL elsewhere). */
pp_status pp_gather_run(const pp_grid *g, const pp_sched *s, const pp_evlist *mine, pp_run **out);

/* ---- costs (costs.c) ---- */

/* The seconds action a of lowered schedule lo takes in the simulator: a
 * compute as long as c->took says it took, where it says; else pp_cost_s. */
double pp_cost_took_s(const pp_costs *c, const pp_sched *lo, pp_action a);
/* The seconds the message of receive a takes from its send: as long as
 * c->took_msg says it took, where it says; else c->latency. */
double pp_cost_msg_s(const pp_costs *c, const pp_sched *lo, pp_action a);
/* From step `meas` of lowered schedule lo, measured: how long each compute
 * took (into took, pp_costs.took's shape and order) and each message (into
 * took_msg, pp_costs.took_msg's), below 0 where not seen, for a replay of
 * the next step (real mode's prediction).  A message its receiver waited
 * for (pp_event.came) took from its send's start to the receive's end; one
 * that had come when its receiver got there, `typical` seconds, or less
 * where it had come sooner after its send than that; one not known either
 * way (a made-up run), below 0.  Each message waited for as it took, not
 * the mean of them all: on a busy machine a few take milliseconds (their
 * receiver lost its core to another program), and the mean, given to every
 * message, would put a share of those on every message of the critical
 * path. */
pp_status pp_run_took(const pp_sched *lo, const pp_run *meas, double typical, double *took, double *took_msg);
/* Step `meas` of lowered schedule lo, measured with the cores taken whole
 * (the executor's gate), each rank r on machine[r] of cores[machine[r]]
 * cores (pp_costs.machine, cores): the share of the races for a core that
 * a rank woken by a message won over the rank that sent it (pp_costs
 * woken_first; sim.c), -1 if none.  A race: a send to a rank of its
 * machine waiting since before it, a compute next for both, every core of
 * the machine but one computing as the send was made (the other ranks'
 * computes), and the waker ready for its next compute (the messages it
 * waited for in between there) before the woken rank's message came.  Won
 * if the woken rank asked for its core first (a compute asks at its
 * event's start less its wait for a core). */
double pp_run_woken_share(const pp_sched *lo, const pp_run *meas, const int *machine, const int *cores);

/* c with every stage at the stages' mean cost (stage_scale averaged over
 * nstages into the ticks): the same step's work, spread evenly. */
void pp_costs_flat(const pp_costs *c, int nstages, pp_costs *out);

/* ---- waiting (clock.c) ---- */

/* How long a rank setting up (the grid, the watchdog's table) sleeps between
 * the tests of its request. */
#define PP_SET_UP_POLL_S 1e-4

/* How a rank waits for a request: test, then sleep poll_s (0: test and
 * yield).  Inside a step the waiter also asks the watchdog: `look` between
 * tests (anything but PP_OK ends the wait), `group` when a collective of a
 * group begins (1) and ends (0); either may be NULL.  `link`: the link model
 * a collective's messages cross (NULL: none).  `send`: the step's held sends
 * that may go now are posted between tests (NULL: none), so that a rank
 * waiting in a collective does not keep back what its neighbours wait for. */
typedef struct {
    double poll_s;
    void *ctx;
    pp_status (*look)(void *ctx);
    void (*group)(void *ctx, int entering);
    const pp_link *link;
    pp_status (*send)(pp_step *step);
    pp_step *step;
} pp_waiter;
pp_status pp_wait_as(MPI_Request *req, const pp_waiter *w);
/* Waits, as w waits, until pp_now() reads t. */
pp_status pp_wait_until_as(double t, const pp_waiter *w);
/* The waiter of the step under way: its collectives wait with it. */
const pp_waiter *pp_step_waiter(const pp_step *step);
pp_status pp_barrier_as(MPI_Comm comm, const pp_waiter *w);
/* MPI_Allreduce for setting up, waiting asleep (PP_SET_UP_POLL_S) so that a
 * rank waiting for another does not keep that rank from a shared core. */
pp_status pp_allreduce_asleep(const void *mine, void *all, int count, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm);
/* For tests: adds an artificial offset (seconds) to this process's clock. */
void pp_clock_inject_offset(double seconds);

/* ---- sums over a group, in a fixed order (collective.c) ---- */

/* All-reduce (sum) of n floats over comm, in place, as a reduce-scatter then
 * an all-gather: chunk j is added on rank j in rank order, so every rank
 * gets the same bits every run.  Adds the bytes this rank sent to
 * *wire_bytes (may be NULL). */
pp_status pp_allreduce_ordered(float *buf, long n, MPI_Comm comm, const pp_waiter *w, long *wire_bytes);
/* Every rank holds slice `rank` of n floats (pp_slice_of) in buf; after the
 * call every rank holds all of them. */
pp_status pp_allgather_slices(float *buf, long n, MPI_Comm comm, const pp_waiter *w, long *wire_bytes);
/* Slice t of n floats cut into T nearly equal parts: its first float and count. */
void pp_slice_of(long n, int T, int t, long *first, long *count);

/* ---- small helpers ---- */

/* The median of five timings (sorts v in place). */
double pp_median5(double *v);
/* The median of v[n] (n > 0; sorts v in place; for an even n the mean of
 * the middle two). */
double pp_median(double *v, int n);
/* Reads a whole file into a malloc'd, NUL-terminated text (its length in
 * *len if not NULL); NULL if it cannot be read. */
char *pp_read_text(const char *path, long *len);

#endif /* PP_CORE_H */
