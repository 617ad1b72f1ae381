/* setup.c -- what a rank does before its step starts, so that no cost of
 * setting up lands inside the step: it exchanges one message with every
 * peer (the connection), makes every buffer and moves one message through
 * each (MPI registers the memory), posts every receive, and then all ranks
 * start together on rank 0's clock.  Each piece done is progress for the
 * watchdog: setting up a step is not a hang.
 */
#include "step.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Rank 0 sets the common start this far ahead, and more with more ranks
 * (on a machine with fewer cores than ranks they take turns to wake), so
 * that every rank has the time to hear of it; unless pp_exec_opts sets its
 * own lead. */
static const double PP_START_AHEAD_S = 0.02, PP_START_PER_RANK_S = 0.002;

/* Waits for the n requests of the step's setting up, one by one; each one
 * done is progress for the watchdog (setting up a step is not a hang). */
static pp_status wait_setup(pp_step *step, MPI_Request *rq, int n)
{
    pp_status st = PP_OK;
    for (int k = 0; k < n && st == PP_OK; k++) {
        st = pp_wait_as(&rq[k], &step->waiter);
        pp_watchdog_at(step, PP_AT_SETUP, k);
    }
    return st;
}

/* Exchanges one full-size message each way with every rank this rank's list
 * talks to, before the step: the first message between two ranks pays for
 * setting up their connection, and that cost belongs to no step. */
pp_status pp_step_warm_up(pp_step *step)
{
    const pp_sched *lo = step->lo;
    int P = lo->nranks, n = 0;
    size_t room = step->o->payload + 1;
    int *peer = calloc((size_t)P, sizeof *peer);
    MPI_Request *rq = malloc(2 * (size_t)P * sizeof *rq);
    char *mine = calloc(1, room), *theirs = malloc((size_t)P * room);
    pp_status st = peer && rq && mine && theirs ? PP_OK : PP_ENOMEM;
    for (int i = 0; i < step->len && st == PP_OK; i++) {
        pp_action a = lo->acts[step->me][i];
        if (pp_is_send(a.kind) || pp_is_recv(a.kind)) peer[pp_partner(lo, a)] = 1;
    }
    /* Peers are symmetric (whoever sends to me, I receive from), so every
     * Isend below has its Irecv on the other side.  The tag is above all step tags. */
    int tag = pp_tag(lo->nstages, lo->nmb, 0, lo->nmb);
    for (int p = 0; p < P && st == PP_OK; p++) {
        if (!peer[p]) continue;
        if (MPI_Irecv(theirs + (size_t)p * room, (int)step->o->payload, MPI_BYTE, p, tag, step->comm, &rq[n++]) !=
                MPI_SUCCESS ||
            MPI_Isend(mine, (int)step->o->payload, MPI_BYTE, p, tag, step->comm, &rq[n++]) != MPI_SUCCESS)
            st = PP_EMPI;
    }
    if (st == PP_OK) st = wait_setup(step, rq, n);
    free(peer), free(rq), free(mine), free(theirs);
    return st;
}

/* The buffer of a send or receive: the model's tensor (real mode), or
 * `payload` touched bytes of our own (timed mode: its pages are mapped now,
 * not while a message is on its way). */
static pp_status attach(pp_step *step, pp_action a, pp_msg *m)
{
    const pp_work *w = step->o->work;
    if (w) {
        m->buf = w->buffer(w->ctx, a, &m->bytes);
        return m->buf ? PP_OK : PP_ESCHED;
    }
    m->bytes = step->o->payload;
    if (!(m->buf = malloc(m->bytes ? m->bytes : 1))) return PP_ENOMEM;
    memset(m->buf, 0, m->bytes ? m->bytes : 1);
    return PP_OK;
}

/* Moves one message through every buffer, before the step.  The first
 * message from or into a buffer address costs the MPI library tens of
 * microseconds (it registers the memory), and that cost belongs to no step.
 * Each send of mine has its receive on the partner (the validator checked),
 * and messages between two ranks with one tag arrive in order, so every
 * Isend below meets one Irecv. */
static pp_status warm_buffers(pp_step *step)
{
    const pp_sched *lo = step->lo;
    int n = 0, tag = pp_tag(lo->nstages, lo->nmb, 1, lo->nmb);
    MPI_Request *rq = malloc(((size_t)step->len + 1) * sizeof *rq);
    pp_status st = rq ? PP_OK : PP_ENOMEM;
    for (int i = 0; i < step->len && st == PP_OK; i++) {
        pp_action a = lo->acts[step->me][i];
        pp_msg *m = pp_is_send(a.kind) ? &step->sends[i] : &step->recvs[i];
        int rc = MPI_SUCCESS;
        if (pp_is_send(a.kind))
            rc = MPI_Isend(m->buf, (int)m->bytes, MPI_BYTE, pp_partner(lo, a), tag, step->comm, &rq[n++]);
        else if (pp_is_recv(a.kind))
            rc = MPI_Irecv(m->buf, (int)m->bytes, MPI_BYTE, pp_partner(lo, a), tag, step->comm, &rq[n++]);
        if (rc != MPI_SUCCESS) st = PP_EMPI;
    }
    if (st == PP_OK) st = wait_setup(step, rq, n);
    free(rq);
    return st;
}

