/* 10_checkpointing.c -- activation checkpointing: memory bought with compute.
 *
 * The idea: a backward needs what its forward computed (each block's input,
 * h and gelu(h)), so a stage stores all of it for every micro-batch between
 * its forward and its backward.  With checkpointing a forward keeps only the
 * stage's input, and the backward first runs that forward again to have the
 * rest.  Stored activations fall to one input per micro-batch held, plus one
 * micro-batch's whole set while it is recomputed; every backward costs one
 * forward more, a third more compute when B = 2F.  The demo trains GPipe
 * and 1F1B without and with checkpointing (the steps of the two in turn, so
 * that a change in the machine's load falls on both), counts the memory from
 * the allocations and the compute from the computes' CPU time and busy time,
 * measured, and from the multiplies' operations, counted; puts each beside
 * its formula, and checks that all four runs end
 * with one process's weights, bit for bit.
 *
 *   mpiexec -n 4 ./demos/10_checkpointing -m 8
 */
#include "pp_demo.h"

#include <stdlib.h>
#include <string.h>

static const char *names[2] = {"gpipe", "1f1b"};

/* One schedule trained one way (without or with checkpointing). */
typedef struct {
    pp_trainer *t;
    double *busy;      /* rank 0: [P] seconds each rank computed, summed over the steps */
    double *cpu;       /* rank 0: [P] of them, the seconds its computes ran on a CPU */
    double *flops;     /* rank 0: [P] the floating-point operations of its matrix multiplies */
    pp_mem *mem;       /* rank 0: [P] each rank's memory counts */
    double bubble;     /* rank 0: the last step's measured bubble (share of the step) */
} way;

static double kib(long bytes)
{
    return bytes / 1024.0;
}

