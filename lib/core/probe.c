/* probe.c -- what this machine adds to a step, measured before it runs
 * (pp_idle.h): a short step of the probe's own (GPipe over every rank of the
 * run, timed, the run's payload; PROBE_M and PROBE_TICK_S below) run by the
 * executor itself, so that a machine with fewer cores than ranks is as
 * crowded, and a rank waits and wakes, as in the step to come.  From its
 * trace: how much longer than their cost the computes took, and how long a
 * message took to a receiver waiting for it, both on the mean (a step's
 * length is a sum of them, so their tails count; pp_idle_breakdown).  The
 * simulator then replays the real step with both added (pp_costs_here).
 * It also finds which ranks share a machine and how many cores that machine
 * lets them run on, and, for real compute on the CPU where ranks outnumber
 * cores, how they take the cores: whole computes in turn through the
 * executor's gate (exec.c), or, where the gate cannot be (no memory shared
 * by the machine's ranks), as the operating system shares them, so the probe
 * measures how long a rank keeps a core before another gets it (every rank
 * of such a machine spins 50 ms, measure_turn).
 * Left out on purpose: the live view's and the watchdog's own cost, and
 * other programs busy on the same cores.
 */
#include "core.h"
#include "pp_idle.h"
#include "step.h"

#include <stdlib.h>
#include <string.h>

/* The probe's own step: GPipe over every rank, PROBE_M micro-batches of
 * PROBE_TICK_S ticks (its overrun and delivery are per compute and per
 * message, not per tick; about 90 ms in all at P = 4, setting up included). */
enum { PROBE_M = 4 };
static const double PROBE_TICK_S = 1e-3;

/* Rank 0: how much longer than their cost the computes of run r took, on
 * the mean (s). */
static double mean_overrun(const pp_run *r, const pp_costs *c)
{
    double sum = 0;
    int n = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            if (e->type != PP_EV_COMPUTE) continue;
            sum += e->t1 - e->t0 - pp_cost_s(c, (pp_kind)e->kind, e->stage, NULL);
            n++;
        }
    return n ? sum / n : 0;
}

/* Every rank's machine (the lowest rank on it) and that machine's cores
 * (pp_grid.cores); collective over g->all. */
static pp_status find_machines(const pp_grid *g, pp_machine *out)
{
    int mine[2], lowest;
    if (MPI_Allreduce(&g->rank, &lowest, 1, MPI_INT, MPI_MIN, g->node) != MPI_SUCCESS) return PP_EMPI;
    mine[0] = lowest, mine[1] = g->cores;
    int *both = malloc(2 * (size_t)g->size * sizeof *both);
    out->machine = malloc((size_t)g->size * sizeof *out->machine);
    out->cores = malloc((size_t)g->size * sizeof *out->cores);
    pp_status st = both && out->machine && out->cores ? PP_OK : PP_ENOMEM;
    if (st == PP_OK && MPI_Allgather(mine, 2, MPI_INT, both, 2, MPI_INT, g->all) != MPI_SUCCESS) st = PP_EMPI;
    for (int r = 0; st == PP_OK && r < g->size; r++)
        out->machine[r] = both[2 * r], out->cores[both[2 * r]] = both[2 * r + 1];
    free(both);
    if (st == PP_OK) out->ranks = g->size;
    return st;
}

/* How long a rank keeps a core when its machine has more ranks than cores
 * and all of them compute: each rank of such a machine spins for TURN_PROBE_S,
 * reading the clock, and a gap of more than TURN_GAP_S between two readings
 * is a time it was off its core (another rank's turn: milliseconds; a
 * shorter gap is some other process woken for a moment, frequent on a busy
 * machine, and cut the runs to tens of microseconds when it counted); the
 * median of its runs between gaps, and
 * the median over those ranks (rank 0 works it out; every rank gets it).
 * Collective over g->all. */
