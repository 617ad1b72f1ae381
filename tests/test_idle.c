/* test_idle.c -- the measured bubble taken apart (core/idle.c), on steps
 * whose delays are known because this file made them: a small timeline
 * maker of its own (passes over every rank until no time changes, unlike
 * the replay it checks) puts in a late start, the kit's own gaps, waits for
 * a core, a slowed compute, a slow stage or a late message, and each must come back whole in
 * its own part and nowhere else; on the kit's own schedules, and on orders
 * none of its builders made (random valid schedules, PyTorch's LoopedBFS,
 * interleaved and ZBV orders).  Runs as one process.
 */
#include "pp.h"
#include "pp_build.h"
#include "pp_idle.h"
#include "core.h"
#include "check.h"
#include "pytorch_orders.h"
#include "random_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What the made step adds to the nominal one. */
typedef struct {
    double start[8];     /* when each rank's first action begins (s) */
    double gap;          /* before every compute but a rank's first (s) */
    double core;         /* then a wait for a core before each of those computes (s, in its event) */
    int slow_rank, slow_mb;      /* this rank's first forward of this mb runs slow_by longer */
    double slow_by;
    int late_stage, late_mb;     /* the forward message this stage sends for this mb comes late_by late */
    double late_by;
    int held;            /* ... because its send's event begins late_by late (the send made then, the
                            rank going on); else it was on its way that much longer */
    double latency;      /* every message's delivery (s) */
    double found;        /* a receive whose message is there already takes this long (the kit's own, s) */
    int tell;            /* each receive says whether its message had come (pp_event.came), as the
                            executor's do; else it is not known, as in a made-up run */
} knobs;

/* The time a message's maker ended: [dir][stage x mb], -1 not yet. */
static double *made_of(double *made, const pp_sched *lo, pp_action a)
{
    int back = a.kind == PP_RECV_B;
    return &made[back * lo->nstages * lo->nmb + pp_sm(lo, back ? a.stage + 1 : a.stage - 1, a.mb)];
}

/* One pass: every rank plays its list with what `made` knew of the others'
 * messages, writing what it makes to `next` (and its events to run, if
 * not NULL).  Returns 0 if a rank got to a message not made yet. */
static int play(const pp_sched *lo, const pp_costs *c, const knobs *k, const double *made, double *next, pp_run *run)
{
    int whole = 1, slowed = 0;
    for (int r = 0; r < lo->nranks; r++) {
        double t = k->start[r];
        int first = 1;
        for (int i = 0; i < lo->len[r]; i++) {
            pp_action a = lo->acts[r][i];
            pp_event e = {.kind = a.kind, .stage = a.stage, .mb = a.mb, .t0 = t, .t1 = t};
            if (pp_kind_is_compute(a.kind)) {
                double d = pp_cost_s(c, a.kind, a.stage, NULL) + (r == k->slow_rank && a.kind == PP_F && a.mb == k->slow_mb && !slowed++ ? k->slow_by : 0);
                e.type = PP_EV_COMPUTE;
                e.t0 = t + (first ? 0 : k->gap + k->core);
                e.core_s = first ? 0 : k->core;
                e.t1 = t = e.t0 + d;
                if (a.kind != PP_W) next[(a.kind != PP_F) * lo->nstages * lo->nmb + pp_sm(lo, a.stage, a.mb)] = t;
            } else if (pp_is_recv(a.kind)) {
                double from = *made_of((double *)made, lo, a);
                if (from < 0) { whole = 0; break; }
                double arrive = from + k->latency;
                if (a.kind == PP_RECV_F && a.stage - 1 == k->late_stage && a.mb == k->late_mb) arrive += k->late_by;
                e.type = PP_EV_WAIT;
                if (k->tell) e.came = arrive > t ? PP_CAME_AFTER : PP_CAME_BEFORE;
                e.t1 = t = arrive > t ? arrive : t + k->found;
            } else if (pp_is_send(a.kind)) {
                e.type = PP_EV_SEND;
                if (k->held && a.kind == PP_SEND_F && a.stage == k->late_stage && a.mb == k->late_mb)
                    e.t0 = e.t1 = t + k->late_by;
            } else {
                continue;
            }
            first = 0;
            if (run) pp_evlist_push(&run->ranks[r], e);
        }
    }
    return whole;
}

/* The step as the knobs make it: passes until nothing changes, then one
 * more that records. */
