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
 * on the other ranks.  The job ends if the grid cannot be made.  Ranks that
 * sat out the previous cases wait for the others asleep (pp_barrier), not
 * spinning in MPI: with more ranks than cores they would take the cores the
 * cases run on. */
static inline pp_grid *first_ranks(int n, MPI_Comm *sub)
{
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (pp_barrier(MPI_COMM_WORLD, 1e-3) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, sub);
    if (*sub == MPI_COMM_NULL) return NULL;
    pp_grid *g = NULL;
    if (pp_grid_new(*sub, &g) != PP_OK) {
        if (rank == 0) CHECK(0, "a grid over the first %d ranks", n);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return g;
}

/* The executor's options for the checks of many short steps: the defaults,
 * with the common start set 3 ms ahead of its broadcast instead of the
 * executor's own lead (pp_exec_opts.start_ahead_s); a rank told late begins
 * late, which these checks allow (nothing they check runs faster for it). */
static inline void short_lead_opts(pp_exec_opts *o)
{
    pp_exec_opts_default(o);
    o->start_ahead_s = 3e-3;
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
