/* test_train.c -- real compute through the pipeline.  For every builder
 * (naive, gpipe, 1f1b), P in 1..4, M in 1, 2, 4, 8 and an even and an uneven
 * partition, plus two zero-bubble style schedules that split B into I and W
 * (W right after I, and every W at the end in reverse order), and for the
 * builders that give a rank several stages or split B (interleaved with v =
 * 2, 3, 4; zbh1; zbv) on a deeper model: after three training steps the
 * weights on the ranks are bit-for-bit those of the single-process loop
 * (pp_reference_train) with the same M, the losses too, and the loss went
 * down.  The peak stored activations and the peak of what I keeps for W,
 * measured from the allocations, equal those worked out by walking the
 * rank's list (F adds a micro-batch's activations, B or W frees them; I adds
 * its gradients, W frees them), and for every named schedule the formula.
 * A sample of the cases again with activation checkpointing (gpipe, 1f1b and
 * zbh1 on 4 ranks): the same bits, and peaks that count each stage's input
 * per micro-batch held plus one micro-batch recomputed (kept until its W
 * under zbh1).  Last, the compute checkpointing adds, measured as the CPU
 * time of the computes on 4 ranks, within a loose bound of the formula's
 * third (this machine may be busy: up to three tries), and the operations
 * of its matrix multiplies, counted, within 5 points of the third.
 * And the model with end layers (features: an input layer on the first
 * stage, an output layer on the last) under gpipe, 1f1b, its I/W splits,
 * checkpointing, an uneven partition, interleaved and zbh1 (also with
 * checkpointing): the same bits as one process, and the same peaks; and
 * its inference through P stages, the same bits as one process's forward.
 *
 *   mpiexec -n 4 tests/test_train
 *
 * The first P ranks run each case; the others wait at the next case.
 */
#include "pp.h"
#include "pp_build.h"
#include "pp_idle.h"
#include "pp_model.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 3 };

/* A copy of s where each B becomes I then W; with `late`, every W moves to
 * the end of its rank's list, in reverse micro-batch order. */
static pp_sched *split_b(const pp_sched *s, int late)
{
    pp_sched *o = NULL;
    if (pp_sched_new(s->nranks, &o) != PP_OK) return NULL;
    for (int r = 0; r < s->nranks; r++) {
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind != PP_B) {
                pp_sched_push(o, r, a);
                continue;
            }
            a.kind = PP_I;
            pp_sched_push(o, r, a);
            a.kind = PP_W;
            if (!late) pp_sched_push(o, r, a);
        }
        for (int i = s->len[r] - 1; late && i >= 0; i--) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_B) a.kind = PP_W, pp_sched_push(o, r, a);
        }
    }
    pp_sched_finish(o);
    snprintf(o->name, sizeof o->name, "%.20s-iw%s", s->name, late ? "-late" : "");
    return o;
}

/* The peaks of stored activations and of I-to-W gradients on this rank, in
 * bytes, worked out from its list (the builders run each stage's B's and W's
 * in micro-batch order, so each frees at once).  With checkpointing (ckpt)
 * F stores the stage's input alone and B or I makes the rest again. */
static void walk_peaks(const pp_sched *s, int rank, const pp_trainer *t, int ckpt, long *acts, long *iw)
{
    long a = 0, k = 0;
    *acts = *iw = 0;
    for (int i = 0; i < s->len[rank]; i++) {
        pp_action x = s->acts[rank][i];
        long ab = pp_trainer_act_bytes(t, x.stage, s->nmb), kb = pp_trainer_iw_bytes(t, x.stage, s->nmb);
        long in = ckpt ? pp_trainer_input_bytes(t, x.stage, s->nmb) : ab;
        if (x.kind == PP_F) a += in;
        if (x.kind == PP_B || x.kind == PP_I) a += ab - in;
        if (a > *acts) *acts = a;
        if (x.kind == PP_B || x.kind == PP_W) a -= ab;
        if (x.kind == PP_I) k += kb;
        if (x.kind == PP_W) k -= kb;
        if (k > *iw) *iw = k;
    }
}

