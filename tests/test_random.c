/* test_random.c -- random valid schedules (tests/random_sched.h), run for
 * real: P in 1..4 ranks, v in 1..3 stages per rank, M in 1..8, B whole or
 * split into I and W, any order of each rank's list the graph allows.  For
 * each one:
 *   - the validator accepts it (a refusal is a bug in the kit or here);
 *   - real mode: after two training steps the weights are bit for bit those
 *     of the single-process loop (pp_reference_train) at the same M, and so
 *     are the losses;
 *   - every fifth one also runs in timed mode (0.5 ms ticks): each rank ran
 *     its computes in its list's order, and no step ended before the
 *     simulator's prediction (an action can only take longer than its cost).
 * Every other case's model has end layers (cfg.features: an input layer on
 * the first stage, an output layer on the last).
 * Then PyTorch's LoopedBFS, interleaved and ZBV orders, made as PyTorch makes
 * them (tests/pytorch_orders.h), and the kit's zbv built for W = I/2 (its
 * hand-made V order), each in PyTorch's compute-only and comms forms (the
 * comms form with end layers): real mode equals one process bit for bit.
 *
 *   mpiexec -n 4 tests/test_random [CASES [SEED]]     (default 300 cases)
 *
 * A case prints one line only when it fails; the summary lines count them.
 * tests/mutants.sh runs it against trainers with a bug put in on purpose:
 * it must fail there.
 */
#include "pp.h"
#include "pp_model.h"
#include "check.h"
#include "random_sched.h"
#include "pytorch_orders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 2, MAXP = 4 };

/* Real mode: 0 when the weights and losses equal one process's (rank 0
 * says; the other ranks return -1). */
static long real_case(pp_grid *g, const pp_sched *lo, int M, int features, const char *what)
{
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 12, c.width = 8, c.hidden = 16, c.batch = 2 * M, c.lr = 0.2f, c.features = features;
    char err[200] = "";
    pp_partition part;
    pp_status st = pp_partition_make("front", c.depth, lo->nstages, NULL, &part, err, sizeof err);
    pp_trainer *t = NULL;
    if (st == PP_OK) st = pp_trainer_new(g, &c, &part, lo->stage_rank, &t);
    pp_exec_opts o;
    short_lead_opts(&o);
    double loss[STEPS] = {0}, ref_loss[STEPS] = {0};
    for (int k = 0; k < STEPS && st == PP_OK; k++) {
        pp_run *run = NULL;
        st = pp_trainer_step(t, lo, &o, &run, &loss[k]);
        pp_run_free(run);
    }
    long n = pp_model_params(&c), diff = -1;
    float *got = g->rank == 0 ? malloc((size_t)n * sizeof *got) : NULL;
    float *ref = g->rank == 0 ? malloc((size_t)n * sizeof *ref) : NULL;
    if (st == PP_OK) st = pp_trainer_params(t, got);
    if (g->rank == 0) {
        pp_status rst = pp_reference_train(&c, M, STEPS, ref, ref_loss, NULL);
        double worst = 0;
        if (st == PP_OK && rst == PP_OK) {
            diff = 0;
            for (long i = 0; i < n; i++) {
                diff += memcmp(&got[i], &ref[i], sizeof *got) != 0;
                worst = fmax(worst, fabs((double)got[i] - ref[i]));
            }
            if (memcmp(loss, ref_loss, sizeof loss) != 0) diff += diff == 0;
        }
        if (diff != 0)
            CHECK(0, "%s%s: real mode equals one process bit for bit (%s; %ld of %ld weights differ, by up to %.2e; "
                  "losses %.8f %.8f, one process %.8f %.8f)", what, features ? ", with end layers" : "", st == PP_OK ? "ran" : pp_strerror(st), diff, n,
                  worst, loss[0], loss[1], ref_loss[0], ref_loss[1]);
    }
    free(got), free(ref);
    pp_trainer_free(t);
    return diff;
}

/* Timed mode: 0 when every rank ran its computes in its list's order and
 * the step took at least the predicted time (rank 0 says). */
