/* 08_zero_bubble.c -- 1F1B against the zero-bubble schedules ZB-H1 and ZB-V.
 *
 * The idea: a backward pass is two jobs.  I, the gradient with respect to
 * the stage's input, is what the rank below waits for; W, the gradient with
 * respect to the stage's weights, is needed by nobody until the optimizer
 * step.  Split B into I and W, keep the I's on the critical path, and let
 * the W's fill the time a rank would otherwise sit idle.  ZB-H1 does this
 * with 1F1B's order and memory peak: (P-1) F idle per rank instead of
 * (P-1)(F+B), a third of 1F1B's when F = I = W.  ZB-V also gives each rank
 * two half-size chunks in a V (stages r and 2P-1-r), which halves the fill
 * again: (P-1) F/2.  The demo runs the three in timed mode (F = I = W = 1
 * tick, B = I + W) and measures each.
 *
 *   mpiexec -n 4 ./demos/08_zero_bubble -m 8
 */
#include "pp_demo.h"

#include <stdlib.h>

enum { RUNS = 3 };
static const char *names[RUNS] = {"1f1b", "zbh1", "zbv"};

/* Mean idle time per rank. */
static double idle_per_rank(const pp_run *r)
{
    double busy = 0;
    for (int p = 0; p < r->nrows; p++) busy += r->busy[p];
    return r->makespan - busy / r->nrows;
}

/* The W's rank p ran after its last I: the tail of the step, where under
 * 1F1B it would wait for the last gradients. */
static int late_w(const pp_run *r, int p)
{
    int n = 0;
    for (int i = 0; i < r->ranks[p].n; i++) {
        const pp_event *e = &r->ranks[p].ev[i];
        if (e->type == PP_EV_COMPUTE && e->kind == PP_I) n = 0;
        else if (e->type == PP_EV_COMPUTE && e->kind == PP_W) n++;
    }
    return n;
}

/* The three runs side by side (rank 0). */
static void compare(pp_sched *const *s, pp_run *const *meas, const pp_costs *c, int P, int M)
{
    double F = c->ticks[PP_F];
    double want_idle[RUNS] = {(P - 1) * (F + c->ticks[PP_B]), (P - 1) * F, (P - 1) * F / 2};
    printf("\n1F1B, ZB-H1 and ZB-V, P=%d ranks, M=%d (measured; formula in brackets)\n", P, M);
    printf("  schedule  bubble, share of the step   idle per rank, ticks    makespan, ms\n");
    int disturbed = 0;
    const char *broken = NULL;
    for (int k = 0; k < RUNS && s[k]; k++) {
        const char *why = pp_theory_broken(s[k]->family, P, M, s[k]->chunks, c);
        printf("  %-8s %10.1f %%   (%4.1f %%)       %6.2f   (%5.2f)        %9.1f%s%s\n", names[k],
               100 * pp_run_bubble_step(meas[k]), 100 * pp_theory_bubble_step(s[k]->family, P, M, s[k]->chunks),
               idle_per_rank(meas[k]) / c->tick_s, want_idle[k], meas[k]->makespan * 1e3, why ? " !" : "",
               pp_demo_disturbed(meas[k]));
        disturbed |= pp_demo_disturbed(meas[k])[0] != 0;
        if (why && !broken) broken = why;
    }
    printf("  idle formulas: 1f1b (P-1)(F+B), zbh1 (P-1)F, zbv (P-1)F/2, with F = I = W\n");
    pp_demo_table_notes(stdout, disturbed, broken);
    double B = c->ticks[PP_B], IW = c->ticks[PP_I] + c->ticks[PP_W];
    if (B > IW + 1e-9 || B < IW - 1e-9)   /* --cost set B apart from its halves */
        printf("  note: B (%g tick%s) is not I + W (%g tick%s): 1F1B's backwards do %s work than\n"
               "  ZB-H1's and ZB-V's I and W, so the makespans are not like for like\n",
               B, B == 1 ? "" : "s", IW, IW == 1 ? "" : "s", B < IW ? "less" : "more");
    printf("per rank: peak activations held, in stages' worth (zbv: chunks / 2), measured\n"
           "(formula), and the W's a rank ran after its last I (the tail of the step)\n");
    printf("  rank         1f1b          zbh1           zbv      W's after last I\n");
    printf("                                                       zbh1    zbv\n");
    for (int r = 0; r < P; r++) {
        printf("  %4d", r);
        for (int k = 0; k < RUNS && s[k]; k++) {
            double v = s[k]->chunks;
            printf("  %5.1f (%4.1f)", meas[k]->peak_inflight[r] / v,
                   pp_theory_peak_inflight(s[k]->family, P, M, s[k]->chunks, r) / v);
        }
        if (s[2]) printf("       %4d   %4d", late_w(meas[1], r), late_w(meas[2], r));
        printf("\n");
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    static const pp_demo_spec spec = {.here = 1, .what = "Runs 1F1B, then the zero-bubble schedules ZB-H1 and ZB-V, on the same "
                                              "ranks and micro-batches.",
                                      .no_schedule = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    int M = d.opt.mb[0], P = d.grid->P;

    pp_sched *s[RUNS] = {NULL};
    pp_run *pred[RUNS] = {NULL}, *meas[RUNS] = {NULL};
    for (int k = 0; k < RUNS && !d.quit; k++) {
        s[k] = pp_demo_schedule(&d, names[k], M);
        /* a column per half tick; ZB-V's chunks take half a tick: a quarter */
        pp_demo_run_report(&d, s[k], 2 * s[k]->chunks, k == 0, &pred[k], &meas[k]);
        char prompt[96];
        snprintf(prompt, sizeof prompt, "%s done: press any key to run %s on the same P and M, q to quit", names[k],
                 k + 1 < RUNS ? names[k + 1] : "");
        if (k + 1 < RUNS && !d.quit) pp_demo_hold(&d, prompt);
    }
    if (d.grid->rank == 0 && !d.quit) compare(s, meas, &d.exec.costs, P, M);
    for (int k = 0; k < RUNS; k++) {
        pp_sched_free(s[k]);
        pp_run_free(pred[k]);
        pp_run_free(meas[k]);
    }
    return pp_demo_end(&d);
}
