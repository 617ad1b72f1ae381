/* 11_balance.c -- the slowest stage sets the pace; and the best M for a
 * fixed batch.
 *
 * The idea, part 1: in a pipeline every micro-batch passes every stage, so
 * once the line is full it moves at the pace of its slowest stage, and the
 * other stages wait for it every time.  The first and last stages often
 * carry extra work (an embedding before the first block, the loss after the
 * last), so an equal split of the blocks is not an equal split of the time.
 * The demo runs 1F1B three times: every stage the same (the formula's
 * world), the blocks split equally with the extra work on the end stages,
 * and the blocks split by cost (the balanced partitioner), and measures
 * each.  With --slow-stage S:FACTOR, stage S's rank is that much slower
 * instead, and the split by cost gives it fewer blocks.
 *
 * Part 2, the batch-size constraint: with the batch of a step fixed, more
 * micro-batches shrink the bubble but make each multiply smaller, and a
 * small multiply does less per second.  The demo measures a block of the
 * real model (lib/model) at each micro-batch size, runs the step with those
 * costs for each M, and finds the best M, beside the formula's.
 *
 *   mpiexec -n 4 ./demos/11_balance
 *   mpiexec -n 4 ./demos/11_balance --slow-stage 1:2
 *
 * Left out on purpose: computing the embedding and loss for real (their
 * costs are a stated model here, in blocks), and uneven stages in part 2.
 */
#include "pp_demo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model of part 1: BLOCKS_PER_STAGE blocks per stage, each a quarter of
 * an even stage's F and B; the embedding and the loss each cost EXTRA_BLOCKS
 * blocks' worth. */
enum { BLOCKS_PER_STAGE = 4, EXTRA_BLOCKS = 2 };

/* Part 2: the model's default blocks with a batch of PART2_BATCH samples,
 * split into M = 1, 2, 4, ... micro-batches. */
enum { PART2_BATCH = 256, MAX_SWEEP = 16 };

/* What one run of part 1 measured (rank 0). */
typedef struct {
    char name[24], blocks[128];
    double weight[PP_MAX_STAGES];   /* each stage's cost, times an even stage's */
    double pred_ms, meas_ms, bubble, imbalance;
    int ok;                         /* the breakdown took the run apart */
} balance_row;

/* Blocks per stage in proportion to each rank's speed (1 / slow), rounded
 * by largest remainder, at least one each: counts like "5,2,5,4". */
static void by_speed(int L, int P, const double *slow, char *counts, size_t n)
{
    double speed = 0, share[PP_MAX_STAGES];
    int got[PP_MAX_STAGES], left = L;
    for (int s = 0; s < P; s++) speed += 1 / slow[s];
    for (int s = 0; s < P; s++) {
        share[s] = L * (1 / slow[s]) / speed;
        got[s] = (int)share[s] > 0 ? (int)share[s] : 1;
        left -= got[s];
    }
    while (left > 0) {   /* the largest remainders first */
        int best = 0;
        for (int s = 1; s < P; s++)
            if (share[s] - got[s] > share[best] - got[best]) best = s;
        got[best]++, left--;
    }
    while (left < 0) {   /* taken back from the largest shares of more than one */
        int most = 0;
        for (int s = 1; s < P; s++)
            if (got[s] > got[most]) most = s;
        got[most]--, left++;
    }
    size_t k = 0;
    for (int s = 0; s < P; s++) k += (size_t)snprintf(counts + k, n - k, "%s%d", s ? "," : "", got[s]);
}

/* Each stage's weight under partition `how` of the L blocks: its blocks'
 * cost (cost[l], in blocks) times its rank's slowness, over an even stage's. */
