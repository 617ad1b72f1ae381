/* idle.c -- where the idle time goes (pp_idle.h): the measured step read
 * back action by action, then replayed six times, each replay taking one
 * more thing from the measurement, so that each part is the bubble one
 * replay adds to the one before and the parts add up exactly.
 *
 * A replay runs every rank's lowered list in order.  A compute begins when
 * the rank's previous action ended (plus, in the last replay, the kit's own
 * gap before it); a receive ends when its message arrives, the end of the
 * compute that made the message plus its delivery, or when the rank gets
 * there, whichever is later.  The critical path is then read backwards from
 * the compute that ends last: at a receive whose message came later than
 * the rank got there, it crosses to the sender.
 * Left out on purpose: grids (T or D > 1), whose collectives tie ranks
 * together beyond the pipeline's messages.
 */
#include "core.h"
#include "pp_idle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A receive that returned within this long found its message already there. */
static const double WAITED_S = 5e-6;

/* One action of the step as measured, and what the replays take from it. */
typedef struct {
    double begin, end;   /* measured, seconds since the start */
    double dur;          /* a compute's duration */
    double from;         /* when the action before it ended (its gap's start) */
    double gap;          /* the kit's own time before it, beyond what it waited for */
    double core;         /* of that gap, the time its rank waited for a core: a compute's turn,
                            and any while every core was computing */
    int found;           /* a receive whose message was there: its whole time is in gap */
    int came;            /* a receive: pp_event.came (0: not known) */
    double delay;        /* a receive: its message's delivery from the producing compute's end */
    double core_delay;   /* of that delivery, what its rank waited for a core to see it on (then
                            not in delay) */
    int seen;            /* its event was found */
    int ev;              /* which event of its row it is (-1: none) */
} act;

typedef struct {
    const pp_sched *lo;
    const pp_costs *nominal;   /* the costs the step was meant to have, stage by stage */
    pp_costs flat;       /* the same with every stage at the stages' mean cost */
    int *n;              /* [rank] the actions taken apart: all, or those done so far */
    act **a;             /* [rank][i] */
    double *start;       /* [rank] its first action's begin */
    int *prod_r, *prod_i;   /* [dir][stage x mb]: where the compute that made a message is */
    double *posted;      /* [dir][stage x mb]: when its send was handed to MPI (-1: not seen) */
    double *delays;      /* every message's delivery, for the median */
    int nmsg;
    double waited_mean;  /* the mean delivery of the messages a receive was there before
                            (each at most TAIL_CAP medians) */
    int cores;           /* the cores the ranks took in turn (pp_run.cores; 0: none) */
    double *full;        /* [2 x nfull] the spans during which every core was computing */
    int nfull;
    double *free_d;      /* the deliveries of those made while a core was free (cores > 0) */
} trace;

/* waited_mean counts a delivery as at most this many times the median. */
static const double TAIL_CAP = 4.0;

/* What a replay takes from the measurement. */
enum { USE_STAGE = 1, USE_DUR = 2, USE_START = 4, USE_DELAY = 8, USE_CORE = 16, USE_GAP = 32 };

typedef struct {
    double makespan, busy;
    double **end;        /* [rank][i] when each action ended (or NULL) */
    char **by_msg;       /* [rank][i] a receive that waited for its message */
} replayed;

const char *pp_part_name(pp_part p)
{
    static const char *names[PP_NPARTS] = {"schedule", "imbalance", "overrun", "late starts", "messages", "cores", "kit"};
    return p >= 0 && p < PP_NPARTS ? names[p] : "?";
}

double pp_part_points(const pp_idle *x, pp_part p, int decimals)
{
    double v = 100 * x->part[p], half = 0.5 * pow(10, -decimals);
    return v < half && v > -half ? 0.0 : v;
}

static int same(pp_action a, const pp_event *e)
{
    return (int)a.kind == e->kind && a.stage == e->stage && a.mb == e->mb;
}

/* Where a message's making is kept, [direction][stage x micro-batch]: a
 * forward's result (F) or a backward's (B or I) of (stage, mb). */
static int made_slot(const pp_sched *lo, int backward, int stage, int mb)
{
    return backward * lo->nstages * lo->nmb + pp_sm(lo, stage, mb);
}

static int makes_message(pp_kind k)
{
    return k == PP_F || k == PP_B || k == PP_I;
}

