/* costs.c -- the cost model: what an action costs, in seconds.  pp_cost_s
 * is the one place a cost becomes seconds; the simulator, the executor's
 * timed mode and the watchdog's limit all ask it.  The simulator asks
 * through pp_cost_took_s, which gives a compute measured in a step before
 * (pp_costs.took: real mode's prediction) the time it took there, and
 * through pp_cost_msg_s, which does the same for a message (took_msg).
 * Otherwise a message costs a fixed latency (0 by default); a link's
 * bandwidth (pp_link_s) reaches a prediction through the probe, which runs
 * on the same link (probe.c).
 */
#include "core.h"

#include <stdlib.h>

void pp_costs_default(pp_costs *c)
{
    c->tick_s = 0.010;
    c->ticks[PP_F] = 1.0;
    c->ticks[PP_B] = 2.0;
    c->ticks[PP_I] = 1.0;
    c->ticks[PP_W] = 1.0;
    c->stage_scale = NULL;
    c->latency = 0.0;
    c->allreduce = 0.0;
    c->allreduce_again = 0.0;
    c->dp_sum = 0.0;
    c->release = NULL;
    c->machine = NULL;
    c->cores = NULL;
    c->turn = 0.0;
    c->handoff = 0.0;
    c->woken_first = 0;
    c->took = NULL;
    c->took_msg = NULL;
}

double pp_cost_s(const pp_costs *c, pp_kind k, int stage, double *sum)
{
    double scale = c->stage_scale && stage >= 0 ? c->stage_scale[stage] : 1.0, ar = 0, ticks = 0;
    switch (k) {
    case PP_F:
    case PP_B:
    case PP_I:   /* these end with the tensor-parallel sum of their partial result (a
                    backward that runs its forward again first makes that one too) */
        ar = (c->allreduce + (k == PP_F ? 0 : c->allreduce_again)) * scale;
        ticks = c->ticks[k] * scale + ar;
        break;
    case PP_W: ticks = c->ticks[k] * scale; break;
    case PP_RECV_F:
    case PP_RECV_B: ticks = c->latency; break;
    case PP_IDLE: ticks = c->dp_sum; break;
    default: break;   /* a send costs its sender nothing */
    }
    if (sum) *sum = ar * c->tick_s;
    return ticks * c->tick_s;
}

double pp_cost_took_s(const pp_costs *c, const pp_sched *lo, pp_action a)
{
    if (c->took && pp_kind_is_compute(a.kind)) {
        double x = c->took[(int)a.kind * lo->nstages * lo->nmb + pp_sm(lo, a.stage, a.mb)];
        if (x >= 0) return x;
    }
    return pp_cost_s(c, a.kind, a.stage, NULL);
}

double pp_cost_msg_s(const pp_costs *c, const pp_sched *lo, pp_action a)
{
    if (c->took_msg && pp_is_recv(a.kind)) {
        double x = c->took_msg[pp_msg_slot(lo, a)];
        if (x >= 0) return x;
    }
    return pp_cost_s(c, a.kind, a.stage, NULL);
}

/* Is event e's stage and micro-batch within lowered schedule lo? */
static int in_sched(const pp_sched *lo, const pp_event *e)
{
    return e->stage >= 0 && e->stage < lo->nstages && e->mb >= 0 && e->mb < lo->nmb;
}

/* The index of receive e's message in [direction][stage x mb] arrays
 * (pp_costs.took_msg's order: by its sending stage), or -1. */
static int message_of(const pp_sched *lo, const pp_event *e)
{
    pp_action a = {e->stage, (pp_kind)e->kind, e->mb};
    if (e->type != PP_EV_WAIT || !pp_is_recv(a.kind) || !in_sched(lo, e) || pp_peer_stage(a) < 0 ||
        pp_peer_stage(a) >= lo->nstages)
        return -1;
    return pp_msg_slot(lo, a);
}

pp_status pp_run_took(const pp_sched *lo, const pp_run *meas, double typical, double *took, double *took_msg)
{
    int per = lo->nstages * lo->nmb;
    double *sent = malloc(2 * (size_t)(per > 0 ? per : 1) * sizeof *sent);   /* each message's send, as took_msg */
    if (!sent) return PP_ENOMEM;
    for (int k = 0; k < (PP_W + 1) * per; k++) took[k] = -1;
    for (int k = 0; k < 2 * per; k++) took_msg[k] = sent[k] = -1;
    /* the computes, and the sends */
    for (int p = 0; p < meas->nrows; p++)
        for (int i = 0; i < meas->ranks[p].n; i++) {
            const pp_event *e = &meas->ranks[p].ev[i];
            if (!in_sched(lo, e)) continue;
            if (e->type == PP_EV_COMPUTE && e->kind >= PP_F && e->kind <= PP_W)
                took[e->kind * per + pp_sm(lo, e->stage, e->mb)] = e->t1 - e->t0;
            if (e->type == PP_EV_SEND && (e->kind == PP_SEND_F || e->kind == PP_SEND_B))
                sent[(e->kind == PP_SEND_B) * per + pp_sm(lo, e->stage, e->mb)] = e->t0;
        }
    /* then the receives: how long each message took */
    for (int p = 0; p < meas->nrows; p++)
        for (int i = 0; i < meas->ranks[p].n; i++) {
            const pp_event *e = &meas->ranks[p].ev[i];
            int k = message_of(lo, e);
            if (k < 0 || sent[k] < 0) continue;
            double had = e->t0 - sent[k];   /* how long after its send its receiver got there */
            if (e->came == PP_CAME_AFTER) took_msg[k] = e->t1 - sent[k];
            else if (e->came == PP_CAME_BEFORE) took_msg[k] = had < 0 ? 0 : had < typical ? had : typical;
        }
    free(sent);
    return PP_OK;
}

