/* zbv.c -- the ZB-V builder: two chunks per rank in a V (stages r and
 * 2P-1-r), the backward split into I and W.
 *
 * A zero-bubble order depends on what F, I and W cost: an order that fills
 * every gap when the three cost the same leaves gaps when they do not.  So
 * this builder makes two orders for the costs it is given and keeps the one
 * the simulator finds shorter (a schedule is data: it can be tried before it
 * runs):
 *   - the greedy order, played with those costs: whenever a rank is free,
 *     it runs a forward if one can start and it holds fewer than 2P chunks
 *     (1F1B's peak, P whole stages), the upper chunk first; else an input
 *     gradient, the lower chunk first; else its oldest waiting W.  With F,
 *     I and W equal it fills the bubble with W's;
 *   - the hand-made V order of the zero-bubble paper (Qi et al., 2024): a
 *     fill of forwards, then each chunk's F, I and W in turn, then a drain
 *     in which the W's come last.  Keeping each W right after its I makes it
 *     steadier when I and W cost differently.
 * With F, I and W equal only the greedy order is made: it is the one the
 * formulas describe (bubble and peak memory), and the hand-made one never
 * beats it there except between M = P and 2P, where neither formula holds.
 * Left out on purpose: a search over every order (the paper's ILP).
 */
#include "core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static pp_status zbv_new(int P, pp_sched **out)
{
    pp_status st = pp_sched_new(P, out);
    if (st != PP_OK) return st;
    snprintf((*out)->name, sizeof (*out)->name, "zbv");
    (*out)->family = PP_FAM_ZBV;
    return PP_OK;
}

/* ---- the greedy order --------------------------------------------------- */

/* What the greedy play keeps: per (stage, micro-batch) when its F and I
 * end (< 0: not yet); per stage the next F and I; per rank the chunks it
 * holds, its queue of W's waiting and when it is free. */
typedef struct {
    int P, M, S;
    double *f_end, *i_end;   /* [S*M] */
    int *next_f, *next_i;    /* [S] */
    int *held;               /* [P] */
    int *w_queue;            /* [P][2M]: stage * M + mb, in the order their I's ran */
    int *w_head, *w_tail;    /* [P] */
    double *free_at;         /* [P] */
} play;

static void play_free(play *g)
{
    free(g->f_end), free(g->i_end), free(g->next_f), free(g->next_i), free(g->held);
    free(g->w_queue), free(g->w_head), free(g->w_tail), free(g->free_at);
}

static int play_new(play *g, int P, int M)
{
    int S = 2 * P, n = S * M;
    memset(g, 0, sizeof *g);
    g->P = P, g->M = M, g->S = S;
    g->f_end = malloc((size_t)n * sizeof *g->f_end), g->i_end = malloc((size_t)n * sizeof *g->i_end);
    g->next_f = calloc((size_t)S, sizeof *g->next_f), g->next_i = calloc((size_t)S, sizeof *g->next_i);
    g->held = calloc((size_t)P, sizeof *g->held), g->w_queue = malloc((size_t)P * 2 * M * sizeof *g->w_queue);
    g->w_head = calloc((size_t)P, sizeof *g->w_head), g->w_tail = calloc((size_t)P, sizeof *g->w_tail);
    g->free_at = calloc((size_t)P, sizeof *g->free_at);
    if (!g->f_end || !g->i_end || !g->next_f || !g->next_i || !g->held || !g->w_queue || !g->w_head || !g->w_tail ||
        !g->free_at)
        return 0;
    for (int k = 0; k < n; k++) g->f_end[k] = g->i_end[k] = -1;
    return 1;
}

/* Has something that ended at `end` (< 0: not yet) ended by time t?  (A
 * little slack: the times are sums of costs, added in different orders.) */
static int by(double end, double t)
{
    return end >= 0 && end <= t + 1e-9 * (1 + fabs(t));
}