/* Finds each action's event in rank r's row; a compute without one means the
 * step did not run whole (so far: the rank has got that far). */
static int read_row(trace *tr, const pp_evlist *row, int r, int so_far, char *why, size_t n)
{
    const pp_sched *lo = tr->lo;
    int len = lo->len[r], from = 0;
    for (int k = 0; k < row->n; k++) {
        const pp_event *e = &row->ev[k];
        if (e->type != PP_EV_COMPUTE && e->type != PP_EV_WAIT && e->type != PP_EV_SEND) continue;
        int i = -1;   /* events come in their list's order: look on from the last one first */
        for (int j = 0; j < len && i < 0; j++) {
            int c = (from + j) % len;
            if (!tr->a[r][c].seen && same(lo->acts[r][c], e)) i = c;
        }
        if (i < 0) return snprintf(why, n, "rank %d ran an action its list does not hold", r), 0;
        tr->a[r][i] = (act){.begin = e->t0, .end = e->type == PP_EV_SEND ? e->t0 : e->t1, .seen = 1, .ev = k};
        if (e->type == PP_EV_COMPUTE) tr->a[r][i].dur = e->t1 - e->t0, tr->a[r][i].core = e->core_s;
        if (e->type == PP_EV_WAIT) tr->a[r][i].came = e->came;
        from = i + 1;
    }
    double prev = -1;
    tr->n[r] = len;
    for (int i = 0; i < len; i++) {
        act *x = &tr->a[r][i];
        pp_action a = lo->acts[r][i];
        if (a.kind == PP_IDLE) continue;
        if (!x->seen && so_far) {
            tr->n[r] = i;
            break;
        }
        if (!x->seen && pp_kind_is_compute(a.kind))
            return snprintf(why, n, "the step did not run whole (rank %d)", r), 0;
        if (!x->seen) x->begin = x->end = prev < 0 ? 0 : prev;   /* a replayed run keeps no empty waits */
        if (prev < 0) tr->start[r] = x->from = x->begin;
        else x->gap = x->begin - prev, x->from = prev;
        prev = x->end;
        if (makes_message(a.kind)) {
            int slot = made_slot(lo, a.kind != PP_F, a.stage, a.mb);
            tr->prod_r[slot] = r, tr->prod_i[slot] = i;
        }
        if (pp_is_send(a.kind) && x->seen) tr->posted[made_slot(lo, a.kind == PP_SEND_B, a.stage, a.mb)] = x->begin;
    }
    return 1;
}

/* One end of a compute: +1 at its begin, -1 at its end. */
typedef struct { double t; int d; } edge;

static int by_time(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t ? 1 : x->d - y->d;   /* an end before a begin at the same time */
}

/* With the cores taken in turn: the spans during which every core was
 * computing, in time order (a rank not computing then could not run at
 * all, unless the system took a core from a compute for it).  Every
 * compute recorded counts, those past a rank's cut so far too: they held
 * their cores. */
static pp_status full_spans(trace *tr)
{
    const pp_sched *lo = tr->lo;
    int n = 0;
    for (int r = 0; r < lo->nranks; r++) n += lo->len[r];
    edge *e = malloc((size_t)(2 * n + 1) * sizeof *e);
    tr->full = malloc((size_t)(2 * n + 2) * sizeof *tr->full);
    if (!e || !tr->full) return free(e), PP_ENOMEM;
    int k = 0;
    for (int r = 0; r < lo->nranks; r++)
        for (int i = 0; i < lo->len[r]; i++)
            if (tr->a[r][i].seen && pp_kind_is_compute(lo->acts[r][i].kind))
                e[k++] = (edge){tr->a[r][i].begin, 1}, e[k++] = (edge){tr->a[r][i].end, -1};
    qsort(e, (size_t)k, sizeof *e, by_time);
    tr->nfull = 0;
    for (int j = 0, on = 0; j < k && tr->cores > 0; j++) {
        on += e[j].d;
        if (e[j].d > 0 && on == tr->cores) tr->full[2 * tr->nfull] = e[j].t;
        if (e[j].d < 0 && on == tr->cores - 1) tr->full[2 * tr->nfull++ + 1] = e[j].t;
    }
    free(e);
    return PP_OK;
}

