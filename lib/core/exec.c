/* exec.c -- the executor in timed mode: every rank runs its own action list
 * over MPI, "computes" by sleeping for a set number of ticks, and records
 * what it did; rank 0 gathers every rank's events onto its own clock.
 *
 * How a rank sends and waits is what makes the measured bubble equal the
 * textbook one on a laptop with fewer cores than ranks:
 *   - every receive of the step is posted before the step starts, so an
 *     arriving message always finds its buffer;
 *   - sends are non-blocking (MPI_Isend): a blocking send of a large message
 *     waits for the receiver to reach its receive and serializes the pipeline;
 *   - while "computing" a rank sleeps in short slices to an absolute deadline
 *     and tests its requests between slices, so MPI keeps moving messages;
 *   - while waiting for a message it tests, then sleeps a little: a rank that
 *     spins in MPI_Recv steals the core of a rank that has work to do.  Only
 *     in short windows (just after a send, at the start of a wait, at the end
 *     of a compute) does it stay awake, and then it yields the core between
 *     tests (see slice());
 *   - before the step, one message each way with every peer sets up the
 *     connections, and one message moves through every buffer of the step
 *     (see warm_buffers()), so that neither cost lands inside the step.
 * In real mode (o->work set) the same loop runs, but a compute action calls
 * the model and messages travel in the model's own tensors; the model calls
 * pp_step_progress() between blocks, so messages keep moving during a
 * stage's compute.
 * Whoever watches the step (o->watch: the live view) is called through one
 * struct of hooks; when it streams the events to rank 0 as they happen, that
 * stream is the step's record and no gather follows.
 * Left out on purpose: progress inside one block's matrix multiply.
 */
#include "core.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

void pp_exec_opts_default(pp_exec_opts *o)
{
    pp_costs_default(&o->costs);
    o->payload = 64 * 1024;
    o->poll_wait_s = 20e-6;
    o->poll_busy_s = 200e-6;
    o->spin_s = 100e-6;
    o->watch = NULL;
    o->work = NULL;
    o->device = NULL;
    o->watchdog_s = -1;
    o->interrupted = NULL;
    o->fault.kind = PP_FAULT_NONE;
}

/* A message in flight: its request, its buffer, and its event. */
typedef struct {
    MPI_Request req;
    char *buf;        /* the bytes: owned in timed mode, the model's in real mode */
    size_t bytes;
    int ev;           /* index of its SEND event, or -1 */
    int posted;       /* the send action has run (the send may wait for its bytes: held) */
    int done;
} msg;

/* One rank's state while it runs its list. */
struct pp_step {
    const pp_sched *lo;    /* the lowered schedule (sends and receives explicit) */
    const pp_exec_opts *o;
    const pp_watch *watch; /* who watches, or NULL */
    const pp_grid *g;      /* the grid: timed mode times its all-reduces */
    MPI_Comm comm;
    int me;
    double start;          /* this rank's clock at the common start */
    msg *recvs;            /* [len] receive posted for action i (RECV only) */
    msg *sends;            /* [len] send made by action i (SEND only) */
    int *pending;          /* [len] indices of the sends posted and not yet seen complete */
    int npending;
    int *held;             /* [len] indices of the sends whose bytes are still being copied out */
    int nheld;
    int next_recv;         /* the next receive this rank will wait for, or len */
    double last_send;      /* when the latest send was posted (seconds since start) */
    pp_evlist ev;
    int inflight;
    int waiting;           /* set while the rank waits for a message or holds */
    int on_device;         /* set while it waits for its device to finish a compute */
    pp_event open;         /* the action under way (t1 -1), for the watcher; type -1: none */
    float *arbuf;          /* the payload timed all-reduces sum */
    pp_evlist recorded;    /* collectives real compute ran, to go after its event */
    pp_watchdog *wd;       /* this rank's slot in the watchdog's table */
    double next_check;     /* when a wait next asks the watchdog */
    int *order;            /* [len] the order this rank runs its list in (a swap fault changes it) */
    pp_fault_kind fault;   /* the fault this rank runs, at action fault_at */
    int fault_at;
};
typedef struct pp_step runner;

static double since_start(const runner *x)
{
    return pp_now() - x->start;
}