/* Rank r is free at time t: what it runs, as the rule in the file comment
 * says; 0 when it has nothing to run now. */
static int choose(const play *g, int r, double t, pp_action *a)
{
    int M = g->M, lo = r, hi = g->S - 1 - r;
    for (int k = 0; k < 2; k++) {   /* a forward, the upper chunk first */
        int s = k ? lo : hi, m = g->next_f[s];
        if (m < M && g->held[r] < g->S && (s == 0 || by(g->f_end[(s - 1) * M + m], t))) {
            *a = (pp_action){s, PP_F, m};
            return 1;
        }
    }
    for (int k = 0; k < 2; k++) {   /* an input gradient, the lower chunk first */
        int s = k ? hi : lo, m = g->next_i[s];
        if (m < M && by(g->f_end[s * M + m], t) && (s == g->S - 1 || by(g->i_end[(s + 1) * M + m], t))) {
            *a = (pp_action){s, PP_I, m};
            return 1;
        }
    }
    if (g->w_head[r] == g->w_tail[r]) return 0;   /* nothing to do: idle */
    int sm = g->w_queue[r * 2 * M + g->w_head[r]];
    *a = (pp_action){sm / M, PP_W, sm % M};
    return 1;
}

/* Rank r runs a from time t. */
static void run(play *g, int r, pp_action a, double t, const pp_costs *c)
{
    int M = g->M, k = a.stage * M + a.mb;
    double end = t + pp_cost_s(c, a.kind, a.stage, NULL);
    if (a.kind == PP_F) g->next_f[a.stage]++, g->f_end[k] = end, g->held[r]++;
    if (a.kind == PP_I) g->next_i[a.stage]++, g->i_end[k] = end, g->w_queue[r * 2 * M + g->w_tail[r]++] = k;
    if (a.kind == PP_W) g->w_head[r]++, g->held[r]--;
    g->free_at[r] = end;
}

/* Plays the step with costs c: at each moment a rank is free it takes what
 * choose() gives it, or waits for the next action anywhere to end. */
static pp_status greedy(int P, int M, const pp_costs *c, pp_sched **out)
{
    play g;
    pp_status st = play_new(&g, P, M) ? zbv_new(P, out) : PP_ENOMEM;
    for (int left = 3 * 2 * P * M; st == PP_OK && left > 0;) {
        double t = INFINITY, next = INFINITY;
        for (int r = 0; r < P; r++) t = fmin(t, g.free_at[r]);
        int moved = 0;
        for (int r = 0; r < P; r++) {
            pp_action a;
            if (g.free_at[r] > t || !choose(&g, r, t, &a)) continue;
            run(&g, r, a, t, c);
            pp_sched_push(*out, r, a);
            left--, moved = 1;
        }
        for (int r = 0; r < P; r++)
            if (g.free_at[r] > t) next = fmin(next, g.free_at[r]);
        for (int r = 0; r < P; r++)   /* those that found nothing wait for the next end */
            if (g.free_at[r] <= t) g.free_at[r] = next;
        if (!moved && isinf(next)) st = PP_ESCHED;   /* cannot happen: some rank can always act */
    }
    play_free(&g);
    if (st == PP_OK) st = pp_sched_finish(*out);
    return st;
}

/* ---- the hand-made V order ---------------------------------------------- */

/* One rank's chunks while its list is written: the next F, I and W of the
 * lower chunk (c = 0, stage r) and the upper one (c = 1, stage 2P-1-r). */
typedef struct {
    pp_sched *s;
    int r, M, stage[2], f[2], i[2], w[2];
} v_rank;

/* Pushes the next action of kind k on chunk c (micro-batches past M are
 * counted but not written: the pattern is laid out for at least 2P-1). */
static void v_push(v_rank *v, int c, pp_kind k)
{
    int *next = k == PP_F ? v->f : k == PP_I ? v->i : v->w;
    if (next[c] < v->M) pp_sched_push(v->s, v->r, (pp_action){v->stage[c], k, next[c]});
    next[c]++;
}