static int timed_case(pp_grid *g, const pp_sched *lo, const char *what)
{
    pp_exec_opts o;
    short_lead_opts(&o);
    o.costs.tick_s = 0.0005;
    o.payload = 4096;
    pp_run *pred = NULL, *meas = NULL;
    pp_status st = pp_simulate(lo, &o.costs, &pred);
    if (st == PP_OK) st = pp_exec_step(g, lo, &o, &meas);
    int bad = 0;
    if (g->rank == 0) {
        char why[160] = "";
        if (st != PP_OK) snprintf(why, sizeof why, "the step failed: %s", pp_strerror(st));
        for (int r = 0; r < lo->nranks && !why[0]; r++) {
            int at = 0;   /* the next compute of rank r's list */
            for (int i = 0; i < meas->ranks[r].n && !why[0]; i++) {
                const pp_event *e = &meas->ranks[r].ev[i];
                if (e->type != PP_EV_COMPUTE) continue;
                while (at < lo->len[r] && (lo->acts[r][at].kind > PP_W || lo->acts[r][at].kind < PP_F)) at++;
                pp_action a = at < lo->len[r] ? lo->acts[r][at] : (pp_action){-1, PP_IDLE, -1};
                if (a.stage != e->stage || (int)a.kind != e->kind || a.mb != e->mb)
                    snprintf(why, sizeof why, "rank %d's compute %d is not its list's", r, i);
                at++;
            }
        }
        /* 1 ms for the clocks' offsets between ranks, estimated */
        if (!why[0] && meas->makespan < pred->makespan - 0.001)
            snprintf(why, sizeof why, "measured %.2f ms < predicted %.2f ms", 1e3 * meas->makespan, 1e3 * pred->makespan);
        if (why[0]) CHECK(0, "%s: timed mode runs each list in order, no faster than predicted (%s)", what, why);
        bad = why[0] != 0;
    }
    pp_run_free(pred), pp_run_free(meas);
    return bad;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    int cases = argc > 1 ? atoi(argv[1]) : 300;
    uint64_t base = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261202u;
    int maxP = world < MAXP ? world : MAXP;
    MPI_Comm sub[MAXP + 1];
    pp_grid *grid[MAXP + 1] = {0};
    for (int P = 1; P <= maxP; P++) grid[P] = first_ranks(P, &sub[P]);

    int refused = 0, real_bad = 0, timed_bad = 0, timed = 0;
    for (int i = 0; i < cases; i++) {
        int P, v, M;
        uint64_t seed;
        random_shape(base, i, maxP, &P, &v, &M, &seed);
        if (!grid[P]) continue;   /* not one of the first P ranks: on to the next case */
        char what[200];
        pp_sched *s = random_sched(seed, P, v, M, what, sizeof what), *lo = NULL;
        pp_check chk;
        if (!s) MPI_Abort(MPI_COMM_WORLD, 1);
        if (pp_sched_validate(s, &lo, &chk) != PP_OK) {
            if (rank == 0) CHECK(0, "%s: the validator accepts it (%s)", what, chk.msg);
            refused++;
            pp_check_clear(&chk);
        } else {
            real_bad += real_case(grid[P], lo, M, i % 2 ? 12 : 0, what) != 0;   /* every other with end layers */
            if (i % 5 == 0) timed++, timed_bad += timed_case(grid[P], lo, what);
        }
        pp_sched_free(s), pp_sched_free(lo);
    }
    /* PyTorch's orders, in both its forms. */
    enum { IL, BFS, ZBV, KIT_ZBV };   /* PyTorch's interleaved, LoopedBFS and ZBV; the kit's zbv for W = I/2 */
    static const char *names[] = {"PyTorch's interleaved", "PyTorch's LoopedBFS", "PyTorch's ZBV",
                                  "the kit's zbv for F=1 I=1 W=0.5"};
    static const struct { int order, P, v, M; } pt[] = {
        {BFS, 4, 2, 8}, {BFS, 2, 3, 4}, {BFS, 3, 1, 5}, {IL, 4, 2, 6}, {IL, 4, 2, 10}, {IL, 2, 3, 4}, {IL, 4, 3, 8},
        {IL, 3, 2, 2}, {ZBV, 4, 2, 8}, {ZBV, 3, 2, 4}, {ZBV, 2, 2, 3}, {KIT_ZBV, 4, 2, 8}, {KIT_ZBV, 3, 2, 5},
    };
    pp_costs half_w;
    pp_costs_default(&half_w);
    half_w.ticks[PP_F] = half_w.ticks[PP_I] = 1, half_w.ticks[PP_W] = 0.5;
    int pt_bad = 0, pt_runs = 0;
    for (size_t k = 0; k < sizeof pt / sizeof pt[0]; k++) {
        int P = pt[k].P;
        if (P > maxP || !grid[P]) continue;
        pp_sched *order = NULL;
        if (pt[k].order == IL) order = pt_interleaved(P, pt[k].v, pt[k].M);
        if (pt[k].order == BFS) order = pt_looped_bfs(P, pt[k].v, pt[k].M);
        if (pt[k].order == ZBV) order = pt_zbv(P, pt[k].M);
        if (pt[k].order == KIT_ZBV) pp_sched_zbv_for(P, pt[k].M, &half_w, &order);
        char *text = order ? pt_comms_csv(order) : NULL, err[300] = "";
        pp_sched *comms = NULL;
        if (!text || pp_sched_from_csv(text, &comms, err, sizeof err) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        for (int form = 0; form < 2; form++) {
            char what[160];
            snprintf(what, sizeof what, "%s order P=%d v=%d M=%d, %s form", names[pt[k].order], P, pt[k].v, pt[k].M,
                     form ? "PyTorch's comms" : "compute-only");
            pp_sched *lo = NULL;
            pp_check chk;
            if (pp_sched_validate(form ? comms : order, &lo, &chk) != PP_OK) {
                if (rank == 0) CHECK(0, "%s: the validator accepts it (%s)", what, chk.msg);
                pt_bad++;
                pp_check_clear(&chk);
            } else {
                pt_bad += real_case(grid[P], lo, pt[k].M, form ? 12 : 0, what) != 0;
            }
            pt_runs++;
            pp_sched_free(lo);
        }
        free(text);
        pp_sched_free(order), pp_sched_free(comms);
    }
    if (rank == 0) {
        CHECK(pt_bad == 0, "%d runs of PyTorch's LoopedBFS, interleaved and ZBV orders and the kit's zbv built for W = I/2, "
              "each in PyTorch's compute-only and comms forms: %d differ from one process bit for bit", pt_runs, pt_bad);
        CHECK(refused == 0, "%d random valid schedules (P 1..%d, v 1..3, M 1..8, seed %llu): the validator refused %d",
              cases, maxP, (unsigned long long)base, refused);
        CHECK(real_bad == 0, "the same, trained two steps for real (every other one with end layers: an input layer "
              "on the first stage, an output layer on the last): %d differ from one process bit for bit", real_bad);
        CHECK(timed_bad == 0, "%d of them in timed mode: %d out of order or faster than predicted", timed, timed_bad);
    }
    for (int P = 1; P <= maxP; P++)
        if (grid[P]) pp_grid_free(grid[P]), MPI_Comm_free(&sub[P]);
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
