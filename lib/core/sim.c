/* sim.c -- the simulator: a replay of a lowered schedule with the costs of
 * costs.c that predicts every rank's timeline, the makespan, the bubble and
 * the peak number of micro-batches whose activations each rank stores.
 *
 * The same replay, with unit costs, is how the validator finds a schedule
 * that would deadlock: if at some point no rank can take its next action, the
 * ranks are waiting on each other.  Left out on purpose: bandwidth models
 * (a message costs a fixed latency, 0 by default) and memory in bytes.
 *
 * Where ranks share a machine's cores (costs.machine: real compute on more
 * ranks than cores), a second replay runs the step in time order instead:
 * a compute queues for a core and holds it for the operating system's turn
 * (replay_shared).
 */
#include "core.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

/* ---- the replay -------------------------------------------------------- */

/* Times at which things happened, per (stage, micro-batch); -1 = not yet. */
typedef struct {
    double *fwd;     /* forward computed */
    double *bwd;     /* input gradient computed (B or I) */
    double *sent_f, *sent_b;   /* activation / gradient sent by this stage */
    double *got_f, *got_b;     /* activation / gradient received by this stage */
    int *weights;    /* W done */
} replay_state;

static pp_status state_new(replay_state *st, int n)
{
    double **arrays[] = {&st->fwd, &st->bwd, &st->sent_f, &st->sent_b, &st->got_f, &st->got_b};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        *arrays[i] = malloc((size_t)n * sizeof(double));
        if (!*arrays[i]) return PP_ENOMEM;
        for (int k = 0; k < n; k++) (*arrays[i])[k] = -1.0;
    }
    st->weights = calloc((size_t)n, sizeof(int));
    return st->weights ? PP_OK : PP_ENOMEM;
}

static void state_free(replay_state *st)
{
    free(st->fwd); free(st->bwd);
    free(st->sent_f); free(st->sent_b);
    free(st->got_f); free(st->got_b);
    free(st->weights);
}

/* Writes an ordering error for action a (rank r, index i) needing `need`. */
static pp_status order_error(pp_replay_fail *fail, int r, int i, pp_action a,
                             pp_action need, const char *why)
{
    char as[24], ns[24];
    pp_action_str(a, as, sizeof as);
    pp_action_str(need, ns, sizeof ns);
    fail->kind = PP_BAD_ORDER;
    fail->rank = r;
    fail->index = i;
    snprintf(fail->msg, sizeof fail->msg, "rank %d runs %s before %s: %s", r, as, ns, why);
    return PP_ESCHED;
}

/* Is the input of a forward (or the gradient of a backward) on stage `from`,
 * needed on rank r, there yet?  Same-rank neighbours hand over directly. */
static double input_time(const pp_sched *s, const replay_state *st, int r, int from, int mb,
                         int dir)
{
    int k = pp_sm(s, from, mb);
    int here = pp_sm(s, dir == 0 ? from + 1 : from - 1, mb);
    if (s->stage_rank[from] == r) return dir == 0 ? st->fwd[k] : st->bwd[k];
    return dir == 0 ? st->got_f[here] : st->got_b[here];
}

/* When a compute of action a can begin on a rank free at t: at t, or for a
 * forward on stage 0 of a stream, once its request has arrived. */
static double start_of(const pp_costs *c, pp_action a, double t)
{
    if (a.kind == PP_F && a.stage == 0 && c->release && c->release[a.mb] * c->tick_s > t)
        return c->release[a.mb] * c->tick_s;   /* the request has not arrived yet */
    return t;
}

/* When receive a's message was sent in the replay so far (-1: not yet). */
static double sent_at(const pp_sched *s, const replay_state *st, pp_action a)
{
    return (a.kind == PP_RECV_F ? st->sent_f : st->sent_b)[pp_sm(s, pp_peer_stage(a), a.mb)];
}

/* Tries to take action i of rank r at time *t.  A compute ends at `end`
 * when that is >= 0 (the shared-core replay found it), else when its cost
 * is up.  Returns 1 if taken, 0 if it must wait for a message, -1 on an
 * ordering error (fail filled in). */