/* How long of [a, b] every core was computing. */
static double full_within(const trace *tr, double a, double b)
{
    double sum = 0;
    for (int k = 0; k < tr->nfull && tr->full[2 * k] < b; k++) {
        double lo = tr->full[2 * k] > a ? tr->full[2 * k] : a, hi = tr->full[2 * k + 1] < b ? tr->full[2 * k + 1] : b;
        if (hi > lo) sum += hi - lo;
    }
    return sum;
}

/* Was every core computing at time t? */
static int full_at(const trace *tr, double t)
{
    for (int k = 0; k < tr->nfull && tr->full[2 * k] <= t; k++)
        if (t < tr->full[2 * k + 1]) return 1;
    return 0;
}

/* Each message's delivery, from the end of the compute that made it (a
 * send held back counts in it).  A receive that began before the message
 * was made and then waited saw it arrive when it returned: those give the
 * median.  A receive waited for its message if the executor saw that its
 * message had not come when the rank got to it (pp_event.came: its first
 * test did not complete it, a large message's rendezvous under way
 * included); where that is not known (a made-up run), if it took longer than
 * WAITED_S and began before the message's send was posted plus the median.
 * Otherwise the message was there (or nearly), and the time the receive took
 * is the kit's own (a wake-up): the message's delivery is then the median,
 * or less if the receive began sooner.
 * Where the ranks took the cores in turn, a message waited for that was
 * seen later than those made while a core was free (their median) waited,
 * for the time every core was computing after that median, for a core to
 * be seen on: that time is its core_delay. */
static void read_messages(trace *tr)
{
    const pp_sched *lo = tr->lo;
    int pure = 0, nfree = 0;
    double median = 0, free_median = 0;   /* of the pure deliveries (pass 0) */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) tr->nmsg = 0;
        for (int r = 0; r < lo->nranks; r++)
            for (int i = 0; i < tr->n[r]; i++) {
                pp_action a = lo->acts[r][i];
                if (!pp_is_recv(a.kind)) continue;
                act *x = &tr->a[r][i];
                int slot = pp_msg_slot(lo, a);
                double made = tr->a[tr->prod_r[slot]][tr->prod_i[slot]].end;
                double posted = tr->posted[slot] > made ? tr->posted[slot] : made;
                /* did it wait for its message?  As the executor saw it, else from its length */
                int waited = x->came ? x->came == PP_CAME_AFTER : x->end - x->begin > WAITED_S;
                if (pass == 0) {
                    if (waited && x->begin <= made) {
                        tr->delays[pure++] = x->end - made;
                        if (tr->cores > 0 && !full_at(tr, made)) tr->free_d[nfree++] = x->end - made;
                    }
                    continue;
                }
                if (waited && (x->came || x->begin < posted + median)) {
                    x->delay = x->end - made;
                    if (nfree > 0 && x->delay > free_median)
                        x->core_delay = full_within(tr, made + free_median, x->end), x->delay -= x->core_delay;
                } else {   /* all of its time is the kit's own */
                    double by = made + median < x->begin ? made + median : x->begin;
                    x->delay = by - made;   /* below 0 only by clock error: kept, so the last replay stays exact */
                    x->gap += x->end - x->begin;
                    x->found = 1;
                }
                tr->delays[tr->nmsg++] = x->delay + x->core_delay;
            }
        if (pass == 0) {   /* the mean, each at most TAIL_CAP medians: a short step holds few messages,
                              and one held up by a rare stall would weigh far more than in a long one */
            median = pure ? pp_median(tr->delays, pure) : 0;
            free_median = nfree ? pp_median(tr->free_d, nfree) : 0;
            double sum = 0, cap = TAIL_CAP * median;
            for (int k = 0; k < pure; k++) sum += tr->delays[k] < cap ? tr->delays[k] : cap;
            tr->waited_mean = pure ? sum / pure : 0;
        }
    }
}

/* With the cores taken in turn, each action's gap in two: the time its rank
 * waited for a core (a compute's turn, from its ask to its start, and any
 * other part of the gap while every core was computing) and the kit's own. */
static void split_gaps(trace *tr)
{
    const pp_sched *lo = tr->lo;
    for (int r = 0; r < lo->nranks; r++)
        for (int i = 0; i < tr->n[r]; i++) {
            act *x = &tr->a[r][i];
            if (!x->seen || x->gap <= 0) {   /* a rank's first action: a late start, not a wait here */
                x->core = 0;
                continue;
            }
            double until = x->found ? x->end : x->begin - x->core;   /* x->core: the compute's turn, from its event */
            x->core += tr->cores > 0 ? full_within(tr, x->from, until) : 0;
            if (x->core > x->gap) x->core = x->gap;   /* clock error only */
        }
}

