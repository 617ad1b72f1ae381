/* probe.c -- what this machine adds to a step, measured before it runs
 * (pp_idle.h): how late a timed compute ends, and how long a message of the
 * step's size takes to be seen by a neighbour that waits for it the way
 * the executor waits.  Every rank of the run takes part at once, so a
 * machine with fewer cores than ranks is as crowded as during the step.
 * The simulator then replays the step with both added (pp_costs_here).
 * Left out on purpose: the live view's and the watchdog's own cost.
 */
#include "core.h"
#include "pp_idle.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

enum { ROUNDS = 15 };
/* How long each probed compute sleeps, and how long after the start of a
 * round a message is sent (its receiver is asleep by then, as in a step). */
static const double COMPUTE_S = 1e-3, SEND_AFTER_S = 300e-6;

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* A timed compute as the executor makes it: asleep until spin_s before the
 * deadline, then yielding the core until it is reached.  How late it ends. */
static double compute_late(double spin_s)
{
    double deadline = pp_now() + COMPUTE_S, now;
    pp_sleep_until(deadline - spin_s);
    while ((now = pp_now()) < deadline) sched_yield();
    return now - deadline;
}

/* Waits for a receive as the executor does: awake (yielding) for spin_s,
 * then asleep poll_s between tests.  When it was seen, on rank 0's clock. */
static pp_status seen_at(MPI_Request *rq, const pp_exec_opts *o, double offset, double *at)
{
    double since = pp_now();
    for (int done = 0;;) {
        if (MPI_Test(rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        double now = pp_now();
        if (done) return *at = now - offset, PP_OK;
        if (now - since < o->spin_s) sched_yield();
        else pp_sleep_until(now + o->poll_wait_s);
    }
}

/* The median of n samples from every rank, on every rank. */
static pp_status median_all(const pp_grid *g, double *mine, int n, double *out)
{
    double *all = malloc((size_t)n * (size_t)g->size * sizeof *all);
    if (!all) return PP_ENOMEM;
    pp_status st = MPI_Allgather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, g->all) == MPI_SUCCESS ? PP_OK : PP_EMPI;
    if (st == PP_OK) {
        qsort(all, (size_t)n * (size_t)g->size, sizeof *all, cmp_double);
        *out = all[n * g->size / 2];
    }
    free(all);
    return st;
}

pp_status pp_probe_machine(const pp_grid *g, const pp_exec_opts *o, pp_machine *out)
{
    memset(out, 0, sizeof *out);
    size_t bytes = o->payload > sizeof(double) ? o->payload : sizeof(double);
    char *in = calloc(bytes, 1), *msg = calloc(bytes, 1);
    double late[ROUNDS], took[ROUNDS];
    int right = (g->rank + 1) % g->size, left = (g->rank + g->size - 1) % g->size;
    pp_status st = in && msg ? pp_barrier(g->all, o->poll_wait_s) : PP_ENOMEM;
    double t0 = pp_now();
    for (int k = 0; k < ROUNDS && st == PP_OK; k++) late[k] = compute_late(o->spin_s);
    /* A ring: each rank sends to the next and waits for the one before. */
    for (int k = 0; k < ROUNDS && st == PP_OK; k++) {
        took[k] = 0;
        if (g->size == 1) continue;
        MPI_Request rq[2];
        if (MPI_Irecv(in, (int)bytes, MPI_BYTE, left, 7, g->all, &rq[0]) != MPI_SUCCESS) st = PP_EMPI;
        if (st == PP_OK) st = pp_barrier(g->all, o->poll_wait_s);
        double start = pp_now(), sent = 0, at = 0;
        if (st == PP_OK) {   /* the sender sleeps a little first, the receiver starts waiting */
            pp_sleep_until(start + SEND_AFTER_S);
            sent = pp_now() - g->clock_offset;
            memcpy(msg, &sent, sizeof sent);
            if (MPI_Isend(msg, (int)bytes, MPI_BYTE, right, 7, g->all, &rq[1]) != MPI_SUCCESS) st = PP_EMPI;
        }
        if (st == PP_OK) st = seen_at(&rq[0], o, g->clock_offset, &at);
        if (st == PP_OK) st = pp_wait(&rq[1], o->poll_wait_s);
        if (st == PP_OK) {
            memcpy(&sent, in, sizeof sent);
            took[k] = at - sent > 0 ? at - sent : 0;
        }
    }
    if (st == PP_OK) st = median_all(g, late, ROUNDS, &out->overshoot_s);
    if (st == PP_OK) st = median_all(g, took, ROUNDS, &out->delivery_s);
    out->probe_s = pp_now() - t0;
    out->payload = (long)bytes;
    free(in), free(msg);
    return st;
}

void pp_costs_here(const pp_costs *nominal, const pp_machine *m, const pp_sched *lo, int timed, pp_costs *out)
{
    *out = *nominal;
    if (nominal->tick_s <= 0) return;
    double scale = 0;   /* the stages' mean scale: ticks are multiplied by a stage's own */
    for (int s = 0; nominal->stage_scale && s < lo->nstages; s++) scale += nominal->stage_scale[s] / lo->nstages;
    if (scale <= 0) scale = 1;
    double late = timed ? m->overshoot_s / nominal->tick_s / scale : 0;
    for (int k = 0; k < 4; k++) out->ticks[k] += late;
    out->latency += m->delivery_s / nominal->tick_s;
}
