/* watchdog.c -- notices a step that has stopped moving, and says why.
 *
 * Every rank keeps one slot in a table in shared memory (an MPI shared
 * window over the ranks of one machine): the action it is on and since
 * when, the rank it waits for (or that it waits in a collective), and its
 * heartbeat, the last moment it made progress (computed, held while the
 * view was paused, finished an action; before its first action, made a
 * message buffer or moved a warm-up message: setting up is not a hang).  Beside the slot, one mark per
 * action of its list: done, passed over without being done, or (a send)
 * held until its device has copied its bytes out.  A rank that
 * waits (for a message, in a collective, at the step's end) reads every
 * heartbeat as it waits; when none has moved for the watchdog's time, the
 * step is stuck.  The first rank to see it claims the report (one atomic
 * flag), copies every slot, follows the waits from rank to rank in the copy
 * (a rank waits for the one that sends what it needs) and writes every
 * rank's state and the cause:
 *   - a message its sender passed over without sending (lost);
 *   - a rank that neither waits nor moves (silent: stopped, or stuck inside
 *     a compute);
 *   - a rank whose device (a GPU) never finishes the compute handed to it:
 *     the rank polls it, and moves MPI's messages meanwhile, but the host
 *     cannot see inside the device's work, so that is not progress;
 *   - a message its sender's device never copied out (its send is held
 *     until the bytes are in host memory, and they never got there, though
 *     the sender waits and so would post it the moment they did);
 *   - a cycle of waits, each rank waiting for a message the next one sends
 *     only after its own wait is over (a deadlock).
 * The other ranks see the flag at their next wait and their step returns
 * PP_EHANG; the demo then prints the report and ends the job.  From the
 * flag on, no rank writes its slot: the report is copied from them.
 * The executor tells the watchdog of each moment of a step (pp_watchdog_at)
 * and lets it look at every test of progress (pp_watchdog_poll); the waits
 * inside the step's collectives and barriers reach it through the step's
 * waiter (look, group), which the step hands them.
 * Left out on purpose: ranks on several machines share no memory, and a rank
 * cannot tell a stuck pipeline from a slow or paused one by its own wait
 * alone: there the watchdog is off.
 *
 * Each slot also holds its rank's doorbell (a semaphore the ranks of the
 * machine share; Linux).  On a machine with more ranks than cores, a sender
 * counts each message it posts to a rank and rings that rank's bell, so a
 * waiting rank can sleep until its message is on its way instead of waking
 * every few microseconds to look (pp_bell_wait, pp_bell_posted; exec.c).
 */
#define _GNU_SOURCE   /* sem_clockwait: a bell's wait on the monotonic clock */
#include "step.h"

#ifdef __linux__
#include <semaphore.h>
#endif
#include <stdarg.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { WD_OFF, WD_SETUP, WD_RUN, WD_WAIT, WD_COLL, WD_HOLD, WD_DONE, WD_DEVICE, WD_CORE };
/* An action's mark: none yet, then done, passed over, or a send held for its
 * bytes (done once they are copied out). */
enum { MARK_NONE, MARK_DONE, MARK_SKIPPED, MARK_HELD };
enum { REPORT_BYTES = PP_REPORT_BYTES, MARKS_PER_RANK = 65536 };
/* A wait looks at every slot this often, and brings the limit up to date
 * this often; after Ctrl-C a step is stopped this long past its slowest
 * action without progress. */
static const double LOOK_EVERY_S = 0.01, LIMIT_EVERY_S = 0.1, AFTER_CTRL_C_S = 1.0;

/* What a rank's slot says.  In the table the owner writes it field by
 * field (state and beat atomically); the report reads a copy. */
typedef struct {
    int state;             /* WD_... */
    pp_action act;         /* the lowered action it is on */
    int index;             /* its index in the rank's lowered list, or -1 */
    int peer;              /* the rank it waits for, or -1 */
    double since;          /* when it began that action (or collective) */
    int pipe_rank;         /* its place in its pipeline (for its list) */
    long long beat_us;     /* pp_now() of the last progress, microseconds */
} wd_view;

typedef struct {
    _Atomic long long beat_us;
    _Atomic int state;
    pp_action act;
    int index, peer, pipe_rank;
    int pid;               /* its process (to end rank 0 when it is the stopped one) */
    double since;
#ifdef __linux__
    sem_t bell;            /* rung by a rank that has just sent it a message */
    sem_t core;            /* rung when a core of the machine is this rank's to take */
#endif
} wd_slot;

