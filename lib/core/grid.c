/* grid.c -- the ranks and their places: the pipeline, tensor- and
 * data-parallel communicators, and each rank's clock offset from rank 0,
 * which puts every rank's trace on one clock.
 *
 * MPI does not promise that two machines' clocks agree.  At start-up rank 0
 * plays ping-pong with every other rank, keeps the fastest round trip, and
 * takes the other rank's clock reading to be from the middle of that round
 * trip: the offset is then known to within half the fastest round trip.
 *
 * The grid's shape, P stages x T tensor-parallel ranks x D replicas, puts
 * rank w at t = w mod T, p = (w / T) mod P, d = w / (T P) (pp_place, the one
 * place this is written): a tensor-parallel group is T neighbouring ranks,
 * which mpiexec places on one machine, because it talks on every block; the
 * pipeline's and the replicas' messages are fewer and may cross machines.
 *
 * It also counts the cores the ranks of each machine may run on: a machine
 * with more ranks than cores is crowded, and there a waiting rank sleeps
 * until its sender rings (watchdog.c's bells).
 *
 * Setting up waits asleep where MPI lets it (nonblocking calls and
 * pp_wait): on a crowded machine a rank spinning in a blocking collective
 * keeps its core from the rank it waits for, which then runs only when the
 * scheduler takes the core back.
 */
#define _GNU_SOURCE   /* sched_getaffinity: the cores this process may run on */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/prctl.h>
#endif

/* ---- clock offsets ----------------------------------------------------- */

enum { PING_TRIALS = 16, PING_ROUNDS = 8, TAG_PING = 1, TAG_PONG = 2, TAG_RESULT = 3 };

/* A round trip slower than this was disturbed (a rank descheduled): try again. */
static const double GOOD_RTT = 50e-6;

/* Rank 0's side of the ping-pong with `peer`: returns the peer's clock minus
 * rank 0's, taken at the fastest round trip (written to *rtt).  The first
 * exchange only sets up the connection and is not timed. */
static pp_status ping(MPI_Comm c, int peer, double *offset, double *rtt)
{
    *rtt = 1e30;
    for (int i = 0;; i++) {
        /* Stop after a round of trials that saw an undisturbed round trip,
         * or after the last round, and tell the peer so. */
        int enough = i > 0 && i % PING_TRIALS == 0 && *rtt < GOOD_RTT;
        double theirs = 0, go = enough || i > PING_TRIALS * PING_ROUNDS ? 0 : 1, t0 = pp_now();
        MPI_Request rq;
        if (MPI_Send(&go, 1, MPI_DOUBLE, peer, TAG_PING, c) != MPI_SUCCESS) return PP_EMPI;
        if (!go) break;
        if (MPI_Irecv(&theirs, 1, MPI_DOUBLE, peer, TAG_PONG, c, &rq) != MPI_SUCCESS) return PP_EMPI;
        if (pp_wait(&rq, 0) != PP_OK) return PP_EMPI;
        double t1 = pp_now();
        if (i > 0 && t1 - t0 < *rtt) {
            *rtt = t1 - t0;
            *offset = theirs - 0.5 * (t0 + t1);
        }
    }
    return PP_OK;
}

/* Every other rank's side: answer each ping with the time it arrived, until
 * rank 0 says it has enough. */
static pp_status pong(MPI_Comm c)
{
    for (int i = 0;; i++) {
        double go = 0;
        MPI_Request rq;
        if (MPI_Irecv(&go, 1, MPI_DOUBLE, 0, TAG_PING, c, &rq) != MPI_SUCCESS) return PP_EMPI;
        /* Waiting for rank 0 to reach this rank can take a while: sleep, do not spin. */
        if (pp_wait(&rq, i == 0 ? PP_SET_UP_POLL_S : 0) != PP_OK) return PP_EMPI;
        if (!go) return PP_OK;
        double now = pp_now();
        if (MPI_Send(&now, 1, MPI_DOUBLE, 0, TAG_PONG, c) != MPI_SUCCESS) return PP_EMPI;
    }
}

