/* 00_anatomy.c -- the whole library in one page.
 *
 * The idea: a pipeline schedule is data, and it flows one way.  This demo
 * calls the core itself, in that order: make the grid of ranks, build a
 * schedule, validate it (which hands back the lowered schedule, sends and
 * receives written out), simulate it, run it over MPI, and report the
 * measured step beside the prediction and the formula.  Every other demo
 * does the same through the demo scaffolding, which adds the live view.
 *
 *   mpiexec -n 4 ./demos/00_anatomy -m 8 --schedule 1f1b
 */
#include "pp_demo.h"

#include <stdlib.h>

/* Every rank reaches the same verdict on the same argv: rank 0 says why, all leave. */
static void refuse_if(int bad, pp_grid *g, const char *why)
{
    if (!bad) return;
    if (g->rank == 0) fprintf(stderr, "00_anatomy: error: %s\n", why);
    pp_grid_free(g);
    MPI_Finalize();
    exit(2);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    /* 0. The ranks: P stages, one per rank mpiexec started, and their clocks. */
    pp_grid *g = NULL;
    if (pp_grid_new(MPI_COMM_WORLD, &g) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);

    static const pp_demo_spec spec = {
        .what = "Builds, validates, simulates and runs one schedule, calling the core itself (a builder; "
                "04_bubble_efficiency runs CSV files).", .plain = 1};
    pp_opts o;
    char err[512] = "";
    pp_cli_defaults(&o);
    refuse_if(pp_cli_parse(argc, argv, &spec, &o, err, sizeof err) != PP_OK, g, err);
    if (o.help) {
        if (g->rank == 0) pp_cli_usage(stdout, "00_anatomy", &spec, &o);
        pp_grid_free(g);
        MPI_Finalize();
        return 0;
    }

    /* 1. Build: one list of actions per rank ("0F0 0F1 ... 0B0 ..."). */
    pp_sched *s = NULL;
    snprintf(err, sizeof err, "--schedule: '%s' names a file; this demo builds its schedule: use one of %s "
             "(04_bubble_efficiency runs CSV files)", o.schedule, pp_sched_names());
    refuse_if(!pp_sched_is_builder(o.schedule), g, err);
    refuse_if(pp_sched_build(o.schedule, g->P, o.mb[0], o.chunks, &s, err, sizeof err) != PP_OK, g, err);

    /* 2. Validate: prove no rank can wait forever, before anything runs.  What
     *    comes back is lowered: the sends and receives the list implies, explicit. */
    pp_sched *lowered = NULL;
    pp_check why;
    if (pp_sched_validate(s, &lowered, &why) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);   /* a builder's never fails */

    /* 3. Simulate: what the step should look like with these costs. */
    pp_exec_opts x;
    pp_exec_opts_default(&x);
    x.costs.tick_s = o.tick_ms * 1e-3;
    for (int k = 0; k < 4; k++) x.costs.ticks[k] = o.ticks[k];
    x.payload = o.payload;
    pp_run *pred = NULL, *meas = NULL;
    if (pp_simulate(lowered, &x.costs, &pred) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);

    /* 4. Execute: every rank runs its own list over MPI, sleeping each action's
     *    ticks; rank 0 gets every rank's events on its own clock. */
    if (pp_exec_step(g, lowered, &x, &meas) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);

    /* 5. Report: the measured timeline, then measured beside predicted beside formula. */
    if (g->rank == 0) {
        printf("%s on %d rank%s, M=%d; F=%g B=%g ticks of %g ms\n", s->name, g->P, g->P == 1 ? "" : "s", s->nmb,
               x.costs.ticks[PP_F], x.costs.ticks[PP_B], o.tick_ms);
        printf("actions per rank, as built:");
        for (int r = 0; r < g->P; r++) printf(" %d", s->len[r]);
        printf("\n  and lowered (with the sends and receives written out):");
        for (int r = 0; r < g->P; r++) printf(" %d", lowered->len[r]);
        printf("\n");
        printf("measured timeline:\n");
        pp_report_timeline(stdout, meas, x.costs.tick_s / 2, 80);
        pp_report_summary(stdout, meas, pred, lowered, &x);
    }
    pp_run_free(pred), pp_run_free(meas);
    pp_sched_free(lowered), pp_sched_free(s);
    pp_grid_free(g);
    MPI_Finalize();
    return 0;
}