/* The cores of a crowded machine, taken by real computes in the order they
 * were asked for: ask k (the k-th since the start) may compute once fewer
 * than `cores` asks before it still hold one, that is once k < given + cores.
 * A give records, for the ask it frees, when it did (a ring, read by that
 * ask's rank at once), and a rank that waited counts the handoff: from the
 * give to its own start. */
enum { GATE_RING = 64 };
typedef struct {
    _Atomic unsigned long long asked, given;
    _Atomic unsigned long long freed[GATE_RING];   /* ask k + 1 at k mod GATE_RING: it was freed */
    _Atomic long long freed_us[GATE_RING];         /* when (pp_now(), microseconds) */
    _Atomic long long handoff_us, handoffs;
} core_gate;

/* The table is shared between processes: its atomics must not hide a lock. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2, "lock-free atomics needed");



struct pp_watchdog {
    MPI_Win win;
    MPI_Comm node;         /* the ranks that share the table (not owned) */
    int shared;            /* 1: every rank's slot is in reach (else the watchdog is off) */
    int crowded;           /* more ranks than cores on this machine: the bells ring (Linux) */
    int bell_made;         /* this rank's bell was set up (and is destroyed at the end) */
    int me, size;
    pp_watchdog_board *head;
    wd_slot *slot;         /* [size] */
    unsigned char *marks;  /* [size][MARKS_PER_RANK] */
    _Atomic unsigned *posted;  /* [size][size]: messages rank q has posted to rank r, at [r][q] */
    core_gate *gate;       /* the machine's cores, in turn (crowded only) */
    _Atomic int *asker;    /* [size]: the rank that made ask k, at k mod size */
    int cores;             /* the cores of this machine */
    pp_watchdog_board local_head;    /* without shared memory: this rank's own */
    wd_slot local_slot;
    int saved_state;       /* while in a collective: the state to go back to */
    /* The step this process runs now (one at a time). */
    const pp_sched *lo;
    double limit;          /* seconds without progress anywhere; <= 0: off */
    int interrupted;       /* Ctrl-C was pressed: the report says so */
    double next_look;      /* when a wait next looks at every slot */
    double next_limit;     /* when a wait next brings the limit up to date */
};

static long long us(double t)
{
    return (long long)(t * 1e6);
}

/* ---- the table ------------------------------------------------------------ */

/* Has a rank found the step stuck?  Then the slots are being copied into
 * its report, and stay as they are. */
static int frozen(const pp_watchdog *w)
{
    return atomic_load(&w->head->fired) != 0;
}