/* Before the step: a warmed buffer for every message, and every receive
 * posted (its tag names the receiving stage, so it matches only its message). */
pp_status pp_step_prepare(pp_step *step)
{
    const pp_sched *lo = step->lo;
    for (int i = 0; i < step->len; i++) {
        pp_action a = lo->acts[step->me][i];
        pp_status st = PP_OK;
        if (pp_is_send(a.kind)) st = attach(step, a, &step->sends[i]);
        else if (pp_is_recv(a.kind)) st = attach(step, a, &step->recvs[i]);
        if (st != PP_OK) return st;
        pp_watchdog_at(step, PP_AT_SETUP, i);   /* one buffer more: progress */
    }
    pp_status st = warm_buffers(step);
    for (int i = 0; i < step->len && st == PP_OK; i++) {
        pp_action a = lo->acts[step->me][i];
        pp_msg *m = &step->recvs[i];
        if (pp_is_recv(a.kind) && MPI_Irecv(m->buf, (int)m->bytes, MPI_BYTE, pp_partner(lo, a), pp_tag_of(lo, a), step->comm,
                                         &m->req) != MPI_SUCCESS)
            st = PP_EMPI;
    }
    return st;
}

/* On a crowded machine: for each receive i, the count of messages its
 * sender has posted to this rank at which its message is on its way (the
 * count now, before the common start, and its place among the sends to this
 * rank in the sender's list).  A send held for its bytes (a device) may go
 * out of turn: its receiver then dozes in slices of a few milliseconds
 * while its message is on its way, slower but never stuck. */
static pp_status expect_posts(pp_step *step)
{
    const pp_sched *lo = step->lo;
    if (!pp_bell_ready(step->wd)) return PP_OK;
    if (!(step->posted_by = calloc((size_t)step->len + 1, sizeof *step->posted_by))) return PP_ENOMEM;
    for (int i = 0; i < step->len; i++) {
        pp_action a = lo->acts[step->me][i];
        if (!pp_is_recv(a.kind)) continue;
        int q = pp_partner(lo, a), send = a.kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B;
        unsigned nth = 0;
        for (int k = 0; k < lo->len[q]; k++) {
            pp_action b = lo->acts[q][k];
            if (!pp_is_send(b.kind) || pp_partner(lo, b) != step->me) continue;
            nth++;
            if ((int)b.kind == send && b.stage == pp_peer_stage(a) && b.mb == a.mb) break;
        }
        step->posted_by[i] = pp_bell_posted(step->wd, pp_peer_rank(step, a)) + nth;
    }
    return PP_OK;
}

/* Timed mode: how long a waiting rank may sleep (see pp_replay_sends).
 * No bound in real mode or on a device (a compute's time is not known),
 * nor with a fault (it may reorder a list).  The executor adds no latency
 * of the costs' own: the replay adds none either.  First, in every mode,
 * expect_posts. */
pp_status pp_step_expect(pp_step *step)
{
    const pp_exec_opts *o = step->o;
    pp_status st0 = expect_posts(step);
    if (st0 != PP_OK || o->work || o->device || step->fault != PP_FAULT_NONE) return st0;
    pp_costs c = pp_step_costs(step);
    c.latency = 0;
    if (!(step->not_before = calloc((size_t)step->len + 1, sizeof *step->not_before))) return PP_ENOMEM;
    step->plan_tick_s = c.tick_s;
    pp_status st = pp_replay_sends(step->lo, &c, step->me, step->not_before);
    if (st == PP_ESCHED) {   /* an unchecked schedule may not replay: no bound */
        free(step->not_before);
        step->not_before = NULL;
        return PP_OK;
    }
    return st;
}

/* Rank 0 picks a start a little in the future on its clock; every rank
 * converts it to its own clock with the measured offset and sleeps until
 * then, so all ranks start together even if their clocks disagree. */
pp_status pp_step_start_together(pp_step *step)
{
    const pp_grid *g = step->g;
    /* Every rank ready first (asleep between tests): a rank still setting
     * up when the start comes would begin late, and with many ranks on few
     * cores setting up takes them turns. */
    pp_waiter ready = step->waiter;
    ready.poll_s = step->o->poll_busy_s;
    pp_status st = pp_barrier_as(g->all, &ready);
    if (st != PP_OK) return st;
    double ahead = step->o->start_ahead_s > 0 ? step->o->start_ahead_s : PP_START_AHEAD_S + PP_START_PER_RANK_S * g->size;
    double t0 = g->rank == 0 ? pp_now() + ahead : 0;
    MPI_Request rq;   /* waited for asleep: ranks spinning in a broadcast would keep rank 0 from the core */
    if (MPI_Ibcast(&t0, 1, MPI_DOUBLE, 0, g->all, &rq) != MPI_SUCCESS) return PP_EMPI;
    st = pp_wait_as(&rq, &step->waiter);
    if (st != PP_OK) return st;
    step->start = t0 + g->clock_offset;
    if (step->view) step->view->start(step->view->ctx, step->start, step->cores);
    /* A long sleep wakes up to a few hundred microseconds late here, and the
     * step's clock runs from `start`: the last stretch is spent awake. */
    pp_sleep_until(step->start - step->o->spin_s);
    while (pp_now() < step->start) sched_yield();
    return PP_OK;
}