static pp_status estimate_offsets(pp_grid *g)
{
    double mine[2] = {0, 0}; /* offset, round trip */
    pp_status st = PP_OK;
    if (g->rank == 0) {
        for (int p = 1; p < g->size && st == PP_OK; p++) {
            double res[2];
            st = ping(g->all, p, &res[0], &res[1]);
            if (st == PP_OK && MPI_Send(res, 2, MPI_DOUBLE, p, TAG_RESULT, g->all) != MPI_SUCCESS) st = PP_EMPI;
        }
    } else {
        /* The result comes by a sleeping wait, not a collective: a rank
         * spinning in MPI_Scatter would take the core rank 0 and the rank it
         * is timing need, and slow their round trips. */
        MPI_Request rq;
        st = pong(g->all);
        if (st == PP_OK && MPI_Irecv(mine, 2, MPI_DOUBLE, 0, TAG_RESULT, g->all, &rq) != MPI_SUCCESS) st = PP_EMPI;
        if (st == PP_OK) st = pp_wait(&rq, PP_SET_UP_POLL_S);
    }
    g->clock_offset = mine[0];
    g->clock_rtt = mine[1];
    return st;
}

/* ---- the grid ---------------------------------------------------------- */

void pp_place(int P, int T, int w, int *p, int *t, int *d)
{
    *t = w % T;
    *p = w / T % P;
    *d = w / (T * P);
}

int pp_place_rank(int P, int T, int p, int t, int d)
{
    return t + T * (p + P * d);
}

static void free_comm(MPI_Comm *c)
{
    if (*c != MPI_COMM_NULL) MPI_Comm_free(c);
    *c = MPI_COMM_NULL;
}

/* Splits `all` into the pipeline, tensor- and data-parallel communicators of
 * the shape in g (P, T, D set) and fills in this rank's place. */
static pp_status split(pp_grid *g)
{
    int p, t, d;
    pp_place(g->P, g->T, g->rank, &p, &t, &d);
    MPI_Comm pipe, tp, dp;
    if (MPI_Comm_split(g->all, t + g->T * d, p, &pipe) != MPI_SUCCESS) return PP_EMPI;
    if (MPI_Comm_split(g->all, p + g->P * d, t, &tp) != MPI_SUCCESS) {
        MPI_Comm_free(&pipe);
        return PP_EMPI;
    }
    if (MPI_Comm_split(g->all, t + g->T * p, d, &dp) != MPI_SUCCESS) {
        MPI_Comm_free(&pipe), MPI_Comm_free(&tp);
        return PP_EMPI;
    }
    free_comm(&g->pipe), free_comm(&g->tp), free_comm(&g->dp);
    g->pipe = pipe, g->tp = tp, g->dp = dp;
    g->pipe_rank = p, g->tp_rank = t, g->dp_rank = d;
    return PP_OK;
}

pp_status pp_grid_shape(pp_grid *g, int T, int D, char *err, size_t n)
{
    if (T < 1 || D < 1) {
        snprintf(err, n, "--tp %d --dp %d: both must be at least 1", T, D);
        return PP_EARG;
    }
    if (g->size % (T * D) != 0) {
        snprintf(err, n, "--tp %d --dp %d: %d rank%s not split into stages of T x D = %d x %d = %d ranks "
                 "(%d / %d is not whole): start a multiple of %d ranks, or change --tp or --dp",
                 T, D, g->size, g->size == 1 ? " does" : "s do", T, D, T * D, g->size, T * D, T * D);
        return PP_EARG;
    }
    int keep[3] = {g->P, g->T, g->D};
    g->T = T, g->D = D, g->P = g->size / (T * D);
    pp_status st = split(g);
    if (st != PP_OK) g->P = keep[0], g->T = keep[1], g->D = keep[2];
    return st;
}

/* The cores any rank of this machine may run on (a job pinned to some
 * cores gets those only); collective over node. */