pp_status pp_watchdog_new(MPI_Comm all, MPI_Comm node, int cores, pp_watchdog **out)
{
    *out = NULL;
    pp_watchdog *w = calloc(1, sizeof *w);
    if (!w) return PP_ENOMEM;
    MPI_Comm_rank(all, &w->me);
    MPI_Comm_size(all, &w->size);
    int nsize;
    MPI_Comm_size(node, &nsize);
    w->crowded = nsize > cores;
    w->cores = cores;
    int everywhere = nsize == w->size, all_one = 0;
    if (pp_allreduce_asleep(&everywhere, &all_one, 1, MPI_INT, MPI_LAND, all) != PP_OK) {
        free(w);   /* the others may go on to share memory: the caller ends the job */
        return PP_EMPI;
    }
    if (all_one) {
        /* One segment, on rank 0: the head, the slots (on a 64-byte
         * boundary: they hold 8-byte values), the marks, the bells' counts,
         * the cores' gate (on an 8-byte boundary, as its counters need) and
         * its askers. */
        size_t head = (sizeof(pp_watchdog_board) + 63) / 64 * 64;
        size_t counts = ((size_t)w->size * w->size * sizeof(unsigned) + 63) / 64 * 64;
        MPI_Aint bytes = w->me == 0 ? (MPI_Aint)(head + (size_t)w->size * sizeof(wd_slot) +
                                                 (size_t)w->size * MARKS_PER_RANK + counts +
                                                 sizeof(core_gate) + (size_t)w->size * sizeof(int))
                                    : 0;
        void *base;
        if (MPI_Win_allocate_shared(bytes, 1, MPI_INFO_NULL, node, &base, &w->win) == MPI_SUCCESS) {
            MPI_Aint got;
            int unit;
            MPI_Win_shared_query(w->win, 0, &got, &unit, &base);
            w->head = base;
            w->slot = (wd_slot *)((char *)base + head);
            w->marks = (unsigned char *)(w->slot + w->size);
            w->posted = (_Atomic unsigned *)(w->marks + (size_t)w->size * MARKS_PER_RANK);
            w->gate = (core_gate *)((char *)w->posted + counts);
            w->asker = (_Atomic int *)(w->gate + 1);
            w->shared = 1;
            w->node = node;
            if (w->me == 0) memset(base, 0, (size_t)bytes);
            pp_barrier(node, PP_SET_UP_POLL_S);
            /* on a crowded machine each rank sets up its own bell and its
             * core's; nobody rings one before all are (without them, no
             * bells and no gate) */
#ifdef __linux__
            w->bell_made = w->crowded && sem_init(&w->slot[w->me].bell, 1, 0) == 0;
            if (w->bell_made && sem_init(&w->slot[w->me].core, 1, 0) != 0) {
                sem_destroy(&w->slot[w->me].bell);
                w->bell_made = 0;
            }
#endif
            w->crowded = w->bell_made;
            if (pp_allreduce_asleep(MPI_IN_PLACE, &w->crowded, 1, MPI_INT, MPI_LAND, node) != PP_OK)
                w->crowded = 0;
        }
    }
    if (!w->shared) {
        w->head = &w->local_head;
        w->slot = &w->local_slot;
        w->marks = NULL;
        w->crowded = 0;
    }
    *out = w;
    return PP_OK;
}

void pp_watchdog_free(pp_watchdog *w)
{
    if (!w) return;
    if (w->shared) {
        pp_barrier(w->node, PP_SET_UP_POLL_S);   /* no rank rings a bell any more */
#ifdef __linux__
        if (w->bell_made) sem_destroy(&w->slot[w->me].bell), sem_destroy(&w->slot[w->me].core);
#endif
        MPI_Win_free(&w->win);
    }
    free(w);
}

/* ---- doorbells ------------------------------------------------------------ */

int pp_bell_ready(const pp_watchdog *w)
{
    return w && w->shared && w->crowded;
}

void pp_bell_ring(pp_watchdog *w, int rank)
{
    if (!pp_bell_ready(w)) return;
    atomic_fetch_add(&w->posted[(size_t)rank * w->size + w->me], 1u);   /* counted before it rings */
#ifdef __linux__
    sem_post(&w->slot[rank].bell);
#endif
}

unsigned pp_bell_posted(const pp_watchdog *w, int from)
{
    return pp_bell_ready(w) ? atomic_load(&w->posted[(size_t)w->me * w->size + from]) : 0;
}

void pp_bell_hush(pp_watchdog *w)
{
#ifdef __linux__
    if (pp_bell_ready(w))
        while (sem_trywait(&w->slot[w->me].bell) == 0) continue;
#else
    (void)w;
#endif
}

/* Sleeps until semaphore s is rung or `left` seconds have passed (returns
 * 1 if it rang; a timeout or a signal: 0).  Without semaphores it sleeps. */
#ifdef __linux__
static int sem_wait_for(sem_t *s, double left)
{
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    long long ns = at.tv_nsec + (long long)(left * 1e9);
    at.tv_sec += (time_t)(ns / 1000000000), at.tv_nsec = (long)(ns % 1000000000);
    return sem_clockwait(s, CLOCK_MONOTONIC, &at) == 0;
}
#endif

int pp_bell_wait(pp_watchdog *w, double until)
{
    double left = until - pp_now();
    if (!pp_bell_ready(w) || left <= 0) {
        pp_sleep_until(until);
        return 0;
    }
#ifdef __linux__
    return sem_wait_for(&w->slot[w->me].bell, left);
#else
    return 0;
#endif
}

/* ---- the cores of a crowded machine, in turn ------------------------------ */

int pp_core_gated(const pp_watchdog *w)
{
    return pp_bell_ready(w);
}

int pp_core_count(const pp_watchdog *w)
{
    return pp_core_gated(w) ? w->cores : 0;
}

