/* 05_1f1b.c -- GPipe and 1F1B on the same P and M.
 *
 * The idea: both schedules leave the same bubble, (P-1)/(M+P-1) of the step,
 * but GPipe keeps the activations of all M micro-batches on every rank while
 * 1F1B starts backward passes early and keeps at most P - stage.  The demo
 * runs both, prints both timelines, and measures both figures.
 *
 *   mpiexec -n 4 ./demos/05_1f1b -m 8
 */
#include "pp_demo.h"

#include <math.h>

static const char *names[2] = {"gpipe", "1f1b"};

/* The two runs side by side: the bubble, then the peak micro-batches each
 * rank held, measured and formula, and what the measured peaks show. */
static void compare(const pp_sched *s[2], pp_run *meas[2])
{
    int P = s[0]->nstages, M = s[0]->nmb;
    double g = pp_run_bubble_step(meas[0]), f = pp_run_bubble_step(meas[1]);
    printf("\nGPipe and 1F1B, the same P=%d and M=%d:\n", P, M);
    printf("  bubble, share of the step: gpipe %.1f %% measured, 1f1b %.1f %% measured,\n"
           "  formula %s = %.1f %% for both (%.1f points apart, measured)\n", 100 * g, 100 * f,
           pp_theory_bubble_step_text(PP_FAM_1F1B), 100 * pp_theory_bubble_step(PP_FAM_1F1B, P, M, 1),
           100 * fabs(g - f));
    for (int k = 0; k < 2; k++)
        if (meas[k]->paused || meas[k]->retimed)
            printf("  (%s was %s in the live view: its measured bubble is not the schedule's\n"
                   "  alone)\n", k ? "1f1b" : "gpipe", meas[k]->paused ? "paused" : "re-ticked");
    printf("  peak micro-batches whose activations a rank holds:\n");
    printf("  rank   gpipe measured (formula %s)   1f1b measured (formula %s)\n",
           pp_theory_peak_text(PP_FAM_GPIPE), pp_theory_peak_text(PP_FAM_1F1B));
    /* On a grid, every pipeline of it runs the schedule. */
    for (int r = 0; r < meas[0]->nrows; r++) {
        int st = pp_run_pipe_rank(meas[0], r);
        printf("  %4d   %14d (%d)%14s%14d (%d)\n", r, meas[0]->peak_inflight[r],
               pp_theory_peak_inflight(PP_FAM_GPIPE, P, M, 1, st), "", meas[1]->peak_inflight[r],
               pp_theory_peak_inflight(PP_FAM_1F1B, P, M, 1, st));
    }
    int fewer = 0, more = 0, n = meas[0]->nrows;
    for (int r = 0; r < n; r++)
        fewer += meas[1]->peak_inflight[r] < meas[0]->peak_inflight[r],
        more += meas[1]->peak_inflight[r] > meas[0]->peak_inflight[r];
    if (fewer > 0 && more == 0)
        printf("  measured: 1F1B held fewer micro-batches' activations than GPipe on %d of %d\n"
               "  ranks, and never more\n", fewer, n);
    else if (fewer == 0 && more == 0)
        printf("  measured: the same peak on every rank%s\n", M == 1 ? " (one micro-batch: nothing to hold back)" : "");
    else
        printf("  measured: 1F1B held fewer on %d ranks and more on %d of %d\n", fewer, more, n);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    /* --tp and --dp: the schedule on every pipeline of a grid, with all-reduce costs. */
    static const pp_demo_spec spec = {.here = 1, .what = "Runs GPipe, then 1F1B, on the same stages and micro-batches.",
                                      .no_schedule = 1, .grid_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    int M = d.opt.mb[0];

    const pp_sched *s[2];
    pp_run *pred[2], *meas[2];
    for (int k = 0; k < 2; k++) {
        pp_sched *built = pp_demo_schedule(&d, names[k], M);
        pp_demo_run_report(&d, built, 2, k == 0, &pred[k], &meas[k]);
        s[k] = built;
        if (k == 0 && (d.quit || pp_demo_hold(&d, "gpipe done: press any key to run 1f1b on the same P and M, q to quit"))) {
            s[1] = NULL, pred[1] = meas[1] = NULL;
            break;
        }
    }
    if (d.grid->rank == 0 && !d.quit) compare(s, meas);
    for (int k = 0; k < 2; k++) {
        pp_sched_free((pp_sched *)s[k]);
        pp_run_free(pred[k]);
        pp_run_free(meas[k]);
    }
    return pp_demo_end(&d);
}