/* The costs at the tick in force: the live view's keys may have changed it. */
static pp_costs costs_now(const runner *x)
{
    pp_costs c = x->o->costs;
    if (x->watch) c.tick_s = x->watch->tick(x->watch->ctx);
    return c;
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

/* Gives MPI a chance to move messages: tests every unfinished send and the
 * next receive.  Records when each send is seen complete (until then its
 * event's t1 is -1: still on its way). */
static pp_status post(runner *x, int i, double now);

static pp_status progress(runner *x)
{
    int len = x->lo->len[x->me], keep = 0;
    /* Held sends whose bytes a device has now copied out go on their way. */
    const pp_work *work = x->o->work;
    for (int k = 0; k < x->nheld; k++) {
        int i = x->held[k];
        if (!work->ready(work->ctx, x->lo->acts[x->me][i])) x->held[keep++] = i;
        else if (post(x, i, since_start(x)) != PP_OK) return PP_EMPI;
        else pp_watchdog_mark(x->wd, i, PP_MARK_DONE);
    }
    x->nheld = keep;
    keep = 0;
    /* Only the sends still on their way: the list shrinks as they complete. */
    for (int k = 0; k < x->npending; k++) {
        msg *m = &x->sends[x->pending[k]];
        if (MPI_Test(&m->req, &m->done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
        if (m->done) x->ev.ev[m->ev].t1 = since_start(x);
        else x->pending[keep++] = x->pending[k];
    }
    x->npending = keep;
    while (x->next_recv < len && !x->recvs[x->next_recv].buf) x->next_recv++;
    if (x->next_recv < len) {
        msg *m = &x->recvs[x->next_recv];
        if (!m->done && MPI_Test(&m->req, &m->done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return PP_EMPI;
    }
    if (!x->waiting && !x->on_device) pp_watchdog_beat(x->wd, 0);
    const pp_watch *w = x->watch;
    return w ? w->poll(w->ctx, &x->ev, &x->open, since_start(x), x->waiting) : PP_OK;
}

/* The watchdog's limit for this step, now: it follows the tick in force
 * (the view's keys change it).  After Ctrl-C a healthy step finishes (the
 * demo then stops) and a stuck one never would: a second more than the
 * slowest action without progress is enough, even with the watchdog off. */
static void watch_limit(runner *x)
{
    pp_costs c = costs_now(x);
    double limit = x->o->watchdog_s < 0 ? pp_watchdog_limit(x->lo, &c) : x->o->watchdog_s;
    int interrupted = x->o->interrupted && *x->o->interrupted;
    double after = 1.0 + pp_watchdog_slowest(x->lo, &c);
    if (interrupted && (limit <= 0 || limit > after)) limit = after;
    pp_watchdog_step(x->wd, x->lo, limit, interrupted);
}

/* While waiting: has the step stopped moving?  (The limit is brought up to
 * date every 0.1 s.) */
static pp_status watchdog(runner *x)
{
    double now = pp_now();
    if (now >= x->next_check) {
        x->next_check = now + 0.1;
        watch_limit(x);
    }
    return pp_watchdog_poll();
}

pp_status pp_step_progress(pp_step *x)
{
    return progress(x);
}

pp_status pp_step_record(pp_step *x, pp_event e)
{
    e.t0 -= x->start, e.t1 -= x->start;
    return pp_evlist_push(&x->recorded, e);
}

/* Moves the collectives recorded during the last compute (or finish) into
 * this rank's events, after it. */
static pp_status take_recorded(runner *x)
{
    for (int k = 0; k < x->recorded.n; k++) {
        x->recorded.ev[k].inflight = x->inflight;
        pp_status st = pp_evlist_push(&x->ev, x->recorded.ev[k]);
        if (st != PP_OK) return st;
    }
    x->recorded.n = 0;
    return PP_OK;
}

/* Is send i held for its bytes? */
static int held(const runner *x, int i)
{
    for (int k = 0; k < x->nheld; k++)
        if (x->held[k] == i) return 1;
    return 0;
}

/* Is any send of this rank still on its way (or held for its bytes)? */
static int sending(const runner *x)
{
    return x->npending > 0 || x->nheld > 0;
}

/* Test-and-yield (give up the core, stay awake) or sleep a slice?  A
 * sleeping rank wakes some microseconds late, and a large message moves only
 * while both sides call MPI, so a rank stays awake in short windows: just
 * after posting a send, and at the start of a wait for a message.  Otherwise
 * it sleeps: short slices while a send is on its way, long ones when idle. */
static double slice(const runner *x, double now, double waiting_since)
{
    const pp_exec_opts *o = x->o;
    int pending = sending(x);
    if ((pending && now - x->last_send < o->spin_s) || now - waiting_since < o->spin_s) return 0;
    return pending || waiting_since >= 0 ? o->poll_wait_s : o->poll_busy_s;
}

/* "Computes" until `deadline` (seconds since start), progressing MPI all
 * along; the last spin_s before the deadline is spent awake, so the compute
 * ends on time. */
static pp_status compute_until(runner *x, double deadline)
{
    for (;;) {
        pp_status st = progress(x);
        double now = since_start(x);
        if (st != PP_OK || now >= deadline) return st;
        double wake = now + slice(x, now, -1.0);
        if (wake > deadline - x->o->spin_s) wake = deadline - x->o->spin_s;
        if (wake <= now) sched_yield();
        else pp_sleep_until(x->start + wake);
    }
}

/* Waits until *done is set by progress() (a receive or a send completing). */
static pp_status wait_until_done(runner *x, const int *done)
{
    double since = since_start(x);
    x->waiting = 1;
    for (;;) {
        pp_status st = progress(x);
        if (st == PP_OK && !*done) st = watchdog(x);
        if (st != PP_OK || *done) {
            x->waiting = 0;
            return st;
        }
        double now = since_start(x), s = slice(x, now, since);
        if (s <= 0) sched_yield();
        else pp_sleep_until(x->start + now + s);
    }
}

/* Allocates one touched buffer of `n` bytes: its pages are mapped now, not
 * while a message is on its way. */
static char *buffer(size_t n)
{
    char *b = malloc(n ? n : 1);
    if (b) memset(b, 0, n ? n : 1);
    return b;
}

/* The rank at the other end of a send or receive action. */
static int partner(const pp_sched *lo, pp_action a)
{
    int up = a.kind == PP_SEND_F || a.kind == PP_RECV_B;
    return lo->stage_rank[up ? a.stage + 1 : a.stage - 1];
}

/* Waits for the n requests of the step's setting up, one by one; each one
 * done is progress for the watchdog (setting up a step is not a hang). */
static pp_status wait_setup(runner *x, MPI_Request *rq, int n)
{
    pp_status st = PP_OK;
    for (int k = 0; k < n && st == PP_OK; k++) {
        st = pp_wait(&rq[k], x->o->poll_wait_s);
        pp_watchdog_beat(x->wd, 0);
    }
    return st;
}

/* Moves one message through every buffer, before the step.  The first
 * message from or into a buffer address costs the MPI library tens of
 * microseconds (it registers the memory), and that cost belongs to no step.
 * Each send of mine has its receive on the partner (the validator checked),
 * and messages between two ranks with one tag arrive in order, so every
 * Isend below meets one Irecv. */
static pp_status warm_buffers(runner *x)
{
    const pp_sched *lo = x->lo;
    int len = lo->len[x->me], n = 0;
    int tag = pp_tag(lo->nstages, lo->nmb, 1, lo->nmb);
    MPI_Request *rq = malloc(((size_t)len + 1) * sizeof *rq);
    pp_status st = rq ? PP_OK : PP_ENOMEM;
    for (int i = 0; i < len && st == PP_OK; i++) {
        pp_action a = lo->acts[x->me][i];
        int rc = MPI_SUCCESS;
        if (a.kind == PP_SEND_F || a.kind == PP_SEND_B)
            rc = MPI_Isend(x->sends[i].buf, (int)x->sends[i].bytes, MPI_BYTE, partner(lo, a), tag, x->comm, &rq[n++]);
        else if (a.kind == PP_RECV_F || a.kind == PP_RECV_B)
            rc = MPI_Irecv(x->recvs[i].buf, (int)x->recvs[i].bytes, MPI_BYTE, partner(lo, a), tag, x->comm, &rq[n++]);
        if (rc != MPI_SUCCESS) st = PP_EMPI;
    }
    if (st == PP_OK) st = wait_setup(x, rq, n);
    free(rq);
    return st;
}

/* The buffer of a send or receive: the model's tensor (real mode), or
 * `payload` bytes of our own (timed mode). */
static pp_status attach(runner *x, pp_action a, msg *m)
{
    const pp_work *w = x->o->work;
    if (w) {
        m->buf = w->buffer(w->ctx, a, &m->bytes);
        return m->buf ? PP_OK : PP_ESCHED;
    }
    m->bytes = x->o->payload;
    return (m->buf = buffer(m->bytes)) ? PP_OK : PP_ENOMEM;
}

/* Before the step: a warmed buffer for every message, and every receive posted. */
static pp_status prepare_messages(runner *x)
{
    const pp_sched *lo = x->lo;
    for (int i = 0; i < lo->len[x->me]; i++) {
        pp_action a = lo->acts[x->me][i];
        pp_status st = PP_OK;
        if (a.kind == PP_SEND_F || a.kind == PP_SEND_B) st = attach(x, a, &x->sends[i]);
        else if (a.kind == PP_RECV_F || a.kind == PP_RECV_B) st = attach(x, a, &x->recvs[i]);
        if (st != PP_OK) return st;
        pp_watchdog_beat(x->wd, 0);   /* one buffer more: progress */
    }
    pp_status st = warm_buffers(x);
    for (int i = 0; i < lo->len[x->me] && st == PP_OK; i++) {
        pp_action a = lo->acts[x->me][i];
        if (a.kind != PP_RECV_F && a.kind != PP_RECV_B) continue;
        int f = a.kind == PP_RECV_F;
        msg *m = &x->recvs[i];
        if (MPI_Irecv(m->buf, (int)m->bytes, MPI_BYTE, partner(lo, a), pp_tag(a.stage, a.mb, !f, lo->nmb),
                      x->comm, &m->req) != MPI_SUCCESS)
            return PP_EMPI;
    }
    return st;
}

/* While the watcher says hold (the live view is paused), holds before a
 * compute action (recorded as a HOLD event), answering control messages. */
static pp_status hold(runner *x, pp_action a)
{
    const pp_watch *w = x->watch;
    if (!w || !w->hold(w->ctx)) return PP_OK;
    pp_event e = {PP_EV_HOLD, a.kind, a.stage, a.mb, x->inflight, since_start(x), -1, 0};
    pp_status st = PP_OK;
    x->waiting = 1;
    x->open = e;
    while (st == PP_OK && w->hold(w->ctx)) {
        pp_watchdog_beat(x->wd, 1);
        st = progress(x);
        pp_sleep_until(pp_now() + 2e-3);
    }
    x->waiting = 0;
    x->open.type = -1;
    pp_watchdog_beat(x->wd, 0);
    e.t1 = since_start(x);
    return st == PP_OK ? pp_evlist_push(&x->ev, e) : st;
}

/* Timed mode on a grid: a real all-reduce of the payload over `comm`, then
 * asleep until `deadline`, recorded as one event (kind and mb of the
 * compute it ends, or IDLE and -1 for the replicas' sum). */
static pp_status timed_allreduce(runner *x, MPI_Comm comm, pp_kind kind, int stage, int mb, double deadline)
{
    pp_event e = {PP_EV_ALLREDUCE, kind, stage, mb, x->inflight, since_start(x), 0, (long)x->o->payload};
    pp_status st = pp_allreduce_ordered(x->arbuf, (long)(x->o->payload / sizeof(float)), comm, x->o->poll_wait_s,
                                        NULL);
    if (st == PP_OK) st = compute_until(x, deadline);
    e.t1 = since_start(x);
    return st == PP_OK ? pp_evlist_push(&x->ev, e) : st;
}

/* A compute action: the model computes it (real mode), or the rank sleeps
 * its cost at the tick in force (timed mode), ending on a grid with a real
 * all-reduce of the payload that takes the all-reduce's share of the cost. */
static pp_status compute(runner *x, pp_action a, pp_event *e)
{
    const pp_exec_opts *o = x->o;
    const pp_device *dev = o->device;
    if (a.kind == PP_F) x->inflight++;
    pp_status st;
    if (dev) dev->begin(dev->ctx);
    if (o->work) {
        st = o->work->compute(o->work->ctx, x, a);
        if (st == PP_OK) st = progress(x);   /* a send posted before a real compute moves on now */
    } else {
        pp_costs now = costs_now(x);
        double ar, cost = pp_cost_s(&now, a.kind, a.stage, &ar);
        if (x->g->T == 1) ar = 0;   /* no group to sum over: the whole cost is compute */
        if (dev) dev->occupy(dev->ctx, cost - ar);   /* the device spins while the host sleeps */
        st = compute_until(x, e->t0 + cost - ar);
        if (st == PP_OK && ar > 0) st = timed_allreduce(x, x->g->tp, a.kind, a.stage, a.mb, e->t0 + cost);
    }
    /* On a device the compute's own clock says when it ran (the host only
     * handed it over), and the action ends when the device is done: until
     * then MPI moves messages, as in a compute on the host.  Moving them is
     * not progress for the watchdog (the host cannot see how far the device
     * has got), and this wait asks the watchdog too: a device that never
     * finishes is caught, even on a rank alone. */
    double t0, t1;
    int running = 0;
    x->on_device = dev && st == PP_OK;
    if (x->on_device) pp_watchdog_device(x->wd, 1);
    while (x->on_device && (running = dev->end(dev->ctx, &t0, &t1)) == 1 && (st = progress(x)) == PP_OK &&
           (st = watchdog(x)) == PP_OK)
        pp_sleep_until(pp_now() + o->poll_wait_s);
    if (x->on_device) pp_watchdog_device(x->wd, 0);
    x->on_device = 0;
    if (dev && st == PP_OK && running < 0) st = PP_EDEVICE;
    if (dev && st == PP_OK) {   /* within what the host saw: handed over, then seen done */
        e->t0 = t0 - x->start > e->t0 ? t0 - x->start : e->t0;
        e->t1 = t1 - x->start < since_start(x) ? t1 - x->start : since_start(x);
        if (e->t0 > e->t1) e->t0 = e->t1;
    }
    if (a.kind == PP_B || a.kind == PP_W) x->inflight--;
    return st;
}

/* Hands send i's message to MPI at `now` (seconds since start).  The tag
 * names the receiving stage, so it matches the receive that stage posted
 * before the start. */
static pp_status post(runner *x, int i, double now)
{
    pp_action a = x->lo->acts[x->me][i];
    int f = a.kind == PP_SEND_F;
    msg *m = &x->sends[i];
    x->last_send = now;
    if (MPI_Isend(m->buf, (int)m->bytes, MPI_BYTE, partner(x->lo, a),
                  pp_tag(f ? a.stage + 1 : a.stage - 1, a.mb, !f, x->lo->nmb), x->comm, &m->req) != MPI_SUCCESS)
        return PP_EMPI;
    x->pending[x->npending++] = i;
    return PP_OK;
}

/* A send: posted now (or, while a device still copies its bytes out, held
 * and posted by progress() once they are there); its event's t1 is filled
 * in when it is seen complete. */
static pp_status send(runner *x, int i, pp_action a, pp_event *e)
{
    const pp_work *w = x->o->work;
    msg *m = &x->sends[i];
    m->posted = 1;
    if (!w) stamp(m->buf, m->bytes, a.stage, a.mb, a.kind != PP_SEND_F);   /* real mode: the bytes are the tensor */
    m->ev = x->ev.n;
    e->type = PP_EV_SEND;
    e->bytes = (long)m->bytes;
    if (w && w->ready && !w->ready(w->ctx, a)) {
        x->held[x->nheld++] = i;
        return PP_OK;
    }
    return post(x, i, e->t0);
}

/* A receive: waits (asleep) until the message posted for it has arrived. */
static pp_status receive(runner *x, int i, pp_action a, pp_event *e)
{
    msg *m = &x->recvs[i];
    x->next_recv = i;
    e->bytes = (long)m->bytes;
    pp_status st = wait_until_done(x, &m->done);
    int from = a.kind == PP_RECV_F ? a.stage - 1 : a.stage + 1;
    if (st == PP_OK && !x->o->work && !stamp_ok(m->buf, m->bytes, from, a.mb, a.kind == PP_RECV_B)) st = PP_EMPI;
    x->next_recv = i + 1;
    return st;
}

/* The rank of the whole job at the other end of a send or receive. */
static int peer_rank(const runner *x, pp_action a)
{
    return pp_grid_rank_of(x->g, partner(x->lo, a), x->g->tp_rank, x->g->dp_rank);
}

/* The stall fault: the rank stops in the middle of a compute, as a process
 * stopped by a debugger would: no progress, no messages, until it is killed. */
static void stall(runner *x, int i, pp_action a)
{
    pp_watchdog_on(x->wd, i, a, -1, 0);
    x->open = (pp_event){PP_EV_COMPUTE, a.kind, a.stage, a.mb, x->inflight, since_start(x), -1, 0};
    for (const pp_watch *w = x->watch;; pp_sleep_until(pp_now() + 0.05))
        if (w) w->poll(w->ctx, &x->ev, &x->open, since_start(x), 0);   /* the view shows it in its compute */
}

/* Runs action i of this rank's list and records it. */
static pp_status run_action(runner *x, int i)
{
    pp_action a = x->lo->acts[x->me][i];
    if (a.kind == PP_IDLE) return PP_OK;
    if (i == x->fault_at) {   /* the fault this rank runs (plan() put a swap in the order) */
        if (x->fault == PP_FAULT_STALL) stall(x, i, a);
        if (x->fault == PP_FAULT_ERROR) return PP_EFAULT;
        if (x->fault == PP_FAULT_DROP) {   /* passed over: the send is never made */
            pp_watchdog_mark(x->wd, i, PP_MARK_SKIPPED);
            return PP_OK;
        }
    }
    pp_status st = pp_kind_is_compute(a.kind) ? hold(x, a) : PP_OK;
    if (st != PP_OK) return st;
    int recv = a.kind == PP_RECV_F || a.kind == PP_RECV_B;
    pp_watchdog_on(x->wd, i, a, recv ? peer_rank(x, a) : -1, recv);
    pp_event e = {PP_EV_COMPUTE, a.kind, a.stage, a.mb, x->inflight, since_start(x), -1, 0};
    if (a.kind == PP_RECV_F || a.kind == PP_RECV_B) e.type = PP_EV_WAIT;
    if (a.kind != PP_SEND_F && a.kind != PP_SEND_B) x->open = e;   /* a send takes no time of its own */
    if (pp_kind_is_compute(a.kind)) st = compute(x, a, &e);
    else if (a.kind == PP_SEND_F || a.kind == PP_SEND_B) st = send(x, i, a, &e);
    else st = receive(x, i, a, &e);
    x->open.type = -1;
    if (st != PP_OK) return st;
    if (e.type == PP_EV_SEND) e.t1 = -1;          /* a send's end: when it is seen complete */
    else if (e.t1 < 0) e.t1 = since_start(x);     /* (a device's compute has its own) */
    e.inflight = x->inflight;
    if ((st = pp_evlist_push(&x->ev, e)) != PP_OK) return st;
    pp_watchdog_mark(x->wd, i, held(x, i) ? PP_MARK_HELD : PP_MARK_DONE);
    return take_recorded(x);
}

/* Exchanges one full-size message each way with every rank this rank's list
 * talks to, before the step: the first message between two ranks pays for
 * setting up their connection, and that cost belongs to no step. */
static pp_status warm_up(runner *x)
{
    const pp_sched *lo = x->lo;
    int P = lo->nranks, n = 0;
    int *peer = calloc((size_t)P, sizeof *peer);
    MPI_Request *rq = malloc(2 * (size_t)P * sizeof *rq);
    char *out = calloc(1, x->o->payload + 1), *in = malloc((size_t)P * (x->o->payload + 1));
    pp_status st = peer && rq && out && in ? PP_OK : PP_ENOMEM;
    for (int i = 0; i < lo->len[x->me] && st == PP_OK; i++) {
        pp_action a = lo->acts[x->me][i];
        if (!pp_kind_is_compute(a.kind) && a.kind != PP_IDLE) peer[partner(lo, a)] = 1;
    }
    /* Peers are symmetric (whoever sends to me, I receive from), so every
     * Isend below has its Irecv on the other side.  The tag is above all step tags. */
    int tag = pp_tag(lo->nstages, lo->nmb, 0, lo->nmb);
    for (int p = 0; p < P && st == PP_OK; p++) {
        if (!peer[p]) continue;
        if (MPI_Irecv(in + (size_t)p * (x->o->payload + 1), (int)x->o->payload, MPI_BYTE, p, tag, x->comm, &rq[n++]) != MPI_SUCCESS ||
            MPI_Isend(out, (int)x->o->payload, MPI_BYTE, p, tag, x->comm, &rq[n++]) != MPI_SUCCESS)
            st = PP_EMPI;
    }
    if (st == PP_OK) st = wait_setup(x, rq, n);
    free(peer);
    free(rq);
    free(out);
    free(in);
    return st;
}

/* Rank 0 picks a start a little in the future on its clock; every rank
 * converts it to its own clock with the measured offset and sleeps until
 * then, so all ranks start together even if their clocks disagree. */
static pp_status common_start(const pp_grid *g, runner *x)
{
    double t0 = g->rank == 0 ? pp_now() + 0.02 : 0;
    if (MPI_Bcast(&t0, 1, MPI_DOUBLE, 0, g->all) != MPI_SUCCESS) return PP_EMPI;
    x->start = t0 + g->clock_offset;
    if (x->watch) x->watch->start(x->watch->ctx, x->start);
    /* A long sleep wakes up to a few hundred microseconds late here, and the
     * step's clock runs from `start`: the last stretch is spent awake. */
    pp_sleep_until(x->start - x->o->spin_s);
    while (pp_now() < x->start) sched_yield();
    return PP_OK;
}

/* Rank 0: the gathered bytes as a run, one row per rank of the whole grid. */
static pp_status run_of(const pp_grid *g, const pp_sched *s, const char *all, const int *counts, const int *displs,
                        pp_run **out)
{
    pp_status st = pp_run_new(g->size, s->nmb, out);
    if (st != PP_OK) return st;
    (*out)->T = g->T, (*out)->D = g->D;
    for (int p = 0; p < g->size; p++) {
        const pp_event *e = (const pp_event *)(all + displs[p]);
        for (int k = 0; k < counts[p] / (int)sizeof *e; k++)
            if ((st = pp_evlist_push(&(*out)->ranks[p], e[k])) != PP_OK) {
                pp_run_free(*out);
                *out = NULL;
                return st;
            }
    }
    pp_run_summarize(*out);
    return PP_OK;
}

/* Collects every rank's events on rank 0 into a pp_run (the step had no
 * watcher to stream them). */
static pp_status gather(const pp_grid *g, const pp_sched *s, const pp_evlist *mine, pp_run **out)
{
    int P = g->size, root = g->rank == 0, n = mine->n * (int)sizeof(pp_event);
    int *counts = NULL, *displs = NULL;
    char *all = NULL;
    size_t total = 0;
    pp_status st = PP_ENOMEM;
    if (root && (!(counts = calloc((size_t)P, sizeof *counts)) || !(displs = calloc((size_t)P, sizeof *displs))))
        goto done;
    st = PP_EMPI;
    if (MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, g->all) != MPI_SUCCESS) goto done;
    for (int p = 0; root && p < P; p++) {
        displs[p] = (int)total;
        total += (size_t)counts[p];
    }
    st = PP_ENOMEM;
    if (root && !(all = malloc(total ? total : 1))) goto done;
    st = PP_EMPI;
    if (MPI_Gatherv(mine->ev, n, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, g->all) != MPI_SUCCESS) goto done;
    st = root ? run_of(g, s, all, counts, displs, out) : PP_OK;
done:
    free(counts);
    free(displs);
    free(all);
    return st;
}

static void runner_free(runner *x)
{
    int len = x->lo->len[x->me];
    for (int i = 0; i < len && !x->o->work; i++) {
        if (x->recvs) free(x->recvs[i].buf);
        if (x->sends) free(x->sends[i].buf);
    }
    free(x->recvs);
    free(x->sends);
    free(x->pending);
    free(x->held);
    free(x->order);
    free(x->arbuf);
    pp_evlist_clear(&x->ev);
    pp_evlist_clear(&x->recorded);
}

/* The order this rank runs its list in: as written, unless this rank runs a
 * fault (o->fault): then where it strikes, and for a swap the receive moved
 * ahead of its place. */
static pp_status plan(runner *x)
{
    int len = x->lo->len[x->me], from = -1;
    if (!(x->order = malloc(((size_t)len + 1) * sizeof *x->order))) return PP_ENOMEM;
    for (int i = 0; i < len; i++) x->order[i] = i;
    x->fault = PP_FAULT_NONE, x->fault_at = -1;
    const pp_fault *f = &x->o->fault;
    if (f->kind == PP_FAULT_NONE || f->rank != x->g->rank || !pp_fault_site(f, x->lo, x->me, &x->fault_at, &from))
        return PP_OK;
    x->fault = f->kind;
    if (f->kind == PP_FAULT_SWAP) {
        for (int k = from; k > x->fault_at; k--) x->order[k] = x->order[k - 1];
        x->order[x->fault_at] = from;
        x->fault_at = -1;
    }
    return PP_OK;
}

/* Runs this rank's list; then its sends' ends, the compute's finish, and in
 * timed mode with replicas their gradient sum, which ends the step. */
static pp_status run_list(runner *x)
{
    const pp_exec_opts *o = x->o;
    int len = x->lo->len[x->me];
    pp_status st;
    for (int k = 0; k < len; k++)
        if ((st = run_action(x, x->order[k])) != PP_OK) return st;
    for (int i = 0; i < len; i++) {
        if (!x->sends[i].posted) continue;
        pp_watchdog_on(x->wd, i, x->lo->acts[x->me][i], peer_rank(x, x->lo->acts[x->me][i]), 1);
        if ((st = wait_until_done(x, &x->sends[i].done)) != PP_OK) return st;
    }
    pp_watchdog_done(x->wd, 0);   /* its list is done; the finish waits in the replicas' sum */
    if (o->work && o->work->finish && (st = o->work->finish(o->work->ctx, x)) != PP_OK) return st;
    pp_costs now = costs_now(x);
    double sum = pp_cost_s(&now, PP_IDLE, -1, NULL);
    if (!o->work && x->g->D > 1 && sum > 0 &&
        (st = timed_allreduce(x, x->g->dp, PP_IDLE, -1, -1, since_start(x) + sum)) != PP_OK)
        return st;
    return take_recorded(x);
}

pp_status pp_exec_step(const pp_grid *g, const pp_sched *lo, const pp_exec_opts *o, pp_run **out)
{
    *out = NULL;
    if (!lo->lowered) return PP_ESCHED;   /* only what pp_sched_validate() handed back */
    if (lo->nranks != g->P) return PP_EARG;
    runner x = {0};
    x.lo = lo, x.o = o, x.watch = o->watch, x.g = g;
    x.open.type = -1;
    x.comm = g->pipe;
    x.me = g->pipe_rank;
    x.wd = g->wd;
    int len = lo->len[x.me];
    pp_status st = PP_ENOMEM;
    x.recvs = calloc((size_t)len + 1, sizeof *x.recvs);
    x.sends = calloc((size_t)len + 1, sizeof *x.sends);
    x.pending = calloc((size_t)len + 1, sizeof *x.pending);
    x.held = calloc((size_t)len + 1, sizeof *x.held);
    if (!x.recvs || !x.sends || !x.pending || !x.held || (st = plan(&x)) != PP_OK) goto done;
    st = PP_ENOMEM;
    int timed_sums = !o->work && ((g->T > 1 && o->costs.allreduce > 0) || (g->D > 1 && o->costs.dp_sum > 0));
    if (timed_sums && !(x.arbuf = calloc(o->payload / sizeof(float) + 1, sizeof(float)))) goto done;

    /* 1. Warm up the connections, 2. make the buffers and post the receives,
     * 3. start together, 4. run the list. */
    pp_watchdog_begin(x.wd, x.me, len);
    watch_limit(&x);   /* from here the waits in collectives look too */
    if (o->device) o->device->step(o->device->ctx);
    if ((st = warm_up(&x)) != PP_OK || (st = prepare_messages(&x)) != PP_OK || (st = common_start(g, &x)) != PP_OK ||
        (st = run_list(&x)) != PP_OK)
        goto done;
    /* 5. Rank 0 gets every rank's events: from the watcher that streamed them
     * (its end returns once every rank's have arrived), else by a gather. */
    if (x.watch && (st = x.watch->end(x.watch->ctx, &x.ev, out)) != PP_OK) goto done;
    /* A rank done early waits asleep for the others: inside the gather it
     * would spin (MPI's blocking calls poll), taking a core from the ranks
     * still computing and stretching the end of their step. */
    if ((st = pp_barrier(g->all, o->poll_busy_s)) != PP_OK) goto done;
    if (!x.watch) st = gather(g, lo, &x.ev, out);
    pp_watchdog_done(x.wd, 1);
done:
    /* A rank that failed inside the step leaves its partners waiting for
     * messages that will never come: it returns at once, and the caller
     * aborts the job (the demos' PP_CHECK does) rather than meet them. */
    runner_free(&x);
    return st;
}