static void weigh(pp_demo *d, const char *how, const double *cost, const double *slow, balance_row *row)
{
    int P = d->grid->P, L = BLOCKS_PER_STAGE * P;
    pp_partition part;
    char err[300] = "";
    int bad = pp_partition_make(how, L, P, cost, &part, err, sizeof err) != PP_OK;
    pp_demo_refuse_if(d, bad, "%s", err);
    size_t k = 0;   /* blocks per stage as counts: "3,5,5,3" (ranges would not fit 80 columns at P = 8) */
    for (int s = 0; s < P; s++)
        k += (size_t)snprintf(row->blocks + k, sizeof row->blocks - k, "%s%d", s ? "," : "",
                              part.first[s + 1] - part.first[s]);
    for (int s = 0; s < P; s++) {
        double sum = 0;
        for (int l = part.first[s]; l < part.first[s + 1]; l++) sum += cost[l];
        row->weight[s] = sum * slow[s] / BLOCKS_PER_STAGE;
    }
}

/* Runs 1F1B with the row's stage weights; rank 0 fills in its figures. */
static void run_row(pp_demo *d, balance_row *row)
{
    int P = d->grid->P;
    pp_demo_stage_costs(d, row->weight, P);
    pp_sched *s = pp_demo_schedule(d, "1f1b", d->opt.mb[0]);
    pp_run *pred = NULL, *meas = NULL;
    pp_demo_run(d, s, &pred, &meas);
    if (d->grid->rank == 0 && meas && !d->quit) {
        pp_idle parts;
        row->pred_ms = pred->makespan * 1e3, row->meas_ms = meas->makespan * 1e3;
        row->bubble = pp_run_bubble_step(meas);
        row->ok = pp_idle_breakdown(s, &d->exec.costs, meas, &parts) == PP_OK && parts.ok;
        row->imbalance = row->ok ? pp_part_points(&parts, PP_PART_IMBALANCE, 2) : 0;
    }
    pp_run_free(pred), pp_run_free(meas);
    pp_sched_free(s);
}

static void part1_report(const pp_demo *d, const balance_row *rows, int n, int slow_stage)
{
    int P = d->grid->P, M = d->opt.mb[0];
    double tick_ms = d->exec.costs.tick_s * 1e3, F = d->opt.ticks[PP_F], B = d->opt.ticks[PP_B];
    printf("1f1b on P=%d stages, M=%d; an even stage: %d blocks, F=%g B=%g ticks of %.4g ms\n", P, M,
           BLOCKS_PER_STAGE, F, B, tick_ms);
    if (slow_stage >= 0)
        printf("stage %d's rank takes %g times as long as the others for the same work\n(--slow-stage)\n", slow_stage,
               d->opt.slow_factor);
    else
        printf("the embedding (before block 0) and the loss (after the last block) cost\n"
               "%d blocks' worth each (a stated model)\n", EXTRA_BLOCKS);
    printf("\n%-9s %-22s %8s %9s %9s %8s %7s\n", "split", "blocks per stage", "slowest", "step ms", "step ms",
           "bubble", "imbal");
    printf("%-9s %-22s %8s %9s %9s %8s %7s\n", "", "", "x even", "predicted", "measured", "measured", "points");
    for (int i = 0; i < n; i++) {
        double most = 0;
        for (int s = 0; s < P; s++) most = rows[i].weight[s] > most ? rows[i].weight[s] : most;
        char imbal[16] = "n/a";
        if (rows[i].ok) snprintf(imbal, sizeof imbal, "%+.2f", rows[i].imbalance);
        printf("%-9s %-22s %8.2f %9.1f %9.1f %7.1f%% %7s\n", rows[i].name, rows[i].blocks, most, rows[i].pred_ms,
               rows[i].meas_ms, 100 * rows[i].bubble, imbal);
    }
    printf("slowest: the slowest stage's cost over an even stage's (computed); predicted:\n"
           "the simulator with those costs; imbal: the part of the measured bubble that\n"
           "the unequal costs make (the breakdown, pp_idle.h, replays the step with its\n"
           "stages' costs and with their mean: computed, so the same in every run);\n"
           "formula (P-1)/(M+P-1) = %.1f %%\n", 100 * pp_theory_bubble_step(PP_FAM_1F1B, P, M, 1));
}