/* Does any rank's list split a backward into I and W? */
static int splits_b(const pp_sched *s)
{
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++)
            if (s->acts[r][i].kind == PP_I) return 1;
    return 0;
}

static void one_case(pp_grid *g, const pp_model_cfg *c, const pp_sched *s, const char *how,
                     const float *ref, const double *ref_loss)
{
    int P = g->size, M = s->nmb;
    char err[256] = "", parts[128];
    pp_partition part;
    if (pp_partition_make(how, c->depth, s->nstages, NULL, &part, err, sizeof err) != PP_OK) {
        if (g->rank == 0) CHECK(0, "partition %s for P=%d: %s", how, P, err);
        return;
    }
    pp_partition_str(&part, parts, sizeof parts);
    pp_trainer *t = NULL;
    pp_exec_opts o;
    short_lead_opts(&o);
    pp_status st = pp_trainer_new(g, c, &part, s->stage_rank, &t);
    double loss[STEPS] = {0};
    int peak_ok = 1, walk_ok = 1, parts_ok = 1;
    long peak = 0, want = 0, walk_a = 0, walk_iw = 0;
    for (int k = 0; k < STEPS && st == PP_OK; k++) {
        pp_run *run = NULL;
        pp_mem_reset_peak(pp_trainer_mem(t));
        st = pp_trainer_step(t, s, &o, &run, &loss[k]);
        int held = pp_theory_peak_inflight(s->family, P, M, s->chunks, g->rank);
        peak = pp_trainer_mem(t)->peak[PP_MEM_ACTS];
        want = pp_trainer_peak_act_bytes(t, g->rank, M, held);
        /* in micro-batches (the formula) where one stage per rank, in bytes too unless a
         * recomputed micro-batch waits for its W; in bytes walked from the list always */
        if (held >= 0 && s->chunks == 1 && !(c->checkpoint && splits_b(s)) && peak != want) peak_ok = 0;
        if (held >= 0 && run && run->peak_inflight[g->rank] != held) peak_ok = 0;
        walk_peaks(s, g->rank, t, c->checkpoint, &walk_a, &walk_iw);
        /* Real compute taken apart (rank 0 holds the run): the parts add up
         * and the last replay rebuilds the step. */
        pp_idle x;
        if (run && (pp_idle_breakdown(s, &o.costs, run, &x) != PP_OK || !x.ok ||
                    fabs(x.replayed - run->makespan) > 1e-9 || fabs(parts_sum(&x) - x.measured) > 1e-12))
            parts_ok = 0;
        if (peak != walk_a || pp_trainer_mem(t)->peak[PP_MEM_IW] != walk_iw) walk_ok = 0;
        pp_run_free(run);
    }
    int all_peak_ok = 0, all_walk_ok = 0;
    MPI_Allreduce(&peak_ok, &all_peak_ok, 1, MPI_INT, MPI_MIN, g->pipe);
    MPI_Allreduce(&walk_ok, &all_walk_ok, 1, MPI_INT, MPI_MIN, g->pipe);
    long n = pp_model_params(c);
    float *got = g->rank == 0 ? malloc((size_t)n * sizeof *got) : NULL;
    if (st == PP_OK) st = pp_trainer_params(t, got);
    if (g->rank == 0) {
        char what[200];
        snprintf(what, sizeof what, "%s%s P=%d M=%d blocks %s", s->name, c->checkpoint ? " --checkpoint" : "", P, M,
                 parts);
        CHECK(st == PP_OK, "%s: %d steps run", what, STEPS);
        long diff = 0;
        for (long i = 0; st == PP_OK && i < n; i++) diff += memcmp(&got[i], &ref[i], sizeof *got) != 0;
        CHECK(st == PP_OK && diff == 0, "%s: weights bit-for-bit equal to one process (%ld of %ld differ)", what,
              diff, n);
        CHECK(memcmp(loss, ref_loss, sizeof loss) == 0 && loss[STEPS - 1] < loss[0],
              "%s: losses %.6f -> %.6f equal one process and go down", what, loss[0], loss[STEPS - 1]);
        if (s->family != PP_FAM_CUSTOM)
            CHECK(all_peak_ok, "%s: peak chunks held = formula on every rank%s", what,
                  s->chunks > 1 || (c->checkpoint && splits_b(s)) ? ""
                  : c->checkpoint ? ", and in bytes: (formula - 1) x the stage's input + one micro-batch's"
                                  : ", and in bytes: formula x one micro-batch's");
        CHECK(parts_ok, "%s: every step's bubble taken apart: the parts add up to the measured bubble, and the "
              "last replay rebuilds the makespan", what);
        CHECK(all_walk_ok, "%s: peak stored activations (rank 0: %ld bytes) and I-to-W gradients (%ld) equal "
              "the walk of each rank's list", what, walk_a, walk_iw);
    }
    free(got);
    pp_trainer_free(t);
}