unsigned long long pp_core_ask(pp_watchdog *w)
{
    unsigned long long k = atomic_fetch_add(&w->gate->asked, 1ull);
    atomic_store(&w->asker[k % (unsigned)w->size], w->me);
    return k;
}

int pp_core_mine(const pp_watchdog *w, unsigned long long k)
{
    return k < atomic_load(&w->gate->given) + (unsigned long long)w->cores;
}

void pp_core_wait(pp_watchdog *w, double until)
{
#ifdef __linux__
    double left = until - pp_now();
    if (left > 0) sem_wait_for(&w->slot[w->me].core, left);
#else
    pp_sleep_until(until);   /* no gate here (pp_core_gated): not reached */
#endif
}

void pp_core_got(pp_watchdog *w, unsigned long long k)
{
    /* the give that freed ask k has recorded its time unless a give 64
     * asks later has come already (then the handoff is not counted) */
    if (atomic_load(&w->gate->freed[k % GATE_RING]) != k + 1) return;
    long long since = us(pp_now()) - atomic_load(&w->gate->freed_us[k % GATE_RING]);
    if (atomic_load(&w->gate->freed[k % GATE_RING]) != k + 1 || since < 0) return;
    atomic_fetch_add(&w->gate->handoff_us, since);
    atomic_fetch_add(&w->gate->handoffs, 1ll);
}

void pp_core_give(pp_watchdog *w)
{
    /* the ask this frees is given + cores, counting the gives before this
     * one; its rank is woken if it has asked (else it finds the core free
     * when it looks) */
    long long now = us(pp_now());
    unsigned long long next = atomic_fetch_add(&w->gate->given, 1ull) + (unsigned long long)w->cores;
    atomic_store(&w->gate->freed_us[next % GATE_RING], now);
    atomic_store(&w->gate->freed[next % GATE_RING], next + 1);
    if (next < atomic_load(&w->gate->asked)) {
#ifdef __linux__
        sem_post(&w->slot[atomic_load(&w->asker[next % (unsigned)w->size])].core);
#endif
    }
}

double pp_core_handoffs(const pp_watchdog *w, long long *n)
{
    *n = pp_core_gated(w) ? atomic_load(&w->gate->handoffs) : 0;
    return *n ? atomic_load(&w->gate->handoff_us) * 1e-6 : 0;
}

static wd_slot *mine(pp_watchdog *w)
{
    return w->shared ? &w->slot[w->me] : w->slot;
}

static void begin(pp_watchdog *w, int pipe_rank, int len)
{
    wd_slot *s = mine(w);
    s->index = -1, s->peer = -1, s->since = pp_now(), s->pipe_rank = pipe_rank, s->pid = (int)getpid();
    if (w->marks) memset(w->marks + (size_t)w->me * MARKS_PER_RANK, 0, len < MARKS_PER_RANK ? (size_t)len : MARKS_PER_RANK);
    atomic_store(&s->beat_us, us(pp_now()));
    atomic_store(&s->state, WD_SETUP);   /* until its first action */
}

/* This rank's slot now: `state`, since now, on action `index` (and a,
 * waiting for `peer`) when index >= 0. */
static void set_slot(pp_watchdog *w, int state, int index, pp_action a, int peer)
{
    wd_slot *s = mine(w);
    s->index = index, s->act = a, s->peer = peer, s->since = pp_now();
    atomic_store(&s->beat_us, us(s->since));
    atomic_store(&s->state, state);
}

static void beat(pp_watchdog *w, int paused)
{
    wd_slot *s = mine(w);
    atomic_store(&s->beat_us, us(pp_now()));
    if (paused) atomic_store(&s->state, WD_HOLD);
    else if (atomic_load(&s->state) == WD_HOLD) atomic_store(&s->state, WD_RUN);
}

static void mark(pp_watchdog *w, int index, int m)
{
    if (w->marks && index >= 0 && index < MARKS_PER_RANK) w->marks[(size_t)w->me * MARKS_PER_RANK + index] = (unsigned char)m;
}

/* The limit for the step, now: it follows the tick in force (the view's
 * keys change it).  After Ctrl-C a healthy step finishes (the demo then
 * stops) and a stuck one never would: AFTER_CTRL_C_S more than the slowest
 * action without progress is enough, even with the watchdog off. */
