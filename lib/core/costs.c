/* costs.c -- the cost model: what an action costs, in seconds.  pp_cost_s
 * is the one place a cost becomes seconds; the simulator, the executor's
 * timed mode and the watchdog's limit all ask it.  The simulator asks
 * through pp_cost_took_s, which gives a compute measured in a step before
 * (pp_costs.took: real mode's prediction) the time it took there.
 * The simulator's message costs a fixed latency (0 by default); a link's
 * bandwidth (pp_link_s) reaches a prediction through the probe, which runs
 * on the same link (probe.c).
 */
#include "core.h"

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
    c->took = NULL;
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

void pp_costs_flat(const pp_costs *c, int nstages, pp_costs *out)
{
    *out = *c;
    out->took = NULL;   /* the stages evened out, not a measured step */
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