/* A sample of the cases, run again with checkpointing (make test's time is short). */
static int checkpoint_too(int P, int M)
{
    return P == 4 && M >= 4;
}

/* Trains t[0] (without checkpointing) and t[1] (with) a step each in turn;
 * rank 0 gets the computes' CPU seconds of every rank, summed over all but
 * the first step of each (it touches fresh memory). */
static pp_status cpu_both(pp_grid *g, const pp_sched *lowered, pp_trainer *t[2], int steps, double cpu[2],
                          double flops[2])
{
    pp_exec_opts o;
    short_lead_opts(&o);
    pp_status st = PP_OK;
    cpu[0] = cpu[1] = flops[0] = flops[1] = 0;
    for (int i = 0; i <= steps && st == PP_OK; i++) {
        for (int k = 0; k < 2 && st == PP_OK; k++) {
            pp_run *run = NULL;
            double loss, mine[2], all[2] = {0, 0};
            st = pp_trainer_step(t[k], lowered, &o, &run, &loss);
            mine[0] = pp_trainer_cpu_s(t[k]), mine[1] = pp_trainer_flops(t[k]);
            MPI_Reduce(mine, all, 2, MPI_DOUBLE, MPI_SUM, 0, g->pipe);
            if (i > 0) cpu[k] += all[0], flops[k] += all[1];
            pp_run_free(run);
        }
    }
    return st;
}

/* The compute checkpointing adds, on 4 ranks: gpipe on the kit's default
 * model, each rank's computes' CPU time summed (cpu_both).  CPU time, not
 * the busy time: a compute's wall time also holds any time its core ran
 * something else (a rank woken by its message, another program).  A busy
 * machine still disturbs it, so up to
 * three tries (as test_mpi's timed steps). */