static void bring_limit_up_to_date(pp_watchdog *w, const pp_step *step)
{
    pp_costs c = pp_step_costs(step);
    const pp_exec_opts *o = step->o;
    w->limit = o->watchdog_s < 0 ? pp_watchdog_limit(step->lo, &c) : o->watchdog_s;
    /* A link model holds messages: a rank may wait for every message of its
     * list to cross one link, and a sum for its pieces, and make no hang. */
    if (o->watchdog_s < 0 && o->link.gbps > 0)
        w->limit += (step->len + 2 * step->g->T) * pp_link_s(&o->link, (long)o->payload);
    w->interrupted = o->interrupted && *o->interrupted;
    double after = AFTER_CTRL_C_S + pp_watchdog_slowest(step->lo, &c);
    if (w->interrupted && (w->limit <= 0 || w->limit > after)) w->limit = after;
}

/* The waiter's side, for the collectives and barriers a step runs: between
 * tests (look), and in and out of a collective of a group (group). */
static pp_status look(void *ctx)
{
    pp_watchdog *w = ctx;
    double now = pp_now();
    if (now < w->next_look) return PP_OK;
    w->next_look = now + LOOK_EVERY_S;
    return pp_watchdog_check(w, w->lo, w->limit, w->interrupted);
}

static void group(void *ctx, int entering)
{
    pp_watchdog *w = ctx;
    if (frozen(w)) return;
    wd_slot *s = mine(w);
    if (entering) {
        w->saved_state = atomic_load(&s->state);
        s->since = pp_now();
        atomic_store(&s->state, WD_COLL);
    } else {
        atomic_store(&s->beat_us, us(pp_now()));
        atomic_store(&s->state, w->saved_state);
    }
}

void pp_watchdog_at(pp_step *step, pp_moment m, int index)
{
    pp_watchdog *w = step->wd;
    if (!w || (m != PP_AT_BEGIN && frozen(w))) return;
    pp_action a = index >= 0 && index < step->len ? step->lo->acts[step->me][index] : (pp_action){-1, PP_IDLE, -1};
    switch (m) {
    case PP_AT_BEGIN:
        w->lo = step->lo;
        bring_limit_up_to_date(w, step);
        step->waiter = (pp_waiter){.poll_s = step->o->poll_wait_s, .ctx = w, .look = look, .group = group};
        if (!frozen(w)) begin(w, step->me, step->len);
        break;
    case PP_AT_SETUP: beat(w, 0); break;
    case PP_AT_ACTION: set_slot(w, step->peer >= 0 ? WD_WAIT : WD_RUN, index, a, step->peer); break;
    case PP_AT_DONE: mark(w, index, MARK_DONE); break;
    case PP_AT_PASSED: mark(w, index, MARK_SKIPPED); break;
    case PP_AT_HELD: mark(w, index, MARK_HELD); break;
    case PP_AT_PAUSED: beat(w, index); break;
    case PP_AT_DEVICE:   /* handed over (or finished): progress */
        atomic_store(&mine(w)->beat_us, us(pp_now()));
        atomic_store(&mine(w)->state, index ? WD_DEVICE : WD_RUN);
        break;
    case PP_AT_CORE:   /* queued for a core (a wait), or given one (progress) */
        atomic_store(&mine(w)->beat_us, us(pp_now()));
        atomic_store(&mine(w)->state, index ? WD_CORE : WD_RUN);
        break;
    case PP_AT_LIST_DONE: set_slot(w, WD_DONE, -1, a, -1); break;
    case PP_AT_END: set_slot(w, WD_OFF, -1, a, -1); break;
    }
}

pp_status pp_watchdog_poll(pp_step *step)
{
    pp_watchdog *w = step->wd;
    if (!w) return PP_OK;
    if (!step->waiting && !step->on_device) {
        if (!frozen(w)) beat(w, 0);
        return PP_OK;
    }
    double now = pp_now();
    if (now >= w->next_limit) {
        w->next_limit = now + LIMIT_EVERY_S;
        bring_limit_up_to_date(w, step);
    }
    return look(w);
}

/* ---- the report --------------------------------------------------------- */

typedef struct {
    char *text;
    size_t n, cap;
} report_text;

static void say(report_text *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(report_text *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->text + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k > 0) o->n += (size_t)k < o->cap - o->n ? (size_t)k : o->cap - o->n - 1;
}