static int take(const pp_sched *s, const pp_costs *c, replay_state *st, int r, int i,
                double *t, double end, pp_run *run, int *inflight, int waits, pp_replay_fail *fail)
{
    pp_action a = s->acts[r][i];
    int k = pp_sm(s, a.stage, a.mb), S = s->nstages;
    double t0 = start_of(c, a, *t), ready = *t;
    double done = end >= 0 ? end : t0 + pp_cost_took_s(c, s, a);
    pp_event ev = {.type = PP_EV_COMPUTE, .kind = a.kind, .stage = a.stage, .mb = a.mb};

    switch (a.kind) {
    case PP_F:
        if (a.stage > 0) {
            double in = input_time(s, st, r, a.stage - 1, a.mb, 0);
            pp_action need = {a.stage - 1, PP_F, a.mb};
            if (s->stage_rank[a.stage - 1] != r) need = (pp_action){a.stage, PP_RECV_F, a.mb};
            if (in < 0) return order_error(fail, r, i, a, need, "a forward needs its input first"), -1;
        }
        st->fwd[k] = *t = done;
        if (!s->forward_only) ++*inflight;   /* inference keeps nothing for a backward */
        break;
    case PP_B:
    case PP_I:
        if (st->fwd[k] < 0)
            return order_error(fail, r, i, a, (pp_action){a.stage, PP_F, a.mb},
                               "a backward needs the activations its forward stored"), -1;
        if (a.stage < S - 1) {
            double g = input_time(s, st, r, a.stage + 1, a.mb, 1);
            pp_action need = {a.stage + 1, PP_B, a.mb};
            if (s->stage_rank[a.stage + 1] != r) need = (pp_action){a.stage, PP_RECV_B, a.mb};
            if (g < 0) return order_error(fail, r, i, a, need, "a backward needs the gradient from the next stage"), -1;
        }
        st->bwd[k] = *t = done;
        if (a.kind == PP_B) --*inflight;
        break;
    case PP_W:
        if (st->bwd[k] < 0)
            return order_error(fail, r, i, a, (pp_action){a.stage, PP_I, a.mb},
                               "the weight gradient uses what the input-gradient pass computed"), -1;
        *t = done;
        st->weights[k] = 1;
        --*inflight;
        break;
    case PP_SEND_F:
    case PP_SEND_B: {
        int f = a.kind == PP_SEND_F;
        if ((f ? st->fwd[k] : st->bwd[k]) < 0)
            return order_error(fail, r, i, a, (pp_action){a.stage, f ? PP_F : PP_B, a.mb},
                               "a send needs the result it sends"), -1;
        (f ? st->sent_f : st->sent_b)[k] = *t;
        ev.type = PP_EV_SEND;
        break;
    }
    case PP_RECV_F:
    case PP_RECV_B: {
        int f = a.kind == PP_RECV_F;
        double sent = sent_at(s, st, a);
        if (sent < 0 && waits) return 0; /* the sender has not got there yet: wait */
        double arrives = sent + pp_cost_msg_s(c, s, a);
        if (arrives > ready) ready = arrives;
        (f ? st->got_f : st->got_b)[k] = *t = ready;
        ev.type = PP_EV_WAIT;
        break;
    }
    default:
        return 1; /* idle slots cost nothing */
    }
    ev.t0 = t0;
    ev.t1 = *t;
    ev.inflight = *inflight;
    if (run && (ev.type != PP_EV_WAIT || ev.t1 > ev.t0)) pp_evlist_push(&run->ranks[r], ev);
    return 1;
}

/* Names the cycle of waits that stopped the replay, starting from rank r0. */
static void describe_cycle(const pp_sched *s, const int *pc, int r0, pp_replay_fail *fail)
{
    int P = s->nranks, r = r0;
    int *seen = calloc((size_t)P, sizeof *seen);
    /* Walk the "waits for" edges until a rank repeats: that is the cycle. */
    for (int step = 0; seen && !seen[r] && step <= P; step++) {
        seen[r] = 1;
        pp_action a = s->acts[r][pc[r]];
        int from = s->stage_rank[pp_peer_stage(a)];
        if (pc[from] >= s->len[from]) { /* only an unchecked schedule gets here */
            free(seen);
            fail->kind = PP_BAD_UNMATCHED;
            fail->rank = r;
            fail->index = pc[r];
            snprintf(fail->msg, sizeof fail->msg, "rank %d waits for a message rank %d never sends", r, from);
            return;
        }
        r = from;
    }
    free(seen);
    fail->kind = PP_BAD_DEADLOCK;
    fail->rank = r;
    fail->index = pc[r];
    int n = snprintf(fail->msg, sizeof fail->msg, "cycle of waits:");
    int start = r;
    do {
        pp_action a = s->acts[r][pc[r]];
        int from = s->stage_rank[pp_peer_stage(a)];
        if (n < (int)sizeof fail->msg)
            n += snprintf(fail->msg + n, sizeof fail->msg - (size_t)n,
                          "%s rank %d waits for the %s of micro-batch %d from rank %d", r == start ? "" : ",", r,
                          a.kind == PP_RECV_F ? "activation" : "gradient", a.mb, from);
        r = from;
    } while (r != start);
}

