/* test_mpi.c -- the timed executor on real MPI ranks.  For every builder and
 * M in 1, 4, 8, 16 on the P ranks it is started with (interleaved: M = P, 2P
 * and 4P up to 16, its condition; a chunk costs 1/v of a rank's share): the run finishes, the
 * measured bubble is what the run's own compute times and message deliveries
 * explain, computes start when their rank is ready and last the ticks they
 * were given, the peak activations held and the bytes sent equal their
 * formulas exactly, every message arrives after it was sent (on rank 0's
 * clock), and none is sent before the replay with its costs says it can be
 * (pp_replay_sends: a waiting rank sleeps until shortly before).
 *
 *   mpiexec -n 4 tests/test_mpi [TICK_MS] [skew]
 *
 * With "skew", every rank first adds a large artificial offset to its clock
 * (as if the ranks ran on machines whose clocks disagree); the test checks
 * that the offsets are estimated and removed.
 *
 *   mpiexec -n 4 tests/test_mpi [TICK_MS] device-hang|copy-hang|copy-stall
 *   taskset -c 0 mpiexec -n 2 tests/test_mpi [TICK_MS] core-hang
 *
 * runs one step that never ends: device-hang on a stand-in device that never
 * finishes one compute of the last rank (a GPU kernel that never ends);
 * copy-hang with the bytes of the last rank's last send never ready (a copy
 * to host memory that never ends); copy-stall with those of its send of
 * micro-batch 1 never ready, and the rank stopped (--fault stall) soon after;
 * core-hang on a crowded machine, the last rank stuck inside a real compute
 * holding a core that another rank waits for.  The watchdog must stop the step; rank 0 prints its report and ends the
 * job with status 3, as the demos do (tests/hang.sh checks that, and the
 * report names the right cause).
 *
 * Why the bubble is not judged against the formula with a fixed tolerance:
 * how far the measured bubble lies above the formula depends on the machine
 * (a sleeping rank wakes late, a message takes 50 us on a calm day and
 * milliseconds on a loaded one), and a fixed margin either fails on a busy
 * machine or lets a slow executor through on a calm one.  Instead the step is
 * replayed from its own events: each compute takes the time it measured, each
 * message the delivery time it measured, and nothing else waits.  The bubble
 * of that replay is what this machine explains; what the measured bubble has
 * beyond it is time the executor lost between actions, and that must stay
 * under LOST_POINTS.  The excess over the formula is printed, split into the
 * two.  A step that loses more is run once more and judged on the better of
 * the two: an executor that loses time loses it in every step, while a rank
 * preempted between two actions (a rare event on a loaded machine) does not
 * lose it twice in the same place.
 */
#include "pp.h"
#include "core.h"
#include "pp_idle.h"
#include "pp_demo.h"   /* the watchdog's report, for the hangs */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The schedule under test: which rank runs each stage (messages go between
 * the ranks of neighbouring stages, not neighbouring ranks, when a rank
 * holds several stages). */
static const pp_sched *under_test;

/* The rank and stage that sent what WAIT w waited for. */
static int sender(const pp_event *w, int *stage)
{
    *stage = w->kind == PP_RECV_F ? w->stage - 1 : w->stage + 1;
    return *stage >= 0 && *stage < under_test->nstages ? under_test->stage_rank[*stage] : -1;
}

/* Bubble points the executor may lose beyond what the run's own compute
 * times and message deliveries explain (measured: under 0.1 on a calm
 * machine, under 0.7 with a second copy of the suite running beside it). */
static const double LOST_POINTS = 2.0;
/* Computes start within this share of a tick of their rank being ready,
 * and last at most this share of a tick beyond their ticks, in the median
 * (measured: a few microseconds and under 40 us at 4 ms ticks, loaded). */
static const double LATE_TICKS = 0.1;
/* A wait longer than this found no message there: it ended when the message arrived. */
static const double WAITED = 20e-6;

/* Does every WAIT end after its message's SEND began?  Each rank's clock
 * offset is known to within half its fastest ping-pong round trip (rtt[p],
 * s), so a pair of ranks is allowed the sum of their halves, plus `slack` s. */
static int causal(const pp_run *r, const double *rtt, double slack)
{
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *w = &r->ranks[p].ev[i];
            if (w->type != PP_EV_WAIT) continue;
            int st, from = sender(w, &st);
            int kind = w->kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B;
            for (int k = 0; from >= 0 && k < r->ranks[from].n; k++) {
                const pp_event *s = &r->ranks[from].ev[k];
                double allowed = 0.5 * (rtt[p] + rtt[from]) + slack;
                if (s->type == PP_EV_SEND && s->kind == kind && s->stage == st && s->mb == w->mb &&
                    w->t1 < s->t0 - allowed) {
                    printf("# rank %d got micro-batch %d at %.3f ms, sent at %.3f ms (clock round trips %.1f and %.1f us)\n",
                           p, w->mb, w->t1 * 1e3, s->t0 * 1e3, rtt[p] * 1e6, rtt[from] * 1e6);
                    return 0;
                }
            }
        }
    return 1;
}

/* Is no message sent before the time pp_replay_sends() says it cannot
 * come before (a waiting rank sleeps until shortly before then)?  The same
 * clock allowance as causal(). */
static int never_early(const pp_run *r, const pp_sched *s, const pp_costs *c, const double *rtt, double slack)
{
    for (int p = 0; p < r->nrows; p++) {
        double *nb = malloc(((size_t)s->len[p] + 1) * sizeof *nb);
        if (!nb || pp_replay_sends(s, c, p, nb) != PP_OK) abort();
        for (int i = 0; i < s->len[p]; i++) {
            pp_action a = s->acts[p][i];
            if (!pp_is_recv(a.kind)) continue;
            int from = s->stage_rank[pp_peer_stage(a)], kind = a.kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B;
            for (int k = 0; k < r->ranks[from].n; k++) {
                const pp_event *e = &r->ranks[from].ev[k];
                if (e->type == PP_EV_SEND && e->kind == kind && e->stage == pp_peer_stage(a) && e->mb == a.mb &&
                    e->t0 < nb[i] - 0.5 * (rtt[p] + rtt[from]) - slack) {
                    printf("# rank %d sent micro-batch %d to rank %d at %.3f ms, before %.3f ms\n", from, a.mb, p,
                           e->t0 * 1e3, nb[i] * 1e3);
                    free(nb);
                    return 0;
                }
            }
        }
        free(nb);
    }
    return 1;
}

