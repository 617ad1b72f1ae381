/* check.h -- the smallest test harness: each CHECK prints "ok - what" or
 * "not ok - what (details)", and tests/run.sh counts the lines; and the
 * grid of the job's first ranks, which the MPI tests run their cases on. */
#ifndef PP_CHECK_H
#define PP_CHECK_H

#include "pp.h"
#include "pp_idle.h"

#include <stdio.h>

static int check_failed;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        int ok_ = (cond);                                             \
        printf("%s - ", ok_ ? "ok" : "not ok");                       \
        printf(__VA_ARGS__);                                          \
        if (!ok_) printf("   [%s:%d: %s]", __FILE__, __LINE__, #cond); \
        printf("\n");                                                 \
        if (!ok_) check_failed++;                                     \
    } while (0)

/* Collective over MPI_COMM_WORLD: on the job's first n ranks, a plain grid
 * over them, made from *sub (which the caller frees after the grid); NULL
 * on the other ranks.  The job ends if the grid cannot be made. */
static inline pp_grid *first_ranks(int n, MPI_Comm *sub)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, sub);
    if (*sub == MPI_COMM_NULL) return NULL;
    pp_grid *g = NULL;
    if (pp_grid_new(*sub, &g) != PP_OK) {
        if (rank == 0) CHECK(0, "a grid over the first %d ranks", n);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return g;
}

/* The measured bubble as a breakdown rebuilds it: its reference (the
 * formula, or the replayed schedule where there is none) plus every part. */
static inline double parts_sum(const pp_idle *x)
{
    double s = x->formula >= 0 ? x->formula : x->base;
    for (int p = 0; p < PP_NPARTS; p++) s += x->part[p];
    return s;
}

#endif
