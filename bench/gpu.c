/* gpu.c -- benchmarks of real compute on 2 GPU ranks (make bench-gpu):
 *   1. matrix-multiply throughput inside each pipeline stage (the device's
 *      own time for each multiply, from CUDA events) against the same
 *      multiplies called bare on the same GPU (shapes, transposes, sums into
 *      the gradients and working set as in a stage, timed the same way);
 *      target: at least 90 %.  Beside it, the rate in the P = 1 step, where
 *      no other process shares the GPU;
 *   2. the speedup of P = 2 over P = 1 at M = 16 micro-batches, against the
 *      ideal 2M / (M + 1).  Where the two ranks have a GPU each, the target
 *      is 95 % of the ideal; where they share one, the GPU runs one
 *      process's work at a time, so the figure shows what sharing costs and
 *      has no target.
 * Beside them, the floor: one message of a micro-batch's activations
 * between the two ranks (through host memory, as the kit sends it), and
 * its copies between GPU and host.  Every round measures everything once,
 * back to back; the best round is judged, with the median beside it.
 *
 *   mpiexec -n 2 bench/gpu       (bench/gpu.sh runs it shared and, with two GPUs, apart)
 */
#include "bench.h"
#include "model.h"   /* pp_ops_now: the backend's own multiply, called as a stage calls it */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M = 16, ROUNDS = 9 };

/* A rows x cols tensor on the GPU holding small values like the model's
 * (a GPU multiplies zeros faster, and draws less power doing it). */