/* The SEND event that the WAIT w of rank p waited for, or NULL. */
static const pp_event *send_of(const pp_run *r, int p, const pp_event *w)
{
    (void)p;
    int st, from = sender(w, &st);
    int kind = w->kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B;
    for (int k = 0; from >= 0 && from < r->nrows && k < r->ranks[from].n; k++) {
        const pp_event *s = &r->ranks[from].ev[k];
        if (s->type == PP_EV_SEND && s->kind == kind && s->stage == st && s->mb == w->mb) return s;
    }
    return NULL;
}

/* Every receive says whether its message had come when its rank got to
 * it (pp_event.came), and one that says it had was sent before the rank got
 * there (on rank 0's clock, within the clocks' error).  *before counts those. */
static int came_known(const pp_run *r, const double *rtt, double slack, int *before)
{
    *before = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *w = &r->ranks[p].ev[i], *s;
            if (w->type != PP_EV_WAIT) continue;
            if (w->came != PP_CAME_BEFORE && w->came != PP_CAME_AFTER) return 0;
            if (w->came == PP_CAME_AFTER) continue;
            ++*before;
            int st, from = sender(w, &st);
            if ((s = send_of(r, p, w)) && s->t0 > w->t0 + 0.5 * (rtt[p] + rtt[from]) + slack) {
                printf("# rank %d found micro-batch %d there at %.3f ms, sent at %.3f ms\n", p, w->mb, w->t0 * 1e3,
                       s->t0 * 1e3);
                return 0;
            }
        }
    return 1;
}


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[n] and returns its median (0 for none). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0;
}

/* What one measured step says about itself, in seconds. */
typedef struct {
    double replayed;   /* the makespan its own compute times and deliveries explain */
    double delivery;   /* median delivery of the messages a rank was waiting for */
    double late;       /* median time from a rank's previous action to its next compute */
    double overrun;    /* median time a compute lasted beyond its ticks */
    double woke;       /* median delivery of the messages a rank waited for asleep until shortly
                          before the earliest they could be sent (pp_replay_sends), and that
                          were sent within a millisecond of it; 0 if none */
} explained;

/* The median delivery of the messages a rank waited for from before
 * TIGHT_S ahead of the earliest pp_replay_sends() allows (the wait slept
 * until then), and that were sent within TIGHT_S of it: a rank woken
 * shortly before must still see them as soon as any other. */
static const double TIGHT_S = 1e-3;
static double woke_median(const pp_run *r, const pp_sched *s, const pp_costs *c)
{
    int cap = 0;
    for (int p = 0; p < r->nrows; p++) cap += s->len[p];
    double *d = malloc(((size_t)cap + 1) * sizeof *d);
    int n = 0;
    if (!d) abort();
    for (int p = 0; p < r->nrows; p++) {
        double *nb = malloc(((size_t)s->len[p] + 1) * sizeof *nb);
        if (!nb || pp_replay_sends(s, c, p, nb) != PP_OK) abort();
        int i = 0;   /* the receives of p's list and its WAIT events come in the same order */
        for (int k = 0; k < r->ranks[p].n; k++) {
            const pp_event *w = &r->ranks[p].ev[k], *snd;
            if (w->type != PP_EV_WAIT) continue;
            while (i < s->len[p] && !pp_is_recv(s->acts[p][i].kind)) i++;
            if (i >= s->len[p]) break;
            if (w->t1 - w->t0 > WAITED && w->t0 < nb[i] - TIGHT_S && (snd = send_of(r, p, w)) && snd->t0 - nb[i] < TIGHT_S)
                d[n++] = w->t1 - snd->t0;
            i++;
        }
        free(nb);
    }
    double m = median(d, n);
    free(d);
    return m;
}

/* Replays the step from its events: each rank starts when it woke at the
 * start, every compute lasts what it measured, a message that found its
 * receiver waiting takes the delivery time it measured, and nothing else is
 * waited for.  A message whose receiver came late to it arrived at some
 * unknown moment before: it is given the median of the deliveries seen
 * whole, or what it at most took if that is less. */
static double replay(const pp_run *r, double delivery)
{
    int P = r->nrows;
    double **at = calloc((size_t)P, sizeof *at), *cur = calloc((size_t)P, sizeof *cur), end = 0;
    int *next = calloc((size_t)P, sizeof *next);
    if (!at || !cur || !next) abort();
    for (int p = 0; p < P; p++) {
        if (!(at[p] = malloc(((size_t)r->ranks[p].n + 1) * sizeof **at))) abort();
        for (int i = 0; i < r->ranks[p].n; i++) at[p][i] = -1;   /* not replayed yet */
        cur[p] = r->ranks[p].n ? r->ranks[p].ev[0].t0 : 0;
    }
    /* Sweep the ranks until every event is placed; a wait is placed once its send is. */
    for (int moved = 1; moved;) {
        moved = 0;
        for (int p = 0; p < P; p++)
            for (; next[p] < r->ranks[p].n; next[p]++, moved = 1) {
                const pp_event *e = &r->ranks[p].ev[next[p]];
                if (e->type == PP_EV_COMPUTE) {
                    cur[p] += e->t1 - e->t0;
                    if (cur[p] > end) end = cur[p];
                } else if (e->type == PP_EV_WAIT) {
                    const pp_event *s = send_of(r, p, e);
                    int st, from = sender(e, &st);
                    double sent = s ? at[from][s - r->ranks[from].ev] : 0;
                    if (sent < 0) break;   /* its sender is not there yet */
                    double d = s ? e->t1 - s->t0 : 0;
                    if (e->t1 - e->t0 <= WAITED && d > delivery) d = delivery;
                    if (sent + (d > 0 ? d : 0) > cur[p]) cur[p] = sent + (d > 0 ? d : 0);
                }
                at[p][next[p]] = cur[p];
            }
    }
    for (int p = 0; p < P; p++) free(at[p]);
    free(at);
    free(cur);
    free(next);
    return end;
}