/* One replay: every rank's list with `use` taken from the measurement and
 * the rest from the costs (the stages' own with USE_STAGE, else flat). */
static pp_status replay(const trace *tr, int use, replayed *out)
{
    const pp_sched *lo = tr->lo;
    const pp_costs *c = use & USE_STAGE ? tr->nominal : &tr->flat;
    int P = lo->nranks, n = 2 * lo->nstages * lo->nmb;
    double *made = malloc((size_t)n * sizeof *made), *t = calloc((size_t)P, sizeof *t);
    int *pc = calloc((size_t)P, sizeof *pc);
    pp_status st = made && t && pc ? PP_OK : PP_ENOMEM;
    for (int k = 0; st == PP_OK && k < n; k++) made[k] = -1;
    for (int r = 0; st == PP_OK && r < P; r++) t[r] = use & USE_START ? tr->start[r] : 0;
    out->makespan = out->busy = 0;
    for (int moved = 1; st == PP_OK && moved;) {
        moved = 0;
        for (int r = 0; r < P; r++)
            for (; pc[r] < tr->n[r]; pc[r]++, moved = 1) {
                int i = pc[r];
                pp_action a = lo->acts[r][i];
                const act *x = &tr->a[r][i];
                double gap = use & USE_GAP ? x->gap : use & USE_CORE ? x->core : 0, at = t[r] + gap, msg = 0;   /* gap holds core */
                if (pp_is_recv(a.kind)) {
                    double from = made[pp_msg_slot(lo, a)];
                    if (from < 0) break;   /* the compute that makes it has not run yet */
                    double core = use & USE_CORE ? x->core_delay : 0;
                    msg = from + (use & USE_DELAY ? x->delay + core : pp_cost_s(c, a.kind, a.stage, NULL));
                    if (out->by_msg) out->by_msg[r][i] = msg > at;
                    if (msg > at) at = msg;
                } else if (pp_kind_is_compute(a.kind)) {
                    double d = use & USE_DUR ? x->dur : pp_cost_s(c, a.kind, a.stage, NULL);
                    at += d;
                    out->busy += d;
                    if (at > out->makespan) out->makespan = at;
                    if (makes_message(a.kind)) made[made_slot(lo, a.kind != PP_F, a.stage, a.mb)] = at;
                } else if (a.kind == PP_IDLE) {
                    at = t[r];
                }
                t[r] = at;
                if (out->end) out->end[r][i] = at;
            }
    }
    for (int r = 0; st == PP_OK && r < P; r++)
        if (pc[r] < tr->n[r]) st = PP_ESCHED;   /* so far: a message not yet recorded as made */
    free(made), free(t), free(pc);
    return st;
}

static double bubble(const replayed *x, int P)
{
    return x->makespan > 0 ? 1.0 - x->busy / (P * x->makespan) : 0;
}

/* Walks the critical path back from the compute that ends last, marking
 * its events in on_path (if not NULL). */
static void critical_path(const trace *tr, const replayed *full, pp_idle *out, unsigned char **on_path)
{
    const pp_sched *lo = tr->lo;
    int r = -1, i = -1;
    for (int q = 0; q < lo->nranks; q++)
        for (int k = 0; k < tr->n[q]; k++)
            if (pp_kind_is_compute(lo->acts[q][k].kind) && (r < 0 || full->end[q][k] > full->end[r][i])) r = q, i = k;
    while (r >= 0 && i >= 0) {
        pp_action a = lo->acts[r][i];
        if (pp_kind_is_compute(a.kind)) out->path++;
        if (on_path && tr->a[r][i].seen && (pp_kind_is_compute(a.kind) || full->by_msg[r][i])) on_path[r][tr->a[r][i].ev] = 1;
        if (pp_is_recv(a.kind) && full->by_msg[r][i]) {
            int slot = pp_msg_slot(lo, a);
            out->hops++;
            /* its delivery, but no more than the receiver waited for it (a
             * message made long before, held up by a rendezvous, counts only
             * the wait it caused) */
            const act *x = &tr->a[r][i];
            out->path_msg_s += x->delay < x->end - x->begin ? x->delay : x->end - x->begin;
            r = tr->prod_r[slot], i = tr->prod_i[slot];
        } else {
            i--;
        }
    }
}

