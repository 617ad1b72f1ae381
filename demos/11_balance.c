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
 * instead, and the split by cost gives it fewer blocks.  With --real the
 * model trains for real: its end layers (an input layer of FEATURES
 * features on the first stage, an output layer and the loss on the last)
 * are the extra work, their costs measured, the split by cost made from
 * those measurements, and every split's weights equal one process's.
 *
 * Part 2, the batch-size constraint: with the batch of a step fixed, more
 * micro-batches shrink the bubble but make each multiply smaller, and a
 * small multiply does less per second.  The demo measures a block of the
 * real model (lib/model) at each micro-batch size, runs the step with those
 * costs for each M, and finds the best M, beside the formula's.
 *
 *   mpiexec -n 4 ./demos/11_balance
 *   mpiexec -n 4 ./demos/11_balance --slow-stage 1:2
 *   mpiexec -n 2 ./demos/11_balance --real        (a rank per core)
 *
 * Left out on purpose: uneven stages in part 2; a real embedding (a table
 * lookup): its compute is small, and the input layer stands for the work.
 */
#include "pp_demo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model of part 1: BLOCKS_PER_STAGE blocks per stage, each a quarter of
 * an even stage's F and B; the embedding and the loss each cost EXTRA_BLOCKS
 * blocks' worth. */
enum { BLOCKS_PER_STAGE = 4, EXTRA_BLOCKS = 2 };

/* --real: the end layers' width (features in and out), and the blocks'
 * hidden width unless --hidden is given (narrower than the kit's default),
 * so that the end layers weigh one to two blocks each, measured, as the
 * timed run's stated model (two each) roughly assumes.  (Wider end layers
 * would need a teacher of FEATURES squared numbers.) */
enum { FEATURES = 2048, REAL_HIDDEN = 256 };

/* Part 2: the model's default blocks with a batch of PART2_BATCH samples,
 * split into M = 1, 2, 4, ... micro-batches. */
enum { PART2_BATCH = 256, MAX_SWEEP = 16 };

/* What one run of part 1 measured (rank 0). */
typedef struct {
    char name[24], blocks[128];
    double weight[PP_MAX_STAGES];   /* each stage's cost, times an even stage's */
    double pred_ms, meas_ms, bubble, imbalance;
    int ok;                         /* the breakdown took the run apart */
    long differ;                    /* --real: weights that differ from one process's (-1: not compared) */
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

/* The row's blocks per stage as counts, "3,5,5,3" (ranges would not fit
 * 80 columns at P = 8). */
static void blocks_text(const pp_partition *part, balance_row *row)
{
    size_t k = 0;
    for (int s = 0; s < part->nstages; s++)
        k += (size_t)snprintf(row->blocks + k, sizeof row->blocks - k, "%s%d", s ? "," : "",
                              part->first[s + 1] - part->first[s]);
}

/* Rank 0: a row's figures from a step of s, predicted and measured: the
 * step's length, its bubble and the breakdown's imbalance part. */
static void fill_row(pp_demo *d, const pp_sched *s, const pp_run *pred, const pp_run *meas, balance_row *row)
{
    pp_idle parts;
    row->pred_ms = pred->makespan * 1e3, row->meas_ms = meas->makespan * 1e3;
    row->bubble = pp_run_bubble_step(meas);
    row->ok = pp_idle_breakdown(s, &d->exec.costs, meas, &parts) == PP_OK && parts.ok;
    row->imbalance = row->ok ? pp_part_points(&parts, PP_PART_IMBALANCE, 2) : 0;
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
    blocks_text(&part, row);
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
    if (d->grid->rank == 0 && meas && !d->quit) fill_row(d, s, pred, meas, row);
    pp_run_free(pred), pp_run_free(meas);
    pp_sched_free(s);
}

/* Part 1's table, one row per split. */
static void part1_table(const pp_demo *d, const balance_row *rows, int n)
{
    int P = d->grid->P;
    printf("\n%-9s %-22s %8s %9s %9s %8s %7s\n", "split", "blocks per stage", "slowest", "step ms", "step ms",
           "bubble", "imbal");
    printf("%-9s %-22s %8s %9s %9s %8s %7s\n", "", "", "x even", "predicted", "measured", "measured", "points");
    for (int i = 0; i < n; i++) {
        double most = 0;
        for (int s = 0; s < P; s++) most = rows[i].weight[s] > most ? rows[i].weight[s] : most;
        char imbal[16] = "n/a";
        if (rows[i].ok) snprintf(imbal, sizeof imbal, "%+.2f", rows[i].imbalance);
        int dp = d->opt.real ? 2 : 1;   /* real steps last milliseconds, and small wins count: more decimals */
        printf("%-9s %-22s %8.*f %9.*f %9.*f %7.1f%% %7s\n", rows[i].name, rows[i].blocks, dp + 1, most, dp,
               rows[i].pred_ms, dp, rows[i].meas_ms, 100 * rows[i].bubble, imbal);
    }
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
    part1_table(d, rows, n);
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
        pp_demo_note(d, "%s split (blocks %s), split %d of 3", rows[i].name, rows[i].blocks, i + 1);
        run_row(d, &rows[i]);
        if (i < 2 && !d->quit) pp_demo_hold(d, "press any key for the next split, q to quit");
    }
    pp_demo_stage_costs(d, NULL, 0);
    if (d->grid->rank == 0 && !d->quit) part1_report(d, rows, 3, slow_stage);
}