static explained explain(const pp_run *r, const pp_sched *s, const pp_exec_opts *o)
{
    int cap = 0;
    for (int p = 0; p < r->nrows; p++) cap += r->ranks[p].n;
    double *deliv = malloc(((size_t)cap + 1) * sizeof *deliv), *late = malloc(((size_t)cap + 1) * sizeof *late),
           *over = malloc(((size_t)cap + 1) * sizeof *over);
    if (!deliv || !late || !over) abort();
    int nd = 0, nl = 0, no = 0;
    for (int p = 0; p < r->nrows; p++) {
        double ready = -1;   /* when the rank's previous action ended (a send: when it was posted) */
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i], *s;
            if (e->type == PP_EV_WAIT && e->t1 - e->t0 > WAITED && (s = send_of(r, p, e))) deliv[nd++] = e->t1 - s->t0;
            if (e->type == PP_EV_COMPUTE) {
                over[no++] = e->t1 - e->t0 - pp_cost_s(&o->costs, (pp_kind)e->kind, e->stage, NULL);
                if (ready >= 0) late[nl++] = e->t0 - ready;
            }
            ready = e->type == PP_EV_SEND ? e->t0 : e->t1;
        }
    }
    explained x;
    x.delivery = median(deliv, nd);
    x.late = median(late, nl);
    x.overrun = median(over, no);
    x.replayed = replay(r, x.delivery);
    x.woke = woke_median(r, s, &o->costs);
    free(deliv);
    free(late);
    free(over);
    return x;
}

/* The bubble of a run whose makespan were `makespan`. */
static double bubble_at(const pp_run *r, double makespan)
{
    double busy = 0;
    for (int p = 0; p < r->nrows; p++) busy += r->busy[p];
    return 1 - busy / (r->nrows * makespan);
}

/* Rank 0: are the step's timings its own?  Prints why not when `say`. */
static int timings_hold(const pp_run *run, const pp_sched *s, const pp_exec_opts *o, int P, int M, int say)
{
    explained x = explain(run, s, o);
    double formula = 100 * pp_theory_bubble_step(s->family, P, M, s->chunks), measured = 100 * pp_run_bubble_step(run);
    double replayed = 100 * bubble_at(run, x.replayed), lost = measured - replayed, tick = o->costs.tick_s;
    double woke_allowed = x.delivery + LATE_TICKS * tick;   /* as soon as any other message, and some */
    int ok = lost <= LOST_POINTS && x.late <= LATE_TICKS * tick && x.overrun <= LATE_TICKS * tick &&
             x.woke <= woke_allowed;
    if (ok || say) {
        printf("# %s P=%d M=%d: bubble measured %.2f %% = formula %.2f %% %+.2f points explained by this run's compute "
               "times and message deliveries (median %.0f us) %+.2f points lost between actions\n",
               s->name, P, M, measured, formula, replayed - formula, x.delivery * 1e6, lost);
        CHECK(lost <= LOST_POINTS, "%s P=%d M=%d: the bubble is what the run's own compute times and deliveries explain "
              "(%.2f %% measured, %.2f %% replayed: %+.2f points lost, allowed %.1f)", s->name, P, M, measured, replayed,
              lost, LOST_POINTS);
        CHECK(x.late <= LATE_TICKS * tick, "%s P=%d M=%d: a compute starts when its rank is ready (median %.1f us after "
              "the previous action, allowed %.0f us)", s->name, P, M, x.late * 1e6, LATE_TICKS * tick * 1e6);
        CHECK(x.overrun <= LATE_TICKS * tick, "%s P=%d M=%d: a compute lasts its ticks (median %.1f us over, allowed "
              "%.0f us)", s->name, P, M, x.overrun * 1e6, LATE_TICKS * tick * 1e6);
        CHECK(x.woke <= woke_allowed, "%s P=%d M=%d: a rank asleep until shortly before its message can come "
              "sees it as soon as any other (median %.1f us from its send, all messages waited for %.1f us, allowed "
              "%.0f us)", s->name, P, M, x.woke * 1e6, x.delivery * 1e6, woke_allowed * 1e6);
    } else {
        printf("# %s P=%d M=%d: %+.2f points lost between actions, computes %.1f us late and %.1f us over, messages "
               "seen %.1f us after the earliest send (medians): once more\n", s->name, P, M, lost, x.late * 1e6,
               x.overrun * 1e6, x.woke * 1e6);
    }
    return ok;
}

/* ---- sends held until their bytes are ready (GPU ranks' copy out) ---- */

/* A stand-in for real compute whose every message needs HOLD_S after the
 * send action to be ready, as a GPU's copy to host memory would: the
 * executor must hold each send, go on, and post it once ready says so. */
enum { MAX_ACTS = 256 };
static const double HOLD_S = 3e-3;
typedef struct {
    float buf[MAX_ACTS][4];   /* per action of this rank's list: its message */
    const pp_sched *lo;
    int me;
    double asked[MAX_ACTS];   /* when ready was first asked about a send (0: not yet) */
    int never;                /* the send whose bytes are never ready (copy-hang), or -1 */
} held_work;

static int index_of(const held_work *h, pp_action a)
{
    for (int i = 0; i < h->lo->len[h->me]; i++) {
        pp_action b = h->lo->acts[h->me][i];
        if (b.kind == a.kind && b.stage == a.stage && b.mb == a.mb) return i;
    }
    return 0;
}

static void *held_buffer(void *ctx, pp_action a, size_t *bytes)
{
    held_work *h = ctx;
    *bytes = sizeof h->buf[0];
    return h->buf[index_of(h, a)];
}

static pp_status held_compute(void *ctx, pp_step *st, pp_action a)
{
    (void)ctx, (void)a;
    pp_sleep_until(pp_now() + 1e-3);
    return pp_step_progress(st);
}

/* core-hang: the last rank never comes back from its forward of
 * micro-batch 1 (stuck inside it, no progress), holding its core. */
static pp_status stuck_compute(void *ctx, pp_step *st, pp_action a)
{
    held_work *h = ctx;
    if (h->me == h->lo->nranks - 1 && a.kind == PP_F && a.mb == 1)
        for (;;) pp_sleep_until(pp_now() + 0.05);
    return held_compute(ctx, st, a);
}

static int held_ready(void *ctx, pp_action a)
{
    held_work *h = ctx;
    int i = index_of(h, a);
    if (h->asked[i] == 0) h->asked[i] = pp_now();
    return i != h->never && pp_now() - h->asked[i] >= HOLD_S;
}

/* Builder `name`'s schedule for g's pipeline with M micro-batches, lowered
 * (the built one in *built, for the caller to free); the job is aborted if
 * it cannot be, or if this rank's list is longer than MAX_ACTS. */
static pp_sched *lowered(const pp_grid *g, const char *name, int M, pp_sched **built)
{
    pp_sched *s = NULL;
    pp_check c;
    if (pp_sched_build(name, g->P, M, 0, built, NULL, 0) != PP_OK || pp_sched_validate(*built, &s, &c) != PP_OK ||
        s->len[g->pipe_rank] > MAX_ACTS)
        MPI_Abort(MPI_COMM_WORLD, 1);
    return s;
}

