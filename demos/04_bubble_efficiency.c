/* 04_bubble_efficiency.c -- how the bubble shrinks as micro-batches grow.
 *
 * The idea: with P stages a step has P-1 slots of fill and drain whatever M
 * is, so the idle share is (P-1)/(M+P-1) of the step.  The demo sweeps M for
 * the P that mpiexec gives and prints, for each M, the formula, the
 * simulator's prediction and the measured bubble, in both of the common
 * definitions (share of the step, and over the ideal bubble-free time).
 *
 *   mpiexec -n 4 ./demos/04_bubble_efficiency -m 1,2,4,8,16,32
 */
#include "pp_demo.h"

#include <stdio.h>
#include <string.h>

/* One row of the table (and of the --csv file). */
typedef struct {
    int M;
    double formula[2], predicted[2], measured[2]; /* [0] share of step, [1] over ideal */
    double pred_ms, meas_ms;
} row;

static void print_row(const row *r)
{
    printf("%5d |", r->M);
    for (int k = 0; k < 2; k++) {
        if (r->formula[k] < 0) printf("      n/a");
        else printf(" %7.1f %%", 100 * r->formula[k]);
        printf(" %7.1f %% %7.1f %%", 100 * r->predicted[k], 100 * r->measured[k]);
        if (r->formula[k] < 0) printf("      n/a |");
        else printf(" %+8.2f |", 100 * (r->measured[k] - r->formula[k]));
    }
    printf(" %9.1f %9.1f\n", r->pred_ms, r->meas_ms);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    int sweep[] = {1, 2, 4, 8, 16, 32};
    d.opt.nmb = 6;
    memcpy(d.opt.mb, sweep, sizeof sweep);
    static const pp_demo_spec spec = {.what = "Sweeps the number of micro-batches M and compares the bubble with its formula.",
                                      .mb_list_ok = 1, .csv_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);

    size_t len = strlen(d.opt.schedule);
    int from_file = len > 4 && strcmp(d.opt.schedule + len - 4, ".csv") == 0;
    int n = from_file ? 1 : d.opt.nmb; /* a schedule file fixes its own M */
    for (int i = 0; i < n; i++) {
        pp_sched *s = pp_demo_schedule(&d, d.opt.schedule, d.opt.mb[i]);
        pp_run *pred, *meas;
        pp_demo_run(&d, s, &pred, &meas);
        if (d.quit) {   /* q in the live view: no table from a step cut short */
            pp_sched_free(s);
            pp_run_free(pred);
            pp_run_free(meas);
            break;
        }
        if (d.grid->rank == 0) {
            if (i == 0) {
                pp_demo_header(stdout, &d, s, from_file);
                printf("bubble, share of the step = idle / (P x makespan); formula %s\n",
                       pp_theory_bubble_step_text(s->family));
                printf("bubble over the ideal time = idle / busy;          formula %s\n",
                       pp_theory_bubble_ideal_text(s->family));
                printf("      |         share of the step, %%          |        over the ideal time, %%        |  makespan, ms\n");
                printf("    M |  formula predicted  measured   diff   |  formula predicted  measured   diff   | predicted measured\n");
            }
            row one, *r = &one;
            r->M = s->nmb;
            r->formula[0] = pp_theory_bubble_step(s->family, s->nstages, s->nmb);
            r->formula[1] = pp_theory_bubble_ideal(s->family, s->nstages, s->nmb);
            r->predicted[0] = pp_run_bubble_step(pred);
            r->predicted[1] = pp_run_bubble_ideal(pred);
            r->measured[0] = pp_run_bubble_step(meas);
            r->measured[1] = pp_run_bubble_ideal(meas);
            r->pred_ms = pred->makespan * 1e3;
            r->meas_ms = meas->makespan * 1e3;
            print_row(r);
            pp_demo_csv_row(&d, "schedule,P,M,tick_ms,payload_bytes,formula_step,predicted_step,measured_step,"
                                "formula_ideal,predicted_ideal,measured_ideal,predicted_makespan_ms,measured_makespan_ms",
                            "%s,%d,%d,%g,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f", s->name, s->nstages, r->M,
                            d.exec.costs.tick_s * 1e3, d.exec.payload, r->formula[0], r->predicted[0], r->measured[0],
                            r->formula[1], r->predicted[1], r->measured[1], r->pred_ms, r->meas_ms);
        }
        if (i == n - 1 && d.grid->rank == 0) {
            printf("formula and predicted: computed; measured: timed run on this machine; diff = measured - formula, points\n");
        }
        pp_sched_free(s);
        pp_run_free(pred);
        pp_run_free(meas);
    }
    return pp_demo_end(&d);
}