static int by_makespan(const void *a, const void *b)
{
    double x = (*(pp_run *const *)a)->makespan, y = (*(pp_run *const *)b)->makespan;
    return (x > y) - (x < y);
}

/* --real: trains t --steps steps under s; rank 0 fills the row from the
 * step of median length among the second to the last (the first touches
 * fresh memory), so that one disturbed step does not make the row. */
static void train_row(pp_demo *d, pp_trainer *t, const pp_sched *s, balance_row *row)
{
    int steps = d->opt.model.steps, skip = steps > 1, n = 0;
    pp_run **runs = calloc((size_t)steps, sizeof *runs), *pred = NULL;
    if (!runs) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    double loss = 0;
    for (int i = 0; i < steps && !d->quit; i++) {
        pp_run *meas = NULL;
        pp_run_free(pred);
        pp_demo_note(d, "%s split (blocks %s), step %d of %d", row->name, row->blocks, i + 1, steps);
        pp_demo_train(d, t, s, &pred, &meas, &loss);
        if (meas && i >= skip) runs[n++] = meas;
        else pp_run_free(meas);
    }
    if (d->grid->rank == 0 && n > 0 && !d->quit) {
        qsort(runs, (size_t)n, sizeof *runs, by_makespan);
        fill_row(d, s, pred, runs[n / 2], row);
    }
    for (int i = 0; i < n; i++) pp_run_free(runs[i]);
    free(runs);
    pp_run_free(pred);
}

/* Collective: how many of t's weights differ from one process's trained
 * the same steps (rank 0; -1 elsewhere or if not compared).  *ref holds
 * the single-process weights, made the first time. */
static long differ_from_one(pp_demo *d, pp_trainer *t, float **ref)
{
    const pp_model_cfg *c = &d->opt.model;
    if (d->quit) return -1;
    long n = pp_model_params(c), differ = -1;
    float *got = d->grid->rank == 0 ? malloc((size_t)n * sizeof *got) : NULL;
    PP_CHECK(pp_trainer_params(t, got), "could not gather the weights");
    if (d->grid->rank == 0) {
        if (!*ref && (*ref = malloc((size_t)n * sizeof **ref)) != NULL)
            PP_CHECK(pp_reference_train(c, d->opt.mb[0], c->steps, *ref, NULL, NULL), "could not train one process");
        differ = 0;
        for (long i = 0; *ref && got && i < n; i++) differ += memcmp(&got[i], &(*ref)[i], sizeof *got) != 0;
    }
    free(got);
    return differ;
}

/* --real: the model of a row (its end layers, or none) split `how` over
 * the stages by the costs measured before (pp_demo_model), trained under
 * 1F1B and compared with one process (ref[0] without end layers, ref[1]
 * with them). */
static void real_row(pp_demo *d, int features, const char *how, balance_row *row, float *ref[2])
{
    pp_model_cfg *c = &d->opt.model;
    int P = d->grid->P;
    c->features = features;
    snprintf(d->opt.partition, sizeof d->opt.partition, "%s", how);
    pp_partition part;
    pp_demo_model(d, NULL, &part);   /* splits the blocks by the measured costs, sets the stages' costs */
    blocks_text(&part, row);
    for (int s = 0; s < P; s++)   /* in blocks, over an even stage's */
        row->weight[s] = d->exec.costs.stage_scale[s] / ((double)c->depth / P);
    pp_sched *s = pp_demo_schedule(d, "1f1b", d->opt.mb[0]);
    pp_trainer *t = NULL;
    PP_CHECK(pp_trainer_new(d->grid, c, &part, s->stage_rank, &t), "could not make this rank's blocks");
    train_row(d, t, s, row);
    row->differ = differ_from_one(d, t, &ref[features > 0]);
    pp_trainer_free(t);
    pp_sched_free(s);
}

