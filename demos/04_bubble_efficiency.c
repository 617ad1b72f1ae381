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
#include "pp_idle.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* One row of the tables (and of the --csv file). */
typedef struct {
    const char *name;   /* the schedule (--schedule all prints it) */
    int M;
    const char *broken; /* a condition of the formula this run breaks, or NULL */
    double formula[2], predicted[2], measured[2]; /* [0] share of step, [1] over ideal */
    double pred_ms, meas_ms;
    const char *flag;   /* "" or why this step's bubble is not the schedule's alone */
    double here;        /* predicted for this machine (the probe's figures added) */
    pp_idle parts;      /* the measured bubble taken apart */
    int repeats;        /* --repeat: steps run, and their lowest and highest bubble */
    double lo, hi;
} row;

/* The second table: the measured bubble's parts, and the prediction for
 * this machine, per M (pp_idle.h says what each part is). */
static void parts_table(const row *rows, int n, int all, int from_file)
{
    if (from_file)   /* no formula: the parts start from the schedule's own replay */
        printf("\nwhere the measured bubble goes, points of the step (measured = the schedule\n"
               "replayed with every stage at the same cost + parts: a schedule from a file has\n"
               "no formula), and the bubble predicted for this machine (a probe before the\n"
               "steps):\n");
    else
        printf("\nwhere the measured bubble goes, points of the step (measured = formula +\n"
               "parts), and the bubble predicted for this machine (a probe before the steps):\n");
    /* With every schedule, a name column: the columns close up to fit 80. */
    if (all) printf("%-11s%4s %6s %6s %6s %6s %7s %6s %6s %6s %4s\n", "schedule", "M", "here %", "meas %", "sched", "imbal",
                    "overrun", "late", "msg", "kit", "hops");
    else printf("    M  here %%  meas %%   sched  imbal  overrun   late    msg    kit  hops\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        const pp_idle *x = &r->parts;
        if (all) printf("%-11s%4d", r->name, r->M);
        else printf("%5d", r->M);
        if (!x->ok) {
            printf("  %6.1f  %6.1f   (%s)\n", 100 * r->here, 100 * r->measured[0], x->why);
            continue;
        }
        double pt[PP_NPARTS];
        for (int k = 0; k < PP_NPARTS; k++) pt[k] = pp_part_points(x, (pp_part)k, 2);
        printf(all ? " %6.1f %6.1f %+6.2f %+6.2f %+7.2f %+6.2f %+6.2f %+6.2f %4d\n"
                   : "  %6.1f  %6.1f  %+6.2f %+6.2f  %+6.2f  %+6.2f %+6.2f %+6.2f  %4d\n",
               100 * r->here, 100 * r->measured[0], pt[PP_PART_SCHEDULE], pt[PP_PART_IMBALANCE], pt[PP_PART_OVERRUN],
               pt[PP_PART_LATE], pt[PP_PART_MESSAGES], pt[PP_PART_REACTION], x->hops);
    }
    printf("sched: the schedule replayed with every stage at the same cost, against the\n"
           "formula%s;\n"
           "measured: imbal: stages' own costs; overrun: computes past their cost (below\n"
           "0: the extra compute filled idle time more than it stretched the step); late:\n"
           "ranks starting after the common start; msg: deliveries; kit: the kit's own\n"
           "time between actions; hops: messages on the critical path (a count)\n",
           from_file ? " (0: none)" : "");
}

/* "  27.3 %" or "    n/a" (no formula for a schedule from a file). */
static void cell(double v)
{
    if (v < 0) printf("%11s", "n/a");
    else printf("%9.1f %%", 100 * v);
}

/* Row r of table k (0: share of the step, with the makespans; 1: over the
 * ideal time); `named`: the schedule's name first (--schedule all). */
static void print_row(const row *r, int k, int named)
{
    if (named) printf("%-11s%4d", r->name, r->M);
    else printf("%5d", r->M);
    cell(r->formula[k]), cell(r->predicted[k]), cell(r->measured[k]);
    if (r->formula[k] < 0) printf("%9s", "n/a");
    else printf("%+9.2f", 100 * (r->measured[k] - r->formula[k]));
    if (k == 0) printf("%11.1f%10.1f", r->pred_ms, r->meas_ms);
    printf("%s%s\n", r->broken ? " !" : "", r->flag);
    fflush(stdout);
}