static void checkpoint_compute(pp_grid *g)
{
    enum { STEPS_COUNTED = 4, M = 8, TRIES = 3 };
    pp_model_cfg c[2];
    pp_model_cfg_default(&c[0]);
    c[1] = c[0];
    c[1].checkpoint = 1;
    pp_sched *s = NULL, *lowered = NULL;
    pp_check chk;
    pp_partition part;
    char err[200];
    if (pp_sched_build("gpipe", g->size, M, 0, &s, NULL, 0) != PP_OK || pp_sched_validate(s, &lowered, &chk) != PP_OK ||
        pp_partition_make("front", c[0].depth, g->size, NULL, &part, err, sizeof err) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    pp_sched_free(s);
    pp_trainer *t[2] = {NULL, NULL};
    double cpu[2] = {0, 0}, flops[2] = {0, 0}, extra = 0, tried[TRIES];
    int tries = 0, inside = 0;
    pp_status st = PP_OK;
    for (int k = 0; k < 2 && st == PP_OK; k++) st = pp_trainer_new(g, &c[k], &part, lowered->stage_rank, &t[k]);
    while (st == PP_OK && !inside && tries < TRIES) {
        st = cpu_both(g, lowered, t, STEPS_COUNTED, cpu, flops);
        extra = cpu[1] / cpu[0] - 1;
        tried[tries++] = extra;
        inside = extra > 0.15 && extra < 0.60;
        MPI_Bcast(&inside, 1, MPI_INT, 0, g->pipe);   /* rank 0's verdict: every rank tries again, or none */
    }
    double cost[PP_MODEL_NCOSTS] = {0};   /* a block's, on rank 0: what F / (F + B) is on this machine */
    if (g->rank == 0 && st == PP_OK) st = pp_model_measure(&c[0], c[0].batch / M, cost);
    if (g->rank == 0) {
        double F = cost[PP_COST_F], B = cost[PP_COST_B];
        char seen[64] = "";
        for (int k = 0; k + 1 < tries; k++)
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%.1f %%", k ? ", " : "; tries before: ",
                     100 * tried[k]);
        CHECK(st == PP_OK && inside,
              "gpipe --checkpoint P=%d M=%d, the default model: %.1f %% more compute (CPU time of the computes, "
              "%.1f ms against %.1f ms over %d steps, measured%s; want 15 %% to 60 %%: formula F / (F + B) = "
              "33.3 %% with B = 2F, %.1f %% with this machine's block)", g->size, M, 100 * extra, 1e3 * cpu[1],
              1e3 * cpu[0], STEPS_COUNTED, seen, 100 * F / (F + B));
        /* Counted, not timed: the same on any machine.  F is two multiplies a
         * block, B four, less the first block's input gradient: 2L / (6L - 1). */
        double more = flops[1] / flops[0] - 1, L = c[0].depth, want = 2 * L / (6 * L - 1);
        CHECK(st == PP_OK && fabs(more - want) < 1e-9 && fabs(more - 1.0 / 3) < 0.05,
              "gpipe --checkpoint P=%d M=%d: the multiplies' operations, counted, %.2f %% more: the formula "
              "2L/(6L-1) = %.2f %% for L = %.0f exactly, within 5 points of the third", g->size, M, 100 * more,
              100 * want, L);
    }
    pp_trainer_free(t[0]), pp_trainer_free(t[1]);
    pp_sched_free(lowered);
}

/* Builds, splits (iw: 0 none, 1 W after I, 2 every W at the end), validates
 * and lowers a schedule; aborts if it cannot. */