/* Rows of n doubles and chars for every rank's list. */
static pp_status tables(const pp_sched *lo, act ***a, double ***end, char ***by)
{
    int P = lo->nranks;
    *a = calloc((size_t)P, sizeof **a), *end = calloc((size_t)P, sizeof **end), *by = calloc((size_t)P, sizeof **by);
    if (!*a || !*end || !*by) return PP_ENOMEM;
    for (int r = 0; r < P; r++) {
        size_t n = (size_t)(lo->len[r] > 0 ? lo->len[r] : 1);
        (*a)[r] = calloc(n, sizeof ***a), (*end)[r] = calloc(n, sizeof ***end), (*by)[r] = calloc(n, 1);
        if (!(*a)[r] || !(*end)[r] || !(*by)[r]) return PP_ENOMEM;
    }
    return PP_OK;
}

static void tables_free(int P, act **a, double **end, char **by)
{
    for (int r = 0; r < P; r++) {
        if (a) free(a[r]);
        if (end) free(end[r]);
        if (by) free(by[r]);
    }
    free(a), free(end), free(by);
}

/* So far: each rank's actions up to its first receive whose message's
 * making is not among the actions taken apart (the ranks' events come in at
 * their own pace: a rank may have recorded a receive before its sender's
 * compute has come in), until every receive's is. */
static void trim_so_far(trace *tr)
{
    const pp_sched *lo = tr->lo;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < lo->nranks; r++)
            for (int i = 0; i < tr->n[r]; i++) {
                if (!pp_is_recv(lo->acts[r][i].kind)) continue;
                int slot = pp_msg_slot(lo, lo->acts[r][i]), q = tr->prod_r[slot];
                if (q >= 0 && tr->prod_i[slot] < tr->n[q]) continue;
                tr->n[r] = i, changed = 1;
                break;
            }
    }
}

/* Is a compute among the actions taken apart? */
static int computes_kept(const trace *tr)
{
    for (int r = 0; r < tr->lo->nranks; r++)
        for (int i = 0; i < tr->n[r]; i++)
            if (pp_kind_is_compute(tr->lo->acts[r][i].kind)) return 1;
    return 0;
}

/* The parts from the replays' bubbles b: each what its replay added to the
 * one before; the first against the formula (so far: against itself); the
 * last, the rest up to the measured bubble. */
static void parts_of(const double *b, int so_far, pp_idle *out)
{
    out->ok = 1;
    out->base = b[0];
    if (so_far) out->measured = b[PP_NPARTS - 1], out->formula = -1;   /* the prefix's own replay */
    double ref = out->formula >= 0 ? out->formula : b[0];
    out->part[PP_PART_SCHEDULE] = b[0] - ref;
    for (int k = 1; k < PP_PART_REACTION; k++) out->part[k] = b[k] - b[k - 1];
    out->part[PP_PART_REACTION] = out->measured - b[PP_PART_REACTION - 1];
}

static const char RAN_NOTHING[] = "the step ran nothing";

/* Why a run cannot be taken apart, or NULL. */
static const char *refusal(const pp_sched *lo, const pp_run *m, int so_far)
{
    int held = m->paused, computes = 0;
    for (int r = 0; r < m->nrows; r++)
        for (int i = 0; i < m->ranks[r].n; i++) {
            held |= m->ranks[r].ev[i].type == PP_EV_HOLD;
            computes += m->ranks[r].ev[i].type == PP_EV_COMPUTE;
        }
    if (!lo->lowered) return "the schedule was not validated";
    if (lo->forward_only) return "it follows a training step, not forwards alone";
    if (m->nrows != lo->nranks || m->T > 1 || m->D > 1) return "it follows one pipeline, not a grid (T or D > 1)";
    if (held) return "the step was paused in the live view";
    if (m->quit) return "the step was cut short";
    if (m->retimed) return "the tick was changed during the step";
    if (computes == 0 || (!so_far && m->makespan <= 0)) return RAN_NOTHING;
    return NULL;
}