static void held_sends(pp_grid *g)
{
    pp_sched *built = NULL, *s = lowered(g, "1f1b", 4, &built);
    held_work *h = calloc(1, sizeof *h);
    h->lo = s, h->me = g->pipe_rank, h->never = -1;
    pp_work w = {h, held_buffer, held_compute, NULL, held_ready};
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.work = &w;
    pp_run *run = NULL;
    pp_status st = pp_exec_step(g, s, &o, &run);
    if (g->rank == 0) {
        int sends = 0, late = 0;
        for (int r = 0; st == PP_OK && r < run->nrows; r++)
            for (int i = 0; i < run->ranks[r].n; i++) {
                pp_event e = run->ranks[r].ev[i];
                if (e.type != PP_EV_SEND) continue;
                sends++;
                late += e.t1 >= e.t0 + HOLD_S;
            }
        CHECK(st == PP_OK && sends > 0 && late == sends,
              "1f1b P=%d M=4 with every send held %.0f ms for its bytes: the step ends, and all %d sends left after "
              "their bytes were ready (%d)", g->P, HOLD_S * 1e3, sends, late);
    }
    pp_run_free(run);
    pp_sched_free(built), pp_sched_free(s);
    free(h);
}

/* ---- doorbells: a waiting rank sleeps until its sender rings ---- */

/* Real compute's stand-in for the bells: rank 0's first forward takes
 * LONG_S (asleep, as a long multiply would keep the core), every other
 * compute 1 ms; real compute has no bound on when a message can come, so
 * the ranks after it wait the whole time on their bells. */
static const double LONG_S = 0.5;
/* Its messages are `size` bytes each: a large one moves in pieces, and
 * once it is on its way, only while both sides call MPI. */
typedef struct {
    held_work h;     /* its list and rank */
    size_t size;
    char *bytes;     /* [len][size] */
} bell_work;

static void *bell_buffer(void *ctx, pp_action a, size_t *bytes)
{
    bell_work *b = ctx;
    *bytes = b->size;
    return b->bytes + (size_t)index_of(&b->h, a) * b->size;
}

static pp_status long_compute(void *ctx, pp_step *st, pp_action a)
{
    bell_work *b = ctx;
    pp_sleep_until(pp_now() + (b->h.me == 0 && a.kind == PP_F && a.mb == 0 ? LONG_S : 1e-3));
    return pp_step_progress(st);
}

/* Voluntary context switches of this process so far: one per sleep. */
static long switches(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_nvcsw;
}

/* GPipe, M = 1, every rank on this machine, more ranks than cores, with
 * messages of `size` bytes: each wait ends within `limit` seconds of its
 * send (its bell, then tests until the message is all there), and a rank
 * that waited half a second slept through it instead of waking every few
 * microseconds to look. */
static void bells(pp_grid *g, size_t size, double limit)
{
    pp_sched *built = NULL, *s = lowered(g, "gpipe", 1, &built);
    under_test = s;
    bell_work *h = calloc(1, sizeof *h);
    if (!h || !(h->bytes = calloc((size_t)s->len[g->pipe_rank], size))) MPI_Abort(MPI_COMM_WORLD, 1);
    h->h.lo = s, h->h.me = g->pipe_rank, h->h.never = -1, h->size = size;
    pp_work w = {h, bell_buffer, long_compute, NULL, NULL};
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.work = &w;
    for (int attempt = 0, again = 1; again; attempt++) {   /* a busy machine may hold a wake-up once */
        pp_run *run = NULL;
        long before = switches();
        pp_status st = pp_exec_step(g, s, &o, &run);
        long mine = switches() - before, *all = calloc((size_t)g->size, sizeof *all);
        MPI_Gather(&mine, 1, MPI_LONG, all, 1, MPI_LONG, 0, MPI_COMM_WORLD);
        if (g->rank == 0) {
            double d[64], rate = 0;
            int n = 0;
            for (int r = 0; st == PP_OK && r < run->nrows; r++) {
                double waited = 0;
                for (int k = 0; k < run->ranks[r].n; k++) {
                    const pp_event *e = &run->ranks[r].ev[k], *snd = send_of(run, r, e);
                    if (e->type != PP_EV_WAIT) continue;
                    waited += e->t1 - e->t0;
                    if (snd && snd->t0 > e->t0 && n < 64) d[n++] = e->t1 - snd->t0;
                }
                if (waited > LONG_S / 2 && all[r] / waited > rate) rate = all[r] / waited;
            }
            double med = median(d, n);
            again = st == PP_OK && (med > limit || rate > 2000) && attempt < 1;
            if (!again)
                CHECK(st == PP_OK && n >= g->P - 1 && med <= limit && rate > 0 && rate <= 2000,
                      "gpipe P=%d M=1, real compute with a %.0f ms forward on rank 0: a waiting rank sees its %zu KiB "
                      "message %.0f us after its send (%s of %d; at most %.0f ms: its bell rang), and slept through "
                      "the wait (%.0f wake-ups a second at most, setting up included; at most 2000)",
                      g->P, LONG_S * 1e3, size / 1024, med * 1e6, n == 2 ? "the slower" : "the median", n,
                      limit * 1e3, rate);
        }
        MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
        free(all);
        pp_run_free(run);
    }
    pp_sched_free(built), pp_sched_free(s);
    free(h->bytes), free(h);
}

/* ---- the cores in turn: more ranks than cores, real computes ---- */

/* Real compute's stand-in that keeps its core busy: every compute spins
 * for SPIN_S, reading the clock: longer than the system's time slice (a
 * few ms), so that left to the system two ranks' computes overlap. */
static const double SPIN_S = 5e-3;
/* A rank woken for its core starts within this of its release. */
static const double HANDOFF_MAX_S = 1.5e-3;
static pp_status spin_compute(void *ctx, pp_step *st, pp_action a)
{
    (void)ctx, (void)a;
    for (double t0 = pp_now(); pp_now() - t0 < SPIN_S;) continue;
    return pp_step_progress(st);
}

/* The most computes of run r under way at one moment (each trimmed by 20 us
 * at both ends: the ranks' clocks are estimated to a few microseconds). */
