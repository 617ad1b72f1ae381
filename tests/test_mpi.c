/* test_mpi.c -- the timed executor on real MPI ranks.  For every builder and
 * M in 1, 4, 8, 16 on the P ranks it is started with: the run finishes, the
 * measured bubble is within the stated tolerance of the formula, the peak
 * activations held and the bytes sent equal their formulas exactly, and every
 * message arrives after it was sent (on rank 0's clock).
 *
 *   mpiexec -n 4 tests/test_mpi [TICK_MS] [skew]
 *
 * With "skew", every rank first adds a large artificial offset to its clock
 * (as if the ranks ran on machines whose clocks disagree); the test checks
 * that the offsets are estimated and removed.
 *
 * Tolerance: measured minus formula bubble between -1 and +6 percentage
 * points, at 4 ms ticks.  Measured on a quiet 2-core machine the excess is
 * 0.5 to 2 points (message latency on the critical path); the margin is for a
 * machine busy with other work.
 */
#include "pp.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double TOL_LOW = -1.0, TOL_HIGH = 6.0; /* percentage points */

/* Does every WAIT end after its message's SEND began?  Each rank's clock
 * offset is known to within half its fastest ping-pong round trip (rtt[p],
 * s), so a pair of ranks is allowed the sum of their halves, plus `slack` s. */
static int causal(const pp_run *r, const double *rtt, double slack)
{
    for (int p = 0; p < r->P; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *w = &r->ranks[p].ev[i];
            if (w->type != PP_EV_WAIT) continue;
            int from = w->kind == PP_RECV_F ? p - 1 : p + 1;
            int kind = w->kind == PP_RECV_F ? PP_SEND_F : PP_SEND_B;
            for (int k = 0; k < r->ranks[from].n; k++) {
                const pp_event *s = &r->ranks[from].ev[k];
                double allowed = 0.5 * (rtt[p] + rtt[from]) + slack;
                if (s->type == PP_EV_SEND && s->kind == kind && s->mb == w->mb && w->t1 < s->t0 - allowed) {
                    printf("# rank %d got micro-batch %d at %.3f ms, sent at %.3f ms (clock round trips %.1f and %.1f us)\n",
                           p, w->mb, w->t1 * 1e3, s->t0 * 1e3, rtt[p] * 1e6, rtt[from] * 1e6);
                    return 0;
                }
            }
        }
    return 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    double tick_ms = argc > 1 ? atof(argv[1]) : 4.0;
    int skew = argc > 2 && strcmp(argv[2], "skew") == 0;
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    /* Odd ranks behind, even ranks ahead, by up to hours. */
    double injected = skew ? (rank % 2 ? -1.0 : 1.0) * 3600.0 * rank : 0.0;
    pp_clock_inject_offset(injected);

    pp_grid *g;
    if (pp_grid_new(MPI_COMM_WORLD, &g) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    double err = fabs(g->clock_offset - injected), worst = 0;
    MPI_Reduce(&err, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    double *rtt = malloc((size_t)P * sizeof *rtt);
    if (!rtt) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Gather(&g->clock_rtt, 1, MPI_DOUBLE, rtt, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0 && skew)
        CHECK(worst < 1e-3, "P=%d: injected clock offsets of up to %.0f s are estimated to within %.1f us",
              P, 3600.0 * (P - 1), worst * 1e6);

    pp_exec_opts o;
    pp_exec_opts_default(&o);
    o.tick_s = tick_ms * 1e-3;
    const char *names[] = {"naive", "gpipe", "1f1b"};
    int Ms[] = {1, 4, 8, 16};
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 4; k++) {
            if (skew && (b != 2 || Ms[k] != 8)) continue; /* one run shows the skew is gone */
            int M = Ms[k];
            pp_sched *s;
            pp_run *run = NULL;
            pp_sched_build(names[b], P, M, &s);
            pp_status st = pp_exec_step(g, s, &o, &run);
            if (rank == 0) {
                CHECK(st == PP_OK, "%s P=%d M=%d finishes", names[b], P, M);
                if (st != PP_OK) continue;
                double diff = 100 * (pp_run_bubble_step(run) - pp_theory_bubble_step(s->family, P, M));
                CHECK(diff >= TOL_LOW && diff <= TOL_HIGH,
                      "%s P=%d M=%d: bubble measured %.2f %%, formula %.2f %%, diff %+.2f points (allowed %+.0f..%+.0f)",
                      names[b], P, M, 100 * pp_run_bubble_step(run), 100 * pp_theory_bubble_step(s->family, P, M),
                      diff, TOL_LOW, TOL_HIGH);
                int peaks = 1, bytes = 1;
                for (int r = 0; r < P; r++) {
                    peaks &= run->peak_inflight[r] == pp_theory_peak_inflight(s->family, P, M, r);
                    long sends = (long)M * ((r < P - 1) + (r > 0));
                    bytes &= run->bytes_sent[r] == sends * (long)o.payload;
                }
                CHECK(peaks, "%s P=%d M=%d: peak activations per rank equal the formula %s", names[b], P, M,
                      pp_theory_peak_text(s->family));
                CHECK(bytes, "%s P=%d M=%d: every rank sent M messages of %zu bytes per neighbour", names[b], P, M,
                      o.payload);
                CHECK(causal(run, rtt, 100e-6), "%s P=%d M=%d: every message arrives after it is sent, on rank 0's clock",
                      names[b], P, M);
            }
            pp_run_free(run);
            pp_sched_free(s);
        }
    free(rtt);
    pp_grid_free(g);
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
