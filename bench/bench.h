/* bench.h -- what the real-compute benchmarks (real.c, gpu.c) share: the
 * best and median of a set of rounds, and a 1F1B trainer with its step
 * timed.  Included by one program each, so everything here is static. */
#ifndef PP_BENCH_H
#define PP_BENCH_H

#include "pp.h"
#include "pp_build.h"
#include "pp_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The six multiplies of one block's forward and backward for one
 * micro-batch, with the shapes, transposes and sums into the gradients
 * (beta 1) of lib/model/model.c, through `gemm` (row-major, C = op(A) op(B)
 * + beta C): x (n x d) and a (n x f) in, outputs of those sizes in y_d and
 * y_f (they may be x and a), W1 and W2t (d x f, W2 kept transposed), their
 * gradients g1 and g2t. */
typedef void bench_gemm_fn(int ta, int tb, int m, int n, int k, const float *A, const float *B, float beta, float *C);
static void bench_block_multiplies(bench_gemm_fn *gemm, int n, int d, int f, const float *x, const float *a, float *y_d,
                                   float *y_f, const float *w1, const float *w2t, float *g1, float *g2t)
{
    gemm(0, 0, n, f, d, x, w1, 0.0f, y_f);    /* h = x W1 */
    gemm(0, 1, n, d, f, a, w2t, 0.0f, y_d);   /* y = a W2 */
    gemm(0, 0, n, f, d, x, w2t, 0.0f, y_f);   /* da = dy W2^T */
    gemm(0, 1, n, d, f, a, w1, 0.0f, y_d);    /* dx = dh W1^T */
    gemm(1, 0, d, f, n, x, a, 1.0f, g2t);     /* gW2 += a^T dy, stored transposed */
    gemm(1, 0, d, f, n, x, a, 1.0f, g1);      /* gW1 += x^T dh */
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median, lowest and highest of the n figures in v (n at most 64). */
static double bench_median(const double *v, int n)
{
    double s[64];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, bench_cmp);
    return s[n / 2];
}

static double bench_lowest(const double *v, int n)
{
    double m = v[0];
    for (int k = 1; k < n; k++) m = v[k] < m ? v[k] : m;
    return m;
}

static double bench_highest(const double *v, int n)
{
    double m = v[0];
    for (int k = 1; k < n; k++) m = v[k] > m ? v[k] : m;
    return m;
}

/* A 1f1b trainer of the model on grid g for M micro-batches, with its schedule. */
typedef struct {
    pp_trainer *t;
    pp_sched *s;
} bench_run;

static bench_run bench_setup(pp_grid *g, const pp_model_cfg *c, int M)
{
    pp_partition part;
    char err[200];
    bench_run b = {NULL, NULL};
    pp_sched *built = NULL;
    pp_check chk;
    if (pp_partition_make("front", c->depth, g->size, NULL, &part, err, sizeof err) != PP_OK ||
        pp_sched_build("1f1b", g->size, M, 0, &built, NULL, 0) != PP_OK || pp_sched_validate(built, &b.s, &chk) != PP_OK ||
        pp_trainer_new(g, c, &part, NULL, &b.t) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    pp_sched_free(built);
    return b;
}

/* One training step (on the device the backend uses); its makespan (s) on
 * rank 0 of the grid. */
static double bench_step_s(bench_run *b)
{
    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.device = pp_backend_clock();
    pp_run *r = NULL;
    double loss;
    pp_status st = pp_trainer_step(b->t, b->s, &o, &r, &loss);
    if (st != PP_OK) {
        fprintf(stderr, "bench: a step failed: %s %s\n", pp_strerror(st), pp_backend_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    double s = r ? r->makespan : 0;
    pp_run_free(r);
    return s;
}

static void bench_teardown(bench_run *b)
{
    pp_trainer_free(b->t);
    pp_sched_free(b->s);
    b->t = NULL, b->s = NULL;
}

/* What every round compares: P = 1 on rank 0 alone (b1; empty on rank 1)
 * and P = 2 on both ranks (b2). */
typedef struct {
    MPI_Comm one;
    pp_grid *g1, *g2;
    bench_run b1, b2;
} bench_pair;

static void bench_pair_new(bench_pair *p, const pp_model_cfg *c, int M)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    memset(p, 0, sizeof *p);
    MPI_Comm_split(MPI_COMM_WORLD, rank == 0 ? 0 : MPI_UNDEFINED, 0, &p->one);
    if (rank == 0 && pp_grid_new(p->one, &p->g1) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    if (pp_grid_new(MPI_COMM_WORLD, &p->g2) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    p->b2 = bench_setup(p->g2, c, M);
    if (rank == 0) p->b1 = bench_setup(p->g1, c, M);
}

static void bench_pair_free(bench_pair *p)
{
    bench_teardown(&p->b1);
    bench_teardown(&p->b2);
    pp_grid_free(p->g2);
    if (p->g1) pp_grid_free(p->g1);
    if (p->one != MPI_COMM_NULL) MPI_Comm_free(&p->one);
}

#endif /* PP_BENCH_H */