static pp_run *make_step(const pp_sched *lo, const pp_costs *c, const knobs *k)
{
    int n = 2 * lo->nstages * lo->nmb, done = 0;
    double *made = malloc((size_t)n * sizeof *made), *next = malloc((size_t)n * sizeof *next);
    for (int i = 0; i < n; i++) made[i] = next[i] = -1;
    for (int pass = 0; pass < 10000 && !done; pass++) {
        int whole = play(lo, c, k, made, next, NULL);
        done = whole && memcmp(made, next, (size_t)n * sizeof *made) == 0;
        memcpy(made, next, (size_t)n * sizeof *made);
    }
    pp_run *run = NULL;
    if (done && pp_run_new(lo->nranks, lo->nmb, &run) == PP_OK) {
        play(lo, c, k, made, next, run);
        pp_run_summarize(run);
    }
    free(made), free(next);
    return run;
}

static pp_sched *lowered(const char *name, int P, int M)
{
    pp_sched *s = NULL, *lo = NULL;
    pp_check why = {0};
    if (pp_sched_build(name, P, M, 0, &s, NULL, 0) != PP_OK || pp_sched_validate(s, &lo, &why) != PP_OK) lo = NULL;
    pp_check_clear(&why);
    pp_sched_free(s);
    return lo;
}

/* Does every part but `only` stay at zero, and `only` take all of want? */
static int only_part(const pp_idle *x, int only, double want)
{
    int ok = x->ok;
    for (int p = 1; p < PP_NPARTS; p++) ok &= fabs(x->part[p] - (p == only ? want : 0)) < 1e-9;
    return ok;
}

static void parts_line(const pp_idle *x, char *buf, size_t n)
{
    int k = snprintf(buf, n, "measured %.4f%%:", 100 * x->measured);
    for (int p = 0; p < PP_NPARTS && k < (int)n; p++)
        k += snprintf(buf + k, n - (size_t)k, " %s %+.4f", pp_part_name(p), 100 * x->part[p]);
}

/* One case: the knobs' step of lowered schedule lo (`label` names it)
 * taken apart; `only` must hold all the excess.  With must_cost 0 the knob
 * may cost the step nothing (a delay off every chain that ends the step): then
 * every part must stay 0.  Returns whether the knob cost something. */
static int case_of(const pp_sched *lo, const char *label, const char *what, const knobs *k, const pp_costs *c, int only,
                   int must_cost)
{
    knobs nom = {.slow_rank = -1, .late_stage = -1};
    pp_run *step = lo ? make_step(lo, c, k) : NULL, *flat = NULL;
    pp_costs fc = *c;
    if (c->stage_scale) {
        double mean = 0;
        for (int s = 0; s < lo->nstages; s++) mean += c->stage_scale[s] / lo->nstages;
        for (int j = 0; j < 4; j++) fc.ticks[j] *= mean;
        fc.stage_scale = NULL;
    }
    /* What the step would be without the knob: the same maker, nominal;
     * for a slow stage the reference is the stages alike. */
    pp_run *plain = lo ? make_step(lo, only == PP_PART_IMBALANCE ? &fc : c, &nom) : NULL;
    pp_idle x;
    int ran = step && plain && pp_idle_breakdown(lo, c, step, &x) == PP_OK;
    char line[400] = "";
    if (ran) parts_line(&x, line, sizeof line);
    double want = ran ? pp_run_bubble_step(step) - pp_run_bubble_step(plain) : 0;
    int cost = fabs(want) > 1e-4;
    CHECK(ran && x.ok && (cost || !must_cost) && only_part(&x, cost ? only : -1, cost ? want : 0),
          "%s, %s: the %s part is the whole %+.4f points, the others 0 (%s)", label, what, pp_part_name(only),
          100 * want, line);
    CHECK(ran && fabs(parts_sum(&x) - x.measured) < 1e-12 && fabs(x.replayed - step->makespan) < 1e-9,
          "%s, %s: reference + parts = measured exactly, and the last replay rebuilds the makespan (%.6f s)",
          label, what, ran ? step->makespan : 0.0);
    if (ran && pp_simulate(lo, &fc, &flat) == PP_OK)
        CHECK(fabs(x.base - pp_run_bubble_step(flat)) < 1e-12, "%s, %s: the schedule's bubble is the simulator's (%.4f %%)",
              label, what, 100 * x.base);
    pp_run_free(step), pp_run_free(plain), pp_run_free(flat);
    return ran && cost;
}

static void one_case(const char *name, const char *what, const knobs *k, const pp_costs *c, int only)
{
    int P = 4, M = 8;
    pp_sched *lo = lowered(name, P, M);
    char label[64];
    snprintf(label, sizeof label, "%s P=%d M=%d", name, P, M);
    if (lo) case_of(lo, label, what, k, c, only, 1);
    else CHECK(0, "%s: built and checked", label);
    pp_sched_free(lo);
}