static pp_status machine_cores(MPI_Comm node, int *cores)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    *cores = online > 0 ? (int)online : 1;
#ifdef __linux__
    /* one sum: the union of the ranks' cores, and whether any rank could
     * not read its own (then every core the machine has) */
    struct {
        cpu_set_t set;
        unsigned char unknown;
    } mine, all;
    memset(&mine, 0, sizeof mine);
    mine.unknown = !(sched_getaffinity(0, sizeof mine.set, &mine.set) == 0 && CPU_COUNT(&mine.set) > 0);
    if (pp_allreduce_asleep(&mine, &all, (int)sizeof mine, MPI_BYTE, MPI_BOR, node) != PP_OK)
        return PP_EMPI;
    if (!all.unknown) *cores = CPU_COUNT(&all.set);
#else
    (void)node;   /* elsewhere: every core it has */
#endif
    return PP_OK;
}

/* The communicators of the plain shape (every rank a stage: P = size,
 * T = D = 1) without a blocking split: the pipeline is all of them in
 * order, a duplicate made asleep; the tensor- and data-parallel groups are
 * this rank alone (made from MPI_COMM_SELF, whose error handler they take;
 * the kit sets none).  On a failure g's are left as they were. */
static pp_status plain_shape(pp_grid *g)
{
    MPI_Comm pipe = MPI_COMM_NULL, tp = MPI_COMM_NULL, dp = MPI_COMM_NULL;
    MPI_Request rq;
    if (MPI_Comm_idup(g->all, &pipe, &rq) != MPI_SUCCESS) return PP_EMPI;
    if (pp_wait(&rq, PP_SET_UP_POLL_S) != PP_OK) return PP_EMPI;   /* a request that failed: pipe is not made */
    if (MPI_Comm_dup(MPI_COMM_SELF, &tp) != MPI_SUCCESS || MPI_Comm_dup(MPI_COMM_SELF, &dp) != MPI_SUCCESS) {
        free_comm(&pipe), free_comm(&tp);
        return PP_EMPI;
    }
    g->pipe = pipe, g->tp = tp, g->dp = dp;
    g->pipe_rank = g->rank, g->tp_rank = g->dp_rank = 0;
    return PP_OK;
}

pp_status pp_grid_new(MPI_Comm world, pp_grid **out)
{
    *out = NULL;
#ifdef __linux__
    /* Ask the kernel to wake sleeping ranks within 1 us of their deadline
     * rather than the default 50 us: ticks stay ticks. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
    pp_grid *g = calloc(1, sizeof *g);
    if (!g) return PP_ENOMEM;
    g->all = g->pipe = g->tp = g->dp = g->node = MPI_COMM_NULL;
    /* A communicator of its own, so that no other library's messages can
     * match the kit's tags. */
    MPI_Request rq;
    if (MPI_Comm_idup(world, &g->all, &rq) != MPI_SUCCESS || pp_wait(&rq, PP_SET_UP_POLL_S) != PP_OK) {
        free(g);
        return PP_EMPI;
    }
    MPI_Comm_rank(g->all, &g->rank);
    MPI_Comm_size(g->all, &g->size);
    g->P = g->size, g->T = g->D = 1;
    pp_status st = MPI_Comm_split_type(g->all, MPI_COMM_TYPE_SHARED, g->rank, MPI_INFO_NULL, &g->node) == MPI_SUCCESS
                       ? plain_shape(g)
                       : PP_EMPI;
    if (st == PP_OK) st = estimate_offsets(g);
    if (st == PP_OK) st = machine_cores(g->node, &g->cores);
    if (st == PP_OK) st = pp_watchdog_new(g->all, g->node, g->cores, &g->wd);
    if (st != PP_OK) {
        pp_grid_free(g);
        return st;
    }
    *out = g;
    return PP_OK;
}

void pp_grid_free(pp_grid *g)
{
    if (!g) return;
    pp_watchdog_free(g->wd);
    free_comm(&g->pipe), free_comm(&g->tp), free_comm(&g->dp), free_comm(&g->node), free_comm(&g->all);
    free(g);
}