static pp_sched *lowered_sched(const char *name, int P, int M, int v, int iw)
{
    pp_sched *s = NULL, *lowered = NULL;
    pp_check chk;
    if (pp_sched_build(name, P, M, v, &s, NULL, 0) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (iw) {
        pp_sched *split = split_b(s, iw == 2);
        pp_sched_free(s);
        s = split;
    }
    if (!s || pp_sched_validate(s, &lowered, &chk) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    snprintf(lowered->name, sizeof lowered->name, "%s", s->name);
    pp_sched_free(s);
    return lowered;
}

/* Inference with end layers: P stages' outputs of one batch, forwards
 * only, equal the single-process forward's bit for bit. */
static void inference_case(pp_grid *g, const pp_model_cfg *c)
{
    int P = g->size, M = 4, last = P - 1;
    pp_sched *s = NULL, *lo = NULL;
    pp_check chk;
    pp_partition part;
    char err[200];
    if (pp_sched_forward(P, P, M, &s) != PP_OK || pp_sched_validate(s, &lo, &chk) != PP_OK ||
        pp_partition_make("front", c->depth, P, NULL, &part, err, sizeof err) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    pp_trainer *t = NULL;
    pp_exec_opts o;
    short_lead_opts(&o);
    pp_run *run = NULL;
    double loss;
    pp_status st = pp_trainer_new(g, c, &part, lo->stage_rank, &t);
    if (st == PP_OK) st = pp_trainer_step(t, lo, &o, &run, &loss);
    long n = (long)c->batch * pp_model_io(c), differ = -1;
    float *got = malloc((size_t)n * sizeof *got), *want = malloc((size_t)n * sizeof *want);
    if (g->rank == last && st == PP_OK) pp_tensor_to_host(pp_trainer_outputs(t), got);
    if (last != 0 && g->rank == last) MPI_Send(got, (int)n, MPI_FLOAT, 0, 0, g->all);
    if (last != 0 && g->rank == 0) MPI_Recv(got, (int)n, MPI_FLOAT, last, 0, g->all, MPI_STATUS_IGNORE);
    if (g->rank == 0) {   /* one process, micro-batch by micro-batch (a multiply's bits depend on its rows) */
        int rows = c->batch / M, io = pp_model_io(c);
        pp_tensor *x = NULL, *y = NULL;
        int ok = pp_tensor_new(NULL, PP_MEM_OTHER, rows, io, &x) == PP_OK &&
                 pp_tensor_new(NULL, PP_MEM_OTHER, rows, io, &y) == PP_OK;
        for (int m = 0; m < M && ok; m++) {
            ok = pp_model_inputs(c, 0, m * rows, x) == PP_OK && pp_reference_forward(c, x, y) == PP_OK;
            if (ok) pp_tensor_to_host(y, want + (long)m * rows * io);
        }
        if (ok) differ = 0;
        for (long i = 0; ok && i < n; i++) differ += memcmp(&got[i], &want[i], sizeof *got) != 0;
        pp_tensor_free(x), pp_tensor_free(y);
        CHECK(st == PP_OK && differ == 0, "inference P=%d M=%d, features 24: the outputs equal one process's "
              "forward bit for bit (%ld of %ld differ)", P, M, differ, n);
    }
    free(got), free(want);
    pp_run_free(run);
    pp_trainer_free(t);
    pp_sched_free(s), pp_sched_free(lo);
}

/* The model with end layers (features wider than the blocks), under the
 * schedules that each take a different path through the trainer's ends. */
static void features_cases(pp_grid *g, const pp_model_cfg *base)
{
    static const char *uneven[5] = {"", "6", "1,5", "3,1,2", "1,2,2,1"};
    int P = g->size;
    pp_model_cfg f = *base, fck, deep, deep_ck;
    f.features = 24;
    fck = f, fck.checkpoint = 1;
    deep = f, deep.depth = 16;
    deep_ck = deep, deep_ck.checkpoint = 1;
    for (int M = 4; M <= 4; M++) {   /* one M: make test's time is short */
        long n = pp_model_params(&deep);   /* the larger of the two */
        float *ref = malloc((size_t)n * sizeof *ref);
        double ref_loss[STEPS];
        if (g->rank == 0 && pp_reference_train(&f, M, STEPS, ref, ref_loss, NULL) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        static const char *names[5] = {"gpipe", "1f1b", "1f1b", "1f1b", "1f1b"};
        for (int b = 0; b < 5; b++) {
            pp_sched *s = lowered_sched(names[b], P, M, 0, b >= 3 ? b - 2 : 0);
            char label[sizeof s->name];
            memcpy(label, s->name, sizeof label);
            snprintf(s->name, sizeof s->name, "%.16s, features 24", label);
            one_case(g, b == 2 ? &fck : &f, s, b == 1 && P > 1 ? uneven[P] : "front", ref, ref_loss);
            pp_sched_free(s);
        }
        if (g->rank == 0 && pp_reference_train(&deep, M, STEPS, ref, ref_loss, NULL) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        static const char *more[2] = {"interleaved", "zbh1"};
        for (int b = 0; b < 2; b++) {
            pp_sched *s = lowered_sched(more[b], P, M, b == 0 ? 2 : 0, 0);
            snprintf(s->name, sizeof s->name, "%s, features 24", more[b]);
            one_case(g, &deep, s, "front", ref, ref_loss);
            if (b == 1) {   /* zbh1 with checkpointing: the recompute kept from I to W */
                snprintf(s->name, sizeof s->name, "zbh1, features 24");
                one_case(g, &deep_ck, s, "front", ref, ref_loss);
            }
            pp_sched_free(s);
        }
        free(ref);
    }
    inference_case(g, &f);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 6, c.width = 16, c.hidden = 32, c.batch = 16, c.lr = 0.2f;
    pp_model_cfg ck = c;   /* the same, with activation checkpointing: the same bits */
    ck.checkpoint = 1;
    static const char *builders[3] = {"naive", "gpipe", "1f1b"};
    static const int Ms[4] = {1, 2, 4, 8};
    static const char *uneven[5] = {"", "6", "1,5", "3,1,2", "1,2,2,1"};
    for (int P = 1; P <= world && P <= 4; P++) {
        MPI_Comm sub;
        pp_grid *g = first_ranks(P, &sub);
        if (!g) continue;
        for (int mi = 0; mi < 4; mi++) {
            int M = Ms[mi];
            long n = pp_model_params(&c);
            float *ref = malloc((size_t)n * sizeof *ref);
            double ref_loss[STEPS];
            if (rank == 0 && pp_reference_train(&c, M, STEPS, ref, ref_loss, NULL) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
            for (int b = 0; b < 5; b++) {
                pp_sched *s = NULL;
                if (pp_sched_build(builders[b < 3 ? b : 2], P, M, 0, &s, NULL, 0) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
                if (b >= 3) {
                    pp_sched *iw = split_b(s, b == 4);
                    pp_sched_free(s);
                    s = iw;
                }
                pp_check chk;
                pp_sched *lowered = NULL;
                if (!s || pp_sched_validate(s, &lowered, &chk) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
                pp_sched_free(s);
                s = lowered;
                one_case(g, &c, s, "front", ref, ref_loss);
                if (P > 1 && (b == 2 || M == 4)) one_case(g, &c, s, uneven[P], ref, ref_loss);
                if ((b == 1 || b == 2) && checkpoint_too(P, M)) one_case(g, &ck, s, b == 2 && M == 4 ? uneven[P] : "front",
                                                                      ref, ref_loss);
                pp_sched_free(s);
            }
            free(ref);
        }
        /* Several stages per rank, and B split: a deeper model so that every
         * stage has a block (up to 16 stages). */
        pp_model_cfg deep = c, deep_ck;
        deep.depth = 16;
        deep_ck = deep;
        deep_ck.checkpoint = 1;
        static const char *more[] = {"interleaved", "interleaved", "interleaved", "zbh1", "zbv"};
        static const int vs[] = {2, 3, 4, 0, 0};
        for (int mi = 0; mi < 4; mi++) {
            int M = Ms[mi];
            long n = pp_model_params(&deep);
            float *ref = malloc((size_t)n * sizeof *ref);
            double ref_loss[STEPS];
            if (rank == 0 && pp_reference_train(&deep, M, STEPS, ref, ref_loss, NULL) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
            for (int b = 0; b < 5; b++) {
                pp_sched *s = NULL, *lowered = NULL;
                pp_check chk;
                if (pp_sched_build(more[b], P, M, vs[b], &s, NULL, 0) != PP_OK || pp_sched_validate(s, &lowered, &chk) != PP_OK)
                    MPI_Abort(MPI_COMM_WORLD, 1);
                pp_sched_free(s);
                snprintf(lowered->name, sizeof lowered->name, "%s%s", more[b], b == 1 ? " v=3" : b == 2 ? " v=4" : "");
                one_case(g, &deep, lowered, "front", ref, ref_loss);
                if (b == 3 && checkpoint_too(P, M)) one_case(g, &deep_ck, lowered, "front", ref, ref_loss);
                pp_sched_free(lowered);
            }
            free(ref);
        }
        features_cases(g, &c);
        if (P == 4) checkpoint_compute(g);
        pp_grid_free(g);
        MPI_Comm_free(&sub);
    }
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