static pp_tensor *filled(int rows, int cols)
{
    pp_tensor *t = NULL;
    enum { CHUNK = 1 << 20 };
    float *host = malloc(CHUNK * sizeof *host);
    if (!host || pp_tensor_new(NULL, PP_MEM_OTHER, rows, cols, &t) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    unsigned x = 12345;
    long n = (long)rows * cols;
    for (long at = 0; at < n; at += CHUNK) {
        long k = n - at < CHUNK ? n - at : CHUNK;
        for (long i = 0; i < k; i++) {
            x = x * 1664525u + 1013904223u;
            host[i] = ((float)(x >> 8) / (float)(1u << 24) - 0.5f) * 0.1f;
        }
        pp_ops_now()->from_host(t->data + at, host, (size_t)k * sizeof *host);
    }
    free(host);
    return t;
}

/* The multiplies of a stage's forward and backward for one micro-batch
 * (bench_block_multiplies), called bare, as bench/real.c calls them on the
 * CPU, over `blocks` distinct weight matrices (the stage's working set, larger
 * than the GPU's cache), `reps` times, each multiply timed on the device as
 * the stage's are (pp_backend_gemm_stats); GFLOP/s. */
static double bare_rate(const pp_model_cfg *c, int blocks, int reps)
{
    const pp_ops *op = pp_ops_now();
    int n = c->batch / M, d = c->width, f = c->hidden;
    pp_tensor *t[6] = {filled(n, d), filled(n, f), filled(n, d), filled(n, f), filled(blocks * 2 * d, f),
                       filled(blocks * 2 * d, f)};
    const float *X = t[0]->data, *A = t[1]->data;   /* inputs: x (n x d), a (n x f) */
    float *Yd = t[2]->data, *Yf = t[3]->data, *W = t[4]->data, *G = t[5]->data;
    double fl, se;
    pp_backend_gemm_stats(&fl, &se, 1);   /* what ran before is not counted */
    for (int k = 0; k < reps; k++)
        for (int b = 0; b < blocks; b++) {
            const float *W1 = W + (size_t)2 * b * d * f;
            float *G1 = G + (size_t)2 * b * d * f;
            bench_block_multiplies(op->gemm, n, d, f, X, A, Yd, Yf, W1, W1 + (size_t)d * f, G1, G1 + (size_t)d * f);
        }
    pp_backend_gemm_stats(&fl, &se, 1);
    for (int i = 0; i < 6; i++) pp_tensor_free(t[i]);
    return fl / se * 1e-9;
}

/* Half a round trip of `bytes` between ranks 0 and 1 through host memory:
 * the floor under every message of the step (median of 50). */
static double delivery_s(size_t bytes)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char *buf = calloc(1, bytes);
    double t[50];
    for (int k = 0; k < 50; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = pp_now();
        if (rank == 0) {
            MPI_Send(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
        t[k] = (pp_now() - t0) / 2;
    }
    free(buf);
    qsort(t, 50, sizeof *t, bench_cmp);
    return t[25];
}

/* One copy of `bytes` from the GPU to the host and back (median of 20). */
static double copy_s(int rows, int cols)
{
    pp_tensor *x = NULL;
    float *host = malloc((size_t)rows * cols * sizeof *host);
    double t[20];
    if (pp_tensor_new(NULL, PP_MEM_OTHER, rows, cols, &x) != PP_OK || !host) MPI_Abort(MPI_COMM_WORLD, 1);
    for (int k = 0; k < 20; k++) {
        double t0 = pp_now();
        pp_tensor_to_host(x, host);
        pp_tensor_from_host(x, host);
        t[k] = pp_now() - t0;
    }
    pp_tensor_free(x);
    free(host);
    qsort(t, 20, sizeof *t, bench_cmp);
    return t[10];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char err[300] = "";
    int ok = size == 2 && pp_backend_use("gpu", MPI_COMM_WORLD, err, sizeof err) == PP_OK, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (rank == 0) printf("skip - GPU benchmark: %s\n", size != 2 ? "run it on 2 ranks (mpiexec -n 2)" : err);
        MPI_Finalize();
        return 0;
    }
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 8, c.width = 1024, c.hidden = 4096, c.batch = 2048;
    char devs[2][64];
    snprintf(devs[rank], sizeof devs[rank], "%s", pp_backend_device());
    /* rank 0's name is in place already: MPI refuses a send buffer inside the receive one */
    MPI_Gather(rank == 0 ? MPI_IN_PLACE : devs[rank], 64, MPI_CHAR, devs, 64, MPI_CHAR, 0, MPI_COMM_WORLD);
    int shared = rank == 0 && strcmp(devs[0], devs[1]) == 0;
    MPI_Bcast(&shared, 1, MPI_INT, 0, MPI_COMM_WORLD);

    /* P = 1 on rank 0 while rank 1 waits; then P = 2; then the bare
     * multiplies on each rank in turn (the other idle), as each stage's
     * multiplies ran on its GPU. */
    bench_pair pair;
    bench_pair_new(&pair, &c, M);
    double t1[ROUNDS], t2[ROUNDS], ratio[ROUNDS], stage[2][ROUNDS], bare[2][ROUNDS], gemm_ratio[2][ROUNDS];
    double alone[ROUNDS];
    for (int k = -1; k < ROUNDS; k++) {
        double fl, se, t1k = 0, mine[2], all[4];
        if (rank == 0) t1k = bench_step_s(&pair.b1);
        pp_barrier(MPI_COMM_WORLD, 1e-3);
        pp_backend_gemm_stats(&fl, &se, 1);
        if (rank == 0 && k >= 0) alone[k] = fl / se * 1e-9;   /* the P = 1 step's, the GPU not shared */
        double t2k = bench_step_s(&pair.b2);
        pp_backend_gemm_stats(&fl, &se, 1);
        mine[0] = fl / se * 1e-9;
        for (int r = 0; r < 2; r++) {
            pp_barrier(MPI_COMM_WORLD, 1e-3);
            if (rank == r) mine[1] = bare_rate(&c, c.depth / 2, 3);
        }
        MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        if (k < 0 || rank != 0) continue;   /* the warm-up round; the figures live on rank 0 */
        t1[k] = t1k, t2[k] = t2k, ratio[k] = t1k / t2k;
        for (int r = 0; r < 2; r++) {
            stage[r][k] = all[2 * r], bare[r][k] = all[2 * r + 1];
            gemm_ratio[r][k] = stage[r][k] / bare[r][k];
        }
    }
    int rows = c.batch / M;
    double floor_s = delivery_s((size_t)rows * c.width * sizeof(float)), copies = copy_s(rows, c.width);
    if (rank == 0) {
        double ideal = 2.0 * M / (M + 1), speed = bench_lowest(t1, ROUNDS) / bench_lowest(t2, ROUNDS);
        printf("model: %d blocks, width %d, hidden %d; batch %d in M=%d micro-batches of %d; 1f1b; %s\n", c.depth,
               c.width, c.hidden, c.batch, M, rows, pp_backend_name());
        printf("ranks: 0 on %s, 1 on %s (%s)\n", devs[0], devs[1], shared ? "one GPU shared" : "a GPU each");
        printf("floor (measured): one %d x %d message %.1f us between the ranks through host memory, "
               "GPU to host and back %.1f us\n", rows, c.width, floor_s * 1e6, copies * 1e6);
        printf("%d rounds; best round (median)\n", ROUNDS);
        for (int r = 0; r < 2; r++)
            printf("  matrix multiply inside stage %d: %.0f GFLOP/s (%.0f), measured on the device's clock: %.1f %% of "
                   "the same multiplies called bare, %.0f GFLOP/s (target 90 %%: %s; median of the rounds' ratios %.1f %%)\n",
                   r, bench_highest(stage[r], ROUNDS), bench_median(stage[r], ROUNDS), 100 * bench_highest(stage[r], ROUNDS) / bench_highest(bare[r], ROUNDS),
                   bench_highest(bare[r], ROUNDS), bench_highest(stage[r], ROUNDS) / bench_highest(bare[r], ROUNDS) >= 0.9 ? "met" : "missed",
                   100 * bench_median(gemm_ratio[r], ROUNDS));
        printf("  matrix multiply in the P=1 step (one rank, the GPU not shared): %.0f GFLOP/s (%.0f), measured\n",
               bench_highest(alone, ROUNDS), bench_median(alone, ROUNDS));
        printf("  step time (measured): P=1 %.2f ms (%.2f), P=2 %.2f ms (%.2f)\n", bench_lowest(t1, ROUNDS) * 1e3,
               bench_median(t1, ROUNDS) * 1e3, bench_lowest(t2, ROUNDS) * 1e3, bench_median(t2, ROUNDS) * 1e3);
        printf("  speedup P=2 over P=1 on %s: %.3f measured (median of the rounds' ratios %.3f); ideal 2M/(M+1) = "
               "%.3f (formula): %.1f %% of ideal (%s)\n", shared ? "one GPU shared by two ranks" : "two GPUs", speed,
               bench_median(ratio, ROUNDS), ideal, 100 * speed / ideal,
               shared ? "no target: processes sharing a GPU take turns on it"
                      : speed / ideal >= 0.95 ? "target 95 %: met" : "target 95 %: missed");
    }
    bench_pair_free(&pair);
    MPI_Finalize();
    return 0;
}
