/* exec.c -- the executor: every rank runs its own action list over MPI,
 * "computes" by sleeping for a set number of ticks (timed mode) or by
 * calling the model (real mode), and records what it did; rank 0 then gets
 * every rank's events on its own clock.
 *
 * How a rank sends and waits is what makes the measured bubble equal the
 * textbook one on a laptop with fewer cores than ranks:
 *   - every receive of the step is posted before the step starts, so an
 *     arriving message always finds its buffer;
 *   - sends are non-blocking (MPI_Isend): a blocking send of a large message
 *     waits for the receiver to reach its receive and serializes the pipeline;
 *   - while "computing" a rank sleeps in slices to an absolute deadline and
 *     tests its requests between slices, so MPI keeps moving messages;
 *   - while waiting for a message it tests, then sleeps a little: a rank that
 *     spins in MPI_Recv steals the core of a rank that has work to do.  Only
 *     in short windows (just after a send, at the start of a wait, at the end
 *     of a compute) does it stay awake, and then it yields the core between
 *     tests (see slice()).  In timed mode it knows when a message cannot
 *     have come yet (pp_step_expect) and sleeps longer until then.  On a
 *     machine with more ranks than cores, a sender rings its receiver's
 *     bell as it posts (watchdog.c), and a waiting rank with no send of its
 *     own on its way sleeps until its message is on its way, looking only
 *     every few milliseconds: each wake-up costs a core tens of
 *     microseconds, taken from a rank that computes.  (With a core for
 *     every rank the bells stay silent: a rank woken by another is moved to
 *     the waker's core, and the two share it for milliseconds);
 *   - a waiting rank whose message is there goes on at once: its sends on
 *     their way are tested in its next compute, not first (a test can take
 *     MPI tens of microseconds of work for them);
 *   - before the step, one message each way with every peer sets up the
 *     connections, and one message moves through every buffer of the step
 *     (see warm_buffers()), so that neither cost lands inside the step.
 * In real mode the model computes, messages travel in its own tensors, and
 * it calls pp_step_progress() between blocks, so messages keep moving during
 * a stage's compute.  With more ranks than cores the ranks take the cores in
 * turn, a whole compute each, first asked first served (take_core): left to
 * the operating system, a compute would lose its core part-way to a rank
 * just woken, its time would count another's work, and the measured bubble
 * would depend on how the system happened to share the cores.
 * Beside this main path, each through one door: the watchdog is told of the
 * step's moments (pp_watchdog_at) and asked at every test (pp_watchdog_poll);
 * the live view (step->view) is polled, holds a paused rank and streams the
 * events to rank 0; a device (o->device) runs the compute on its own clock;
 * a fault (fault.c) changes the list's order or one action.  step.h holds
 * the state they read.
 * Left out on purpose: progress inside one block's matrix multiply.
 */
#include "step.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* A paused rank looks at the view this often. */
static const double PP_PAUSE_SLICE_S = 2e-3;
/* A rank waiting for a message that cannot have come yet (step->not_before)
 * tests this often, and wakes PP_QUIET_MARGIN_S before it can come: a sleep
 * now and then ends a millisecond or two late on a busy machine. */
static const double PP_QUIET_SLICE_S = 1e-3, PP_QUIET_MARGIN_S = 2e-3;
/* On a crowded machine a waiting rank sleeps until its sender rings its
 * bell, looking anyway every PP_BELL_SLICE_S (the view's keys, the
 * watchdog). */
static const double PP_BELL_SLICE_S = 5e-3;

void pp_exec_opts_default(pp_exec_opts *o)
{
    *o = (pp_exec_opts){.payload = 64 * 1024, .poll_wait_s = 20e-6, .poll_busy_s = 1e-3, .spin_s = 100e-6,
                        .cores_in_turn = 1, .watchdog_s = -1, .fault = {.kind = PP_FAULT_NONE}};
    pp_costs_default(&o->costs);
}

static double since_start(const pp_step *step)
{
    return pp_now() - step->start;
}

