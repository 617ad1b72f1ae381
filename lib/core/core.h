/* core.h -- what the core's modules share with each other and with the rest
 * of libpp, but not with the demos.  Nothing here is public (pp.h is).
 */
#ifndef PP_CORE_H
#define PP_CORE_H

#include "pp.h"

/* ---- actions and schedules ---- */

int pp_kind_is_compute(pp_kind k);
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

/* Micro-batches in the first round of the interleaved builder's order (P
 * when M is a multiple of P; the warm-up and the peak depend on it). */
int pp_interleaved_round(int P, int M);

/* Adds the sends and receives a compute-only schedule implies: a RECV before
 * every compute that needs a remote input, a SEND after every compute whose
 * output another rank needs.  A schedule that already holds communication
 * actions is copied unchanged.  src[r][i] (freed with pp_free_index) is the
 * index in s that lowered action i of rank r comes from. */
pp_status pp_sched_lower(const pp_sched *s, pp_sched **out, int ***src);
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

/* ---- the executor's watcher ---- */

/* Who watches a step as it runs (the live view).  The executor calls poll
 * often (while it waits and between slices of a compute) with the events so
 * far and the one under way (`open`: its t1 is -1, its type -1 when there is
 * none), asks hold before every compute, and tick for the tick in force; at
 * the end, rank 0's end returns the whole step's events, which then need no
 * gather. */
struct pp_watch {
    void *ctx;
    void (*start)(void *ctx, double t0);   /* the common start, this rank's clock */
    pp_status (*poll)(void *ctx, const pp_evlist *mine, const pp_event *open, double now, int waiting);
    int (*hold)(void *ctx);                /* 1: paused, do not start the next compute */
    double (*tick)(void *ctx);             /* seconds per tick now */
    pp_status (*end)(void *ctx, const pp_evlist *mine, pp_run **all);
};

/* ---- the watchdog (watchdog.c) ---- */

typedef struct pp_watchdog pp_watchdog;
/* Collective over `all`: the shared table (pp_grid_new makes it). */
pp_status pp_watchdog_new(MPI_Comm all, MPI_Comm node, pp_watchdog **out);
void pp_watchdog_free(pp_watchdog *w);
/* This rank's slot, as its step goes: it begins (pipeline rank, list
 * length), starts action `index` (`peer`: the rank it waits for, when
 * `waiting`), makes progress (`holding`: paused by the view), finishes or
 * passes over an action, ends its list (off = 0) or leaves the step (1).
 * pp_watchdog_device: the compute is handed to the device, and the rank
 * waits for it to finish (1: from here no beat, since the host cannot see
 * how far the device has got), or it has (0).  Once a rank has found the
 * step stuck, these change nothing: its report is copied from the slots. */
void pp_watchdog_begin(pp_watchdog *w, int pipe_rank, int len);
void pp_watchdog_on(pp_watchdog *w, int index, pp_action a, int peer, int waiting);
void pp_watchdog_beat(pp_watchdog *w, int holding);
/* An action's mark: done; passed over without being done (a dropped send);
 * a send held until its device has copied its bytes out (then done). */
enum { PP_MARK_DONE = 1, PP_MARK_SKIPPED, PP_MARK_HELD };
void pp_watchdog_mark(pp_watchdog *w, int index, int mark);
void pp_watchdog_done(pp_watchdog *w, int off);
void pp_watchdog_device(pp_watchdog *w, int waiting);
/* While waiting: PP_EHANG if another rank found the step stuck, or if no
 * rank has progressed for `limit` seconds (then this rank writes the report,
 * if it is the first, saying so if the user `interrupted` with Ctrl-C);
 * PP_OK otherwise.  limit <= 0: only the former. */
pp_status pp_watchdog_check(pp_watchdog *w, const pp_sched *lowered, double limit, int interrupted);

/* Lets the waits that know nothing of the step (pp_wait: collectives,
 * barriers) find it: the step this process runs now (w NULL: none), its
 * limit and whether Ctrl-C was pressed.  pp_watchdog_poll, from such a wait,
 * checks it every 10 ms (PP_EHANG: stuck); pp_watchdog_collective marks this
 * rank as waiting in a collective (1) and back (0). */
void pp_watchdog_step(pp_watchdog *w, const pp_sched *lowered, double limit, int interrupted);
pp_status pp_watchdog_poll(void);
void pp_watchdog_collective(int entering);
/* The longest action of the schedule at these costs, seconds. */
double pp_watchdog_slowest(const pp_sched *lowered, const pp_costs *c);
/* After a step returned PP_EHANG: the report, every rank's state and the
 * cause, one line each ("" if this rank has none); and whether the rank that
 * found the hang is this one. */
const char *pp_watchdog_report(const pp_grid *g);
/* Where the report will be written (memory the ranks share), for a process
 * that outlives this one (the terminal's guardian); NULL if none. */
const char *pp_watchdog_text(const pp_grid *g);
/* A rank's one-line error, for rank 0's terminal guardian to print once the
 * terminal is restored (the job is about to end); 0 if it cannot be. */
int pp_watchdog_tell(const pp_grid *g, const char *line);
int pp_watchdog_found_here(const pp_grid *g);
/* Rank 0 says it will print the report; the others wait up to wait_s for it
 * (1: it answered). */
void pp_watchdog_answer(const pp_grid *g);
int pp_watchdog_answered(const pp_grid *g, double wait_s);
/* Rank 0 did not answer (it is the stopped rank): end it first, so that the
 * terminal's guardian prints the report before the job ends (same machine). */
void pp_watchdog_end_rank0(const pp_grid *g);

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

/* ---- sums over a group, in a fixed order (collective.c) ---- */

/* All-reduce (sum) of n floats over comm, in place, as a reduce-scatter then
 * an all-gather: chunk j is added on rank j in rank order, so every rank
 * gets the same bits every run.  Adds the bytes this rank sent to
 * *wire_bytes (may be NULL). */
pp_status pp_allreduce_ordered(float *buf, long n, MPI_Comm comm, double poll_s, long *wire_bytes);
/* Every rank holds slice `rank` of n floats (pp_slice_of) in buf; after the
 * call every rank holds all of them. */
pp_status pp_allgather_slices(float *buf, long n, MPI_Comm comm, double poll_s, long *wire_bytes);
/* Slice t of n floats cut into T nearly equal parts: its first float and count. */
void pp_slice_of(long n, int T, int t, long *first, long *count);

/* ---- small helpers ---- */

/* The median of five timings (sorts v in place). */
double pp_median5(double *v);
/* Reads a whole file into a malloc'd, NUL-terminated text (its length in
 * *len if not NULL); NULL if it cannot be read. */
char *pp_read_text(const char *path, long *len);

#endif /* PP_CORE_H */