static int most_at_once(const pp_run *r)
{
    int most = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int k = 0; k < r->ranks[p].n; k++) {
            const pp_event *e = &r->ranks[p].ev[k];
            if (e->type != PP_EV_COMPUTE) continue;
            double at = e->t0 + 20e-6;   /* those under way just after e began */
            int n = 0;
            for (int q = 0; q < r->nrows; q++)
                for (int j = 0; j < r->ranks[q].n; j++) {
                    const pp_event *f = &r->ranks[q].ev[j];
                    n += f->type == PP_EV_COMPUTE && f->t0 + 20e-6 <= at && at < f->t1 - 20e-6;
                }
            if (n > most) most = n;
        }
    return most;
}

/* The gate alone, on one core: rank 0 takes it, rank 1 asks after it and
 * sleeps for up to a second; rank 0 gives the core back 20 ms later and
 * sleeps, and rank 1 wakes within HANDOFF_MAX_S of the give (rung, not
 * timed out). */
static void gate_wakes(pp_grid *g)
{
    if (g->cores != 1 || g->size < 2) return;
    for (int attempt = 0, again = 1; again; attempt++) {   /* a busy machine may hold a wake-up once */
        unsigned long long k = 0;
        double given = 0, woke = 0;
        if (g->rank == 0) k = pp_core_ask(g->wd);
        MPI_Barrier(MPI_COMM_WORLD);
        int free_at_once = 0;
        if (g->rank == 1) k = pp_core_ask(g->wd), free_at_once = pp_core_mine(g->wd, k);
        MPI_Barrier(MPI_COMM_WORLD);
        again = 0;
        if (g->rank == 0) {
            pp_sleep_until(pp_now() + 0.02);
            given = pp_now();
            pp_core_give(g->wd);
            pp_sleep_until(pp_now() + 0.02);   /* off the core, as a rank waiting for its next message */
            MPI_Send(&given, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD);
        } else if (g->rank == 1) {
            for (double until = pp_now() + 1.0; !pp_core_mine(g->wd, k) && pp_now() < until;)
                pp_core_wait(g->wd, until);
            woke = pp_now();
            int mine = pp_core_mine(g->wd, k);
            if (mine) pp_core_give(g->wd);
            MPI_Recv(&given, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            int ok = !free_at_once && mine && woke - given < HANDOFF_MAX_S;
            again = !ok && mine && attempt < 1;
            if (!again)
                CHECK(ok, "one core, the gate alone: rank 1 asks after rank 0 holds the core, waits, and is woken "
                      "%.0f us after rank 0 gives it back (at most %.0f us; unwoken it would sleep a second)",
                      (woke - given) * 1e6, HANDOFF_MAX_S * 1e6);
        }
        MPI_Bcast(&again, 1, MPI_INT, 1, MPI_COMM_WORLD);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* GPipe, M = 8, every rank on this machine, more ranks than cores, each
 * compute spinning on its core: no more computes run at once than the
 * machine has cores, and a compute that waited for its core began soon
 * after one was freed (the gate's handoffs, counted in the run).  Left to
 * the operating system (cores_in_turn 0), more run at once, each slowed. */
static void cores_in_turn(pp_grid *g)
{
    pp_sched *built = NULL, *s = lowered(g, "gpipe", 8, &built);
    under_test = s;
    bell_work *h = calloc(1, sizeof *h);
    if (!h || !(h->bytes = calloc((size_t)s->len[g->pipe_rank], 4096))) MPI_Abort(MPI_COMM_WORLD, 1);
    h->h.lo = s, h->h.me = g->pipe_rank, h->h.never = -1, h->size = 4096;
    pp_work w = {h, bell_buffer, spin_compute, NULL, NULL};
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.work = &w;
    int most[2] = {0, 0};
    for (int turn = 1, attempt = 0, attempt0 = 0; turn >= 0; turn--) {
        o.cores_in_turn = turn;
        pp_run *run = NULL;
        pp_status st = pp_exec_step(g, s, &o, &run);
        if (g->rank == 0 && st == PP_OK) most[turn] = most_at_once(run);
        int again = 0;   /* a busy machine may hold a wake-up once */
        if (g->rank == 0 && turn == 1) {
            int ok = st == PP_OK && most[1] >= 1 && most[1] <= g->cores && run->handoffs > 0 && run->handoff_s > 0 &&
                     run->handoff_s < 0.02;
            again = !ok && attempt++ < 1;
            if (!again)
                CHECK(ok, "gpipe P=%d M=8 on %d core%s, real computes spinning %.0f ms each: at most %d at once (%d), "
                      "and %d waited for a core, each beginning on the mean %.0f us after it was freed (at most 20 ms)",
                      g->P, g->cores, g->cores == 1 ? "" : "s", SPIN_S * 1e3, g->cores, most[1],
                      st == PP_OK ? run->handoffs : 0, st == PP_OK ? run->handoff_s * 1e6 : 0.0);
            pp_idle x = {0};   /* the waits for a core are a part of their own, and the replay still exact */
            int parts = !again && st == PP_OK && pp_idle_breakdown(s, &o.costs, run, &x) == PP_OK && x.ok;
            if (!again)
                CHECK(parts && run->cores == g->cores && x.part[PP_PART_CORES] > 0 &&
                          fabs(parts_sum(&x) - x.measured) < 1e-12 && fabs(x.replayed - run->makespan) < 1e-9,
                      "the same step taken apart: its %d core%s known to the run (%d), the waits for them %+.2f points "
                      "(cores), the parts add up to the measured %.2f %% and the last replay rebuilds the makespan",
                      g->cores, g->cores == 1 ? "" : "s", st == PP_OK ? run->cores : -1, 100 * x.part[PP_PART_CORES],
                      100 * x.measured);
        }
        /* left to it, the system may let each compute run to its end in a
           step (a rank woken mid-compute waits for the end of the running
           one's time slice, longer than a compute here): a step or two more */
        if (g->rank == 0 && turn == 0) again = !(st == PP_OK && most[0] > g->cores) && attempt0++ < 2;
        MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
        turn += again;
        if (g->rank == 0 && turn == 0)
            CHECK(st == PP_OK && most[0] > g->cores && run->handoffs == 0,
                  "the same with the cores left to the operating system: %d computes at once (more than %d), none "
                  "counted as waiting for a core", most[0], g->cores);
        pp_run_free(run);
    }
    pp_sched_free(built), pp_sched_free(s);
    free(h->bytes), free(h);
}

/* ---- a device that never finishes a compute (device-hang) ---- */

/* Runs each compute at once, except the third of rank `stuck`, which it
 * never reports finished: the rank keeps polling it, and moving messages. */
typedef struct {
    int me, stuck, computes;
    double began;
} hung_device;

static void hung_step(void *ctx) { (void)ctx; }
static void hung_occupy(void *ctx, double seconds) { (void)ctx, (void)seconds; }

static void hung_begin(void *ctx)
{
    hung_device *d = ctx;
    d->computes++;
    d->began = pp_now();
}

static int hung_end(void *ctx, double *t0, double *t1)
{
    hung_device *d = ctx;
    if (d->me == d->stuck && d->computes == 3) return 1;
    *t0 = d->began, *t1 = pp_now();
    return 0;
}

/* ---- a device whose clock is tied to the host's off by `off` seconds ---- */

/* Each compute runs as long as its ticks on the host, and is reported that
 * long, `off` late (a device clock ahead of the host's) or early (behind):
 * the executor keeps every compute's length. */
typedef struct {
    double off, began, length;
} offset_device;

static void offset_begin(void *ctx)
{
    offset_device *d = ctx;
    d->began = pp_now();
}

static void offset_occupy(void *ctx, double seconds)
{
    ((offset_device *)ctx)->length = seconds;
}

static int offset_end(void *ctx, double *t0, double *t1)
{
    offset_device *d = ctx;
    if (pp_now() < d->began + d->length) return 1;
    *t0 = d->began + d->off, *t1 = d->began + d->length + d->off;
    return 0;
}

static void device_clock(pp_grid *g)
{
    pp_sched *built = NULL, *s = lowered(g, "1f1b", 4, &built);
    for (int late = 0; late < 2; late++) {
        offset_device d = {late ? 1e-3 : -1e-3, 0, 0};
        pp_device dev = {&d, hung_step, offset_begin, offset_occupy, offset_end};
        pp_exec_opts o;
        pp_exec_opts_default(&o);
        o.costs.tick_s = 2e-3;
        o.device = &dev;
        pp_run *run = NULL;
        pp_status st = pp_exec_step(g, s, &o, &run);
        if (g->rank == 0) {
            int n = 0, kept = 1, order = 1;
            for (int r = 0; st == PP_OK && r < run->nrows; r++) {
                double end = 0;
                for (int i = 0; i < run->ranks[r].n; i++) {
                    pp_event e = run->ranks[r].ev[i];
                    if (e.type != PP_EV_COMPUTE) continue;
                    n++;
                    kept &= fabs(e.t1 - e.t0 - pp_cost_s(&o.costs, e.kind, e.stage, NULL)) < 1e-9;
                    order &= e.t0 >= end - 1e-9;
                    end = e.t1;
                }
            }
            CHECK(st == PP_OK && n > 0 && kept && order, "P=%d: a device whose clock runs 1 ms %s the host's: its %d "
                  "computes keep their lengths, in order", g->size, late ? "ahead of" : "behind", n);
        }
        pp_run_free(run);
    }
    pp_sched_free(built), pp_sched_free(s);
}

/* A step that never ends (`how`: device-hang, copy-hang, copy-stall or
 * core-hang, as at the top): only the watchdog stops it. */
static void hang(pp_grid *g, double tick_ms, const char *how)
{
    int copy = strcmp(how, "device-hang") != 0, stall = strcmp(how, "copy-stall") == 0;
    int core = strcmp(how, "core-hang") == 0;
    pp_sched *built = NULL, *s = lowered(g, "1f1b", 4, &built);
    hung_device d = {g->rank, g->size - 1, 0, 0};
    pp_device dev = {&d, hung_step, hung_begin, hung_occupy, hung_end};
    held_work *h = calloc(1, sizeof *h);
    if (!h) MPI_Abort(MPI_COMM_WORLD, 1);
    h->lo = s, h->me = g->pipe_rank, h->never = -1;
    for (int i = 0; !core && g->rank == g->size - 1 && i < s->len[h->me]; i++)   /* the last rank's last send (or of mb 1) */
        if (s->acts[h->me][i].kind == PP_SEND_B && (!stall || s->acts[h->me][i].mb == 1)) h->never = i;
    pp_work w = {h, held_buffer, core ? stuck_compute : held_compute, NULL, core ? NULL : held_ready};
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.costs.tick_s = tick_ms * 1e-3;
    if (copy) o.work = &w;
    else o.device = &dev;
    if (stall) o.fault = (pp_fault){PP_FAULT_STALL, g->size - 1, 0};   /* in its first compute of mb M/2 = 2 */
    o.watchdog_s = 1.0;
    pp_run *run = NULL;
    pp_status st = pp_exec_step(g, s, &o, &run);
    if (st != PP_EHANG) {   /* every rank says so: the step should not have ended this way */
        printf("not ok - rank %d: a step that never ends (%s) ended with '%s', not the watchdog's stop\n", g->rank,
               how, pp_strerror(st));
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (g->rank == 0) {
        const char *report = pp_hang_report(g);
        pp_hang_answer(g);
        fprintf(stderr, "test_mpi: %s", report);
        fflush(stderr);
        pp_sleep_until(pp_now() + 0.3);   /* for mpiexec to pass the report on */
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    for (;;) pp_sleep_until(pp_now() + 0.05);   /* rank 0 ends the job */
}

/* A delay put into a real step lands in its own part: a send held late in
 * messages, a compute that ran three times as long in overrun, a stage
 * twice as slow as the others in imbalance (1F1B, M = 8, faults on rank 1). */
static void delays(pp_grid *g)
{
    int P = g->size, M = 8;
    pp_sched *built = NULL, *s = NULL;
    pp_check c;
    pp_sched_build("1f1b", P, M, 0, &built, NULL, 0);
    if (!built || pp_sched_validate(built, &s, &c) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    pp_sched_free(built);
    double scale[64];
    for (int i = 0; i < 64; i++) scale[i] = i == 1 ? 2.0 : 1.0;
    struct { const char *what; pp_fault_kind fault; int slow_stage; pp_part part; } cases[] = {
        {"rank 1 holds one send (--fault late:1)", PP_FAULT_LATE, 0, PP_PART_MESSAGES},
        {"one compute of rank 1 runs 3 times as long (--fault slow:1)", PP_FAULT_SLOW, 0, PP_PART_OVERRUN},
        {"stage 1 costs twice the others", PP_FAULT_NONE, 1, PP_PART_IMBALANCE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pp_exec_opts o;
        pp_exec_opts_default(&o);   /* 10 ms ticks: the delay put in outweighs a busy machine's own */
        o.fault = (pp_fault){.kind = cases[k].fault, .rank = 1, .action = -1};
        o.costs.stage_scale = cases[k].slow_stage ? scale : NULL;
        pp_idle x = {0};
        int ok = 0, top = 0;
        double excess = 0;
        /* up to three steps, as the timings above: the first that lands the delay in its part */
        for (int attempt = 0, again = 1; again; attempt++) {
            pp_run *run = NULL;
            pp_status st = pp_exec_step(g, s, &o, &run);
            if (g->rank == 0) {
                ok = st == PP_OK && pp_idle_breakdown(s, &o.costs, run, &x) == PP_OK && x.ok, top = 1;
                excess = ok ? x.measured - x.formula : 0;
                for (int p = 1; ok && p < PP_NPARTS; p++) top &= p == (int)cases[k].part || x.part[p] < x.part[cases[k].part];
                ok = ok && top && x.part[cases[k].part] > 0.5 * excess && excess > 0.01;
            }
            again = !ok && attempt < 2 && st == PP_OK;
            pp_run_free(run);
            MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
        }
        if (g->rank != 0) continue;
        CHECK(ok, "1f1b P=%d M=%d, %s: the %s part is the largest, %+.2f of the %+.2f points over the formula "
              "(overrun %+.2f, late starts %+.2f, messages %+.2f, cores %+.2f, kit %+.2f)", P, M, cases[k].what,
              pp_part_name(cases[k].part), 100 * x.part[cases[k].part], 100 * excess, 100 * x.part[PP_PART_OVERRUN],
              100 * x.part[PP_PART_LATE], 100 * x.part[PP_PART_MESSAGES], 100 * x.part[PP_PART_CORES],
              100 * x.part[PP_PART_REACTION]);
    }
    pp_sched_free(s);
}

/* The probe (probe.c): every rank gets the same figures, a message takes
 * some time and not forever, it takes well under a second, and the costs it
 * gives predict at least the ideal machine's bubble (and exactly that with
 * nothing added). */
static void probe(pp_grid *g)
{
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    pp_machine m;
    double t0 = pp_now();
    pp_status st = pp_probe_machine(g, &o, &m);
    double took = pp_now() - t0, mine[2] = {m.overshoot_s, m.delivery_s}, lo[2], hi[2];
    MPI_Allreduce(mine, lo, 2, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(mine, hi, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    /* real compute: with more ranks than cores the ranks take the cores in
       turn (the gate), or, left to the operating system, the probe measures
       how long a rank keeps a core */
    pp_work real = {0};
    pp_machine mr, mg;
    o.work = &real;
    pp_status st_g = pp_probe_machine(g, &o, &mg);
    o.cores_in_turn = 0;
    pp_status st_r = pp_probe_machine(g, &o, &mr);
    o.work = NULL, o.cores_in_turn = 1;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (g->rank != 0) {
        pp_machine_free(&m), pp_machine_free(&mr), pp_machine_free(&mg);
        return;
    }
    int one = m.ranks == g->size && m.cores[0] >= 1 && m.cores[0] <= online, cores = 0;
    for (int r = 0; r < m.ranks; r++) one &= m.machine[r] == 0;
    int sharing = pp_machine_sharing(&mr, 0, &cores), crowded = sharing > cores;
    CHECK(st == PP_OK && one && m.turn_s == 0,
          "P=%d: the probe finds every rank on one machine with %d of its %ld cores to run on (timed: no turn measured)",
          g->size, m.ranks ? m.cores[0] : 0, online);
    CHECK(st_r == PP_OK && sharing == g->size && !mr.gated &&
              (crowded ? mr.turn_s > 1e-4 && mr.turn_s < 0.02 : mr.turn_s == 0),
          "P=%d on %d core%s, real compute, the cores left to the operating system: %s (%.2f ms)", g->size, cores,
          cores == 1 ? "" : "s", crowded ? "a rank keeps a core for a turn between 0.1 and 20 ms, measured" :
          "no turns to measure", mr.turn_s * 1e3);
    CHECK(st_g == PP_OK && mg.gated == crowded && mg.turn_s == 0,
          "P=%d on %d core%s, real compute: %s", g->size, cores, cores == 1 ? "" : "s",
          crowded ? "the ranks take the cores in turn, whole computes (no turn to measure)" : "no turns to take");
    CHECK(st == PP_OK && lo[0] == hi[0] && lo[1] == hi[1] && m.overshoot_s >= 0 && m.delivery_s > 0 &&
              m.delivery_s < 0.05 && took < 1.0 && m.payload == (long)o.payload,
          "P=%d: the probe step took %.0f ms; every rank has its figures: computes %.0f us past their cost, a 64 KiB "
          "message %.0f us", g->size, took * 1e3, m.overshoot_s * 1e6, m.delivery_s * 1e6);
    pp_sched *built = NULL, *lo_s = NULL;
    pp_check c;
    pp_run *ideal = NULL, *here = NULL, *none = NULL;
    pp_costs with, without;
    pp_machine zero = {0};
    pp_sched_build("1f1b", g->size, 8, 0, &built, NULL, 0);
    int ok = built && pp_sched_validate(built, &lo_s, &c) == PP_OK;
    pp_costs_here(&o.costs, &m, lo_s, 1, &with);
    pp_costs_here(&o.costs, &zero, lo_s, 1, &without);
    ok = ok && pp_simulate(lo_s, &o.costs, &ideal) == PP_OK && pp_simulate(lo_s, &with, &here) == PP_OK &&
         pp_simulate(lo_s, &without, &none) == PP_OK;
    CHECK(ok && pp_run_bubble_step(here) > pp_run_bubble_step(ideal) && pp_run_bubble_step(none) == pp_run_bubble_step(ideal),
          "P=%d, 1f1b M=8: predicted here %.2f %% against %.2f %% on an ideal machine (the same with nothing added)",
          g->size, ok ? 100 * pp_run_bubble_step(here) : 0.0, ok ? 100 * pp_run_bubble_step(ideal) : 0.0);
    /* real compute: the costs take the machines, cores and turn (in ticks);
       timed, none of them (a sleeping compute takes no core) */
    pp_costs real_c, timed_c;
    pp_costs_here(&o.costs, &mr, lo_s, 0, &real_c);
    pp_costs_here(&o.costs, &mr, lo_s, 1, &timed_c);
    CHECK(ok && real_c.machine == mr.machine && real_c.cores == mr.cores &&
              fabs(real_c.turn * o.costs.tick_s - mr.turn_s) < 1e-12 && !timed_c.machine && timed_c.turn == 0,
          "P=%d: the prediction for real compute has the ranks take the cores in turns of %.2f ms (%.4g ticks of "
          "%.0f ms); a timed one leaves the cores out", g->size, mr.turn_s * 1e3, real_c.turn, o.costs.tick_s * 1e3);
    pp_run_free(ideal), pp_run_free(here), pp_run_free(none);
    pp_sched_free(built), pp_sched_free(lo_s);
    pp_machine_free(&m), pp_machine_free(&mr), pp_machine_free(&mg);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    double tick_ms = argc > 1 ? atof(argv[1]) : 4.0;
    int skew = argc > 2 && strcmp(argv[2], "skew") == 0;
    int hangs = argc > 2 && (strcmp(argv[2], "device-hang") == 0 || strcmp(argv[2], "copy-hang") == 0 ||
                             strcmp(argv[2], "core-hang") == 0 ||
                             strcmp(argv[2], "copy-stall") == 0);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    /* Odd ranks behind, even ranks ahead, by up to hours. */
    double injected = skew ? (rank % 2 ? -1.0 : 1.0) * 3600.0 * rank : 0.0;
    pp_clock_inject_offset(injected);

    pp_grid *g;
    if (pp_grid_new(MPI_COMM_WORLD, &g) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (hangs) hang(g, tick_ms, argv[2]);
    int here = 0;
    MPI_Comm_size(g->node, &here);
    int crowded = here > g->cores;   /* more ranks than cores: waiting ranks sleep on their bells */
    if (argc > 2 && strcmp(argv[2], "bells") == 0) {   /* run under taskset -c 0: one core for all */
        if (rank == 0)
            CHECK(crowded, "P=%d on %d core%s: the machine is crowded, so the bells ring", P, g->cores,
                  g->cores == 1 ? "" : "s");
        if (crowded) bells(g, 4096, 1e-3), bells(g, 1 << 20, 3e-3), gate_wakes(g), cores_in_turn(g), probe(g);
        pp_grid_free(g);
        MPI_Finalize();
        return check_failed ? 1 : 0;
    }
    double err = fabs(g->clock_offset - injected), worst = 0;
    MPI_Reduce(&err, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    double *rtt = malloc((size_t)P * sizeof *rtt);
    if (!rtt) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Gather(&g->clock_rtt, 1, MPI_DOUBLE, rtt, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0 && skew)
        CHECK(worst < 1e-3, "P=%d: injected clock offsets of up to %.0f s are estimated to within %.1f us",
              P, 3600.0 * (P - 1), worst * 1e6);

    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.costs.tick_s = tick_ms * 1e-3;
    const char *names[] = {"naive", "gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    int Ms[] = {1, 4, 8, 16};
    double scale[64];
    for (int b = 0; b < 6; b++)
        for (int k = 0; k < 4; k++) {
            if (skew && (b != 2 || Ms[k] != 8)) continue; /* one run shows the skew is gone */
            int M = b == 3 ? P << k : Ms[k];   /* interleaved: M from P up, where its formula holds */
            if (b == 3 && (k > 2 || M > 16)) continue;
            pp_sched *built, *s = NULL;
            pp_run *run = NULL;
            pp_check c;
            pp_sched_build(names[b], P, M, 0, &built, NULL, 0);
            if (!built || pp_sched_validate(built, &s, &c) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
            pp_sched_free(built);
            under_test = s;
            for (int i = 0; i < 64; i++) scale[i] = 1.0 / s->chunks;   /* a rank's share split among its chunks */
            o.costs.stage_scale = s->chunks > 1 ? scale : NULL;
            /* Another step only if the one before lost time, at most three
             * (every rank runs it: rank 0 says): a busy machine can steal
             * a step's time twice running. */
            pp_status st = PP_OK;
            for (int attempt = 0, again = 1; again && st == PP_OK; attempt++) {
                pp_run_free(run);
                run = NULL;
                st = pp_exec_step(g, s, &o, &run);
                int last = attempt == 2;
                again = rank == 0 && st == PP_OK && !timings_hold(run, s, &o, P, M, last) && !last;
                MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
            }
            if (rank == 0) {
                CHECK(st == PP_OK, "%s P=%d M=%d finishes", names[b], P, M);
                if (st != PP_OK) continue;
                int peaks = 1, bytes = 1;
                for (int r = 0; r < P; r++) {
                    peaks &= run->peak_inflight[r] == pp_theory_peak_inflight(s->family, P, M, s->chunks, r);
                    long sends = 0;   /* one message per send in its list */
                    for (int i = 0; i < s->len[r]; i++) sends += s->acts[r][i].kind == PP_SEND_F || s->acts[r][i].kind == PP_SEND_B;
                    bytes &= run->bytes_sent[r] == sends * (long)o.payload;
                }
                CHECK(peaks, "%s P=%d M=%d: peak chunks held per rank equal the formula %s", names[b], P, M,
                      pp_theory_peak_text(s->family));
                CHECK(bytes, "%s P=%d M=%d: every rank sent one message of %zu bytes per send in its list", names[b],
                      P, M, o.payload);
                CHECK(causal(run, rtt, 100e-6), "%s P=%d M=%d: every message arrives after it is sent, on rank 0's clock",
                      names[b], P, M);
                int before = 0;
                CHECK(came_known(run, rtt, 100e-6, &before), "%s P=%d M=%d: every receive says whether its message had "
                      "come when its rank got there (%d had), and none had before it was sent", names[b], P, M, before);
                CHECK(never_early(run, s, &o.costs, rtt, 100e-6), "%s P=%d M=%d: no message is sent before the replay "
                      "says it can come (a waiting rank sleeps until shortly before)", names[b], P, M);
                pp_idle x;
                CHECK(pp_idle_breakdown(s, &o.costs, run, &x) == PP_OK && x.ok && fabs(parts_sum(&x) - x.measured) < 1e-12 &&
                          fabs(x.replayed - run->makespan) < 1e-9,
                      "%s P=%d M=%d: the bubble's parts add up to the measured %.2f %%, and the last replay rebuilds "
                      "the makespan (%.3f ms)", names[b], P, M, 100 * x.measured, run->makespan * 1e3);
            }
            pp_run_free(run);
            pp_sched_free(s);
        }
    if (!skew && P > 1) held_sends(g);
    if (!skew && P > 1 && P <= 4) delays(g);
    if (!skew && P > 1) probe(g);   /* at P = 8 one late send is lost in the noise */
    if (!skew && P > 1) device_clock(g);
    free(rtt);
    pp_grid_free(g);
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