/* With the cores taken whole (turn 0, the executor's gate): a rank whose
 * message wakes a rank asleep waiting for it, on its machine, while every
 * other core there computes, races it for the core it has just given back.
 * The operating system decides the race: the woken rank wins some (and
 * there the waker can sit off the CPU for a scheduler slice, milliseconds,
 * before it asks), the waker others.  By default the replay gives every race to the waker, whose compute is due
 * first; with c->woken_first, to the woken rank (its compute next): it asks
 * for a core first, and the waker's next compute asks after it.  Real
 * mode's prediction weighs the two replays by the share of races the woken
 * rank won in the step before (demo.c). */
typedef struct {
    int *by;               /* [rank] the rank whose message woke it, its compute next; -1 none */
    double *after;         /* [rank] its next compute asks after this time (the woken one's ask); -1 none */
    const int *running;    /* [machine] computes holding a core */
} woken;

/* Runs every rank as far as it can go without a core: its sends and
 * receives (whose times do not depend on the cores), up to its next compute,
 * which is then due at start[r] with left[r] seconds of work.  Until no rank
 * moves: a send lets another rank's receive go on.  Returns PP_ESCHED on an
 * ordering error. */
static pp_status settle(const pp_sched *s, const pp_costs *c, replay_state *st, pp_run *run, int *pc,
                        int *inflight, double *t, double *start, double *left, woken *wk, pp_replay_fail *fail)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (int r = 0; r < s->nranks; r++)
            while (left[r] < 0 && pc[r] < s->len[r]) {
                pp_action a = s->acts[r][pc[r]];
                if (pp_kind_is_compute(a.kind)) {
                    start[r] = start_of(c, a, t[r]);
                    left[r] = pp_cost_took_s(c, s, a);
                    if (wk->after[r] >= start[r]) start[r] = nextafter(wk->after[r], INFINITY);
                    wk->after[r] = -1;
                    int w = wk->by[r];   /* its waker asks after it: at once if its compute is due, else when it is */
                    if (w >= 0 && left[w] >= 0 && start[w] <= start[r]) start[w] = nextafter(start[r], INFINITY);
                    else if (w >= 0 && left[w] < 0) wk->after[w] = start[r];
                    wk->by[r] = -1;
                    break;
                }
                int recv = pp_is_recv(a.kind), from = recv ? s->stage_rank[pp_peer_stage(a)] : -1;
                int asleep = recv && t[r] < sent_at(s, st, a);   /* waiting since before the send */
                int ok = take(s, c, st, r, pc[r], &t[r], -1, run, &inflight[r], 1, fail);
                if (ok < 0) return PP_ESCHED;
                if (ok == 0) break;
                int m = c->machine[r];
                if (recv)   /* a send after it keeps the mark */
                    wk->by[r] = asleep && c->woken_first && c->turn == 0 && c->machine[from] == m &&
                                        wk->running[m] >= c->cores[m] - 1
                                    ? from : -1;
                pc[r]++;
                moved = 1;
            }
    }
    return PP_OK;
}

/* A compute of the shared-core replay: not under way, due at start[r] (its
 * rank is free and its input there), queued for a core, or running. */
enum { IDLE_CORE, DUE, QUEUED, RUNNING };

/* The replay when ranks share their machines' cores (c->machine): in time
 * order, the way an operating system shares them.  A compute that is due
 * queues for a core of its machine; the first in the queue gets the next
 * free one, and keeps it for a turn of c->turn ticks (or to its end, when
 * turn is 0), then goes to the back of the queue if a rank is waiting for a
 * core.  A compute runs at full speed while it holds a core.  Its event
 * begins when it first gets one: a rank queued before that counts as idle
 * (in the executor it has just woken from its wait), one queued between
 * turns as busy.  Only computes take a core: a waiting rank sleeps.  With
 * turn 0 this is the executor's gate (exec.c): a compute that waited for its
 * core begins c->handoff ticks after it was freed, the core held meanwhile,
 * and with c->woken_first a rank woken by a message asks before its waker
 * (woken, above). */
