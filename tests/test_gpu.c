/* test_gpu.c -- training on GPU ranks (--device gpu), against the CPU.
 *
 * For every builder (gpipe, 1f1b, interleaved v=2, zbh1, zbv), P in 1..4
 * (all the ranks share the GPUs there are, one each in turn) and M in 4, 8,
 * after three training steps on GPU ranks:
 *   - the weights and losses equal, bit for bit, the single-process loop
 *     run on the GPU with the same M: the same kernels on the same shapes,
 *     the gradients added in micro-batch order, so every P gives the same
 *     bits (between different M the sums are grouped differently, on the
 *     CPU as well, so no two M agree bit for bit);
 *   - they agree with the single-process loop on the CPU within TOL;
 * every message's copy out made late on purpose, so that one used before
 * it has arrived changes the bits every time.
 * Then timed mode on GPU ranks: each compute event lasts its ticks on the
 * device's clock, and compute events come from the device (in order, not
 * overlapping).
 *
 * Where the build has no CUDA or the machine no GPU, it prints one "skip"
 * line and passes.
 *
 *   mpiexec -n 4 tests/test_gpu
 */
#include "pp.h"
#include "pp_model.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 3 };

/* GPU against CPU, as the largest difference of any weight over the
 * largest weight, and of the loss over the loss.  Why 1e-4: float32 rounds
 * to 6e-8 of a value; cuBLAS adds a multiply's products in another order
 * than OpenBLAS, which moves a sum of k terms by at most about k x 6e-8 of
 * their magnitudes (k is at most 128 here, about 8e-6), and the GPU's tanhf
 * differs from glibc's by an ulp or two.  Three SGD steps carry these
 * along, far below 1e-4.  What the check must catch (a transposed
 * operand, a lost or doubled micro-batch, a message used before it
 * arrived) moves weights by 1e-2 or more. */
static const double TOL = 1e-4;

typedef struct {
    float *w;
    double loss[STEPS];
} result;

static double rel_diff(const float *a, const float *b, long n)
{
    double most = 0, big = 0;
    for (long i = 0; i < n; i++) {
        most = fmax(most, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs((double)b[i]));
    }
    return big > 0 ? most / big : most;
}