static pp_status take_apart(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, int so_far, pp_idle *out,
                            unsigned char **on_path)
{
    memset(out, 0, sizeof *out);
    out->formula = pp_theory_bubble_step(lo->family, lo->nranks, lo->nmb, lo->chunks);
    out->measured = pp_run_bubble_step(m);
    const char *no = refusal(lo, m, so_far);
    out->ran_nothing = no == RAN_NOTHING;
    if (no) return snprintf(out->why, sizeof out->why, "%s", no), PP_OK;

    int P = lo->nranks > 0 ? lo->nranks : 1, n = 2 * lo->nstages * lo->nmb, total = 0;
    for (int r = 0; r < P; r++) total += lo->len[r];
    trace tr = {.lo = lo};
    replayed full = {0};
    tr.start = calloc((size_t)P, sizeof *tr.start);
    tr.n = calloc((size_t)P, sizeof *tr.n);
    tr.prod_r = malloc((size_t)n * sizeof *tr.prod_r), tr.prod_i = malloc((size_t)n * sizeof *tr.prod_i);
    tr.posted = malloc((size_t)n * sizeof *tr.posted);
    tr.delays = malloc((size_t)(total > 0 ? total : 1) * sizeof *tr.delays);
    tr.free_d = malloc((size_t)(total > 0 ? total : 1) * sizeof *tr.free_d);
    tr.cores = m->cores;
    pp_status st = tr.start && tr.n && tr.prod_r && tr.prod_i && tr.posted && tr.delays && tr.free_d
                       ? tables(lo, &tr.a, &full.end, &full.by_msg)
                       : PP_ENOMEM;
    int ok = st == PP_OK;
    for (int k = 0; ok && k < n; k++) tr.prod_r[k] = tr.prod_i[k] = -1, tr.posted[k] = -1;
    for (int r = 0; ok && r < P; r++) ok = read_row(&tr, &m->ranks[r], r, so_far, out->why, sizeof out->why);

    if (ok && so_far) trim_so_far(&tr);
    if (ok && so_far && !computes_kept(&tr))   /* the first computes in are past the cuts */
        ok = 0, out->ran_nothing = 1, snprintf(out->why, sizeof out->why, "%s", RAN_NOTHING);
    if (ok) st = full_spans(&tr), ok = st == PP_OK;
    if (ok) read_messages(&tr), split_gaps(&tr);
    tr.nominal = nominal;
    pp_costs_flat(nominal, lo->nstages, &tr.flat);

    /* The replays, each taking one more measured thing than the one before. */
    static const int steps[PP_NPARTS] = {0, USE_STAGE, USE_STAGE | USE_DUR, USE_STAGE | USE_DUR | USE_START,
                                         USE_STAGE | USE_DUR | USE_START | USE_DELAY,
                                         USE_STAGE | USE_DUR | USE_START | USE_DELAY | USE_CORE,
                                         USE_STAGE | USE_DUR | USE_START | USE_DELAY | USE_CORE | USE_GAP};
    double b[PP_NPARTS];
    for (int k = 0; ok && st == PP_OK && k < PP_NPARTS; k++) {
        replayed x = k == PP_NPARTS - 1 ? full : (replayed){0};
        st = replay(&tr, steps[k], &x);
        b[k] = bubble(&x, P);
        if (k == PP_NPARTS - 1) full = x, out->replayed = x.makespan;
    }
    if (ok && st == PP_OK) {
        parts_of(b, so_far, out);
        critical_path(&tr, &full, out, on_path);
        out->messages = tr.nmsg;
        out->delivery_s = tr.nmsg ? pp_median(tr.delays, tr.nmsg) : 0;
        out->waited_mean_s = tr.waited_mean;
    }
    if (ok && st == PP_ESCHED) snprintf(out->why, sizeof out->why, "the step could not be replayed");
    tables_free(P, tr.a, full.end, full.by_msg);
    free(tr.start), free(tr.n), free(tr.prod_r), free(tr.prod_i), free(tr.posted), free(tr.delays), free(tr.free_d), free(tr.full);
    return st == PP_ESCHED ? PP_OK : st;
}

pp_status pp_idle_breakdown(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out)
{
    return take_apart(lo, nominal, m, 0, out, NULL);
}

pp_status pp_idle_path(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out,
                       unsigned char **on_path)
{
    return take_apart(lo, nominal, m, 0, out, on_path);
}

pp_status pp_idle_so_far(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out)
{
    return take_apart(lo, nominal, m, 1, out, NULL);
}