/* Part 1: even, split equally with the extra work, split by cost. */
static void part1(pp_demo *d)
{
    int P = d->grid->P, L = BLOCKS_PER_STAGE * P, slow_stage = d->opt.slow_stage;
    double cost[BLOCKS_PER_STAGE * PP_MAX_STAGES], slow[PP_MAX_STAGES] = {0}, flat[PP_MAX_STAGES] = {0};
    for (int l = 0; l < L; l++) cost[l] = 1;
    for (int s = 0; s < P; s++) slow[s] = s == slow_stage ? d->opt.slow_factor : 1, flat[s] = 1;
    if (slow_stage < 0) cost[0] += EXTRA_BLOCKS, cost[L - 1] += EXTRA_BLOCKS;
    balance_row rows[3];
    memset(rows, 0, sizeof rows);
    double ones[BLOCKS_PER_STAGE * PP_MAX_STAGES];
    for (int l = 0; l < L; l++) ones[l] = 1;
    snprintf(rows[0].name, sizeof rows[0].name, "even");
    weigh(d, "front", ones, flat, &rows[0]);
    snprintf(rows[1].name, sizeof rows[1].name, "equal");
    weigh(d, "front", cost, slow, &rows[1]);
    snprintf(rows[2].name, sizeof rows[2].name, "by cost");
    if (slow_stage < 0) weigh(d, "balanced", cost, slow, &rows[2]);
    else {
        char counts[256];
        by_speed(L, P, slow, counts, sizeof counts);
        weigh(d, counts, cost, slow, &rows[2]);
    }
    for (int i = 0; i < 3 && !d->quit; i++) {
        run_row(d, &rows[i]);
        if (i < 2 && !d->quit) pp_demo_hold(d, "press any key for the next split, q to quit");
    }
    pp_demo_stage_costs(d, NULL, 0);
    if (d->grid->rank == 0 && !d->quit) part1_report(d, rows, 3, slow_stage);
}

/* Part 2's fit: t(b) = t0 + c b over n points, least squares of the
 * relative error (weights 1 / t^2), so that the small micro-batches, where
 * t0 matters, count as much as the large ones. */
static void fit(const double *b, const double *t, int n, double *t0, double *c)
{
    double sw = 0, sb = 0, st = 0, sbb = 0, sbt = 0;
    for (int i = 0; i < n; i++) {
        double w = 1 / (t[i] * t[i]);
        sw += w, sb += w * b[i], st += w * t[i], sbb += w * b[i] * b[i], sbt += w * b[i] * t[i];
    }
    double den = sw * sbb - sb * sb;
    *c = den != 0 ? (sw * sbt - sb * st) / den : 0;
    *t0 = sw > 0 ? (st - *c * sb) / sw : 0;
}

/* Part 2: the batch fixed, M swept; each stage's costs measured from the
 * real model's block at that micro-batch size. */