/* Rank r's next event after index i that is not a send, or NULL. */
static const pp_event *next_not_send(const pp_run *run, int r, int i)
{
    for (int j = i + 1; j < run->ranks[r].n; j++)
        if (run->ranks[r].ev[j].type != PP_EV_SEND) return &run->ranks[r].ev[j];
    return NULL;
}

/* Computes of machine m's ranks other than a and b under way at time x
 * (begun before it, not ended). */
static int computing(const pp_run *run, const int *machine, int m, int a, int b, double x)
{
    int n = 0;
    for (int r = 0; r < run->nrows; r++) {
        if (r == a || r == b || machine[r] != m) continue;
        for (int j = 0; j < run->ranks[r].n; j++) {
            const pp_event *y = &run->ranks[r].ev[j];
            n += y->type == PP_EV_COMPUTE && y->t0 < x && x < y->t1;
        }
    }
    return n;
}

double pp_run_woken_share(const pp_sched *lo, const pp_run *meas, const int *machine, const int *cores)
{
    int per = lo->nstages * lo->nmb, races = 0, won = 0;
    size_t n = 2 * (size_t)(per > 0 ? per : 1);
    int *rank = malloc(n * sizeof *rank), *at = malloc(n * sizeof *at);   /* each message's receive: rank, index */
    if (!rank || !at) {
        free(rank), free(at);
        return -1;
    }
    for (int k = 0; k < 2 * per; k++) rank[k] = at[k] = -1;
    for (int p = 0; p < meas->nrows; p++)
        for (int i = 0; i < meas->ranks[p].n; i++) {
            int k = message_of(lo, &meas->ranks[p].ev[i]);
            if (k >= 0) rank[k] = p, at[k] = i;
        }
    for (int a = 0; a < meas->nrows; a++)
        for (int i = 0; i < meas->ranks[a].n; i++) {
            const pp_event *x = &meas->ranks[a].ev[i];
            if (x->type != PP_EV_SEND || !in_sched(lo, x)) continue;
            int k = (x->kind == PP_SEND_B) * per + pp_sm(lo, x->stage, x->mb), b = rank[k];
            if (b < 0 || b == a || machine[b] != machine[a]) continue;
            const pp_event *w = &meas->ranks[b].ev[at[k]], *theirs = next_not_send(meas, b, at[k]), *mine = NULL;
            if (!(w->t0 < x->t0) || !theirs || theirs->type != PP_EV_COMPUTE)
                continue;   /* not asleep for it, or no compute next */
            double ready = x->t0;   /* the waker ready for its next compute: the messages it waited for in between */
            for (int j = i + 1; j < meas->ranks[a].n && !mine; j++) {
                const pp_event *y = &meas->ranks[a].ev[j];
                if (y->type == PP_EV_COMPUTE) mine = y;
                else if (y->type == PP_EV_WAIT && y->came == PP_CAME_AFTER && y->t1 > ready) ready = y->t1;
            }
            if (!mine || !(ready < w->t1)) continue;   /* no race: the woken rank's message came first */
            if (computing(meas, machine, machine[a], a, b, x->t0) < cores[machine[a]] - 1)
                continue;   /* a core to spare for each */
            races++;
            won += theirs->t0 - theirs->core_s < mine->t0 - mine->core_s;   /* it asked first */
        }
    free(rank), free(at);
    return races ? (double)won / races : -1;
}

void pp_costs_flat(const pp_costs *c, int nstages, pp_costs *out)
{
    *out = *c;
    out->took = out->took_msg = NULL;   /* the stages evened out, not a measured step */
    if (!c->stage_scale || nstages <= 0) return;
    double mean = 0;
    for (int s = 0; s < nstages; s++) mean += c->stage_scale[s] / nstages;
    for (int k = 0; k < 4; k++) out->ticks[k] *= mean;
    out->allreduce *= mean;
    out->allreduce_again *= mean;
    out->stage_scale = NULL;
}

double pp_link_s(const pp_link *l, long bytes)
{
    if (!l || l->gbps <= 0) return 0;
    return l->latency_s + 8.0 * (double)bytes / (l->gbps * 1e9);
}
