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
 * round its first message is sent (the receivers are asleep by then). */
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

/* Sends buf (its first bytes: now, on rank 0's clock) to rank `to`, and
 * waits until it is gone. */
static pp_status pass_on(char *buf, size_t bytes, int to, const pp_grid *g)
{
    double sent = pp_now() - g->clock_offset;
    memcpy(buf, &sent, sizeof sent);
    MPI_Request rq;
    if (MPI_Isend(buf, (int)bytes, MPI_BYTE, to, 7, g->all, &rq) != MPI_SUCCESS) return PP_EMPI;
    return pp_wait(&rq, 20e-6);
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
    /* A relay around the ring, as a micro-batch goes down a pipeline: each
     * round one rank sends, and every rank passes the message on as soon as
     * it sees it, while the others wait asleep for theirs. */
    for (int k = 0; k < ROUNDS && st == PP_OK; k++) {
        took[k] = 0;
        if (g->size == 1) continue;
        MPI_Request rq;
        int first = g->rank == k % g->size;
        if (MPI_Irecv(in, (int)bytes, MPI_BYTE, left, 7, g->all, &rq) != MPI_SUCCESS) st = PP_EMPI;
        if (st == PP_OK) st = pp_barrier(g->all, o->poll_wait_s);
        double sent = 0, at = 0;
        if (st == PP_OK && first) {   /* the others are asleep in their waits by then */
            pp_sleep_until(pp_now() + SEND_AFTER_S);
            st = pass_on(msg, bytes, right, g);
        }
        if (st == PP_OK) st = seen_at(&rq, o, g->clock_offset, &at);
        if (st == PP_OK) {
            memcpy(&sent, in, sizeof sent);
            took[k] = at - sent > 0 ? at - sent : 0;
        }
        if (st == PP_OK && !first) st = pass_on(in, bytes, right, g);
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