static pp_status replay_shared(const pp_sched *s, const pp_costs *c, replay_state *st, pp_run *run, int *pc,
                               int *inflight, double *t, pp_replay_fail *fail)
{
    int P = s->nranks, nq = 0;
    double turn = c->turn * c->tick_s;
    double *start = malloc((size_t)P * sizeof *start), *left = malloc((size_t)P * sizeof *left);
    double *began = malloc((size_t)P * sizeof *began), *turn_end = malloc((size_t)P * sizeof *turn_end);
    int *state = calloc((size_t)P, sizeof *state), *queue = malloc((size_t)P * sizeof *queue);
    int *running = calloc((size_t)P, sizeof *running), *waiting = calloc((size_t)P, sizeof *waiting);   /* per machine */
    woken wk = {malloc((size_t)P * sizeof *wk.by), malloc((size_t)P * sizeof *wk.after), running};
    pp_status rc = start && left && began && turn_end && state && queue && running && waiting && wk.by && wk.after
                       ? PP_OK : PP_ENOMEM;
    for (int r = 0; r < P && rc == PP_OK; r++) left[r] = -1, wk.by[r] = -1, wk.after[r] = -1;   /* < 0: none */
    for (double now = 0; rc == PP_OK;) {
        rc = settle(s, c, st, run, pc, inflight, t, start, left, &wk, fail);
        for (int r = 0; r < P; r++)
            if (left[r] >= 0 && state[r] == IDLE_CORE) state[r] = DUE, began[r] = -1;
        /* computes due by now join the queue, the earliest first */
        for (;;) {
            int first = -1;
            for (int r = 0; r < P; r++)
                if (state[r] == DUE && start[r] <= now && (first < 0 || start[r] < start[first])) first = r;
            if (first < 0) break;
            state[first] = QUEUED, queue[nq++] = first, waiting[c->machine[first]]++;
        }
        /* free cores go to the queue's first ranks, machine by machine */
        int kept = 0;
        for (int k = 0; k < nq; k++) {
            int r = queue[k], m = c->machine[r];
            if (running[m] >= c->cores[m]) {
                queue[kept++] = r;
                continue;
            }
            state[r] = RUNNING, running[m]++, waiting[m]--;
            turn_end[r] = now + turn;
            if (began[r] < 0) {   /* a rank that waited for this core starts a handoff later */
                double h = start[r] < now && turn == 0 ? c->handoff * c->tick_s : 0;
                began[r] = now + h, left[r] += h;
            }
        }
        nq = kept;
        /* the next moment anything changes: a compute ends, a turn ends with
           a rank waiting for the core, or a compute is due */
        double next = -1;
        for (int r = 0; r < P; r++) {
            double at = state[r] == DUE ? start[r] : state[r] == RUNNING ? now + left[r] : -1;
            if (state[r] == RUNNING && turn > 0 && waiting[c->machine[r]] > 0 && turn_end[r] < at) at = turn_end[r];
            if (at >= 0 && (next < 0 || at < next)) next = at;
        }
        if (next < 0) break;   /* every rank done, or waiting for a message that cannot come */
        for (int r = 0; r < P && rc == PP_OK; r++) {
            if (state[r] != RUNNING) continue;
            int m = c->machine[r];
            left[r] -= next - now;
            if (left[r] <= 1e-12 * (1 + next)) {   /* done */
                t[r] = began[r];
                if (take(s, c, st, r, pc[r], &t[r], next, run, &inflight[r], 1, fail) < 0) rc = PP_ESCHED;
                pc[r]++;
                left[r] = -1, state[r] = IDLE_CORE, running[m]--;
            } else if (turn > 0 && waiting[m] > 0 && turn_end[r] <= next) {   /* its turn is over */
                state[r] = QUEUED, running[m]--, waiting[m]++, queue[nq++] = r;
            } else if (turn_end[r] <= next) {
                turn_end[r] = next + turn;   /* nobody waits: another turn */
            }
        }
        now = next;
    }
    free(start), free(left), free(began), free(turn_end);
    free(state), free(queue), free(running), free(waiting), free(wk.by), free(wk.after);
    return rc;
}