/* An event of this rank's, starting now. */
static pp_event event_now(const pp_step *step, pp_ev_type type, pp_action a)
{
    return (pp_event){.type = type, .kind = a.kind, .stage = a.stage, .mb = a.mb, .inflight = step->stored,
                      .t0 = since_start(step), .t1 = -1};
}

/* The first bytes of every message say what it carries, so the receiver can
 * check it got the message it expected. */
static void stamp(char *buf, size_t n, int stage, int mb, int dir)
{
    int head[3] = {stage, mb, dir};
    if (n >= sizeof head) memcpy(buf, head, sizeof head);
}

static int stamp_ok(const char *buf, size_t n, int stage, int mb, int dir)
{
    int head[3];
    if (n < sizeof head) return 1;
    memcpy(head, buf, sizeof head);
    return head[0] == stage && head[1] == mb && head[2] == dir;
}

/* ---- messages ----------------------------------------------------------- */

/* Hands send i's message to MPI at `now` (seconds since start), and rings
 * its receiver's bell. */
static pp_status post(pp_step *step, int i, double now)
{
    pp_action a = step->lo->acts[step->me][i];
    pp_msg *m = &step->sends[i];
    step->last_send = now;
    if (MPI_Isend(m->buf, (int)m->bytes, MPI_BYTE, pp_partner(step->lo, a), pp_tag_of(step->lo, a), step->comm, &m->req) !=
        MPI_SUCCESS)
        return PP_EMPI;
    step->on_way[step->n_on_way++] = i;
    pp_bell_ring(step->wd, pp_peer_rank(step, a));
    return PP_OK;
}

/* May send i go now?  Its bytes are ready (a GPU has copied them out) and
 * its link model lets it go. */
static int may_post(const pp_step *step, int i)
{
    const pp_work *w = step->o->work;
    if (since_start(step) < step->sends[i].due) return 0;
    return !w || !w->ready || w->ready(w->ctx, step->lo->acts[step->me][i]);
}

/* With a link model: when send i, begun at t0, may go.  Its bytes cross the
 * link to its partner after those sent there before them, then the latency
 * passes (pp_link_s); 0 without a model. */
static double link_due(pp_step *step, int i, pp_action a, double t0)
{
    const pp_link *l = &step->o->link;
    if (l->gbps <= 0) return 0;
    double *free_at = &step->link_free[pp_partner(step->lo, a)];
    double from = *free_at > t0 ? *free_at : t0;
    double wire = pp_link_s(l, (long)step->sends[i].bytes) - l->latency_s;   /* the bytes' own time */
    *free_at = from + wire;
    return *free_at + l->latency_s;
}

/* Posts the held sends that may go now (also between the tests of a
 * collective's wait: the step's waiter). */
static pp_status post_held(pp_step *step)
{
    int keep = 0;
    for (int k = 0; k < step->nheld; k++) {
        int i = step->held[k];
        if (!may_post(step, i)) step->held[keep++] = i;
        else if (post(step, i, since_start(step)) != PP_OK) return PP_EMPI;
        else pp_watchdog_at(step, PP_AT_DONE, i);
    }
    step->nheld = keep;
    return PP_OK;
}

/* Gives MPI a chance to move messages: posts the held sends that may go
 * now, tests the next receive and every send on its way (a send's event gets
 * its t1 when it is seen complete; a waiting rank whose message is there
 * leaves them to its next compute), then lets the watchdog and the view look. */