static pp_status v_order(int P, int M, pp_sched **out)
{
    pp_status st = zbv_new(P, out);
    int n = M > 2 * P - 1 ? M : 2 * P - 1;   /* micro-batches the pattern is laid out for */
    for (int r = 0; r < P && st == PP_OK; r++) {
        v_rank v = {*out, r, M, {r, 2 * P - 1 - r}, {0}, {0}, {0}};
        /* 1. Fill: forwards of the lower chunk, then of both, then the upper
         *    chunk's F, I and W as its first gradients come back. */
        for (int k = 0; k < 2 * (P - r) - 1; k++) v_push(&v, 0, PP_F);
        for (int k = 0; k < r; k++) v_push(&v, 1, PP_F), v_push(&v, 0, PP_F);
        for (int k = 0; k < P - r; k++) v_push(&v, 1, PP_F), v_push(&v, 1, PP_I), v_push(&v, 1, PP_W);
        /* 2. Steady: each chunk's F, I and W in turn. */
        while (v.f[1] < v.f[0] || v.f[0] < n) {
            if (v.f[0] < n) v_push(&v, 0, PP_F);
            v_push(&v, 0, PP_I), v_push(&v, 0, PP_W);
            v_push(&v, 1, PP_F), v_push(&v, 1, PP_I), v_push(&v, 1, PP_W);
        }
        /* 3. Drain: the input gradients first (the ranks below wait for
         *    them), the W's they leave behind last. */
        for (int k = 0; k < r; k++) v_push(&v, 0, PP_I), v_push(&v, 1, PP_I);
        for (int k = 0; k < P - r; k++) v_push(&v, 0, PP_I), v_push(&v, 0, PP_W);
        while (v.w[1] < v.i[1]) v_push(&v, 1, PP_W);
        while (v.w[0] < v.i[0]) v_push(&v, 0, PP_W);
    }
    if (st == PP_OK) st = pp_sched_finish(*out);
    return st;
}

/* ---- the choice ---------------------------------------------------------- */

/* The step's predicted length with costs c; infinite if s is not valid. */
static double length(const pp_sched *s, const pp_costs *c)
{
    pp_sched *lo = NULL;
    pp_run *predicted = NULL;
    pp_check why = {0};
    double t = INFINITY;
    if (pp_sched_validate(s, &lo, &why) == PP_OK && pp_simulate(lo, c, &predicted) == PP_OK) t = predicted->makespan;
    pp_check_clear(&why);
    pp_run_free(predicted);
    pp_sched_free(lo);
    return t;
}

pp_status pp_sched_zbv_for(int P, int M, const pp_costs *c, pp_sched **out)
{
    *out = NULL;
    if (P < 1 || M < 1) return PP_EARG;
    pp_costs unit;
    pp_costs_default(&unit);
    unit.ticks[PP_F] = unit.ticks[PP_I] = unit.ticks[PP_W] = 1;
    if (!c) c = &unit;
    pp_sched *fill = NULL, *hand = NULL;
    pp_status st = greedy(P, M, c, &fill);
    int equal = c->ticks[PP_F] == c->ticks[PP_I] && c->ticks[PP_I] == c->ticks[PP_W];
    if (st == PP_OK && P > 1 && !equal && v_order(P, M, &hand) == PP_OK &&
        length(hand, c) < length(fill, c) * (1 - 1e-9)) {
        pp_sched_free(fill);
        fill = hand, hand = NULL;
    }
    pp_sched_free(hand);
    if (st != PP_OK) pp_sched_free(fill), fill = NULL;
    *out = fill;
    return st;
}

pp_status pp_sched_zbv(int P, int M, pp_sched **out)
{
    return pp_sched_zbv_for(P, M, NULL, out);
}
