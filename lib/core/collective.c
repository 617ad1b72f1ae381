/* collective.c -- the sums that tensor and data parallelism need, done in a
 * fixed order so that every rank ends with the same bits, run after run.
 *
 * MPI_Allreduce may add the ranks' numbers in any grouping, and float
 * addition is not associative.  This all-reduce is built from two steps that
 * any textbook ring all-reduce also has:
 *   1. reduce-scatter: the vector is cut into one chunk per rank; rank j
 *      receives chunk j from every rank (MPI_Alltoallv) and adds them in rank
 *      order, ((v0 + v1) + v2) + ...;
 *   2. all-gather: every rank sends its summed chunk to all the others.
 * Each rank sends (T-1)/T of the vector in each step: 2 (T-1)/T in all, the
 * same as a ring.  Waiting is a test-and-sleep loop (pp_wait_as), so a
 * laptop can run more ranks than it has cores; inside a step the waiter
 * tells the watchdog the rank waits on its group.  With a link model (the
 * waiter's link), each of the two steps lasts at least as long as this
 * rank's link takes to carry what it sends in it, one message after another
 * (pp_link_s per message).
 * Left out on purpose: overlapping the sum with compute.
 */
#include "core.h"

#include <stdlib.h>

/* Chunk j of n floats over T ranks: start n j / T, ends where j + 1 starts. */
static long chunk_at(long n, int T, int j)
{
    return n * j / T;
}

/* A step of a collective began at `t0` and MPI is done with it: with a link
 * model, waits until the link could have carried this rank's `count`
 * messages of `bytes` each, one after another. */
static pp_status link_wait(const pp_waiter *w, double t0, int count, long bytes)
{
    if (!w->link || count <= 0) return PP_OK;
    return pp_wait_until_as(t0 + count * pp_link_s(w->link, bytes), w);
}

/* The group's size and this rank's place.  Returns 1 when the caller is
 * done at once, with *st: PP_OK for a group of one rank (nothing to sum),
 * PP_EARG when n is too large for MPI's int counts. */
static int done_early(MPI_Comm comm, long n, int *T, int *me, pp_status *st)
{
    MPI_Comm_size(comm, T);
    MPI_Comm_rank(comm, me);
    *st = *T == 1 ? PP_OK : PP_EARG;
    return *T == 1 || n > 2147483647L;
}

pp_status pp_allreduce_ordered(float *buf, long n, MPI_Comm comm, const pp_waiter *w, long *wire_bytes)
{
    int T, me;
    pp_status early;
    if (done_early(comm, n, &T, &me, &early)) return early;
    long mine0 = chunk_at(n, T, me), mine = chunk_at(n, T, me + 1) - mine0;
    int *sc = malloc(4 * (size_t)T * sizeof *sc);
    float *in = malloc(((size_t)T * mine + 1) * sizeof *in);
    if (!sc || !in) {
        free(sc), free(in);
        return PP_ENOMEM;
    }
    int *sd = sc + T, *rc = sc + 2 * T, *rd = sc + 3 * T;
    long sent = 0;
    for (int j = 0; j < T; j++) {
        sd[j] = (int)chunk_at(n, T, j);
        sc[j] = (int)(chunk_at(n, T, j + 1) - sd[j]);
        rc[j] = (int)mine;
        rd[j] = (int)(mine * j);
        if (j != me) sent += sc[j] + mine;   /* chunk j to rank j; my chunk to rank j in step 2 */
    }
    MPI_Request rq;
    pp_status st = PP_OK;
    if (w->group) w->group(w->ctx, 1);   /* waiting on the group, not on one rank */
    /* Each step sends T-1 chunks of about n / T floats (mine of them in step 2). */
    long chunk = (n / T) * (long)sizeof(float);
    double t0 = pp_now();
    if (MPI_Ialltoallv(buf, sc, sd, MPI_FLOAT, in, rc, rd, MPI_FLOAT, comm, &rq) != MPI_SUCCESS) st = PP_EMPI;
    if (st == PP_OK) st = pp_wait_as(&rq, w);
    if (st == PP_OK) st = link_wait(w, t0, T - 1, chunk);
    if (st == PP_OK) {
        float *out = buf + mine0;
        for (long k = 0; k < mine; k++) {
            float v = in[k];
            for (int j = 1; j < T; j++) v += in[(long)j * mine + k];
            out[k] = v;
        }
        t0 = pp_now();
        if (MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, sc, sd, MPI_FLOAT, comm, &rq) != MPI_SUCCESS) st = PP_EMPI;
    }
    if (st == PP_OK) st = pp_wait_as(&rq, w);
    if (st == PP_OK) st = link_wait(w, t0, T - 1, chunk);
    if (st == PP_OK && wire_bytes) *wire_bytes += sent * (long)sizeof(float);
    if (w->group) w->group(w->ctx, 0);
    free(sc), free(in);
    return st;
}

pp_status pp_allgather_slices(float *buf, long n, MPI_Comm comm, const pp_waiter *w, long *wire_bytes)
{
    int T, me;
    pp_status early;
    if (done_early(comm, n, &T, &me, &early)) return early;
    int *c = malloc(2 * (size_t)T * sizeof *c);
    if (!c) return PP_ENOMEM;
    int *dsp = c + T;
    for (int j = 0; j < T; j++) {
        dsp[j] = (int)chunk_at(n, T, j);
        c[j] = (int)(chunk_at(n, T, j + 1) - dsp[j]);
    }
    MPI_Request rq;
    if (w->group) w->group(w->ctx, 1);
    double t0 = pp_now();
    pp_status st = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, c, dsp, MPI_FLOAT, comm, &rq) == MPI_SUCCESS
                       ? pp_wait_as(&rq, w)
                       : PP_EMPI;
    if (st == PP_OK) st = link_wait(w, t0, T - 1, (long)c[me] * (long)sizeof(float));
    if (w->group) w->group(w->ctx, 0);
    if (st == PP_OK && wire_bytes) *wire_bytes += (long)c[me] * (T - 1) * (long)sizeof(float);
    free(c);
    return st;
}

void pp_slice_of(long n, int T, int t, long *first, long *count)
{
    *first = chunk_at(n, T, t);
    *count = chunk_at(n, T, t + 1) - *first;
}