static pp_status progress(pp_step *step)
{
    if (post_held(step) != PP_OK) return PP_EMPI;
    int got = 0;
    while (step->next_recv < step->len && !step->recvs[step->next_recv].buf) step->next_recv++;
    if (step->next_recv < step->len) {
        pp_msg *m = &step->recvs[step->next_recv];
        if (!m->done && MPI_Test(&m->req, &m->done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        got = m->done;
    }
    int keep = 0;
    for (int k = 0; k < step->n_on_way; k++) {
        pp_msg *m = &step->sends[step->on_way[k]];
        if (!(got && step->receiving) && MPI_Test(&m->req, &m->done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        if (m->done) step->ev.ev[m->ev].t1 = since_start(step);
        else step->on_way[keep++] = step->on_way[k];
    }
    step->n_on_way = keep;
    pp_status st = pp_watchdog_poll(step);
    const pp_watch *v = step->view;
    if (st == PP_OK && v) st = v->poll(v->ctx, &step->ev, &step->open, since_start(step), step->waiting && !step->for_core);
    return st;
}

pp_status pp_step_progress(pp_step *step)
{
    return progress(step);
}

pp_status pp_step_record(pp_step *step, pp_event e)
{
    e.t0 -= step->start, e.t1 -= step->start;
    return pp_evlist_push(&step->recorded, e);
}

const pp_waiter *pp_step_waiter(const pp_step *step)
{
    return &step->waiter;
}

/* Moves the collectives recorded during the last compute (or finish) into
 * this rank's events, after it. */
static pp_status take_recorded(pp_step *step)
{
    for (int k = 0; k < step->recorded.n; k++) {
        step->recorded.ev[k].inflight = step->stored;
        pp_status st = pp_evlist_push(&step->ev, step->recorded.ev[k]);
        if (st != PP_OK) return st;
    }
    step->recorded.n = 0;
    return PP_OK;
}

/* ---- waiting and computing ---------------------------------------------- */

/* Test-and-yield (give up the core, stay awake) or sleep a slice?  A
 * sleeping rank wakes some microseconds late, and a large message moves only
 * while both sides call MPI, so a rank stays awake in short windows: just
 * after posting a send, and at the start of a wait for a message.  Otherwise
 * it sleeps: short slices while a message is awaited or a held send is
 * due, long ones while it computes (a send of its own on its way moves on
 * at those tests too).  Every wake-up costs a core some time, so with many
 * ranks on few cores short slices through every compute took much of the
 * machine and stretched the step (make bench's scale rows). */
static double slice(const pp_step *step, double now, double waiting_since)
{
    const pp_exec_opts *o = step->o;
    int sending = step->n_on_way > 0 || step->nheld > 0;
    if ((sending && now - step->last_send < o->spin_s) || now - waiting_since < o->spin_s) return 0;
    return waiting_since >= 0 || step->nheld > 0 ? o->poll_wait_s : o->poll_busy_s;
}

/* "Computes" until `deadline` (seconds since start), progressing MPI all
 * along; the last spin_s before the deadline is spent awake, so the compute
 * ends on time. */
static pp_status compute_until(pp_step *step, double deadline)
{
    for (;;) {
        pp_status st = progress(step);
        double now = since_start(step);
        if (st != PP_OK || now >= deadline) return st;
        double wake = now + slice(step, now, -1.0);
        if (wake > deadline - step->o->spin_s) wake = deadline - step->o->spin_s;
        if (wake <= now) sched_yield();
        else pp_sleep_until(step->start + wake);
    }
}

/* Until when receive i's wait may test seldom: shortly before its message
 * can come, while the tick is the one that bound was worked out at (once
 * it changes, a q or the view's keys, never again this step); 0: no such
 * time (i < 0: not a receive). */
static double quiet_until(pp_step *step, int i)
{
    if (i < 0 || !step->not_before) return 0;
    if (pp_step_costs(step).tick_s != step->plan_tick_s) {
        free(step->not_before);
        step->not_before = NULL;
        return 0;
    }
    return step->not_before[i] - PP_QUIET_MARGIN_S;
}

/* Waits until *done is set by progress() (a receive or a send completing).
 * For receive i (or -1), until shortly before its message can come it
 * tests only every PP_QUIET_SLICE_S: not while a send of its own is on its
 * way (a large message moves only while both sides call MPI), nor while a
 * held send is due.  After that, on a crowded machine, it sleeps until its
 * bell rings and its message is on its way, with the same exceptions. */
static pp_status wait_until_done(pp_step *step, const int *done, int i)
{
    step->waiting = 1;
    for (;;) {
        double now = since_start(step), quiet_to = quiet_until(step, i);
        if (*done || now >= quiet_to || step->nheld > 0) break;
        pp_status st = progress(step);
        if (st != PP_OK) {
            step->waiting = 0;
            return st;
        }
        if (step->n_on_way > 0 && now - step->last_send < step->o->spin_s) sched_yield();
        else if (step->n_on_way > 0) pp_sleep_until(step->start + now + step->o->poll_wait_s);
        else pp_sleep_until(step->start + (now + PP_QUIET_SLICE_S < quiet_to ? now + PP_QUIET_SLICE_S : quiet_to));
    }
    double since = since_start(step);
    int bell = i >= 0 && step->posted_by;
    if (bell) pp_bell_hush(step->wd);   /* rings for earlier messages: the count tells this one */
    for (;;) {
        pp_status st = progress(step);
        if (st != PP_OK || *done) {
            step->waiting = 0;
            return st;
        }
        /* once its message is on its way, it moves as both sides call MPI */
        double now = since_start(step), s = slice(step, now, since);
        if (bell && step->n_on_way == 0 && step->nheld == 0 &&
            (int)(pp_bell_posted(step->wd, step->peer) - step->posted_by[i]) < 0)
            pp_bell_wait(step->wd, step->start + now + PP_BELL_SLICE_S);
        else if (s <= 0) sched_yield();
        else pp_sleep_until(step->start + now + s);
    }
}

/* While the view is paused, a rank holds before a compute (recorded as a
 * HOLD event), answering the view's messages. */
static pp_status pause(pp_step *step, pp_action a)
{
    const pp_watch *v = step->view;
    if (!v || !v->hold(v->ctx)) return PP_OK;
    pp_event e = event_now(step, PP_EV_HOLD, a);
    pp_status st = PP_OK;
    step->waiting = 1;
    step->open = e;
    while (st == PP_OK && v->hold(v->ctx)) {
        pp_watchdog_at(step, PP_AT_PAUSED, 1);
        st = progress(step);
        pp_sleep_until(pp_now() + PP_PAUSE_SLICE_S);
    }
    step->waiting = 0;
    step->open.type = -1;
    pp_watchdog_at(step, PP_AT_PAUSED, 0);
    e.t1 = since_start(step);
    return st == PP_OK ? pp_evlist_push(&step->ev, e) : st;
}

/* Timed mode on a grid: a real all-reduce of the payload over `comm`, then
 * asleep until `deadline`, recorded as one event (kind and mb of the
 * compute it ends, or IDLE and -1 for the replicas' sum). */
static pp_status timed_allreduce(pp_step *step, MPI_Comm comm, pp_action a, double deadline)
{
    pp_event e = event_now(step, PP_EV_ALLREDUCE, a);
    e.bytes = (long)step->o->payload;
    pp_status st = pp_allreduce_ordered(step->arbuf, (long)(step->o->payload / sizeof(float)), comm, &step->waiter, NULL);
    if (st == PP_OK) st = compute_until(step, deadline);
    e.t1 = since_start(step);
    return st == PP_OK ? pp_evlist_push(&step->ev, e) : st;
}

/* A compute on a device has been handed over: until the device is done MPI
 * moves messages, as in a compute on the host, and the action's times come
 * from the device's clock, within what the host saw.  The device's length
 * is kept whole: its clock is tied to the host's a few microseconds off
 * (pp_device.step), so where its start or end falls outside the host's
 * window the span moves inside, rather than being cut short. */
static pp_status device_done(pp_step *step, pp_event *e)
{
    const pp_device *dev = step->o->device;
    double t0, t1;
    int running;
    pp_status st = PP_OK;
    step->on_device = 1;
    pp_watchdog_at(step, PP_AT_DEVICE, 1);
    while ((running = dev->end(dev->ctx, &t0, &t1)) == 1 && (st = progress(step)) == PP_OK)
        pp_sleep_until(pp_now() + step->o->poll_wait_s);
    step->on_device = 0;
    pp_watchdog_at(step, PP_AT_DEVICE, 0);
    if (st != PP_OK || running < 0) return st != PP_OK ? st : PP_EDEVICE;
    double now = since_start(step), length = t1 - t0;
    if (!(length >= 0)) length = 0;                   /* (and a time that is not a number) */
    if (length > now - e->t0) length = now - e->t0;   /* (cannot be: the device began after it was asked) */
    double end = t1 - step->start < now ? t1 - step->start : now;
    if (end - length >= e->t0) e->t0 = end - length, e->t1 = end;
    else e->t1 = e->t0 + length < now ? e->t0 + length : now;   /* starts where the host asked */
    return PP_OK;
}

/* Real compute on a crowded machine (more ranks than cores): the ranks take
 * the cores in turn, a whole compute each, first asked first served, so that
 * no compute loses its core part-way to another rank's compute and a rank
 * waiting for a core is idle, not computing.  Not with a device (its
 * computes take no core) nor on a grid (the ranks of a tensor-parallel
 * group sum inside their computes, all at once). */
static int gate_applies(const pp_step *step)
{
    return step->o->cores_in_turn && !step->o->device && step->g->T * step->g->D == 1 && pp_core_gated(step->wd);
}

/* Waits (idle, moving messages) until this rank has a core; the compute's
 * event begins then, and the view sees no action under way before.  It
 * sleeps until the rank giving a core back wakes it, except while a send of
 * its own is on its way or held (a large message moves only while both
 * sides call MPI: then it tests and sleeps in short slices, as in a
 * receive).  It holds the core even on an error (holds_core): every ask is
 * matched by one give, or the gate would be a core short from then on
 * (given back on an error, an ask not yet served lets the next one in
 * early, once, in a step that is failing anyway). */
static pp_status take_core(pp_step *step, pp_event *e)
{
    unsigned long long k = pp_core_ask(step->wd);
    pp_status st = PP_OK;
    int waited = 0;
    double asked = since_start(step);
    step->holds_core = 1;
    if (!pp_core_mine(step->wd, k)) {
        waited = 1;
        pp_event open = step->open;
        step->open.type = -1;
        step->waiting = step->for_core = 1;
        pp_watchdog_at(step, PP_AT_CORE, 1);
        for (double since = since_start(step); st == PP_OK && !pp_core_mine(step->wd, k);) {
            st = progress(step);
            double now = since_start(step), s = slice(step, now, since);
            if (step->n_on_way == 0 && step->nheld == 0) pp_core_wait(step->wd, pp_now() + PP_BELL_SLICE_S);
            else if (s <= 0) sched_yield();
            else pp_sleep_until(step->start + now + s);
        }
        pp_watchdog_at(step, PP_AT_CORE, 0);
        step->waiting = step->for_core = 0;
        step->open = open;
    }
    if (waited) pp_core_got(step->wd, k);
    e->t0 = step->open.t0 = since_start(step);
    e->core_s = waited ? e->t0 - asked : 0;
    return st;
}

/* A compute that held a core is done (and, with --fault slow, has taken its
 * extra time on it): the core goes to the rank next in line. */
static void give_core(pp_step *step)
{
    if (!step->holds_core) return;
    pp_core_give(step->wd);
    step->holds_core = 0;
}

/* A compute action: the model computes it (real mode), or the rank sleeps
 * its cost at the tick in force (timed mode), ending on a grid with a real
 * all-reduce of the payload that takes the all-reduce's share of the cost. */
static pp_status compute(pp_step *step, pp_action a, pp_event *e)
{
    const pp_exec_opts *o = step->o;
    const pp_device *dev = o->device;
    pp_status st;
    if (a.kind == PP_F && !step->lo->forward_only) step->stored++;   /* inference keeps none */
    if (dev) dev->begin(dev->ctx);
    if (o->work) {
        int gated = gate_applies(step);
        st = gated ? take_core(step, e) : PP_OK;
        if (st == PP_OK) st = o->work->compute(o->work->ctx, step, a);
        if (gated && st == PP_OK) e->t1 = since_start(step);
        if (!step->slow_now) give_core(step);   /* else run_action gives it, after the extra time */
        if (st == PP_OK) st = progress(step);   /* a send posted before a real compute moves on now */
    } else {
        pp_costs now = pp_step_costs(step);
        double ar, cost = pp_cost_s(&now, a.kind, a.stage, &ar);
        if (step->g->T == 1) ar = 0;   /* no group to sum over: the whole cost is compute */
        if (dev) dev->occupy(dev->ctx, cost - ar);   /* the device spins while the host sleeps */
        st = compute_until(step, e->t0 + cost - ar);
        if (st == PP_OK && ar > 0) st = timed_allreduce(step, step->g->tp, a, e->t0 + cost);
    }
    if (dev && st == PP_OK) st = device_done(step, e);
    if (a.kind == PP_B || a.kind == PP_W) step->stored--;
    return st;
}

/* A send: posted now, or held until the model says its bytes are ready
 * (a GPU copies them out to host memory beside the next compute) and its
 * link model lets it go; progress() posts it then, while the rank goes on.
 * Its event's t1 is filled in when it is seen complete. */
static pp_status send(pp_step *step, int i, pp_action a, pp_event *e)
{
    const pp_work *w = step->o->work;
    pp_msg *m = &step->sends[i];
    m->posted = 1;
    if (!w) stamp(m->buf, m->bytes, a.stage, a.mb, a.kind != PP_SEND_F);   /* real mode: the bytes are the tensor */
    m->ev = step->ev.n;
    e->type = PP_EV_SEND;
    e->bytes = (long)m->bytes;
    m->due = link_due(step, i, a, e->t0);
    if (!may_post(step, i)) {
        step->held[step->nheld++] = i;
        return PP_OK;
    }
    return post(step, i, e->t0);
}

/* A receive: waits (asleep) until the message posted for it has arrived. */
static pp_status receive(pp_step *step, int i, pp_action a, pp_event *e)
{
    pp_msg *m = &step->recvs[i];
    step->next_recv = i;
    e->bytes = (long)m->bytes;
    /* Had its message come?  (The tests during a compute before may have seen it.) */
    if (!m->done && MPI_Test(&m->req, &m->done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
    e->came = m->done ? PP_CAME_BEFORE : PP_CAME_AFTER;
    step->receiving = 1;
    pp_status st = wait_until_done(step, &m->done, i);
    step->receiving = 0;
    if (st == PP_OK && !step->o->work && !stamp_ok(m->buf, m->bytes, pp_peer_stage(a), a.mb, a.kind == PP_RECV_B))
        st = PP_EMPI;
    step->next_recv = i + 1;
    return st;
}

/* How long this rank's last compute took (s), 0 before its first. */
static double last_compute_s(const pp_step *step)
{
    for (int k = step->ev.n - 1; k >= 0; k--)
        if (step->ev.ev[k].type == PP_EV_COMPUTE) return step->ev.ev[k].t1 - step->ev.ev[k].t0;
    return 0;
}

/* A fault strikes at action i: the rank stops for good (stall), fails
 * (error), or passes the action over (drop; returns 1); or holds a send for
 * three times the compute before it (late), and then runs it. */
static int strike(pp_step *step, int i, pp_action a, pp_status *st)
{
    if (step->fault == PP_FAULT_LATE) *st = compute_until(step, since_start(step) + 3 * last_compute_s(step));
    if (step->fault == PP_FAULT_LATE || step->fault == PP_FAULT_SLOW) return *st != PP_OK;
    if (step->fault == PP_FAULT_ERROR) *st = PP_EFAULT;
    if (step->fault == PP_FAULT_DROP) pp_watchdog_at(step, PP_AT_PASSED, i);
    if (step->fault != PP_FAULT_STALL) return 1;
    /* Stopped in its compute, as by a debugger: no progress, no messages,
     * until it is killed; the view still shows it there. */
    step->peer = -1;
    pp_watchdog_at(step, PP_AT_ACTION, i);
    step->open = event_now(step, PP_EV_COMPUTE, a);
    for (const pp_watch *v = step->view;; pp_sleep_until(pp_now() + 0.05))
        if (v) v->poll(v->ctx, &step->ev, &step->open, since_start(step), 0);
}

/* A request's first forward begins no sooner than it arrives (o->costs'
 * release): until then the rank waits idle, moving its messages. */
static pp_status arrival(pp_step *step, pp_action a)
{
    const double *release = step->o->costs.release;
    if (!release || a.kind != PP_F || a.stage != 0) return PP_OK;
    double at = release[a.mb] * pp_step_costs(step).tick_s;
    return since_start(step) >= at ? PP_OK : compute_until(step, at);
}

/* Runs action i of this rank's list and records it. */
static pp_status run_action(pp_step *step, int i)
{
    pp_action a = step->lo->acts[step->me][i];
    pp_status st = PP_OK;
    if (a.kind == PP_IDLE || (i == step->fault_at && strike(step, i, a, &st))) return st;
    if (pp_kind_is_compute(a.kind) && (st = pause(step, a)) != PP_OK) return st;
    if ((st = arrival(step, a)) != PP_OK) return st;
    step->peer = pp_is_recv(a.kind) ? pp_peer_rank(step, a) : -1;
    pp_watchdog_at(step, PP_AT_ACTION, i);
    pp_event e = event_now(step, pp_is_recv(a.kind) ? PP_EV_WAIT : PP_EV_COMPUTE, a);
    if (!pp_is_send(a.kind)) step->open = e;   /* a send takes no time of its own */
    step->slow_now = i == step->fault_at && step->fault == PP_FAULT_SLOW;
    if (pp_kind_is_compute(a.kind)) st = compute(step, a, &e);
    else if (pp_is_send(a.kind)) st = send(step, i, a, &e);
    else st = receive(step, i, a, &e);
    if (st == PP_OK && step->slow_now) {
        /* computes on until it has taken three times as long (on a device
           too; on a crowded machine holding its core) */
        st = compute_until(step, e.t0 + 3 * ((e.t1 >= 0 ? e.t1 : since_start(step)) - e.t0));
        e.t1 = since_start(step);
    }
    give_core(step);
    step->open.type = -1;
    if (st != PP_OK) return st;
    if (e.type == PP_EV_SEND) e.t1 = -1;          /* a send's end: when it is seen complete */
    else if (e.t1 < 0) e.t1 = since_start(step);  /* (a device's compute has its own) */
    e.inflight = step->stored;
    if ((st = pp_evlist_push(&step->ev, e)) != PP_OK) return st;
    int held = step->nheld > 0 && step->held[step->nheld - 1] == i;
    pp_watchdog_at(step, held ? PP_AT_HELD : PP_AT_DONE, i);
    return take_recorded(step);
}

/* ---- the step ----------------------------------------------------------- */

/* Runs this rank's list; then its sends' ends, the compute's finish, and in
 * timed mode with replicas their gradient sum, which ends the step. */
static pp_status run_list(pp_step *step)
{
    const pp_exec_opts *o = step->o;
    pp_status st;
    for (int k = 0; k < step->len; k++)
        if ((st = run_action(step, step->order[k])) != PP_OK) return st;
    for (int i = 0; i < step->len; i++) {
        if (!step->sends[i].posted) continue;
        step->peer = pp_peer_rank(step, step->lo->acts[step->me][i]);
        pp_watchdog_at(step, PP_AT_ACTION, i);
        if ((st = wait_until_done(step, &step->sends[i].done, -1)) != PP_OK) return st;
    }
    pp_watchdog_at(step, PP_AT_LIST_DONE, -1);   /* the finish waits in the replicas' sum */
    if (o->work && o->work->finish && (st = o->work->finish(o->work->ctx, step)) != PP_OK) return st;
    pp_costs now = pp_step_costs(step);
    double sum = pp_cost_s(&now, PP_IDLE, -1, NULL);
    pp_action replicas = {.stage = -1, .kind = PP_IDLE, .mb = -1};
    if (!o->work && step->g->D > 1 && sum > 0 &&
        (st = timed_allreduce(step, step->g->dp, replicas, since_start(step) + sum)) != PP_OK)
        return st;
    return take_recorded(step);
}

static void step_free(pp_step *step)
{
    for (int i = 0; i < step->len && !step->o->work; i++) {
        if (step->recvs) free(step->recvs[i].buf);
        if (step->sends) free(step->sends[i].buf);
    }
    free(step->recvs), free(step->sends), free(step->on_way), free(step->held), free(step->order), free(step->arbuf);
    free(step->link_free), free(step->not_before), free(step->posted_by);
    pp_evlist_clear(&step->ev);
    pp_evlist_clear(&step->recorded);
}

pp_status pp_exec_step(const pp_grid *g, const pp_sched *lo, const pp_exec_opts *o, pp_run **out)
{
    *out = NULL;
    if (!lo->lowered) return PP_ESCHED;   /* only what pp_sched_validate() handed back */
    if (lo->nranks != g->P) return PP_EARG;
    pp_step step = {.lo = lo, .o = o, .g = g, .comm = g->pipe, .me = g->pipe_rank, .len = lo->len[g->pipe_rank],
                    .view = o->watch, .wd = g->wd, .open.type = -1, .peer = -1,
                    .waiter = {.poll_s = o->poll_wait_s}};
    size_t n = (size_t)step.len + 1;
    step.recvs = calloc(n, sizeof *step.recvs), step.sends = calloc(n, sizeof *step.sends);
    step.on_way = calloc(n, sizeof *step.on_way), step.held = calloc(n, sizeof *step.held);
    step.order = calloc(n, sizeof *step.order);
    step.link_free = calloc((size_t)g->P, sizeof *step.link_free);
    int timed_sums = !o->work && ((g->T > 1 && o->costs.allreduce > 0) || (g->D > 1 && o->costs.dp_sum > 0));
    if (timed_sums) step.arbuf = calloc(o->payload / sizeof(float) + 1, sizeof(float));
    pp_status st = PP_ENOMEM;
    if (!step.recvs || !step.sends || !step.on_way || !step.held || !step.order || !step.link_free || (timed_sums && !step.arbuf))
        goto done;
    pp_fault_plan(&step);

    /* 1. Warm up the connections, 2. make the buffers and post the receives,
     * 3. start together, 4. run the list. */
    pp_watchdog_at(&step, PP_AT_BEGIN, -1);   /* from here the waits in collectives ask it too */
    if (o->link.gbps > 0) step.waiter.link = &o->link;
    step.waiter.send = post_held, step.waiter.step = &step;
    if (o->device) o->device->step(o->device->ctx);
    step.cores = o->work && gate_applies(&step) ? pp_core_count(g->wd) : 0;   /* real computes only */
    long long handoffs_before;   /* the gate's handoffs on this machine, for this step's */
    double handoff_before = pp_core_handoffs(g->wd, &handoffs_before);
    if ((st = pp_step_warm_up(&step)) != PP_OK || (st = pp_step_prepare(&step)) != PP_OK ||
        (st = pp_step_expect(&step)) != PP_OK ||
        (st = pp_step_start_together(&step)) != PP_OK || (st = run_list(&step)) != PP_OK)
        goto done;
    /* 5. Rank 0 gets every rank's events: from the view that streamed them
     * (its end returns once every rank's have arrived), else by a gather. */
    if (step.view && (st = step.view->end(step.view->ctx, &step.ev, out)) != PP_OK) goto done;
    /* A rank done early waits asleep for the others: inside the gather it
     * would spin (MPI's blocking calls poll), taking a core from the ranks
     * still computing and stretching the end of their step. */
    pp_waiter end = step.waiter;
    end.poll_s = o->poll_busy_s;
    if ((st = pp_barrier_as(g->all, &end)) != PP_OK) goto done;
    if (!step.view) st = pp_gather_run(g, lo, &step.ev, out);
    if (st == PP_OK && *out) {   /* rank 0, with every rank's computes done (the barrier) */
        long long n;
        double sum = pp_core_handoffs(g->wd, &n);
        (*out)->handoffs = (int)(n - handoffs_before);
        (*out)->handoff_s = n > handoffs_before ? (sum - handoff_before) / (double)(n - handoffs_before) : 0;
        (*out)->cores = step.cores;
    }
    pp_watchdog_at(&step, PP_AT_END, -1);
done:
    /* A rank that failed inside the step leaves its partners waiting for
     * messages that will never come: it returns at once, and the caller
     * aborts the job (the demos' PP_CHECK does) rather than meet them. */
    step_free(&step);
    return st;
}