/* Rank 0: --real's part 1, from the rows and the costs measured for them. */
static void real_report(const pp_demo *d, const balance_row *rows, const double cost[PP_MODEL_NCOSTS])
{
    const pp_model_cfg *c = &d->opt.model;
    int P = d->grid->P, M = d->opt.mb[0];
    double block = cost[PP_COST_F] + cost[PP_COST_B], in = cost[PP_COST_IN_F] + cost[PP_COST_IN_B];
    double out = cost[PP_COST_OUT_F] + cost[PP_COST_OUT_B];
    printf("1f1b on P=%d stages, M=%d, real compute: %d blocks (width %d, hidden %d),\n"
           "a batch of %d samples, %d steps each", P, M, c->depth, c->width, c->hidden, c->batch, c->steps);
    if (c->steps > 2) printf(" (the step shown: the median of steps\n2 to %d)", c->steps);
    else if (c->steps == 2) printf(" (the step shown: the second)");
    printf("\n");
    printf("measured once for a micro-batch of %d samples: a block's F+B %.3f ms; the input\n"
           "layer (%d features in) %.3f ms = %.1f blocks; the output layer and loss (%d\n"
           "out) %.3f ms = %.1f blocks; 'even' runs without them\n", c->batch / M, block * 1e3, FEATURES, in * 1e3,
           in / block, FEATURES, out * 1e3, out / block);
    part1_table(d, rows, 3);
    long differ = 0;
    for (int i = 0; i < 3; i++) differ += rows[i].differ != 0;
    printf("slowest: the slowest stage's measured cost over an even stage's; predicted:\n"
           "the simulator with the measured costs; imbal: the part of the measured bubble\n"
           "the unequal costs make (the breakdown, pp_idle.h, from the measured costs:\n"
           "it moves with them); formula (P-1)/(M+P-1) = %.1f %%\n",
           100 * pp_theory_bubble_step(PP_FAM_1F1B, P, M, 1));
    if (strcmp(rows[1].blocks, rows[2].blocks) == 0)
        printf("the split by cost kept the equal one: moving a whole block would not make the\n"
               "slowest stage faster (the end layers' extra work sits on both end stages)\n");
    if (differ == 0) printf("weights after %d steps: every split's equal one process's bit for bit\n", c->steps);
    for (int i = 0; i < 3; i++)
        if (rows[i].differ != 0)
            printf("weights after %d steps: %s split: %ld differ from one process's (a bug)\n", c->steps, rows[i].name,
                   rows[i].differ);
}

/* --real, part 1: the model without end layers split equally (every stage
 * the same), with them split equally, and with them split by cost. */
static void real_part1(pp_demo *d)
{
    pp_model_cfg *c = &d->opt.model;
    balance_row rows[3];
    memset(rows, 0, sizeof rows);
    float *ref[2] = {NULL, NULL};
    static const char *names[3] = {"even", "equal", "by cost"}, *how[3] = {"front", "front", "balanced"};
    double cost[PP_MODEL_NCOSTS] = {0};   /* rank 0: the blocks' and end layers' measured costs, for the text */
    /* The costs are measured once, with the end layers, so that every row's
     * prediction and weights come from the same measurement. */
    pp_partition part;
    c->features = FEATURES;
    pp_demo_model(d, NULL, &part);
    for (int i = 0; i < 3 && !d->quit; i++) {
        snprintf(rows[i].name, sizeof rows[i].name, "%s", names[i]);
        real_row(d, i > 0 ? FEATURES : 0, how[i], &rows[i], ref);
        if (i < 2 && !d->quit) pp_demo_hold(d, "press any key for the next split, q to quit");
    }
    if (d->grid->rank == 0 && !d->quit) pp_demo_costs(d, cost);
    free(ref[0]), free(ref[1]);
    if (d->grid->rank == 0 && !d->quit) real_report(d, rows, cost);
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
    pp_demo_note(d, "part 2: a batch of %d in M micro-batches, even stages of the kit's default block", PART2_BATCH);
    int P = d->grid->P, per = c.depth / P > 0 ? c.depth / P : 1, ms[MAX_SWEEP], n = 0;
    for (int M = 1; M <= c.batch && n < MAX_SWEEP; M *= 2)
        if (c.batch % M == 0) ms[n++] = M;
    double stage_s[MAX_SWEEP], pred_ms[MAX_SWEEP], meas_ms[MAX_SWEEP], rows_b[MAX_SWEEP];
    pp_exec_opts saved = d->exec;
    /* Every size measured first, on rank 0 while the others sleep. */
    double costs[MAX_SWEEP][PP_MODEL_NCOSTS];
    for (int i = 0; i < n && d->grid->rank == 0; i++)
        PP_CHECK(pp_model_measure(&c, c.batch / ms[i], costs[i]), "could not measure the model");
    pp_demo_share_measured(d, &costs[0][0], MAX_SWEEP * PP_MODEL_NCOSTS);
    for (int i = 0; i < n && !d->quit; i++) {
        const double *cost = costs[i];
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
        .no_schedule = 1, .either = 1,
        .no_dump = "this demo trains three models in turn; demos 02 and 03 write their weights and data",
        .no_checkpoint = "this demo compares splits of the same work; demo 10 shows checkpointing",
        .no_partition = "this demo makes its own splits (equal, then by cost); demos 02 and 03 take it"};
    d.opt.model.depth = 16;   /* 4 blocks a stage on 4 ranks: fine enough to split by cost */
    d.opt.model.hidden = REAL_HIDDEN;
    pp_demo_start(&d, &spec, &argc, &argv);
    int P = d.grid->P;
    pp_demo_refuse_if(&d, P > PP_MAX_STAGES, "%d ranks: this demo splits at most %d stages", P, PP_MAX_STAGES);
    if (d.opt.real) real_part1(&d);
    else part1(&d);
    if (!d.quit && !pp_demo_hold(&d, "part 1 done: press any key for the best M of a fixed batch, q to quit"))
        part2(&d);
    return pp_demo_end(&d);
}
