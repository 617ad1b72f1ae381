/* 02_microbatches.c -- the same batch as M micro-batches.
 *
 * The idea: splitting a step's batch into M micro-batches lets the stages
 * work at the same time, so the step gets shorter, while the result stays
 * the same (the gradient is the same sum, added in another grouping: equal
 * up to float rounding).  But a micro-batch of a few samples makes every
 * matrix multiply small and slow, so past some M the step gets longer again.
 * The demo trains from the same start for each M and measures all of it.
 *
 *   mpiexec -n 4 ./demos/02_microbatches -m 1,2,4,8,16,32,64
 */
#include "pp_demo.h"
#include "pp_idle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Matrix-multiply floating point operations in one step: per block and
 * sample, 2 x 2 d f in the forward and 4 x 2 d f in the backward, less the
 * input gradient of the very first block, which nothing needs. */
static double step_flops(const pp_model_cfg *c)
{
    double per = 2.0 * c->width * c->hidden * c->batch;
    return per * (6.0 * c->depth - 1.0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Which of v[0..n-1] (n > 0) is the median: the (n/2)-th smallest, counting
 * from 0 (for an even n the upper of the two middle ones, as --repeat keeps). */
static int median_step(const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        int place = 0;   /* where v[i] goes in v sorted (equal values in their order) */
        for (int j = 0; j < n; j++) place += v[j] < v[i] || (v[j] == v[i] && j < i);
        if (place == n / 2) return i;
    }
    return 0;
}

/* The table's heading (printed with the first row, so that with the live
 * view it comes after the picture, not under it). */
static void heading(const pp_sched *s, const pp_partition *part, const pp_model_cfg *c, int P)
{
    char parts[128], line[1400], chunks[64] = "";
    pp_partition_str(part, parts, sizeof parts);
    if (s->chunks > 1) snprintf(chunks, sizeof chunks, " x %d chunks = %d stages", s->chunks, s->nstages);
    snprintf(line, sizeof line, "the %s schedule; a batch of %d samples through %d blocks (width %d, hidden %d) "
             "on %d rank%s%s (blocks%s %s), %d step%s per M; %s%s", s->name, c->batch, c->depth, c->width,
             c->hidden, P, P == 1 ? "" : "s", chunks, chunks[0] ? " per stage" : "", parts, c->steps,
             c->steps == 1 ? "" : "s", pp_backend_name(),
             c->checkpoint ? "; with activation checkpointing (--checkpoint: each backward runs its forward again; "
                             "GFLOP/s counts the model's multiplies only, not the recompute)" : "");
    pp_report_wrap(stdout, line, "", "");
    snprintf(line, sizeof line, "all figures measured in this run except the formula and here columns; step time: "
             "the median over the steps; bubble: the median of the steps' shares, leaving out the first step (it warms "
             "the caches) when there are two or more, formula %s; here: the median of the bubbles predicted for this "
             "machine before each step from the step before it (leaving out the prediction made from the first step "
             "when there are three steps or more): every compute, and every message its receiver waited for, as long "
             "as it took in the step before, and a message that was there already as long as the messages waited for "
             "took on the mean, or less where it had come sooner (the probe's delivery if none was waited for), with "
             "more ranks than cores the ranks taking the cores in turn as there; with "
             "one step (or more ranks than cores and no memory shared between them), from the blocks' costs measured "
             "alone and the delivery a short probe step measured",
             s->family == PP_FAM_CUSTOM ? "n/a (a schedule from a file has none)" : pp_theory_bubble_step_text(s->family));
    pp_report_wrap(stdout, line, "", "");
    printf("\n");
    printf("%5s %8s %10s %10s %9s %9s %9s %9s\n", "M", "samples", "step time", "samples/s", "bubble", "here", "formula",
           "GFLOP/s");
    printf("%5s %8s %10s %10s %9s %9s %9s %9s\n", "", "per m.b.", "(ms)", "", "", "", "", "in comp.");
}

/* Where each M's measured bubble goes (the step of the median bubble,
 * pp_idle.h). */
static void parts_table(const pp_demo *d, const pp_idle *parts, int n, int from_file)
{
    printf("\n");
    char head[300];
    snprintf(head, sizeof head, "where each M's measured bubble goes (the step of the bubble above; points of the step, "
             "measured = %s + parts; each stage's cost: its blocks' measured cost):",
             from_file ? "the schedule replayed with every stage at the mean cost (computed; a schedule from a file "
                         "has no formula)" : "formula");   /* a file's schedule: the parts start from its own replay */
    pp_report_wrap(stdout, head, "", "");
    int cores = 0;   /* a column for the computes' waits for a core, where some waited */
    for (int i = 0; i < n; i++) cores |= parts[i].ok && pp_part_points(&parts[i], PP_PART_CORES, 2) != 0;
    printf("%5s %7s %7s %8s %7s %7s", "M", "sched", "imbal", "overrun", "late", "msg");
    if (cores) printf(" %7s", "cores");
    printf(" %7s %5s\n", "kit", "hops");
    for (int i = 0; i < n; i++) {
        const pp_idle *x = &parts[i];
        printf("%5d", d->opt.mb[i]);
        if (!x->ok) {
            printf("   (%s)\n", x->why);
            continue;
        }
        double pt[PP_NPARTS];
        for (int k = 0; k < PP_NPARTS; k++) pt[k] = pp_part_points(x, (pp_part)k, 2);
        printf(" %+7.2f %+7.2f %+8.2f %+7.2f %+7.2f", pt[PP_PART_SCHEDULE], pt[PP_PART_IMBALANCE], pt[PP_PART_OVERRUN],
               pt[PP_PART_LATE], pt[PP_PART_MESSAGES]);
        if (cores) printf(" %+7.2f", pt[PP_PART_CORES]);
        printf(" %+7.2f %5d\n", pt[PP_PART_REACTION], x->hops);
    }
    const char *legend = "measured: imbal: stages' own costs; overrun: computes past their stage's cost (below 0: "
                         "faster than the blocks measured alone); late: ranks starting after the common start; msg: "
                         "deliveries; %skit: the kit's own time between actions; hops: messages on the critical path (a "
                         "count)";
    char line[600], parts_legend[400];
    snprintf(parts_legend, sizeof parts_legend, legend,
             cores ? "cores: ranks idle while no core was free (waiting for their turn, to see a message, or between "
                     "actions); " : "");
    snprintf(line, sizeof line, "sched: %s; %s",
             from_file ? "0 (no formula to set the schedule against)"
                       : "the schedule with every stage at the mean cost, against the formula (computed)", parts_legend);
    pp_report_wrap(stdout, line, "", "");
}

/* One M's row of the table, as the summary reads it (shares of the step;
 * formula < 0: none). */
typedef struct {
    double bubble, gflops, formula, here;
} m_row;

/* What the table shows, from its own figures: whether the weights agree
 * across M to float rounding (returns 1 if not: trained wrong), and how the
 * measured bubble and GFLOP/s went from the smallest M to the largest,
 * beside the formula and this machine's prediction. */
static int summary(const pp_demo *d, const float *first_w, long nparams, const double *maxdiffs,
                   const double *losses, const m_row *row)
{
    int n = d->opt.nmb, steps = d->opt.model.steps;
    const int *mb = d->opt.mb;
    double largest_w = 0, worst = 0, loss_off = 0;
    for (long j = 0; j < nparams; j++) largest_w = fmax(largest_w, fabs((double)first_w[j]));
    for (int i = 1; i < n; i++) worst = fmax(worst, maxdiffs[i]);
    for (int i = 1; i < n; i++)   /* each step's loss against the first M's, as a share of it */
        for (int k = 0; k < steps; k++)
            loss_off = fmax(loss_off, fabs(losses[i * steps + k] - losses[k]) / fmax(fabs(losses[k]), 1e-30));
    double allowed = PP_ROUNDING_SHARE * largest_w;
    int wrong = worst > allowed || loss_off > PP_ROUNDING_SHARE;
    if (n < 2) return 0;   /* one M: nothing to set side by side */
    printf("\n");
    if (wrong) {
        char line[400];
        snprintf(line, sizeof line, "THE WEIGHTS OR THE LOSSES DIFFER across M (weights by up to %.2e, last "
                 "column; losses by up to %.1e of theirs), more than float rounding explains (%.0e of the largest "
                 "weight, %.2e): this schedule trained wrong.", worst, loss_off, PP_ROUNDING_SHARE, allowed);
        pp_report_wrap(stdout, line, "", "");
    } else
        printf("The loss and the weights agree across M to float rounding (last column):\n"
               "the same batch, the same gradient, summed in another grouping.\n");
    /* From the smallest M to the largest; fixed lines (not wrapped), so
     * that only the figures change from run to run. */
    int lo = 0, hi = 0;
    for (int i = 1; i < n; i++) lo = mb[i] < mb[lo] ? i : lo, hi = mb[i] > mb[hi] ? i : hi;
    if (lo == hi) return wrong;
    const m_row *a = &row[lo], *b = &row[hi];
    int slower = b->gflops < 0.8 * a->gflops;
    const char *end = slower ? ";" : ".";
    if (b->bubble < a->bubble - 0.01)   /* by more than a point: less is a step's noise */
        printf("More micro-batches shrank the measured bubble: %.1f %% at M=%d, %.1f %% at M=%d%s\n",
               100 * a->bubble, mb[lo], 100 * b->bubble, mb[hi], end);
    else {
        printf("The measured bubble did not shrink by a point: %.1f %% at M=%d, %.1f %% at M=%d;\n",
               100 * a->bubble, mb[lo], 100 * b->bubble, mb[hi]);
        if (a->formula < 0 || b->formula < 0)
            printf("this schedule has no formula to set it against%s\n", end);
        else if (b->formula >= a->formula)
            printf("nor does this schedule's formula%s\n", end);
        else if (b->here >= a->here)
            printf("the formula falls, and this machine's prediction (here) did not%s\n", end);
        else
            printf("the formula and this machine's prediction (here) fall: a busy machine\n"
                   "can do that%s\n", end);
    }
    if (slower)
        printf("GFLOP/s in compute fell from %.1f at M=%d to %.1f at M=%d: the smaller each\n"
               "multiply, the less of the core it uses (a busy machine lowers it too).\n", a->gflops, mb[lo],
               b->gflops, mb[hi]);
    return wrong;
}

/* The losses of every M at each step, and how far each M's weights ended from
 * the first M's, or (a schedule from a file) from one process's at the same
 * M (at most 6 step columns: past that, the first three, "...", and the
 * last two). */
static void loss_table(const pp_demo *d, const double *losses, const double *maxdiff, int from_file)
{
    int steps = d->opt.model.steps;
    if (from_file)
        printf("\nloss per step (measured: mean squared error over the step's batch), and the\n"
               "largest difference of any weight from one process's loop at M=%d\n    M", d->opt.mb[0]);
    else
        printf("\nloss per step (measured: mean squared error over the step's batch), and the\n"
               "largest difference of any weight from the weights trained with M=%d\n    M", d->opt.mb[0]);
    for (int k = 0; k < steps; k++) {
        if (steps > 6 && k == 3) printf("   ..."), k = steps - 2;
        printf("  step %-3d", k + 1);
    }
    if (from_file) printf(" |w-w(1 proc)|\n");
    else printf(" |w-w(M=%d)|\n", d->opt.mb[0]);
    for (int i = 0; i < d->opt.nmb; i++) {
        printf("%5d", d->opt.mb[i]);
        for (int k = 0; k < steps; k++) {
            if (steps > 6 && k == 3) printf("   ..."), k = steps - 2;
            printf("  %8.6f", losses[i * steps + k]);
        }
        printf("   %.2e\n", maxdiff[i]);
    }
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    int defaults[] = {1, 2, 4, 8, 16, 32, 64};
    memcpy(d.opt.mb, defaults, sizeof defaults);
    d.opt.nmb = 7;
    d.opt.model.steps = 6;
    static const pp_demo_spec spec = {.here = 1, .what = "Trains the same model with the batch split into M micro-batches, for each M.",
                                      .real = 1, .mb_list_ok = 1, .csv_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    /* The first M's schedule says how many stages the model is cut into
     * (a rank may hold several: interleaved, zbv, a file's). */
    pp_sched *first = pp_demo_schedule(&d, d.opt.schedule, d.opt.mb[0]);
    int from_file = first->family == PP_FAM_CUSTOM;
    if (from_file) d.opt.mb[0] = first->nmb, d.opt.nmb = 1;   /* a file: its own M, once */
    pp_partition part;
    pp_demo_model(&d, first, &part);
    const pp_model_cfg *c = &d.opt.model;
    int me = d.grid->rank, P = d.grid->P;
    long nparams = pp_model_params(c);
    float *first_w = me == 0 ? malloc((size_t)nparams * sizeof(float)) : NULL;
    float *w = me == 0 ? malloc((size_t)nparams * sizeof(float)) : NULL;
    double *ms = malloc((size_t)c->steps * sizeof *ms);
    /* each step's measured bubble, the bubble predicted before it, its ranks' busy seconds and its parts */
    double *bubbles = malloc((size_t)c->steps * sizeof *bubbles);
    double *predicted = malloc((size_t)c->steps * sizeof *predicted);
    double *busy_s = malloc((size_t)c->steps * sizeof *busy_s);
    pp_idle *step_parts = malloc((size_t)c->steps * sizeof *step_parts);
    pp_run **step_runs = calloc((size_t)c->steps, sizeof *step_runs);   /* rank 0: kept until the M is done */
    double *losses = calloc((size_t)d.opt.nmb * c->steps, sizeof *losses);   /* [M index][step] */
    double maxdiffs[PP_MAX_MB_LIST] = {0};
    m_row row_of[PP_MAX_MB_LIST] = {{0}};   /* each M's row, for the summary */
    pp_idle parts[PP_MAX_MB_LIST];
    int flagged = 0, wrong_across_m = 0;
    const char *broken = NULL;   /* a condition of the formula the measured costs break */
    if ((me == 0 && (!first_w || !w)) || !ms || !losses || !bubbles || !predicted || !busy_s || !step_parts || !step_runs)
        pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");

    for (int i = 0; i < d.opt.nmb && !d.quit; i++) {
        int M = d.opt.mb[i];
        pp_sched *s = i == 0 ? first : pp_demo_schedule(&d, d.opt.schedule, M);
        pp_trainer *t = NULL;
        PP_CHECK(pp_trainer_new(d.grid, c, &part, s->stage_rank, &t), "could not make this rank's blocks");
        double loss = 0;
        int paused = 0;
        memset(&parts[i], 0, sizeof parts[i]);
        for (int k = 0; k < c->steps && !d.quit; k++) {
            pp_run *pred = NULL, *meas = NULL;
            pp_demo_train(&d, t, s, &pred, &meas, &loss);
            losses[i * c->steps + k] = loss;
            if (me == 0 && meas) {
                ms[k] = meas->makespan * 1e3;
                busy_s[k] = 0;
                for (int p = 0; p < P; p++) busy_s[k] += meas->busy[p];
                bubbles[k] = pp_run_bubble_step(meas);
                predicted[k] = pp_demo_here(&d, s);   /* the prediction made before this step */
                pp_idle_breakdown(s, &d.exec.costs, meas, &step_parts[k]);
                paused |= meas->paused;
                pp_demo_note(&d, "M=%d step %d of %d: loss %.6f, %.0f samples/s (measured)", M, k + 1, c->steps,
                             loss, c->batch / meas->makespan);
            }
            pp_run_free(pred);
            step_runs[k] = meas;
        }
        if (!d.quit) {
            PP_CHECK(pp_trainer_params(t, i == 0 && !from_file ? first_w : w), "gathering the weights");
            if (me == 0) {
                /* A file's schedule is held to one process's loop at its M
                 * (the same sums in the same order: bit for bit). */
                if (from_file)
                    PP_CHECK(pp_reference_train_dp(c, d.grid->D, M, c->steps, first_w, NULL, NULL),
                             "training one process's loop to compare with");
                double maxdiff = 0;
                for (long j = 0; (i > 0 || from_file) && j < nparams; j++)
                    maxdiff = fmax(maxdiff, fabs((double)w[j] - first_w[j]));
                maxdiffs[i] = maxdiff;
                flagged |= paused;
                if (!broken) broken = pp_theory_broken(s->family, s->nranks, M, s->chunks, &d.exec.costs);
                if (i == 0) heading(s, &part, c, P);
                qsort(ms, (size_t)c->steps, sizeof *ms, cmp);
                double med = ms[c->steps / 2];
                /* The first step warms the caches: with more steps it is left out, its bubble and the
                 * prediction made from its times (with two steps that one is all there is). */
                int from = c->steps > 1, mid = median_step(bubbles + from, c->steps - from) + from;
                int pfrom = c->steps > 2 ? 2 : from;
                double bubble = bubbles[mid], here = predicted[median_step(predicted + pfrom, c->steps - pfrom) + pfrom];
                parts[i] = step_parts[mid];
                if (c->steps - from > 1 && !paused) {   /* the picture: the table's step, not the last */
                    pp_demo_show(&d, step_runs[mid], s, c->steps - from);
                    pp_demo_note(&d, "M=%d: the step of the median bubble (step %d of %d), as in the table", M,
                                 mid + 1, c->steps);
                }
                double formula = pp_theory_bubble_step(s->family, s->nranks, M, s->chunks);
                double gflops = step_flops(c) / busy_s[mid] * 1e-9;
                row_of[i] = (m_row){.bubble = bubble, .gflops = gflops, .formula = formula, .here = here};
                char ftext[16] = "n/a";
                if (formula >= 0) snprintf(ftext, sizeof ftext, "%.1f %%", 100 * formula);
                printf("%5d %8d %10.2f %10.0f %7.1f %% %7.1f %% %9s %9.2f%s\n", M, c->batch / M, med,
                       c->batch / (med * 1e-3), 100 * bubble, 100 * here, ftext, gflops, paused ? " *paused" : "");
                const pp_idle *x = &parts[i];
                double sh[PP_NPARTS];   /* shares of the step, to the CSV's 6 places (no -0.000000) */
                for (int k = 0; k < PP_NPARTS; k++) sh[k] = pp_part_points(x, (pp_part)k, 4) / 100;
                pp_demo_csv_row(&d, "schedule,P,M,samples_per_microbatch,step_ms,samples_per_s,bubble_measured,"
                                    "bubble_formula,gflops_in_compute,loss_last_step,max_weight_diff,bubble_here,"
                                    "part_schedule,part_imbalance,part_overrun,part_late,part_messages,part_kit,hops,"
                                    "delivery_us,part_cores",
                                "%s,%d,%d,%d,%.3f,%.1f,%.6f,%.6f,%.3f,%.8f,%.3e,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%d,%.1f,"
                                "%.6f",
                                s->name, P, M, c->batch / M, med, c->batch / (med * 1e-3), bubble, formula, gflops, loss,
                                maxdiff, here, sh[PP_PART_SCHEDULE], sh[PP_PART_IMBALANCE], sh[PP_PART_OVERRUN],
                                sh[PP_PART_LATE], sh[PP_PART_MESSAGES], sh[PP_PART_REACTION], x->hops,
                                x->delivery_s * 1e6, sh[PP_PART_CORES]);
                fflush(stdout);
            }
        }
        for (int k = 0; k < c->steps; k++) pp_run_free(step_runs[k]), step_runs[k] = NULL;
        if (d.opt.dump[0] && i + 1 == d.opt.nmb && !d.quit) {
            char err[400] = "";
            int bad = pp_trainer_dump(t, d.opt.dump, err, sizeof err) != PP_OK;
            pp_demo_refuse_if(&d, bad, "%s", err);
            if (me == 0)
                printf("wrote the weights and the last step's input, target and output (M=%d)\ninto %s/ as .npy\n", M,
                       d.opt.dump);
        }
        pp_trainer_free(t);
        pp_sched_free(s);
        if (i + 1 < d.opt.nmb && !d.quit) pp_demo_hold(&d, "next M: press any key (q quits)");
    }
    if (me == 0 && !d.quit) {
        if (broken) {
            char note[300];
            snprintf(note, sizeof note, "note: the formula assumes what these runs do not (%s; measured here: F %.3f, "
                     "I %.3f, W %.3f ms a block): the measured bubble is the one to read", broken,
                     d.exec.costs.ticks[PP_F], d.exec.costs.ticks[PP_I], d.exec.costs.ticks[PP_W]);
            pp_report_wrap(stdout, note, "", "  ");
        }
        int cores, gated;
        double wait_s;
        int sharing = pp_demo_sharing(&d, &cores, &gated, &wait_s);
        if (sharing > cores && gated) {
            char note[1200], waits[120] = "No compute of the last step waited for its turn (measured)";
            char races[240] = "no rank's message woke a rank that then raced it for a core (measured, the last step)";
            if (wait_s > 0)
                snprintf(waits, sizeof waits, "A compute that waited for its turn began on the mean %.0f us after the "
                         "core was freed (measured, the last step)", 1e6 * wait_s);
            double won = pp_demo_woken_share(&d);
            if (won >= 0)
                snprintf(races, sizeof races, "a rank woken by a message won %.0f %% of its races for a core with the "
                         "rank that sent it (measured, the last step); each here replays the races both ways and weighs the "
                         "two by the share of the step before it",
                         100 * won);
            snprintf(note, sizeof note, "note: %d ranks share this machine's %d core%s (found by the probe), so they "
                     "take %s in turn, a whole compute each, the first to ask the first served. A rank waiting "
                     "for its turn is idle (cores below); so is a rank whose message has come while every core "
                     "computes, until the system lets it run to see it (cores too, beyond what a message made "
                     "while a core was free takes), and those moments slow the computes (overrun). %s; here "
                     "replays the same turns, a message that had come no longer than those made while a core was "
                     "free took in the step before (median); %s", sharing, cores, cores == 1 ? "" : "s",
                     cores == 1 ? "it" : "the cores", waits, races);
            pp_report_wrap(stdout, note, "", "  ");
        } else if (sharing > cores) {
            char note[480], turns[120] = "each compute keeping its core to its end (no turn was measured)";
            if (wait_s > 0)
                snprintf(turns, sizeof turns, "in turns of %.2f ms, as long as the probe measured a rank keeps one",
                         1e3 * wait_s);
            snprintf(note, sizeof note, "note: %d ranks share this machine's %d core%s (found by the probe): a rank "
                     "may wait for a core once its message has come, or between two actions (idle: msg and kit "
                     "below), and a compute may lose its core part-way (busy: overrun below, and GFLOP/s in "
                     "comp. counts that time too); here has the ranks take the cores %s", sharing, cores,
                     cores == 1 ? "" : "s", turns);
            pp_report_wrap(stdout, note, "", "  ");
        }
        if (flagged)
            printf("* a step of this M was paused in the live view: its time held counts in\n"
                   "  the step time and the bubble\n");
        parts_table(&d, parts, d.opt.nmb, from_file);
        loss_table(&d, losses, maxdiffs, from_file);
        if (from_file && maxdiffs[0] == 0)
            printf("\nThe weights equal one process's bit for bit (last column): this order\n"
                   "adds the same gradients in the same order as the single-process loop.\n");
        else if (from_file)
            printf("\nTHE WEIGHTS DIFFER from one process's (last column): this schedule was\n"
                   "trained wrong; the pipeline must add the same sums in the same order.\n");
        else {
            wrong_across_m = summary(&d, first_w, nparams, maxdiffs, losses, row_of);
        }
    }
    int wrong = me == 0 && !d.quit && ((from_file && maxdiffs[0] != 0) || wrong_across_m);
    free(first_w), free(w), free(ms), free(losses), free(bubbles), free(predicted), free(busy_s), free(step_parts);
    free(step_runs);
    int status = pp_demo_end(&d);
    return status ? status : wrong;   /* weights trained wrong: status 1 */
}
