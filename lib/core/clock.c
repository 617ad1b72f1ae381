/* clock.c -- the clock every rank's trace is read on, and how a rank waits.
 *
 * A rank waits by testing its request, then sleeping a little (or giving up
 * the core): a rank that spins in MPI_Wait keeps the core from a process
 * that shares it, perhaps the very rank it waits for, which then runs only
 * when the scheduler's time slice (milliseconds) runs out.  Inside a step the
 * wait is handed a pp_waiter that also asks the watchdog between tests.
 */
#include "core.h"

#include <sched.h>
#include <time.h>

static double injected_offset; /* seconds added to this rank's clock by tests */

double pp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + injected_offset;
}

void pp_clock_inject_offset(double seconds)
{
    injected_offset = seconds;
}

void pp_sleep_until(double t)
{
    /* Sleeping to an absolute deadline (not "for a while") keeps small
     * oversleeps from adding up over a long run. */
    double real = t - injected_offset;
    if (real <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)real;
    ts.tv_nsec = (long)((real - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
        /* interrupted by a signal: sleep again to the same deadline */
    }
}

pp_status pp_wait_as(MPI_Request *req, const pp_waiter *w)
{
    for (;;) {
        int done = 0;
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        if (done) return PP_OK;
        pp_status st = w->send ? w->send(w->step) : PP_OK;
        if (st == PP_OK && w->look) st = w->look(w->ctx);
        if (st != PP_OK) return st;
        if (w->poll_s > 0) pp_sleep_until(pp_now() + w->poll_s);
        else sched_yield();
    }
}

pp_status pp_wait_until_as(double t, const pp_waiter *w)
{
    for (double now = pp_now(); now < t; now = pp_now()) {
        pp_status st = w->send ? w->send(w->step) : PP_OK;
        if (st == PP_OK && w->look) st = w->look(w->ctx);
        if (st != PP_OK) return st;
        pp_sleep_until(w->poll_s > 0 && now + w->poll_s < t ? now + w->poll_s : t);
    }
    return PP_OK;
}

pp_status pp_wait(MPI_Request *req, double poll_s)
{
    pp_waiter w = {.poll_s = poll_s};
    return pp_wait_as(req, &w);
}

pp_status pp_barrier_as(MPI_Comm comm, const pp_waiter *w)
{
    MPI_Request rq;
    if (MPI_Ibarrier(comm, &rq) != MPI_SUCCESS) return PP_EMPI;
    return pp_wait_as(&rq, w);
}

pp_status pp_barrier(MPI_Comm comm, double poll_s)
{
    pp_waiter w = {.poll_s = poll_s};
    return pp_barrier_as(comm, &w);
}

pp_status pp_allreduce_asleep(const void *mine, void *all, int count, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm)
{
    MPI_Request rq;
    if (MPI_Iallreduce(mine, all, count, type, op, comm, &rq) != MPI_SUCCESS) return PP_EMPI;
    return pp_wait(&rq, PP_SET_UP_POLL_S);
}