static void part2(pp_demo *d)
{
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.batch = PART2_BATCH;
    static const double even[1] = {1};
    pp_demo_stage_costs(d, even, 0);   /* every stage the same (not --slow-stage's) */
    int P = d->grid->P, per = c.depth / P > 0 ? c.depth / P : 1, ms[MAX_SWEEP], n = 0;
    for (int M = 1; M <= c.batch && n < MAX_SWEEP; M *= 2)
        if (c.batch % M == 0) ms[n++] = M;
    double stage_s[MAX_SWEEP], pred_ms[MAX_SWEEP], meas_ms[MAX_SWEEP], rows_b[MAX_SWEEP];
    pp_exec_opts saved = d->exec;
    for (int i = 0; i < n && !d->quit; i++) {
        double cost[PP_MODEL_NCOSTS];
        if (d->grid->rank == 0) PP_CHECK(pp_model_measure(&c, c.batch / ms[i], cost), "could not measure the model");
        MPI_Request rq;
        MPI_Ibcast(cost, PP_MODEL_NCOSTS, MPI_DOUBLE, 0, d->grid->all, &rq);
        PP_CHECK(pp_wait(&rq, d->exec.poll_wait_s), "sharing the measured costs");
        /* a stage of `per` blocks, in ticks of 1 ms */
        d->exec.costs.tick_s = 1e-3;
        d->exec.costs.ticks[PP_F] = per * cost[PP_COST_F] / 1e-3;
        d->exec.costs.ticks[PP_B] = per * cost[PP_COST_B] / 1e-3;
        d->exec.payload = (size_t)(c.batch / ms[i]) * (size_t)c.width * sizeof(float);
        rows_b[i] = c.batch / ms[i];
        stage_s[i] = per * (cost[PP_COST_F] + cost[PP_COST_B]);
        pp_sched *s = pp_demo_schedule(d, "1f1b", ms[i]);
        pp_run *pred = NULL, *meas = NULL;
        pp_demo_run(d, s, &pred, &meas);
        if (d->grid->rank == 0 && meas) pred_ms[i] = pred->makespan * 1e3, meas_ms[i] = meas->makespan * 1e3;
        pp_run_free(pred), pp_run_free(meas);
        pp_sched_free(s);
    }
    d->exec = saved;
    if (d->grid->rank != 0 || d->quit) return;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (meas_ms[i] < meas_ms[best]) best = i;
    /* Two fits of t0 + c b: the compute alone (the measured stage costs), and
     * the whole slot a micro-batch takes in the measured step (its messages
     * and the kit's own time included: step / (M + P - 1)). */
    double slot_s[MAX_SWEEP], t0[2], k[2], star[2];
    for (int i = 0; i < n; i++) slot_s[i] = meas_ms[i] * 1e-3 / (ms[i] + P - 1);
    fit(rows_b, stage_s, n, &t0[0], &k[0]);
    fit(rows_b, slot_s, n, &t0[1], &k[1]);
    for (int j = 0; j < 2; j++) star[j] = t0[j] > 0 && k[j] > 0 ? sqrt((P - 1) * k[j] * c.batch / t0[j]) : 0;
    printf("\nthe batch-size constraint: a batch of %d samples in M micro-batches, 1f1b\n"
           "on P=%d stages of %d block%s (width %d, hidden %d); each stage's F+B measured\n"
           "from the real model's block at that micro-batch size, then the step run timed\n\n", c.batch, P, per,
           per == 1 ? "" : "s", c.width, c.hidden);
    printf("%5s %9s %12s %10s %10s %10s\n", "M", "samples", "stage F+B", "step ms", "step ms", "samples/s");
    printf("%5s %9s %12s %10s %10s %10s\n", "", "per m.b.", "us, measured", "predicted", "measured", "measured");
    for (int i = 0; i < n; i++)
        printf("%5d %9.0f %12.1f %10.2f %10.2f %10.0f%s\n", ms[i], rows_b[i], stage_s[i] * 1e6, pred_ms[i], meas_ms[i],
               c.batch / (meas_ms[i] * 1e-3), i == best ? "  <- best" : "");
    printf("a micro-batch of b samples costs a stage t0 + c b, fitted (least relative\n"
           "squares) to the measured costs; the step, (M+P-1) (t0 + c B/M), is then\n"
           "shortest at M = sqrt((P-1) c B / t0) (formula):\n");
    printf("  compute alone (stage F+B):   t0 = %7.1f us, c = %6.2f us a sample: M = %.1f\n", t0[0] * 1e6, k[0] * 1e6,
           star[0]);
    printf("  the whole slot (step ms / (M+P-1), messages and waits included):\n"
           "                               t0 = %7.1f us, c = %6.2f us a sample: M = %.1f\n", t0[1] * 1e6, k[1] * 1e6,
           star[1]);
    printf("  measured best M = %d\n", ms[best]);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    static const pp_demo_spec spec = {
        .what = "Shows that the slowest stage sets the pace (uneven stages, then split by cost), and finds the best "
                "number of micro-batches for a fixed batch.",
        .no_schedule = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    pp_demo_refuse_if(&d, d.grid->P > PP_MAX_STAGES, "%d ranks: this demo splits at most %d stages", d.grid->P,
                      PP_MAX_STAGES);
    part1(&d);
    if (!d.quit && !pp_demo_hold(&d, "part 1 done: press any key for the best M of a fixed batch, q to quit"))
        part2(&d);
    return pp_demo_end(&d);
}