static double max_spread(const row *rows, int n)
{
    double most = 0;
    for (int i = 0; i < n; i++) most = rows[i].hi - rows[i].lo > most ? rows[i].hi - rows[i].lo : most;
    return most;
}

/* The heading of the first table (k = 0) or the second; with all, v is
 * interleaved's chunks per rank. */
static void heading(const pp_sched *s, int k, int all, int chunks)
{
    int file = s->family == PP_FAM_CUSTOM;
    const char *name = all ? "schedule      M" : "    M";
    if (k == 0) {
        if (all) printf("bubble as a share of the step = idle / (P x makespan), P ranks; formulas:\n"
                        "gpipe, 1f1b (P-1)/(M+P-1), interleaved (P-1)/(vM+P-1) with v=%d chunks,\n"
                        "zbh1 (P-1)/(3M+P-1), zbv (P-1)/(6M+P-1), naive (P-1)/P\n", chunks);
        else printf("bubble as a share of the step = idle / (P x makespan), formula %s\n",
                    file ? "n/a (a file's\nschedule has none: the prediction is the reference)"
                         : pp_theory_bubble_step_text(s->family));
        printf("%s    formula  predicted   measured     diff   makespan, ms\n", name);
        printf("%*s%s\n", all ? 58 : 48, "", "predicted  measured");
    } else {
        printf("\nbubble over the ideal time = idle / busy, formula %s\n",
               file ? "n/a" : pp_theory_bubble_ideal_text(s->family));
        printf("%s    formula  predicted   measured     diff\n", name);
    }
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    int sweep[] = {1, 2, 4, 8, 16, 32};
    d.opt.nmb = 6;
    memcpy(d.opt.mb, sweep, sizeof sweep);
    static const pp_demo_spec spec = {.here = 1, .what = "Sweeps the number of micro-batches M and compares the bubble with its "
                                              "formula; --schedule all runs every builder on the same P and M.",
                                      .mb_list_ok = 1, .csv_ok = 1, .all_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);

    size_t len = strlen(d.opt.schedule);
    int from_file = len > 4 && strcmp(d.opt.schedule + len - 4, ".csv") == 0;
    int all = strcmp(d.opt.schedule, "all") == 0;
    static const char *every[] = {"naive", "gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    int nsched = all ? 6 : 1, n = from_file ? 1 : d.opt.nmb; /* a schedule file fixes its own M */
    row rows[6 * PP_MAX_MB_LIST];
    int done = 0, flagged = 0;
    const char *broken = NULL;
    pp_sched *first = NULL;
    int chunks = 0;   /* with all: interleaved's chunks per rank, for the heading */
    if (all) {
        pp_sched *il = pp_demo_schedule(&d, "interleaved", d.opt.mb[0]);
        chunks = il->chunks;
        pp_sched_free(il);
    }
    for (int b = 0; b < nsched && !d.quit; b++)
        for (int i = 0; i < n && !d.quit; i++) {
            const char *name = all ? every[b] : d.opt.schedule;
            pp_sched *s = pp_demo_schedule(&d, name, d.opt.mb[i]);
            pp_run *pred, *meas;
            pp_demo_run(&d, s, &pred, &meas);
            if (d.quit) {   /* q in the live view: no table from a step cut short */
                pp_sched_free(s);
                pp_run_free(pred);
                pp_run_free(meas);
                break;
            }
            if (d.grid->rank == 0) {
                if (done == 0) {
                    if (all) printf("every builder on P=%d ranks, F=%g B=%g (I=%g W=%g) ticks of %.4g ms; %zu KiB "
                                    "messages\n", d.grid->P, d.exec.costs.ticks[PP_F], d.exec.costs.ticks[PP_B],
                                    d.exec.costs.ticks[PP_I], d.exec.costs.ticks[PP_W], d.exec.costs.tick_s * 1e3,
                                    d.exec.payload / 1024);
                    else pp_demo_header(stdout, &d, s, from_file);
                    heading(s, 0, all, chunks);
                }
                row *r = &rows[done++];
                r->name = every[b];
                r->M = s->nmb;
                r->formula[0] = pp_theory_bubble_step(s->family, s->nranks, s->nmb, s->chunks);
                r->formula[1] = pp_theory_bubble_ideal(s->family, s->nranks, s->nmb, s->chunks);
                r->broken = pp_theory_broken(s->family, s->nranks, s->nmb, s->chunks, &d.exec.costs);
                if (r->broken) broken = r->broken;
                r->predicted[0] = pp_run_bubble_step(pred);
                r->predicted[1] = pp_run_bubble_ideal(pred);
                r->measured[0] = pp_run_bubble_step(meas);
                r->measured[1] = pp_run_bubble_ideal(meas);
                r->pred_ms = pred->makespan * 1e3;
                r->meas_ms = meas->makespan * 1e3;
                r->flag = pp_demo_disturbed(meas);
                flagged |= r->flag[0] != 0;
                r->here = pp_demo_here(&d, s);
                pp_idle_breakdown(s, &d.exec.costs, meas, &r->parts);
                r->repeats = pp_demo_spread(&d, &r->lo, &r->hi);
                if (r->repeats < 2) r->lo = r->hi = r->measured[0];
                print_row(r, 0, all);
                const pp_idle *x = &r->parts;
                double sh[PP_NPARTS];   /* shares of the step, to the CSV's 6 places (no -0.000000) */
                for (int k = 0; k < PP_NPARTS; k++) sh[k] = pp_part_points(x, (pp_part)k, 4) / 100;
                pp_demo_csv_row(&d, "schedule,P,M,tick_ms,payload_bytes,formula_step,predicted_step,measured_step,"
                                    "formula_ideal,predicted_ideal,measured_ideal,predicted_makespan_ms,measured_makespan_ms,"
                                    "paused,retimed,predicted_here_step,part_schedule,part_imbalance,part_overrun,"
                                    "part_late,part_messages,part_kit,hops,delivery_us,repeats,measured_lowest,"
                                    "measured_highest,part_cores",
                                "%s,%d,%d,%g,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,"
                                "%.6f,%.6f,%d,%.1f,%d,%.6f,%.6f,%.6f", s->name, s->nranks, r->M,
                                d.exec.costs.tick_s * 1e3, d.exec.payload, r->formula[0], r->predicted[0], r->measured[0],
                                r->formula[1], r->predicted[1], r->measured[1], r->pred_ms, r->meas_ms, meas->paused,
                                meas->retimed, r->here, sh[PP_PART_SCHEDULE], sh[PP_PART_IMBALANCE],
                                sh[PP_PART_OVERRUN], sh[PP_PART_LATE], sh[PP_PART_MESSAGES], sh[PP_PART_REACTION], x->hops, x->delivery_s * 1e6, r->repeats > 1 ? r->repeats : 1,
                                r->lo, r->hi, sh[PP_PART_CORES]);
            }
            if (!first) first = s;
            else pp_sched_free(s);
            pp_run_free(pred);
            pp_run_free(meas);
        }
    if (d.grid->rank == 0 && done > 0) {
        if (!all) {   /* the second definition; with all, the first one is enough to compare */
            heading(first, 1, 0, 0);
            for (int i = 0; i < done; i++) print_row(&rows[i], 1, 0);
        }
        printf("formula and predicted: computed; measured: this run, timed, on this machine;\n"
               "diff = measured - formula, in percentage points\n");
        parts_table(rows, done, all, from_file);
        if (rows[0].repeats > 1)
            printf("--repeat %d: each M shows its median step; the measured bubble spread over\n"
                   "the runs was at most %.2f points\n", d.opt.repeat, 100 * max_spread(rows, done));
        if (broken && all) {   /* each marked schedule once, with what its rows break */
            char note[1200];
            int n = snprintf(note, sizeof note, "! a row whose formula's condition does not hold:");
            for (int i = 0; i < done && n < (int)sizeof note; i++) {
                int seen = 0;
                for (int j = 0; j < i; j++) seen |= rows[j].broken && strcmp(rows[j].name, rows[i].name) == 0;
                if (rows[i].broken && !seen)
                    n += snprintf(note + n, sizeof note - (size_t)n, " %s at M=%d (%s);", rows[i].name, rows[i].M,
                                  rows[i].broken);
            }
            if (n < (int)sizeof note)
                snprintf(note + n, sizeof note - (size_t)n, " there the prediction, which replays the schedule with "
                         "its costs, is the reference");
            pp_report_wrap(stdout, note, "", "  ");
        }
        pp_demo_table_notes(stdout, flagged, all ? NULL : broken);
    }
    pp_sched_free(first);
    return pp_demo_end(&d);
}