/* "the activation of micro-batch 3" for a receive or send. */
static void what(char *buf, size_t n, pp_action a)
{
    int fwd = a.kind == PP_RECV_F || a.kind == PP_SEND_F;
    snprintf(buf, n, "the %s of micro-batch %d", fwd ? "activation" : "gradient", a.mb);
}

/* The index in rank q's list of the send that rank r's receive `a` waits for. */
static int send_index(const pp_sched *lo, int q_pipe, pp_action a)
{
    pp_action want = {pp_peer_stage(a), a.kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B, a.mb};
    for (int i = 0; i < lo->len[q_pipe]; i++) {
        pp_action b = lo->acts[q_pipe][i];
        if (b.kind == want.kind && b.stage == want.stage && b.mb == want.mb) return i;
    }
    return -1;
}

/* Rank r waits for a message: the index of its send in the sender's list
 * (the sender in *q), or -1 when r waits for no message. */
static int awaited_send(const pp_watchdog *w, const wd_view *v, const pp_sched *lo, int r, int *q)
{
    *q = v[r].peer;
    if (v[r].state != WD_WAIT || !(v[r].act.kind == PP_RECV_F || v[r].act.kind == PP_RECV_B) || *q < 0 ||
        *q >= w->size)
        return -1;
    return send_index(lo, v[*q].pipe_rank, v[r].act);
}

static int mark_of(const pp_watchdog *w, int rank, int index)
{
    if (!w->marks || index < 0 || index >= MARKS_PER_RANK) return MARK_NONE;
    return w->marks[(size_t)rank * MARKS_PER_RANK + index];
}

/* One line per rank (from the copy v): what it is doing, and for how long. */
static void describe(const pp_watchdog *w, const wd_view *v, int r, double now, report_text *o)
{
    char act[32] = "", msg[96];
    if (v->index >= 0) pp_action_str(v->act, act, sizeof act);
    double on = now - v->since, still = now - v->beat_us * 1e-6;
    say(o, "  rank %d ", r);
    switch (v->state) {
    case WD_WAIT:
        what(msg, sizeof msg, v->act);
        if ((v->act.kind == PP_SEND_F || v->act.kind == PP_SEND_B) && mark_of(w, r, v->index) == MARK_HELD)
            say(o, "waits %.1f s for its device to copy out %s for rank %d (%s)\n", on, msg, v->peer, act);
        else if (v->act.kind == PP_SEND_F || v->act.kind == PP_SEND_B)
            say(o, "waits %.1f s for rank %d to take %s (%s)\n", on, v->peer, msg, act);
        else say(o, "waits %.1f s for %s from rank %d (%s)\n", on, msg, v->peer, act);
        break;
    case WD_COLL:
        if (v->index >= 0) say(o, "waits %.1f s in a collective of its group (an all-reduce) in %s\n", on, act);
        else say(o, "waits %.1f s in a collective of its group (an all-reduce or the step's end)\n", on);
        break;
    case WD_RUN:
        if (v->index >= 0) say(o, "has been in %s for %.1f s, with no progress for %.1f s\n", act, on, still);
        else say(o, "is between actions and has not moved for %.1f s\n", still);
        break;
    case WD_DEVICE: say(o, "has waited %.1f s for its device to finish %s\n", still, act); break;
    case WD_CORE:
        say(o, "waits %.1f s for its turn on a core, to compute %s (the ranks of this machine take its cores in "
               "turn)\n", still, act);
        break;
    case WD_HOLD: say(o, "is held (the live view is paused)\n"); break;
    case WD_SETUP: say(o, "is setting up the step (buffers, first messages), no progress for %.1f s\n", still); break;
    case WD_DONE: say(o, "has run its whole list and waits %.1f s for the others\n", on); break;
    default: say(o, "is not in the step (it has not reached it, or has left it)\n"); break;
    }
}

/* The cause, from the copy v of every slot: a lost message (or one its
 * device never copied out), a device that never finished a compute, a
 * silent rank, or a cycle of waits. */