static double sum(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

/* Step i (from 0) of w, which trains with checkpointing if `ckpt`; rank 0
 * adds each rank's busy and CPU time from the second step on (the first
 * touches fresh memory).  The live view says which way this step runs. */
static void step(pp_demo *d, way *w, const pp_sched *s, int ckpt, int i, double *cpu)
{
    pp_run *pred = NULL, *meas = NULL;
    double loss, mine, flops;
    int P = d->grid->P;
    d->opt.model.checkpoint = ckpt;   /* the costs the step is predicted with */
    pp_demo_note(d, "%s, step %d of %d, %s", s->name, i + 1, d->opt.model.steps,
                 ckpt ? "with checkpointing: each backward runs its forward again"
                      : "without checkpointing: each forward keeps all it computes");
    pp_demo_train(d, w->t, s, &pred, &meas, &loss);
    mine = pp_trainer_cpu_s(w->t), flops = pp_trainer_flops(w->t);
    MPI_Gather(&mine, 1, MPI_DOUBLE, cpu, 1, MPI_DOUBLE, 0, d->grid->all);
    MPI_Gather(&flops, 1, MPI_DOUBLE, cpu + P, 1, MPI_DOUBLE, 0, d->grid->all);
    for (int r = 0; meas && i > 0 && r < meas->nrows; r++)
        w->busy[r] += meas->busy[r], w->cpu[r] += cpu[r], w->flops[r] += cpu[P + r];
    if (meas) w->bubble = pp_run_bubble_step(meas);
    pp_run_free(pred), pp_run_free(meas);
}

/* Rank 0: the stored activations at their peak, measured and formula. */
static void memory_table(const pp_sched *s, const way w[2], int M)
{
    int P = s->nranks;
    printf("%s, M=%d: stored activations at peak, KiB per rank, measured from the\n"
           "allocations / formula (h: micro-batches held at once, formula %s)\n", s->name, M,
           pp_theory_peak_text(s->family));
    printf("  rank   without checkpointing      with checkpointing               saved\n");
    printf("         meas./formula (h x 1)      meas./formula (h-1 x in + 1)     meas.\n");
    for (int r = 0; r < P; r++) {
        int held = pp_theory_peak_inflight(s->family, P, M, 1, r);
        long plain = w[0].mem[r].peak[PP_MEM_ACTS], ckpt = w[1].mem[r].peak[PP_MEM_ACTS];
        long whole = pp_trainer_act_bytes(w[0].t, r, M), in = pp_trainer_input_bytes(w[1].t, r, M);
        char a[48], b[48];
        snprintf(a, sizeof a, "%6.1f/%-6.1f (%d x %.1f)", kib(plain),
                 kib(pp_trainer_peak_act_bytes(w[0].t, r, M, held)), held, kib(whole));
        snprintf(b, sizeof b, "%6.1f/%-6.1f (%d x %.1f + %.1f)", kib(ckpt),
                 kib(pp_trainer_peak_act_bytes(w[1].t, r, M, held)), held - 1, kib(in), kib(whole));
        printf("  %4d  %-26s %-30s %5.1f %%\n", r, a, b, plain ? 100.0 * (plain - ckpt) / plain : 0.0);
    }
    printf("  in: the stage's input, one micro-batch's (all a forward keeps with\n"
           "  checkpointing); 1: one micro-batch's whole activations (each block's x, h\n"
           "  and gelu(h); the last stage also the loss gradient), which the backward\n"
           "  makes again\n");
}

/* Rank 0: the compute each way, measured, against the formula's third;
 * L blocks; F and B: a block's, measured before the runs (seconds). */
static void compute_table(const pp_sched *s, const way w[2], int steps, int L, double F, double B)
{
    int P = s->nranks;
    printf("  compute over steps 2 to %d, per rank (measured): the CPU time of its\n"
           "  computes, and its busy time (wall clock: also any time its core ran\n"
           "  another program)\n", steps);
    printf("  rank   CPU without      with   extra   busy without      with   extra\n");
    for (int r = 0; r < P; r++)
        printf("  %4d  %9.1f ms %6.1f ms %5.1f %%  %9.1f ms %6.1f ms %5.1f %%\n", r, 1e3 * w[0].cpu[r],
               1e3 * w[1].cpu[r], 100 * (w[1].cpu[r] / w[0].cpu[r] - 1), 1e3 * w[0].busy[r], 1e3 * w[1].busy[r],
               100 * (w[1].busy[r] / w[0].busy[r] - 1));
    printf("  all ranks: CPU time %.1f %% more, busy time %.1f %% more (measured)\n"
           "  formula: the recompute adds one F to each F + B: F / (F + B) = %.1f %% with\n"
           "  B = 2F, %.1f %% with this machine's block (F %.3f ms, B %.3f ms, measured)\n",
           100 * (sum(w[1].cpu, P) / sum(w[0].cpu, P) - 1), 100 * (sum(w[1].busy, P) / sum(w[0].busy, P) - 1),
           100.0 / 3, 100 * F / (F + B), 1e3 * F, 1e3 * B);
    double ops[2] = {sum(w[0].flops, P), sum(w[1].flops, P)};
    printf("  the work itself, the matrix multiplies' floating-point operations, counted\n"
           "  as they ran: %.3f against %.3f GFLOP, %.1f %% more.  A block's F is two\n"
           "  multiplies and its B four of the same size (B = 2F in operations), less\n"
           "  one for the model's first block, which makes no input gradient: formula\n"
           "  2L / (6L - 1) = %.1f %% for L = %d blocks, a third as L grows.  Times need\n"
           "  not keep that ratio: multiplies of other shapes run at other speeds\n",
           ops[1] / 1e9, ops[0] / 1e9, 100 * (ops[1] / ops[0] - 1), 100.0 * 2 * L / (6 * L - 1), L);
    if (pp_backend_gpu() >= 0)
        printf("  (--device gpu: the CPU time is the host's part of each compute; the busy\n"
               "  time is the GPU's own)\n");
    printf("  bubble (last step): %.1f %% measured without, %.1f %% measured with;\n"
           "  formula %s = %.1f %% for both (every B grows by one F)\n", 100 * w[0].bubble, 100 * w[1].bubble,
           pp_theory_bubble_step_text(s->family), 100 * pp_theory_bubble_step(s->family, P, s->nmb, 1));
}

/* One schedule, trained without and with checkpointing from the same start:
 * the tables (rank 0) and how many weights differ from one process's. */
static void one_schedule(pp_demo *d, const pp_partition *part, const char *name, int M, const float *ref,
                         const double FB[2], long diff[2])
{
    int P = d->grid->P, me = d->grid->rank, steps = d->opt.model.steps;
    pp_sched *s = pp_demo_schedule(d, name, M);
    double *cpu = calloc(2 * (size_t)P, sizeof *cpu);   /* one step's CPU seconds and operations, every rank's (rank 0) */
    way w[2];
    memset(w, 0, sizeof w);
    for (int k = 0; k < 2; k++) {
        pp_model_cfg c = d->opt.model;
        c.checkpoint = k;
        PP_CHECK(pp_trainer_new(d->grid, &c, part, s->stage_rank, &w[k].t), "could not make this rank's blocks");
        w[k].busy = calloc((size_t)P, sizeof *w[k].busy);
        w[k].mem = calloc((size_t)P, sizeof *w[k].mem);
        w[k].cpu = calloc((size_t)P, sizeof *w[k].cpu);
        w[k].flops = calloc((size_t)P, sizeof *w[k].flops);
        if (!w[k].busy || !w[k].mem || !w[k].cpu || !w[k].flops || !cpu) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    }
    for (int i = 0; i < steps && !d->quit; i++)
        for (int k = 0; k < 2 && !d->quit; k++) step(d, &w[k], s, k, i, cpu);
    long n = pp_model_params(&d->opt.model);
    float *got = me == 0 ? malloc((size_t)n * sizeof *got) : NULL;
    if (me == 0 && !got) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    for (int k = 0; k < 2 && !d->quit; k++) {
        PP_CHECK(pp_trainer_mem_all(w[k].t, w[k].mem), "gathering the memory counts");
        PP_CHECK(pp_trainer_params(w[k].t, got), "gathering the weights");
        for (long i = 0; me == 0 && i < n; i++) diff[k] += memcmp(&got[i], &ref[i], sizeof *got) != 0;
    }
    if (me == 0 && !d->quit) {
        memory_table(s, w, M);
        compute_table(s, w, steps, d->opt.model.depth, FB[0], FB[1]);
        printf("\n");
        fflush(stdout);
    }
    free(got);
    for (int k = 0; k < 2; k++) {
        pp_trainer_free(w[k].t);
        free(w[k].busy), free(w[k].mem), free(w[k].cpu), free(w[k].flops);
    }
    free(cpu);
    pp_sched_free(s);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    d.opt.model.steps = 6;
    static const pp_demo_spec spec = {
        .what = "Trains GPipe and 1F1B without and with activation checkpointing: stored activations (from the "
                "allocations) and compute (measured), each beside its formula.",
        .real = 1, .no_schedule = 1, .no_dump = "this demo trains four times and writes no .npy files; demos 02 "
                                                 "and 03 take --dump (with --checkpoint too)",
        .no_checkpoint = "this demo trains both ways by itself"};
    snprintf(d.opt.schedule, sizeof d.opt.schedule, "gpipe, then 1f1b");
    pp_demo_start(&d, &spec, &argc, &argv);
    int M = d.opt.mb[0], me = d.grid->rank;
    pp_demo_refuse_if(&d, d.opt.model.steps < 2, "--steps %d: this demo leaves each way's first step out of its "
                      "compute figures (it touches fresh memory): give 2 or more", d.opt.model.steps);
    pp_partition part;
    pp_demo_model(&d, NULL, &part);
    const pp_model_cfg *c = &d.opt.model;
    /* A block's forward and backward, as measured for the runs (seconds). */
    double FB[2] = {d.exec.costs.ticks[PP_F] * d.exec.costs.tick_s, d.exec.costs.ticks[PP_B] * d.exec.costs.tick_s};
    long n = pp_model_params(c), diff[2][2] = {{0, 0}, {0, 0}};
    float *ref = me == 0 ? malloc((size_t)n * sizeof *ref) : NULL;
    if (me == 0 && !ref) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    if (me == 0) PP_CHECK(pp_reference_train(c, M, c->steps, ref, NULL, NULL), "the single-process run failed");
    if (me == 0) {
        char parts[128], line[400];
        pp_partition_str(&part, parts, sizeof parts);
        snprintf(line, sizeof line, "P=%d stages, M=%d micro-batches of %d samples; %d blocks (width %d, hidden %d), "
                 "blocks %s; %s; each schedule trains %d steps without checkpointing and %d with, the two ways' "
                 "steps in turn", d.grid->P, M, c->batch / M, c->depth, c->width, c->hidden, parts, pp_backend_name(),
                 c->steps, c->steps);
        pp_report_wrap(stdout, line, "", "");
        printf("\n");
    }
    for (int k = 0; k < 2 && !d.quit; k++) {
        one_schedule(&d, &part, names[k], M, ref, FB, diff[k]);
        if (k == 0 && !d.quit) pp_demo_hold(&d, "gpipe done: press any key to run 1f1b (q quits)");
    }
    int wrong = me == 0 && !d.quit && (diff[0][0] || diff[0][1] || diff[1][0] || diff[1][1]);
    if (me == 0 && !d.quit && !wrong)
        printf("The weights after %d steps equal one process's bit for bit in all four runs:\n"
               "the recompute repeats the same operations on the same numbers.\n", c->steps);
    else if (wrong)
        printf("THE WEIGHTS DIFFER from one process's (weights that differ: gpipe %ld, with\n"
               "checkpointing %ld; 1f1b %ld, with checkpointing %ld): trained wrong.\n", diff[0][0], diff[0][1],
               diff[1][0], diff[1][1]);
    free(ref);
    int status = pp_demo_end(&d);
    return status ? status : wrong;   /* weights trained wrong: status 1 */
}