/* Trains under s on the ranks of g; rank 0 compares with both references. */
static void one_case(pp_grid *g, const pp_model_cfg *c, const pp_sched *s, const result *gpu_ref,
                     const result *cpu_ref)
{
    pp_partition part;
    char err[256];
    if (pp_partition_make("front", c->depth, s->nstages, NULL, &part, err, sizeof err) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    pp_trainer *t = NULL;
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.device = pp_backend_clock();
    pp_status st = pp_trainer_new(g, c, &part, s->stage_rank, &t);
    double loss[STEPS] = {0};
    for (int k = 0; k < STEPS && st == PP_OK; k++) {
        pp_run *run = NULL;
        st = pp_trainer_step(t, s, &o, &run, &loss[k]);
        pp_run_free(run);
    }
    long n = pp_model_params(c);
    float *got = g->rank == 0 ? malloc((size_t)n * sizeof *got) : NULL;
    if (st == PP_OK) st = pp_trainer_params(t, got);
    if (g->rank == 0) {
        char what[120];
        snprintf(what, sizeof what, "gpu %s P=%d M=%d", s->name, s->nranks, s->nmb);
        CHECK(st == PP_OK, "%s: %d steps run (%s)", what, STEPS, st == PP_OK ? "ok" : pp_backend_error());
        long differ = 0;
        for (long i = 0; st == PP_OK && i < n; i++) differ += memcmp(&got[i], &gpu_ref->w[i], sizeof *got) != 0;
        CHECK(st == PP_OK && differ == 0 && memcmp(loss, gpu_ref->loss, sizeof loss) == 0,
              "%s: weights and losses bit-for-bit equal to one process on the GPU (%ld of %ld weights differ)", what,
              differ, n);
        double dw = st == PP_OK ? rel_diff(got, cpu_ref->w, n) : 1;
        double dl = fabs(loss[STEPS - 1] - cpu_ref->loss[STEPS - 1]) / fabs(cpu_ref->loss[STEPS - 1]);
        CHECK(st == PP_OK && dw <= TOL && dl <= TOL,
              "%s: within %.0e of the CPU run (measured: weights %.2e, last loss %.2e, relative)", what, TOL, dw, dl);
    }
    free(got);
    pp_trainer_free(t);
}

/* Timed mode on the GPU: the device spins each compute's ticks. */
static void timed_case(pp_grid *g)
{
    pp_sched *s = NULL, *lo = NULL;
    pp_check chk;
    if (pp_sched_build("1f1b", g->P, 4, 0, &s, NULL, 0) != PP_OK || pp_sched_validate(s, &lo, &chk) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.device = pp_backend_clock();
    o.costs.tick_s = 2e-3;
    pp_run *run = NULL;
    pp_status st = pp_exec_step(g, lo, &o, &run);
    if (g->rank == 0) {
        /* The spin ends once the GPU's clock has moved the cost: never
         * shorter (but for the events' 0.5 us resolution); longer by the
         * launch, and by the time the GPU gave other ranks' work (ranks
         * that share a GPU take turns). */
        int n = 0, short_ = 0, order = 1;
        double longest = 0;
        for (int r = 0; st == PP_OK && r < run->nrows; r++) {
            double end = 0;
            for (int i = 0; i < run->ranks[r].n; i++) {
                pp_event e = run->ranks[r].ev[i];
                if (e.type != PP_EV_COMPUTE) continue;
                double want = (e.kind == PP_F ? 1 : 2) * o.costs.tick_s, got = e.t1 - e.t0;
                n++;
                short_ += got < want - 1e-6;
                longest = fmax(longest, got - want);
                order &= e.t0 >= end - 1e-6;
                end = e.t1;
            }
        }
        CHECK(st == PP_OK && n > 0 && short_ == 0 && order,
              "timed 1f1b P=%d on GPU ranks: %d computes each lasted at least its ticks on the device's clock, in "
              "order (longest overshoot %.3f ms, measured)", g->P, n, longest * 1e3);
    }
    pp_run_free(run);
    pp_sched_free(s), pp_sched_free(lo);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 8, c.width = 64, c.hidden = 128, c.batch = 32, c.lr = 0.2f;
    static const int Ms[2] = {4, 8};
    long n = pp_model_params(&c);
    /* 1. The CPU's runs, before any rank takes a GPU. */
    result cpu[2], gpu[2];
    for (int mi = 0; mi < 2; mi++) {
        cpu[mi].w = malloc((size_t)n * sizeof(float));
        gpu[mi].w = malloc((size_t)n * sizeof(float));
        if (rank == 0 && pp_reference_train(&c, Ms[mi], STEPS, cpu[mi].w, cpu[mi].loss, NULL) != PP_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* 2. Every rank takes a GPU, or the tests are skipped.  Each message's
     * copy out is made 0.5 ms late (gpu.cu), so that a send or a compute
     * that did not wait for it would use stale bytes, and the bits differ. */
    setenv("PP_GPU_COPY_DELAY_MS", "0.5", 1);
    char err[300] = "";
    int ok = pp_backend_use("gpu", MPI_COMM_WORLD, err, sizeof err) == PP_OK, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (rank == 0) printf("skip - GPU tests: %s\n", err[0] ? err : "another rank has no GPU");
        MPI_Finalize();
        return 0;
    }
    if (rank == 0) printf("# rank 0 computes on %s\n", pp_backend_device());
    /* 3. The single-process loop on the GPU, then every case. */
    for (int mi = 0; mi < 2; mi++)
        if (rank == 0 && pp_reference_train(&c, Ms[mi], STEPS, gpu[mi].w, gpu[mi].loss, NULL) != PP_OK) {
            printf("not ok - the single-process loop on the GPU failed: %s\n", pp_backend_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    static const char *builders[] = {"gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    for (int P = 1; P <= world && P <= 4; P++) {
        MPI_Comm sub;
        pp_grid *g = first_ranks(P, &sub);
        if (!g) continue;
        for (int mi = 0; mi < 2; mi++)
            for (int b = 0; b < 5; b++) {
                pp_sched *s = NULL, *lo = NULL;
                pp_check chk;
                if (pp_sched_build(builders[b], P, Ms[mi], b == 2 ? 2 : 0, &s, NULL, 0) != PP_OK ||
                    pp_sched_validate(s, &lo, &chk) != PP_OK)
                    MPI_Abort(MPI_COMM_WORLD, 1);
                one_case(g, &c, lo, &gpu[mi], &cpu[mi]);
                pp_sched_free(s), pp_sched_free(lo);
            }
        if (P > 1) timed_case(g);
        pp_grid_free(g);
        MPI_Comm_free(&sub);
    }
    for (int mi = 0; mi < 2; mi++) free(cpu[mi].w), free(gpu[mi].w);
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