static void find_cause(const pp_watchdog *w, const wd_view *v, const pp_sched *lo, double limit, double now, report_text *o)
{
    int n = w->size, q, i;
    for (int r = 0; r < n; r++)   /* a message its sender passed over */
        if ((i = awaited_send(w, v, lo, r, &q)) >= 0 && mark_of(w, q, i) == MARK_SKIPPED) {
            char msg[96], act[32];
            what(msg, sizeof msg, v[r].act);
            pp_action_str(lo->acts[v[q].pipe_rank][i], act, sizeof act);
            say(o, "cause: a lost message: rank %d waits for %s, and rank %d passed its send of it (%s) "
                   "without making it: the message was never sent\n", r, msg, q, act);
            return;
        }
    int device = -1;   /* a rank whose device never finished its compute: the one waiting longest */
    for (int r = 0; r < n; r++)
        if (v[r].state == WD_DEVICE && now - v[r].beat_us * 1e-6 >= limit && (device < 0 || v[r].beat_us < v[device].beat_us))
            device = r;
    if (device >= 0) {
        char act[32];
        pp_action_str(v[device].act, act, sizeof act);
        say(o, "cause: rank %d's device has not finished %s in %.1f s: the rank handed the compute over and "
               "waits for it (a kernel that never ends, or a device that stopped)%s\n", device, act,
            now - v[device].beat_us * 1e-6, n > 1 ? "; the other ranks wait for it, directly or along a chain" : "");
        return;
    }
    /* A message still held for its bytes, by a sender that waits (and so
     * would post it as soon as they were there): its device never copied
     * it out.  (A sender that stopped never posts anything: it is silent.) */
    for (int r = 0; r < n; r++)
        if ((i = awaited_send(w, v, lo, r, &q)) >= 0 && mark_of(w, q, i) == MARK_HELD && v[q].state == WD_WAIT) {
            char msg[96], act[32];
            what(msg, sizeof msg, v[r].act);
            pp_action_str(lo->acts[v[q].pipe_rank][i], act, sizeof act);
            say(o, "cause: rank %d waits for %s, and rank %d's device has not copied it out to be sent "
                   "(%s is held until its bytes are there): a copy that never ends, or a device that "
                   "stopped\n", r, msg, q, act);
            return;
        }
    int silent = -1, waiting = 0;   /* a rank that neither waits nor moves: the one still longest */
    for (int r = 0; r < n; r++) {
        int quiet = (v[r].state == WD_RUN || v[r].state == WD_SETUP) && now - v[r].beat_us * 1e-6 >= limit;
        waiting += v[r].state == WD_WAIT || v[r].state == WD_COLL || v[r].state == WD_DONE || v[r].state == WD_CORE;
        if (quiet && (silent < 0 || v[r].beat_us < v[silent].beat_us)) silent = r;
    }
    /* No rank waits for an action: the rank that looked waits inside the
     * setting up (its warm-up messages), so the step never started. */
    if (silent >= 0 && waiting == 0) {
        say(o, "cause: the step has not started: no rank has made progress in setting it up (its buffers, and one "
               "message through each) for %.1f s: a rank stopped while setting up, or the machine is far busier "
               "than it has cores (each message of the payload's size is moved once first)\n",
            now - v[silent].beat_us * 1e-6);
        return;
    }
    if (silent >= 0) {
        char act[32] = "its step";
        if (v[silent].index >= 0) pp_action_str(v[silent].act, act, sizeof act);
        if (v[silent].state == WD_SETUP) snprintf(act, sizeof act, "setting up its step");
        say(o, "cause: rank %d is silent: it waits for no one, yet it has made no progress in %s for %.1f s "
               "(stopped, or stuck inside a compute); the other ranks wait for it, directly or along a chain\n",
            silent, act, now - v[silent].beat_us * 1e-6);
        return;
    }
    int *walk = calloc((size_t)(n > 0 ? n : 1), sizeof *walk);   /* 1 + the walk that reached each rank */
    for (int start = 0; walk && start < n; start++) {   /* a cycle of waits */
        int r = start;
        while (r >= 0 && r < n && v[r].state == WD_WAIT && !walk[r]) {
            walk[r] = 1 + start;
            r = v[r].peer;
        }
        if (r < 0 || r >= n || walk[r] != 1 + start || v[r].state != WD_WAIT) continue;
        say(o, "cause: a cycle of waits, a deadlock: rank %d", r);
        for (int q = v[r].peer, k = 0; q != r && k < n; q = v[q].peer, k++) say(o, " -> rank %d", q);
        say(o, " -> rank %d: each waits for a message the next sends only after its own wait is over\n", r);
        free(walk);
        return;
    }
    free(walk);
    say(o, "cause: no rank is moving, and the waits do not close on a rank or a cycle: a rank waits for "
           "one that has finished its list without sending what it needs, or in a collective\n");
}