static void test_parts(void)
{
    static const char *names[] = {"gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    pp_costs c;
    pp_costs_default(&c);
    double tick = c.tick_s;
    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
        const char *name = names[n];
        knobs k = {.slow_rank = -1, .late_stage = -1, .latency = 0.2 * tick};
        one_case(name, "every message 0.2 ticks on its way", &k, &c, PP_PART_MESSAGES);
        k = (knobs){.slow_rank = -1, .late_stage = 0, .late_mb = 0, .late_by = 2 * tick};
        one_case(name, "one message 2 ticks late", &k, &c, PP_PART_MESSAGES);
        k = (knobs){.slow_rank = -1, .late_stage = -1, .start = {0, 0, 4 * tick, 0}};
        one_case(name, "rank 2 starts 4 ticks late", &k, &c, PP_PART_LATE);
        k = (knobs){.slow_rank = -1, .late_stage = -1, .gap = 0.05 * tick};
        one_case(name, "0.05 ticks of the kit's own before every compute", &k, &c, PP_PART_REACTION);
        k = (knobs){.slow_rank = -1, .late_stage = -1, .found = 0.03 * tick};
        one_case(name, "0.03 ticks to take a message that was there already", &k, &c, PP_PART_REACTION);
        k = (knobs){.slow_rank = -1, .late_stage = -1, .core = 0.04 * tick};
        one_case(name, "0.04 ticks waiting for a core before every compute", &k, &c, PP_PART_CORES);
        k = (knobs){.slow_rank = 1, .slow_mb = 4, .slow_by = 3 * tick, .late_stage = -1};
        one_case(name, "one compute 3 ticks too long", &k, &c, PP_PART_OVERRUN);
        double scale[16] = {1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        pp_costs slow = c;
        slow.stage_scale = scale;
        k = (knobs){.slow_rank = -1, .late_stage = -1};
        one_case(name, "stage 1 twice as slow", &k, &slow, PP_PART_IMBALANCE);
    }
}

enum { NKNOBS = 9 };
static const char *const OUTSIDE_KNOB[NKNOBS] = {
    "every message 0.2 ticks on its way", "one send held 2 ticks", "the rank of stage 0 starts 4 ticks late",
    "0.05 ticks of the kit's own before every compute", "0.03 ticks to take a message that was there already",
    "0.04 ticks waiting for a core before every compute", "its first compute 3 ticks too long",
    "stage 1 twice as slow", "one message 2 ticks longer on its way"};

/* The knobs on one order none of the kit's builders made, lowered by the
 * validator; each knob sits where every order has it (the rank that runs
 * stage 0, micro-batch 0, stage 1).  cost[j]: orders knob j cost something. */
static void outside(pp_sched *o, const char *what, int *cost, int *orders)
{
    pp_sched *lo = NULL;
    pp_check why = {0};
    int ok = o && pp_sched_validate(o, &lo, &why) == PP_OK;
    CHECK(ok, "%s: the validator takes it (%s)", what, ok ? "ok" : why.msg);
    pp_check_clear(&why);
    pp_sched_free(o);
    if (!ok) return;
    pp_costs c;
    pp_costs_default(&c);
    double tick = c.tick_s, scale[3 * 8] = {0};
    for (int k = 0; k < 3 * 8; k++) scale[k] = k == 1 ? 2 : 1;
    pp_costs slow = c;
    slow.stage_scale = scale;
    int r0 = lo->stage_rank[0];
    knobs k[NKNOBS];
    for (int j = 0; j < NKNOBS; j++) k[j] = (knobs){.slow_rank = -1, .late_stage = -1, .tell = 1};
    k[0].latency = 0.2 * tick;
    k[1].late_stage = 0, k[1].late_mb = 0, k[1].late_by = 2 * tick, k[1].held = 1;
    k[2].start[r0] = 4 * tick;
    k[3].gap = 0.05 * tick;
    k[4].found = 0.03 * tick;
    k[5].core = 0.04 * tick;
    k[6].slow_rank = r0, k[6].slow_mb = 0, k[6].slow_by = 3 * tick;
    k[8].late_stage = 0, k[8].late_mb = 0, k[8].late_by = 2 * tick;   /* posted on time: a receiver may come
                                                                          after it, and find it not there */
    static const int only[NKNOBS] = {PP_PART_MESSAGES, PP_PART_MESSAGES, PP_PART_LATE, PP_PART_REACTION,
                                     PP_PART_REACTION, PP_PART_CORES, PP_PART_OVERRUN, PP_PART_IMBALANCE,
                                     PP_PART_MESSAGES};
    for (int j = 0; j < NKNOBS; j++)
        if (j != 7 || lo->nstages > 1) cost[j] += case_of(lo, what, OUTSIDE_KNOB[j], &k[j], j == 7 ? &slow : &c, only[j], 0);
    ++*orders;
    pp_sched_free(lo);
}

/* The breakdown on orders from outside: random valid schedules of 2 to 4
 * ranks, and PyTorch's LoopedBFS, interleaved 1F1B and ZBV orders.  Each
 * knob must cost most of them something (or the check above proves
 * nothing there). */
static void test_parts_outside(void)
{
    int cost[NKNOBS] = {0}, orders = 0;
    for (int i = 0, n = 0; n < 16; i++) {
        int P, v, M;
        uint64_t seed;
        random_shape(2025, i, 4, &P, &v, &M, &seed);
        if (P < 2 || M < 2) continue;
        char what[160];
        pp_sched *o = random_sched(seed, P, v, M, what, sizeof what);
        outside(o, what, cost, &orders);
        n++;
    }
    outside(pt_looped_bfs(4, 2, 8), "PyTorch's LoopedBFS order P=4 v=2 M=8", cost, &orders);
    outside(pt_interleaved(4, 2, 8), "PyTorch's interleaved 1F1B order P=4 v=2 M=8", cost, &orders);
    outside(pt_zbv(4, 8), "PyTorch's ZBV order P=4 M=8", cost, &orders);
    for (int j = 0; j < NKNOBS; j++)
        CHECK(2 * cost[j] >= orders, "orders from outside, %s: it cost the step something in %d of %d orders",
              OUTSIDE_KNOB[j], cost[j], orders);
}

/* The critical path of GPipe with messages that take time: down the
 * pipeline with micro-batch 0's activations, back up with the last one's
 * gradients, P - 1 hops each way. */
static void test_path(void)
{
    pp_costs c;
    pp_costs_default(&c);
    for (int P = 2; P <= 8; P *= 2) {
        pp_sched *lo = lowered("gpipe", P, 8);
        knobs k = {.slow_rank = -1, .late_stage = -1, .latency = 0.3 * c.tick_s};
        pp_run *step = lo ? make_step(lo, &c, &k) : NULL;
        pp_idle x = {0};
        int ok = step && pp_idle_breakdown(lo, &c, step, &x) == PP_OK && x.ok;
        CHECK(ok && x.hops == 2 * (P - 1) && fabs(x.path_msg_s - 2 * (P - 1) * k.latency) < 1e-9 &&
                  fabs(x.delivery_s - k.latency) < 1e-9 && x.messages == 2 * (P - 1) * 8 && x.path == 8 + 8 + 2 * (P - 1),
              "gpipe P=%d M=8, messages 0.3 ticks: %d hops on the critical path (want %d), %d computes on it (want %d), "
              "%d messages, median delivery %.2f ms", P, x.hops, 2 * (P - 1), x.path, 16 + 2 * (P - 1), x.messages,
              x.delivery_s * 1e3);
        pp_run_free(step);
        pp_sched_free(lo);
    }
}

/* One event of a hand-made step, times in ms, all but rank 1's first
 * later by `shift` ms. */
static double shift;
static void put(pp_run *run, int r, int type, pp_kind kind, int stage, int mb, double t0, double t1, double core)
{
    double by = r == 1 && run->ranks[1].n == 0 ? 0 : shift;
    pp_evlist_push(&run->ranks[r], (pp_event){.type = type, .kind = kind, .stage = stage, .mb = mb,
                                             .t0 = (t0 + by) * 1e-3, .t1 = (t1 + shift) * 1e-3, .core_s = core * 1e-3});
}

/* Two ranks taking one core in turn, GPipe M=2 (F 1 ms, B 2 ms), made by
 * hand.  The two forward messages are made while no compute runs and seen
 * 0.05 and 0.20 ms later (their median, 0.125 ms, is what a message takes
 * with a core free; the second is late with a core free: all delivery).
 * Rank 0's B0 gradient, made as rank 1 takes the core for its B1, is seen
 * 0.50 ms after it is made: 0.125 of it the delivery, 0.375 a wait for the
 * core to see it on.  Rank 0's F1 and B0 wait 0.75 and 1.5 ms for their
 * turn. */
static pp_run *one_core_step(int cores)
{
    pp_run *run = NULL;
    if (pp_run_new(2, 2, &run) != PP_OK) return NULL;
    put(run, 0, PP_EV_COMPUTE, PP_F, 0, 0, 0, 1, shift);   /* with a shift, it waited for the core that long */
    put(run, 0, PP_EV_SEND, PP_SEND_F, 0, 0, 1, 1, 0);
    put(run, 0, PP_EV_COMPUTE, PP_F, 0, 1, 2.05, 3.05, 0.75);   /* asked at 1.30 */
    put(run, 0, PP_EV_SEND, PP_SEND_F, 0, 1, 3.05, 3.05, 0);
    put(run, 0, PP_EV_WAIT, PP_RECV_B, 0, 0, 3.05, 6.75, 0);
    put(run, 0, PP_EV_COMPUTE, PP_B, 0, 0, 8.25, 10.25, 1.5);   /* asked at 6.75 */
    put(run, 0, PP_EV_WAIT, PP_RECV_B, 0, 1, 10.25, 10.25, 0);
    put(run, 0, PP_EV_COMPUTE, PP_B, 0, 1, 10.25, 12.25, 0);
    put(run, 1, PP_EV_WAIT, PP_RECV_F, 1, 0, 0, 1.05, 0);
    put(run, 1, PP_EV_COMPUTE, PP_F, 1, 0, 1.05, 2.05, 0);
    put(run, 1, PP_EV_WAIT, PP_RECV_F, 1, 1, 2.05, 3.25, 0);
    put(run, 1, PP_EV_COMPUTE, PP_F, 1, 1, 3.25, 4.25, 0);
    put(run, 1, PP_EV_COMPUTE, PP_B, 1, 0, 4.25, 6.25, 0);
    put(run, 1, PP_EV_SEND, PP_SEND_B, 1, 0, 6.25, 6.25, 0);
    put(run, 1, PP_EV_COMPUTE, PP_B, 1, 1, 6.25, 8.25, 0);
    put(run, 1, PP_EV_SEND, PP_SEND_B, 1, 1, 8.25, 8.25, 0);
    run->cores = cores;
    pp_run_summarize(run);
    return run;
}

/* The one-core step taken apart with the core known (cores 1) and not
 * (cores 0).  Known, the 0.375 ms of the late gradient move from messages to
 * cores, and so do 0.25 of the 0.30 ms rank 0 took before asking for its F1
 * turn (rank 1 was computing from 1.05): the kit keeps 0.05 ms on the
 * critical path, the step 12.25 ms instead of 12.20.  On the critical path
 * (rank 0's B1, B0, rank 1's B0, F1, rank 0's F1, F0) two hops, the
 * gradient's 0.125 ms and the late forward's whole 0.20 ms. */
static void test_one_core(void)
{
    pp_costs c;
    pp_costs_default(&c);
    c.tick_s = 1e-3;
    pp_sched *lo = lowered("gpipe", 2, 2);
    pp_run *gated = lo ? one_core_step(1) : NULL, *plain = lo ? one_core_step(0) : NULL;
    pp_idle x = {0}, y = {0};
    int ok = gated && plain && pp_idle_breakdown(lo, &c, gated, &x) == PP_OK && x.ok &&
             pp_idle_breakdown(lo, &c, plain, &y) == PP_OK && y.ok;
    double mx = x.part[PP_PART_MESSAGES], cx = x.part[PP_PART_CORES], kx = x.part[PP_PART_REACTION],
           my = y.part[PP_PART_MESSAGES], cy = y.part[PP_PART_CORES], ky = y.part[PP_PART_REACTION];
    double kit = 12 / 24.4 - 12 / 24.5;   /* 12 ms busy on 2 ranks: the bubble of 12.25 ms less that of 12.20 */
    CHECK(ok && cy > 0 && cx > cy && mx < my && kx < ky && fabs(mx + cx + kx - my - cy - ky) < 1e-12 &&
              fabs(kx - kit) < 1e-12 && fabs(parts_sum(&x) - x.measured) < 1e-12 &&
              fabs(x.replayed - gated->makespan) < 1e-12,
          "two ranks on one core, GPipe M=2: the waits for the core move from messages (%+.2f -> %+.2f points) and "
          "kit (%+.2f -> %+.2f, want %+.4f) to cores (%+.2f -> %+.2f), the three together unchanged, the sum exact",
          100 * my, 100 * mx, 100 * ky, 100 * kx, 100 * kit, 100 * cy, 100 * cx);
    CHECK(ok && x.hops == 2 && fabs(x.path_msg_s - 0.325e-3) < 1e-12 && fabs(y.path_msg_s - 0.70e-3) < 1e-12 &&
              fabs(x.delivery_s - 0.2e-3) < 1e-12 && fabs(y.delivery_s - 0.2e-3) < 1e-12,
          "two ranks on one core: %d hops on the critical path, their deliveries %.3f ms (want 0.325; the core not "
          "known: %.3f, want 0.700); the median delivery %.3f ms either way (want 0.200)", x.hops, x.path_msg_s * 1e3,
          y.path_msg_s * 1e3, x.delivery_s * 1e3);
    pp_run_free(gated), pp_run_free(plain);
    /* Rank 0 waited 0.5 ms for the core before its first compute: a late
     * start (its first action), not a wait for a core in the step; the kit
     * keeps its 0.05 ms, the step now 12.75 ms. */
    shift = 0.5;
    gated = lo ? one_core_step(1) : NULL;
    shift = 0;
    ok = gated && pp_idle_breakdown(lo, &c, gated, &x) == PP_OK && x.ok;
    kit = 12 / 25.4 - 12 / 25.5;
    CHECK(ok && fabs(x.part[PP_PART_REACTION] - kit) < 1e-12 && x.part[PP_PART_LATE] > 0 &&
              fabs(parts_sum(&x) - x.measured) < 1e-12 && fabs(x.replayed - gated->makespan) < 1e-12,
          "the same with rank 0's first compute waiting 0.5 ms for the core: a late start (%+.2f points), kit still "
          "%+.4f (want %+.4f)", 100 * x.part[PP_PART_LATE], 100 * x.part[PP_PART_REACTION], 100 * kit);
    pp_run_free(gated);
    pp_sched_free(lo);
}

/* The races for a core in the one-core step (pp_run_woken_share): rank 0's
 * F0 and F1 each wake rank 1, asleep for them, which asks for its core at
 * 1.05 and 3.25 ms, before rank 0 asks for its F1 (1.30) and B0 (6.75):
 * two won; rank 1's B0 gradient wakes rank 0, which asks at 6.75, after
 * rank 1 asked for its B1 (6.25): lost; rank 1's B1 gradient wakes nobody
 * (rank 0 got to it later).  2 of 3.  Where rank 0 had to wait for its B0
 * gradient before it could ask (its receive says the message had not
 * come), rank 1's F1 had the core to itself: no race, 1 of 2.  With two
 * cores and nobody else computing, a core to spare each time: none; nor
 * with the two ranks on machines of their own. */
static void test_woken_share(void)
{
    pp_sched *lo = lowered("gpipe", 2, 2);
    pp_run *run = lo ? one_core_step(1) : NULL;
    int machine[2] = {0, 0}, one[1] = {1}, two_cores[1] = {2}, apart[2] = {0, 1}, each[2] = {1, 1};
    double all = run ? pp_run_woken_share(lo, run, machine, one) : -2;
    double two = run ? pp_run_woken_share(lo, run, machine, two_cores) : -2;
    double alone = run ? pp_run_woken_share(lo, run, apart, each) : -2;
    for (int i = 0; run && i < run->ranks[0].n; i++) {   /* rank 0's wait for its B0 gradient */
        pp_event *e = &run->ranks[0].ev[i];
        if (e->type == PP_EV_WAIT && e->kind == PP_RECV_B && e->mb == 0) e->came = PP_CAME_AFTER;
    }
    double fewer = run ? pp_run_woken_share(lo, run, machine, one) : -2;
    CHECK(fabs(all - 2.0 / 3) < 1e-12 && fabs(fewer - 0.5) < 1e-12 && two == -1 && alone == -1,
          "two ranks on one core, GPipe M=2: the woken rank won %.3f of the races for the core (want 2 of 3), %.3f "
          "where the waker waited for a message in between (want 1 of 2), %.0f with two cores and %.0f with the "
          "ranks on two machines (want -1: none)", all, fewer, two, alone);
    pp_run_free(run);
    pp_sched_free(lo);
}

/* A step under way, as the live view has it: the ranks' events come in at
 * their own pace, so rank 0's row stops after its first two computes while
 * the others' hold the whole step.  The receives of messages rank 0 has not
 * made yet, and everything after them, wait; what is left is taken apart:
 * the actions done so far replayed alone, their parts summing to their own
 * bubble. */
static void test_so_far(void)
{
    pp_costs c;
    pp_costs_default(&c);
    pp_sched *lo = lowered("gpipe", 4, 8);
    knobs k = {.slow_rank = -1, .late_stage = -1, .latency = 0.1 * c.tick_s};
    pp_run *whole = lo ? make_step(lo, &c, &k) : NULL, *part = NULL;
    int ok = whole && pp_run_new(4, 8, &part) == PP_OK;
    for (int r = 0; ok && r < 4; r++) {
        int keep = r == 0 ? 3 : whole->ranks[r].n;   /* F0, its send, F1 */
        for (int i = 0; i < keep; i++) pp_evlist_push(&part->ranks[r], whole->ranks[r].ev[i]);
    }
    pp_idle x = {0};
    if (ok) pp_run_summarize(part);
    ok = ok && pp_idle_so_far(lo, &c, part, &x) == PP_OK && x.ok;
    CHECK(ok && fabs(parts_sum(&x) - x.measured) < 1e-12 && x.formula < 0,
          "gpipe P=4 M=8 under way, rank 0's row behind the others': taken apart so far (%s), the parts summing to "
          "the bubble of the actions done (%.2f %%)", ok ? "ok" : x.why, 100 * x.measured);
    pp_run_free(part), part = NULL;
    /* nothing of rank 0's in yet: every other rank's computes lie past its
     * first receive, and there is nothing to take apart */
    ok = whole && pp_run_new(4, 8, &part) == PP_OK;
    for (int r = 1; ok && r < 4; r++)
        for (int i = 0; i < whole->ranks[r].n; i++) pp_evlist_push(&part->ranks[r], whole->ranks[r].ev[i]);
    if (ok) pp_run_summarize(part);
    ok = ok && pp_idle_so_far(lo, &c, part, &x) == PP_OK && !x.ok;
    CHECK(ok && x.ran_nothing && strcmp(x.why, "the step ran nothing") == 0,
          "the same with none of rank 0's events in: nothing to take apart so far (%s)", x.why);
    pp_run_free(whole), pp_run_free(part);
    pp_sched_free(lo);
}

/* The probe's figure for a message (pp_machine.delivery_s): the mean
 * delivery of the messages a receive waited for, each counted at most four
 * medians.  GPipe P=4, every message 0.3 ticks on its way, and one of them
 * (the first) later by `extra`. */
static double waited_mean(double extra)
{
    pp_costs c;
    pp_costs_default(&c);
    pp_sched *lo = lowered("gpipe", 4, 8);
    knobs k = {.slow_rank = -1, .late_stage = 0, .late_mb = 0, .late_by = extra * c.tick_s, .latency = 0.3 * c.tick_s};
    pp_run *step = lo ? make_step(lo, &c, &k) : NULL;
    pp_idle x = {0};
    int ok = step && pp_idle_breakdown(lo, &c, step, &x) == PP_OK && x.ok;
    pp_run_free(step);
    pp_sched_free(lo);
    return ok ? x.waited_mean_s / c.tick_s : -1;
}

static void test_waited_mean(void)
{
    double even = waited_mean(0), some = waited_mean(0.5), much = waited_mean(2.0);
    /* n messages waited for: one 0.5 ticks later adds 0.5 / n to the mean;
     * one 2 ticks later (2.3 > 4 x 0.3) adds only 4 x 0.3 - 0.3 = 0.9 / n */
    double n = some > even ? 0.5 / (some - even) : 0;
    CHECK(fabs(even - 0.3) < 1e-9 && n > 1 && fabs(n - round(n)) < 1e-6 && fabs(much - even - 0.9 / n) < 1e-9,
          "gpipe P=4 M=8, messages 0.3 ticks: the probe's mean delivery is %.4f ticks; one message 0.5 ticks later "
          "adds 0.5 / %.0f (waited for), one 2 ticks later only 0.9 / %.0f (counted as 4 medians): %.4f and %.4f",
          even, n, n, some, much);
}

/* The median the breakdown and the probe use: the middle value, or for an
 * even count the mean of the middle two, whatever the order given. */
static void test_median(void)
{
    double odd[] = {5, 1, 4, 2, 3}, even[] = {0.4, 0.1, 0.3, 0.2}, one[] = {7};
    double a = pp_median(odd, 5), b = pp_median(even, 4), c = pp_median(one, 1);
    CHECK(a == 3 && fabs(b - 0.25) < 1e-12 && c == 7 && even[0] == 0.1 && even[3] == 0.4,
          "median of 5 values %g (3), of 4 values %g (0.25), of one %g (7); the values left sorted", a, b, c);
}

/* Does run `rep` have run `step`'s computes, each at the same times? */
static int same_computes(const pp_run *step, const pp_run *rep)
{
    int same = step && rep && step->nrows == rep->nrows;
    for (int r = 0; same && r < step->nrows; r++)
        for (int i = 0, j = 0; same && i < step->ranks[r].n; i++) {
            const pp_event *e = &step->ranks[r].ev[i];
            if (e->type != PP_EV_COMPUTE) continue;
            while (j < rep->ranks[r].n && rep->ranks[r].ev[j].type != PP_EV_COMPUTE) j++;
            same = j < rep->ranks[r].n && fabs(rep->ranks[r].ev[j].t0 - e->t0) < 1e-9 &&
                   fabs(rep->ranks[r].ev[j].t1 - e->t1) < 1e-9;
            j++;
        }
    return same;
}

/* Real mode's prediction replays the step before with what each compute
 * and each message took there (pp_run_took): on a step made here with only
 * computes and messages delayed, that replay is the step, every compute at
 * its times, on the kit's builders' orders and ones from outside; a replay
 * that gives every message one delivery instead misses the message made
 * late in most orders (so the check has teeth).  The usual delivery given
 * is a whole tick, longer than any message here: a message that had come
 * must take no longer than it had to come.  A made-up run that does
 * not say which messages had come gives no message a time. */
static void test_took(void)
{
    pp_costs c;
    pp_costs_default(&c);
    double tick = c.tick_s;
    int orders = 0, wrong[3] = {0}, flat_differs = 0, unknown_bad = 0;
    static const char *const what[3] = {"every message 0.2 ticks on its way",
                                        "one message 2 ticks longer on its way (0.1 the others)",
                                        "its first compute 3 ticks too long"};
    for (int i = 0; i < 24; i++) {
        pp_sched *o = NULL, *lo = NULL;
        char name[160];
        if (i < 16) {
            int P, v, M;
            uint64_t seed;
            random_shape(4242, i, 4, &P, &v, &M, &seed);
            if (P < 2 || M < 2) continue;
            o = random_sched(seed, P, v, M, name, sizeof name);
        } else if (i < 21) {
            static const char *const b[] = {"gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
            lo = lowered(b[i - 16], 4, 8);
        } else {
            o = i == 21 ? pt_looped_bfs(4, 2, 8) : i == 22 ? pt_interleaved(4, 2, 8) : pt_zbv(4, 8);   /* to 23 */
        }
        if (o) {
            pp_check why = {0};
            if (pp_sched_validate(o, &lo, &why) != PP_OK) lo = NULL;
            pp_check_clear(&why);
            pp_sched_free(o);
        }
        if (!lo) {
            CHECK(0, "test_took: order %d built and checked", i);
            continue;
        }
        orders++;
        int per = lo->nstages * lo->nmb, r0 = lo->stage_rank[0];
        double *took = malloc(4 * (size_t)per * sizeof *took), *msg = malloc(2 * (size_t)per * sizeof *msg);
        for (int j = 0; j < 3; j++) {
            knobs k = {.slow_rank = -1, .late_stage = -1, .tell = 1, .latency = (j == 0 ? 0.2 : 0.1) * tick};
            if (j == 1) k.late_stage = 0, k.late_mb = 0, k.late_by = 2 * tick;
            if (j == 2) k.slow_rank = r0, k.slow_mb = 0, k.slow_by = 3 * tick;
            pp_run *step = make_step(lo, &c, &k), *rep = NULL, *flat = NULL;
            pp_costs again = c;
            again.took = took, again.took_msg = msg;
            int ok = step && took && msg && pp_run_took(lo, step, tick, took, msg) == PP_OK &&
                     pp_simulate(lo, &again, &rep) == PP_OK && same_computes(step, rep);
            wrong[j] += !ok;
            if (j == 1 && ok) {   /* every message the typical delivery instead */
                again.took_msg = NULL, again.latency = k.latency / tick;
                flat_differs += pp_simulate(lo, &again, &flat) == PP_OK && !same_computes(step, flat);
            }
            if (j == 0 && step) {   /* not known which had come: no message gets a time */
                for (int r = 0; r < step->nrows; r++)
                    for (int e = 0; e < step->ranks[r].n; e++) step->ranks[r].ev[e].came = 0;
                int none = took && msg && pp_run_took(lo, step, k.latency, took, msg) == PP_OK;
                for (int m = 0; none && m < 2 * per; m++) none = msg[m] < 0;
                unknown_bad += !none;
            }
            pp_run_free(step), pp_run_free(rep), pp_run_free(flat);
        }
        free(took), free(msg);
        pp_sched_free(lo);
    }
    for (int j = 0; j < 3; j++)
        CHECK(wrong[j] == 0, "%d orders (random, the builders', PyTorch's), %s: replayed with what each compute and "
              "message took, every compute at its measured times (%d differ)", orders, what[j], wrong[j]);
    CHECK(2 * flat_differs >= orders, "the same, one message late, replayed with every message at the usual delivery: "
          "the computes' times differ in %d of %d orders (the check above has teeth)", flat_differs, orders);
    CHECK(unknown_bad == 0, "a made-up run that does not say which messages had come: no message gets a time of its "
          "own (%d wrong)", unknown_bad);
}

/* Runs it cannot take apart say why, and take nothing apart. */
static void test_refusals(void)
{
    pp_costs c;
    pp_costs_default(&c);
    pp_sched *lo = lowered("1f1b", 4, 8);
    pp_run *run = NULL;
    pp_idle x;
    if (lo && pp_simulate(lo, &c, &run) == PP_OK) {
        run->paused = 1;
        CHECK(pp_idle_breakdown(lo, &c, run, &x) == PP_OK && !x.ok && strstr(x.why, "paused"),
              "a paused step is not taken apart: %s", x.why);
        run->paused = 0, run->D = 2;
        CHECK(pp_idle_breakdown(lo, &c, run, &x) == PP_OK && !x.ok && strstr(x.why, "grid"),
              "a grid's step is not taken apart: %s", x.why);
        run->D = 1;
        run->ranks[2].n = 3;   /* as if the step stopped there */
        CHECK(pp_idle_breakdown(lo, &c, run, &x) == PP_OK && !x.ok && strstr(x.why, "whole"),
              "a step that did not run whole is not taken apart: %s", x.why);
    }
    pp_run_free(run);
    pp_sched_free(lo);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_parts();
    test_parts_outside();
    test_path();
    test_waited_mean();
    test_one_core();
    test_woken_share();
    test_so_far();
    test_median();
    test_took();
    test_refusals();
    MPI_Finalize();
    return check_failed != 0;
}