static const double TURN_PROBE_S = 0.05, TURN_GAP_S = 100e-6;
static pp_status measure_turn(const pp_grid *g, pp_machine *out)
{
    int cores, crowded = pp_machine_sharing(out, g->rank, &cores) > cores;
    double mine = -1, *runs = malloc(4096 * sizeof *runs), *all = malloc((size_t)g->size * sizeof *all);
    int n = 0, got = 0;
    pp_status st = runs && all ? PP_OK : PP_ENOMEM;
    if (st == PP_OK && pp_barrier(g->all, 1e-3) != PP_OK) st = PP_EMPI;
    if (st == PP_OK && crowded) {
        double t0 = pp_now(), last = t0, from = t0;
        for (double now = t0; now - t0 < TURN_PROBE_S; now = pp_now()) {
            if (now - last > TURN_GAP_S && n < 4096) runs[n++] = last - from, from = now;
            last = now;
        }
        if (n > 0) mine = pp_median(runs, n);   /* the run cut off at the end is left out */
    }
    if (st == PP_OK && MPI_Gather(&mine, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, 0, g->all) != MPI_SUCCESS) st = PP_EMPI;
    for (int r = 0; st == PP_OK && g->rank == 0 && r < g->size; r++)
        if (all[r] > 0) all[got++] = all[r];
    out->turn_s = got ? pp_median(all, got) : 0;
    if (st == PP_OK && MPI_Bcast(&out->turn_s, 1, MPI_DOUBLE, 0, g->all) != MPI_SUCCESS) st = PP_EMPI;
    free(runs), free(all);
    return st;
}

void pp_machine_free(pp_machine *m)
{
    free(m->machine);
    free(m->cores);
    memset(m, 0, sizeof *m);
}

int pp_machine_sharing(const pp_machine *m, int r, int *cores)
{
    int n = 0;
    *cores = r >= 0 && r < m->ranks ? m->cores[m->machine[r]] : 0;
    for (int q = 0; *cores && q < m->ranks; q++) n += m->machine[q] == m->machine[r];
    return n;
}

pp_status pp_probe_machine(const pp_grid *g, const pp_exec_opts *o, pp_machine *out)
{
    memset(out, 0, sizeof *out);
    double t0 = pp_now();
    pp_exec_opts x = *o;   /* the run's payload and waits; no view, no model, no fault */
    x.watch = NULL, x.work = NULL, x.device = NULL, x.interrupted = NULL;
    x.fault = (pp_fault){.kind = PP_FAULT_NONE};
    pp_costs_default(&x.costs);
    x.costs.tick_s = PROBE_TICK_S;
    pp_sched *built = NULL, *lo = NULL;
    pp_check why = {0};
    pp_status st = pp_sched_gpipe(g->P, PROBE_M, &built);
    if (st == PP_OK) st = pp_sched_validate(built, &lo, &why);
    pp_check_clear(&why);
    pp_run *run = NULL;   /* on a grid every pipeline runs it, side by side */
    if (st == PP_OK) st = pp_exec_step(g, lo, &x, &run);
    double figures[2] = {0, 0};
    if (st == PP_OK && g->rank == 0) {
        pp_idle parts;
        figures[0] = mean_overrun(run, &x.costs);
        if (g->T * g->D == 1 && pp_idle_breakdown(lo, &x.costs, run, &parts) == PP_OK && parts.ok)
            figures[1] = parts.waited_mean_s;
    }
    if (st == PP_OK && MPI_Bcast(figures, 2, MPI_DOUBLE, 0, g->all) != MPI_SUCCESS) st = PP_EMPI;
    out->overshoot_s = figures[0] > 0 ? figures[0] : 0;
    out->delivery_s = figures[1];
    out->payload = (long)o->payload;
    /* cores matter to real compute on the CPU (a device's computes take none) */
    if (st == PP_OK && g->T * g->D == 1 && !o->device) st = find_machines(g, out);
    out->gated = g->T * g->D == 1 && !o->device && o->work && o->cores_in_turn && pp_core_gated(g->wd);
    if (st == PP_OK && g->T * g->D == 1 && !o->device && o->work && !out->gated) st = measure_turn(g, out);
    out->probe_s = pp_now() - t0;
    pp_run_free(run);
    pp_sched_free(built), pp_sched_free(lo);
    return st;
}

void pp_costs_here(const pp_costs *nominal, const pp_machine *m, const pp_sched *lo, int timed, pp_costs *out)
{
    *out = *nominal;
    if (nominal->tick_s <= 0) return;
    /* a compute's ticks are multiplied by its stage's scale: the overshoot is
     * added in ticks of the stages' mean scale */
    pp_costs flat;
    pp_costs_flat(nominal, lo->nstages, &flat);
    double scale = nominal->ticks[PP_F] > 0 ? flat.ticks[PP_F] / nominal->ticks[PP_F] : 1;
    double late = timed ? m->overshoot_s / nominal->tick_s / (scale > 0 ? scale : 1) : 0;
    for (int k = 0; k < 4; k++) out->ticks[k] += late;
    out->latency += m->delivery_s / nominal->tick_s;
    if (!timed && m->ranks == lo->nranks) out->machine = m->machine, out->cores = m->cores, out->turn = m->gated ? 0 : m->turn_s / nominal->tick_s;
}