pp_status pp_replay(const pp_sched *s, const pp_costs *c, pp_run *run, int waits, pp_replay_fail *fail)
{
    int P = s->nranks, n = s->nstages * s->nmb;
    memset(fail, 0, sizeof *fail);
    replay_state st = {0};
    int *pc = calloc((size_t)P, sizeof *pc), *inflight = calloc((size_t)P, sizeof *inflight);
    double *t = calloc((size_t)P, sizeof *t);
    pp_status rc = (pc && inflight && t) ? state_new(&st, n > 0 ? n : 1) : PP_ENOMEM;

    if (rc == PP_OK && waits && c->machine && c->cores) rc = replay_shared(s, c, &st, run, pc, inflight, t, fail);
    /* Sweep the ranks, each as far as it can go, until all are done or a
     * sweep moves nobody.  The times do not depend on the sweep order: an
     * action's time depends only on the actions it waits for. */
    for (int moved = 1; rc == PP_OK && moved;) {
        moved = 0;
        for (int r = 0; r < P && rc == PP_OK; r++)
            while (pc[r] < s->len[r]) {
                int ok = take(s, c, &st, r, pc[r], &t[r], -1, run, &inflight[r], waits, fail);
                if (ok < 0) rc = PP_ESCHED;
                if (ok <= 0) break;
                pc[r]++;
                moved = 1;
            }
    }
    /* Anyone left unfinished is waiting for a message that cannot come. */
    for (int r = 0; r < P && rc == PP_OK; r++)
        if (pc[r] < s->len[r]) {
            fail->blocked = malloc((size_t)P * sizeof *fail->blocked);
            for (int q = 0; fail->blocked && q < P; q++)
                fail->blocked[q] = pc[q] < s->len[q] ? pc[q] : -1;
            describe_cycle(s, pc, r, fail);
            rc = PP_ESCHED;
        }
    if (rc == PP_OK && run) pp_run_summarize(run);
    state_free(&st);
    free(pc);
    free(inflight);
    free(t);
    return rc;
}

pp_status pp_simulate(const pp_sched *lo, const pp_costs *c, pp_run **out)
{
    *out = NULL;
    if (!lo->lowered) return PP_ESCHED;   /* only what pp_sched_validate() handed back */
    pp_replay_fail fail = {0};
    pp_status st = pp_run_new(lo->nranks, lo->nmb, out);
    if (st == PP_OK) st = pp_replay(lo, c, *out, 1, &fail);
    /* Replicas: each rank's gradient sum follows its last action (the
     * replay summarized the run without it: once more with it). */
    double sum = pp_cost_s(c, PP_IDLE, -1, NULL);
    for (int r = 0; st == PP_OK && sum > 0 && r < lo->nranks; r++) {
        double end = 0;
        for (int i = 0; i < (*out)->ranks[r].n; i++)
            if ((*out)->ranks[r].ev[i].t1 > end) end = (*out)->ranks[r].ev[i].t1;
        pp_event e = {.type = PP_EV_ALLREDUCE, .kind = PP_IDLE, .stage = -1, .mb = -1, .t0 = end, .t1 = end + sum};
        st = pp_evlist_push(&(*out)->ranks[r], e);
    }
    if (st == PP_OK && sum > 0) pp_run_summarize(*out);
    if (st != PP_OK) {
        free(fail.blocked);
        pp_run_free(*out);
        *out = NULL;
    }
    return st;
}

/* A message cannot come before its send in the replay with the step's own
 * costs: in timed mode a compute never ends before its cost is up, and a
 * message never arrives before it is sent. */
pp_status pp_replay_sends(const pp_sched *lo, const pp_costs *c, int rank, double *not_before)
{
    int n = lo->nstages * lo->nmb;
    double *sent = malloc(2 * (size_t)(n > 0 ? n : 1) * sizeof *sent);   /* [dir][stage x mb] */
    pp_run *r = NULL;
    pp_status st = sent ? pp_simulate(lo, c, &r) : PP_ENOMEM;
    for (int q = 0; st == PP_OK && q < r->nrows; q++)
        for (int k = 0; k < r->ranks[q].n; k++) {
            const pp_event *e = &r->ranks[q].ev[k];
            if (e->type == PP_EV_SEND) sent[(e->kind == PP_SEND_B) * n + pp_sm(lo, e->stage, e->mb)] = e->t0;
        }
    for (int i = 0; st == PP_OK && i < lo->len[rank]; i++) {
        pp_action a = lo->acts[rank][i];
        not_before[i] = pp_is_recv(a.kind) ? sent[(a.kind == PP_RECV_B) * n + pp_sm(lo, pp_peer_stage(a), a.mb)] : 0;
    }
    pp_run_free(r);
    free(sent);
    return st;
}
