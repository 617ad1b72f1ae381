/* real.c -- benchmarks of real compute on 2 ranks (make bench):
 *   1. the speedup of P = 2 over P = 1 at M = 16 micro-batches, against the
 *      ideal 2M / (M + 1) (the bubble is the only loss in the ideal);
 *      target: at least 95 % of the ideal;
 *   2. matrix-multiply throughput inside a pipeline stage, while the other
 *      stage runs and messages move, against the same multiplies called bare
 *      on both ranks at once (the same two cores busy, no pipeline around
 *      them); target: at least 90 %.  The bare rate on a quiet machine (one
 *      rank multiplying, the other asleep) is printed too: the gap between
 *      the two is what sharing the cores' caches and memory costs, which no
 *      pipeline code can remove.
 *
 *   mpiexec -n 2 bench/real
 */
#include "pp.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

enum { STEPS = 4, M = 16, ROUNDS = 5 };

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median step time (s) of STEPS steps of 1f1b on grid g; rank 0 of g gets it. */
static double step_time(pp_grid *g, const pp_model_cfg *c)
{
    pp_partition part;
    char err[200];
    pp_sched *s = NULL;
    pp_trainer *t = NULL;
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    if (pp_partition_make("front", c->depth, g->size, NULL, &part, err, sizeof err) != PP_OK ||
        pp_sched_build("1f1b", g->size, M, &s) != PP_OK || pp_trainer_new(g, c, &part, NULL, &t) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    double ms[STEPS], loss;
    for (int k = 0; k < STEPS; k++) {
        pp_run *r = NULL;
        if (pp_trainer_step(t, s, &o, &r, &loss) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        ms[k] = r ? r->makespan : 0;
        pp_run_free(r);
    }
    qsort(ms, STEPS, sizeof *ms, cmp);
    pp_trainer_free(t);
    pp_sched_free(s);
    return ms[STEPS / 2];
}

/* The multiplies of a stage's forward and backward for one micro-batch,
 * called bare on a quiet rank, over `blocks` distinct weight matrices (the
 * stage's working set); returns GFLOP/s. */
static double bare_gemm(const pp_model_cfg *c, int blocks)
{
    int n = c->batch / M, d = c->width, f = c->hidden;
    float *A = calloc((size_t)n * f, 4), *X = calloc((size_t)n * f, 4);
    float *W = calloc((size_t)blocks * 2 * d * f, 4), *G = calloc((size_t)blocks * 2 * d * f, 4);
    double flops = 0, t0 = pp_now();
    while (pp_now() - t0 < 1.0)
        for (int b = 0; b < blocks; b++) {
            float *W1 = W + (size_t)2 * b * d * f, *W2 = W1 + (size_t)d * f;
            float *G1 = G + (size_t)2 * b * d * f, *G2 = G1 + (size_t)d * f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, f, d, 1, X, d, W1, f, 0, A, f); /* x W1 */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, f, 1, A, f, W2, d, 0, X, d); /* a W2 */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, f, d, 1, X, d, W2, d, 0, A, f);   /* dy W2^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, f, 1, A, f, W1, f, 0, X, d);   /* dh W1^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, f, d, n, 1, A, f, X, d, 1, G2, d);   /* a^T dy */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, f, n, 1, X, d, A, f, 1, G1, f);   /* x^T dh */
            flops += 6 * 2.0 * n * d * f;
        }
    double s = pp_now() - t0;
    free(A), free(X), free(W), free(G);
    return flops / s * 1e-9;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0) fprintf(stderr, "real: run on 2 ranks (mpiexec -n 2), not %d\n", size);
        MPI_Finalize();
        return 2;
    }
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 8, c.width = 256, c.hidden = 1024, c.batch = 512;
    (void)pp_backend_name();   /* one BLAS thread per rank from here on */

    /* P = 1 runs on rank 0 while rank 1 sleeps in a barrier that does not
     * spin.  A shared machine's speed drifts, so P = 1 and P = 2 take turns,
     * ROUNDS times, and the speedup is the median of the rounds' ratios. */
    MPI_Comm one;
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? 0 : MPI_UNDEFINED, 0, &one);
    pp_grid *g1 = NULL, *g2 = NULL;
    if (rank == 0 && pp_grid_new(one, &g1) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (pp_grid_new(MPI_COMM_WORLD, &g2) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    double t1s[ROUNDS], t2s[ROUNDS], ratio[ROUNDS], bare = 0, one_flops = 0, one_secs = 0;
    for (int k = 0; k < ROUNDS; k++) {
        if (rank == 0) {
            double fl, se;
            pp_backend_gemm_stats(&fl, &se, 1);
            t1s[k] = step_time(g1, &c);
            pp_backend_gemm_stats(&fl, &se, 0);
            one_flops += fl, one_secs += se;
        }
        MPI_Request rq;
        MPI_Ibarrier(MPI_COMM_WORLD, &rq);
        pp_wait(&rq, 1e-3);
        t2s[k] = step_time(g2, &c);
        ratio[k] = rank == 0 ? t1s[k] / t2s[k] : 0;
    }
    if (rank == 0) bare = bare_gemm(&c, c.depth / 2);
    MPI_Request rq;
    MPI_Ibarrier(MPI_COMM_WORLD, &rq);
    pp_wait(&rq, 1e-3);
    /* The same multiplies on both ranks at the same time. */
    MPI_Barrier(MPI_COMM_WORLD);
    double both = bare_gemm(&c, c.depth / 2), boths[2];
    MPI_Gather(&both, 1, MPI_DOUBLE, boths, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double flops, secs;
    pp_backend_gemm_stats(&flops, &secs, 1);
    (void)step_time(g2, &c);   /* the steps whose multiplies are counted */
    pp_backend_gemm_stats(&flops, &secs, 0);
    double rate = flops / secs * 1e-9, rates[2];
    MPI_Gather(&rate, 1, MPI_DOUBLE, rates, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        qsort(t1s, ROUNDS, sizeof *t1s, cmp), qsort(t2s, ROUNDS, sizeof *t2s, cmp), qsort(ratio, ROUNDS, sizeof *ratio, cmp);
        double ideal = 2.0 * M / (M + 1), speed = ratio[ROUNDS / 2], t1 = t1s[ROUNDS / 2], t2 = t2s[ROUNDS / 2];
        printf("model: %d blocks, width %d, hidden %d; batch %d in M=%d micro-batches of %d; 1f1b; %s\n", c.depth,
               c.width, c.hidden, c.batch, M, c.batch / M, pp_backend_name());
        printf("  step time, median of %d rounds of %d steps (measured): P=1 %.1f ms, P=2 %.1f ms\n", ROUNDS, STEPS,
               t1 * 1e3, t2 * 1e3);
        printf("  speedup P=2 over P=1, median of the rounds (P=1 and P=2 in turn): %.3f measured (rounds %.3f to %.3f), ideal 2M/(M+1) = %.3f (formula): %.1f %% of ideal (target 95 %%: %s)\n",
               speed, ratio[0], ratio[ROUNDS - 1], ideal, 100 * speed / ideal, speed / ideal >= 0.95 ? "met" : "missed");
        printf("  bare sgemm of a stage's shapes (measured): %.2f GFLOP/s on a quiet machine, %.2f and %.2f with both ranks multiplying\n",
               bare, boths[0], boths[1]);
        printf("  the whole model on one rank (P=1, no pipeline): %.2f GFLOP/s in its multiplies (measured): what the\n"
               "  model's own memory traffic (stored activations, weights and gradients) leaves of the bare rate\n",
               one_flops / one_secs * 1e-9);
        for (int r = 0; r < 2; r++)
            printf("  matrix multiply inside stage %d: %.2f GFLOP/s (measured), %.1f %% of bare with both ranks multiplying "
                   "(target 90 %%: %s), %.1f %% of quiet bare\n", r, rates[r], 100 * rates[r] / boths[r],
                   rates[r] / boths[r] >= 0.9 ? "met" : "missed", 100 * rates[r] / bare);
    }
    pp_grid_free(g2);
    if (g1) pp_grid_free(g1);
    if (one != MPI_COMM_NULL) MPI_Comm_free(&one);
    MPI_Finalize();
    return 0;
}