/* Copies text into dst (cap bytes), each line cut at spaces to fit 80
 * columns, continuations indented by four. */
static void wrap80(const char *text, char *dst, size_t cap)
{
    report_text o = {dst, 0, cap};
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n"), done = 0, indent = 0;
        while (done < len) {
            size_t room = 80 - indent, take = len - done;
            if (take > room) {
                take = room;
                while (take > 1 && p[done + take] != ' ') take--;
                if (take <= 1) take = room;
            }
            say(&o, "%*s%.*s\n", (int)indent, "", (int)take, p + done);
            done += take;
            while (done < len && p[done] == ' ') done++;
            indent = 4;
        }
        p += len + (p[len] == '\n');
    }
}

/* Writes the report into the shared head (this rank found the hang): from a
 * copy of every slot, so that a rank that moves meanwhile cannot change the
 * picture half-way. */
static void write_report(pp_watchdog *w, const pp_sched *lo, double limit, double still, int interrupted)
{
    static char text[REPORT_BYTES];
    report_text o = {text, 0, REPORT_BYTES};
    double now = pp_now();
    wd_view *v = calloc((size_t)w->size, sizeof *v);
    for (int r = 0; v && r < w->size; r++) {
        const wd_slot *s = &w->slot[r];
        v[r].state = atomic_load(&s->state);
        v[r].beat_us = atomic_load(&s->beat_us);
        v[r].act = s->act, v[r].index = s->index, v[r].peer = s->peer, v[r].since = s->since;
        v[r].pipe_rank = s->pipe_rank;
    }
    /* Short enough that "04_bubble_efficiency: " before it still fits 80 columns. */
    if (interrupted) say(&o, "Ctrl-C: the step was stuck: no rank moved for %.1f s\n", still);
    else say(&o, "watchdog: the step is stuck: no rank moved for %.1f s\n", still);
    for (int r = 0; v && r < w->size; r++) describe(w, &v[r], r, now, &o);
    if (v) find_cause(w, v, lo, limit, now, &o);
    if (!interrupted) say(&o, "(--watchdog SECONDS sets the limit; 0 switches the watchdog off)\n");
    free(v);
    wrap80(text, w->head->report, REPORT_BYTES);
}

pp_status pp_watchdog_check(pp_watchdog *w, const pp_sched *lo, double limit, int interrupted)
{
    if (!w || !w->shared) return PP_OK;   /* several machines: off (see the top) */
    if (atomic_load(&w->head->fired)) return PP_EHANG;
    if (limit <= 0) return PP_OK;
    double now = pp_now();
    long long newest = 0;
    for (int r = 0; r < w->size; r++) {
        const wd_slot *s = &w->slot[r];
        int state = atomic_load(&s->state);
        if (state == WD_HOLD || state == WD_OFF) return PP_OK;   /* paused, or not every rank in the step */
        long long b = atomic_load(&s->beat_us);
        if (b > newest) newest = b;
    }
    if (now - newest * 1e-6 < limit) return PP_OK;
    int expected = 0;
    if (atomic_compare_exchange_strong(&w->head->fired, &expected, 1 + w->me)) {
        write_report(w, lo, limit, now - newest * 1e-6, interrupted);
        atomic_store(&w->head->ready, 1);
    }
    return PP_EHANG;
}

pp_watchdog_board *pp_watchdog_board_of(const pp_watchdog *w, int shared)
{
    return w && (w->shared || !shared) ? w->head : NULL;
}

int pp_watchdog_pid(const pp_watchdog *w, int rank)
{
    return w && w->shared && rank >= 0 && rank < w->size ? w->slot[rank].pid : 0;
}

double pp_watchdog_slowest(const pp_sched *lo, const pp_costs *c)
{
    double slowest = 0;
    for (int k = PP_F; k <= PP_W; k++)
        for (int s = 0; s < lo->nstages; s++) {
            double t = pp_cost_s(c, (pp_kind)k, s, NULL);
            if (t > slowest) slowest = t;
        }
    return slowest;
}

const char *pp_watchdog_limit_text(void)
{
    return "5 s plus twice the slowest action";
}

double pp_watchdog_limit(const pp_sched *lo, const pp_costs *c)
{
    return 5.0 + 2 * pp_watchdog_slowest(lo, c);
}
