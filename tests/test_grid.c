/* test_grid.c -- the P x T x D grid trained for real.  For several grid
 * shapes (2x2x2, 1x4x1, 2x4x1, 4x2x1, 2x1x4, 1x2x4, ...), GPipe and 1F1B, M
 * in 1, 2, 4:
 *   - every rank's place follows the documented placement
 *     w = t + T (p + P d), and the communicators hold the right ranks;
 *   - after three steps the weights of every replica are bit-for-bit equal
 *     to each other, and equal to the single-process loop with the same
 *     replica grouping (pp_reference_train_dp): bit-for-bit when T = 1, and
 *     within the tolerance below when T > 1;
 *   - the same for the model with end layers (an input layer on the first
 *     stage, an output layer on the last), once per shape (with
 *     checkpointing where T > 1);
 *   - the bytes every rank handed to MPI in a step equal the formulas
 *     exactly: pipeline messages, tensor-parallel all-reduces, the
 *     all-gathers of received slices, the data-parallel gradient sum.
 *
 *   mpiexec -n 8 tests/test_grid
 *
 * The tolerance with T > 1.  Tensor parallelism splits the hidden sum of
 * y = a W2 (and of dx = dh W1^T) into T partial sums added afterwards, so
 * the float additions are grouped differently from one process: each output
 * differs by a few units in the last place (float32: 6e-8 relative).  The
 * test allows 1e-5 of the largest weight after three steps.  A real mistake
 * is far larger: one step's update moves the weights by about 1e-2 of the
 * largest weight here (printed), and leaving out one micro-batch or one
 * partial sum changes them by a sizeable part of that.
 */
#include "pp.h"
#include "pp_model.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 3 };
static const double TOL = 1e-5;

/* The bytes one rank of the grid must hand to MPI in one step. */
static void expected(const pp_model_cfg *c, const pp_partition *part, int P, int T, int D, int M, int p,
                     pp_comm_stats *e)
{
    memset(e, 0, sizeof *e);
    long rows = c->batch / D / M, act = rows * c->width * 4;   /* one micro-batch's activation, bytes */
    int blocks = part->first[p + 1] - part->first[p];
    int links = (p < P - 1) + (p > 0);                        /* messages each micro-batch sends and receives */
    e->pipe_bytes = links * M * act / T;
    e->pipe_msgs = links * M;
    if (T > 1) {
        /* two all-reduces per block and micro-batch, less the very first
         * block's backward one: nothing needs the model input's gradient
         * (unless an input layer's weight gradient does) */
        int per = c->checkpoint ? 3 : 2;   /* with checkpointing the recompute's forward sums again */
        e->tp_calls = (per * blocks - (p == 0 && c->features == 0)) * M;
        e->tp_size = e->tp_calls * act;
        e->tp_sent = e->tp_size * 2 * (T - 1) / T;
        e->gather_calls = links * M;
        e->gather_size = e->gather_calls * act;
        e->gather_sent = e->gather_size * (T - 1) / T;
    }
    if (D > 1) {
        long fs = c->hidden / T, floats = 2L * c->width * fs + fs + c->width;
        int ends = c->features > 0 ? (p == 0) + (p == P - 1) : 0;   /* Win, Wout: summed like a block's parts */
        e->dp_calls = 4 * blocks + ends;
        e->dp_size = (blocks * floats + ends * (long)c->features * c->width) * 4;
        e->dp_sent = e->dp_size * 2 * (D - 1) / D;
    }
}

static int same_bytes(const pp_comm_stats *a, const pp_comm_stats *b)
{
    return a->pipe_bytes == b->pipe_bytes && a->pipe_msgs == b->pipe_msgs && a->tp_size == b->tp_size &&
           a->tp_sent == b->tp_sent && a->tp_calls == b->tp_calls && a->gather_size == b->gather_size &&
           a->gather_sent == b->gather_sent && a->gather_calls == b->gather_calls && a->dp_size == b->dp_size &&
           a->dp_sent == b->dp_sent && a->dp_calls == b->dp_calls;
}

static void placement(pp_grid *g)
{
    int ok = 1, p, t, d, n;
    pp_place(g->P, g->T, g->rank, &p, &t, &d);
    ok &= p == g->pipe_rank && t == g->tp_rank && d == g->dp_rank;
    ok &= g->rank == t + g->T * (p + g->P * d) && pp_place_rank(g->P, g->T, p, t, d) == g->rank;
    MPI_Comm_size(g->pipe, &n), ok &= n == g->P;
    MPI_Comm_size(g->tp, &n), ok &= n == g->T;
    MPI_Comm_size(g->dp, &n), ok &= n == g->D;
    /* my tensor-parallel neighbours are the ranks next to me */
    int lo = g->rank, hi = g->rank;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, g->tp);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, g->tp);
    ok &= hi - lo == g->T - 1 && lo % g->T == 0;
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, g->all);
    if (g->rank == 0)
        CHECK(ok, "grid %dx%dx%d: every rank at w = t + T(p + P d), its groups of sizes P, T, D, tensor-parallel ranks adjacent",
              g->P, g->T, g->D);
}

/* Builds schedule `name` and hands back its lowered form (validated), or aborts. */
static pp_sched *checked(const char *name, int P, int M)
{
    pp_sched *s = NULL, *lowered = NULL;
    pp_check c;
    if (pp_sched_build(name, P, M, 0, &s, NULL, 0) != PP_OK || pp_sched_validate(s, &lowered, &c) != PP_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    pp_sched_free(s);
    return lowered;
}

/* Timed mode on the grid: every F and B of every rank ends with a
 * tensor-parallel all-reduce inside it (T > 1), the step ends with the
 * replicas' sum (D > 1), and nothing ends before its deadline. */
static void timed_case(pp_grid *g)
{
    int P = g->P, T = g->T, D = g->D, M = 4;
    pp_sched *s = NULL;
    pp_exec_opts o;
    short_lead_opts(&o);
    o.costs.tick_s = 2e-3;
    o.payload = 4096;
    o.costs.allreduce = T > 1 ? 0.5 : 0;
    o.costs.dp_sum = D > 1 ? 0.5 : 0;
    s = checked("1f1b", P, M);
    pp_run *meas = NULL, *pred = NULL;
    pp_status st = pp_exec_step(g, s, &o, &meas);
    if (g->rank == 0) {
        int rows_ok = st == PP_OK && meas->nrows == g->size, nested = 1, counts = 1, last = 1;
        for (int r = 0; rows_ok && r < meas->nrows; r++) {
            const pp_evlist *ev = &meas->ranks[r];
            int tp = 0, dp = 0, computes = 0;
            double end = 0;
            for (int i = 0; i < ev->n; i++) {
                const pp_event *e = &ev->ev[i];
                if (e->type == PP_EV_COMPUTE) computes++, end = e->t1 > end ? e->t1 : end;
                if (e->type != PP_EV_ALLREDUCE) continue;
                if (e->mb < 0) {
                    dp++;
                    continue;
                }
                tp++;
                /* inside the compute of the same action (pushed right after it) */
                const pp_event *c = i + 1 < ev->n ? &ev->ev[i + 1] : NULL;
                if (!c || c->type != PP_EV_COMPUTE || c->mb != e->mb || e->t0 < c->t0 || e->t1 > c->t1 + 1e-9) nested = 0;
            }
            for (int i = 0; i < ev->n; i++)
                if (ev->ev[i].type == PP_EV_ALLREDUCE && ev->ev[i].mb < 0 && ev->ev[i].t0 < end) last = 0;
            if (tp != (T > 1 ? computes : 0) || dp != (D > 1)) counts = 0;
        }
        pp_simulate(s, &o.costs, &pred);
        CHECK(rows_ok && counts && nested && last && pred && meas->makespan >= 0.97 * pred->makespan,
              "timed grid %dx%dx%d: %d rows; %s; %s; makespan %.1f ms, not below the predicted %.1f ms", P, T, D,
              meas ? meas->nrows : 0, T > 1 ? "an all-reduce inside every F and B" : "no tensor-parallel all-reduce",
              D > 1 ? "the replicas' sum after the last compute" : "no replicas' sum",
              meas ? meas->makespan * 1e3 : 0, pred ? pred->makespan * 1e3 : 0);
    }
    pp_run_free(meas), pp_run_free(pred);
    pp_sched_free(s);
}

static void one_case(pp_grid *g, const pp_model_cfg *c, const char *sched, int M)
{
    int P = g->P, T = g->T, D = g->D;
    char err[256], what[160];
    snprintf(what, sizeof what, "grid %dx%dx%d %s M=%d%s%s", P, T, D, sched, M, c->features ? " with end layers" : "",
             c->checkpoint ? " and checkpointing" : "");
    pp_partition part;
    pp_sched *s = NULL;
    pp_trainer *t = NULL;
    pp_exec_opts o;
    short_lead_opts(&o);
    if (pp_partition_make("front", c->depth, P, NULL, &part, err, sizeof err) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    s = checked(sched, P, M);
    pp_status st = pp_trainer_new(g, c, &part, NULL, &t);
    double loss[STEPS] = {0};
    int bytes_ok = 1;
    for (int k = 0; k < STEPS && st == PP_OK; k++) {
        pp_run *run = NULL;
        st = pp_trainer_step(t, s, &o, &run, &loss[k]);
        pp_run_free(run);
        pp_comm_stats want;
        expected(c, &part, P, T, D, M, g->pipe_rank, &want);
        if (!same_bytes(pp_trainer_comm(t), &want)) bytes_ok = 0;
    }
    pp_comm_stats mine = *pp_trainer_comm(t), want;
    expected(c, &part, P, T, D, M, g->pipe_rank, &want);
    int all_bytes_ok = 0;
    MPI_Allreduce(&bytes_ok, &all_bytes_ok, 1, MPI_INT, MPI_MIN, g->all);

    long n = pp_model_params(c);
    float *ref = malloc((size_t)n * sizeof *ref), *got = malloc((size_t)n * sizeof *got);
    float *first = malloc((size_t)n * sizeof *first), *start = malloc((size_t)n * sizeof *start);
    double ref_loss[STEPS];
    if (!ref || !got || !first || !start) MPI_Abort(MPI_COMM_WORLD, 1);
    int replicas_equal = 1;
    for (int r = 0; r < D && st == PP_OK; r++) {
        st = pp_trainer_params_of(t, r, r == 0 ? first : got);
        if (g->rank == 0 && r > 0 && memcmp(first, got, (size_t)n * sizeof *got) != 0) replicas_equal = 0;
    }
    if (g->rank == 0) {
        CHECK(st == PP_OK, "%s: %d steps run", what, STEPS);
        if (pp_reference_train_dp(c, D, M, STEPS, ref, ref_loss, NULL) != PP_OK ||
            pp_reference_train_dp(c, D, M, 0, start, NULL, NULL) != PP_OK)
            MPI_Abort(MPI_COMM_WORLD, 1);
        double diff = 0, big = 0, moved = 0;
        long differ = 0;
        for (long i = 0; i < n; i++) {
            diff = fmax(diff, fabs((double)first[i] - ref[i]));
            big = fmax(big, fabs((double)ref[i]));
            moved = fmax(moved, fabs((double)ref[i] - start[i]));
            differ += memcmp(&first[i], &ref[i], sizeof *ref) != 0;
        }
        if (D > 1) CHECK(replicas_equal, "%s: the %d replicas hold bit-for-bit the same weights", what, D);
        if (T == 1)
            CHECK(differ == 0 && memcmp(loss, ref_loss, sizeof loss) == 0,
                  "%s: weights and losses bit-for-bit equal to one process with the same replica grouping (%ld of %ld differ)",
                  what, differ, n);
        else
            CHECK(diff <= TOL * big, "%s: weights within %.0e of the largest weight of one process: largest difference "
                  "%.2e, largest weight %.3f, training moved them up to %.2e", what, TOL, diff, big, moved);
        CHECK(fabs(loss[STEPS - 1] - ref_loss[STEPS - 1]) <= 1e-5 * ref_loss[STEPS - 1] && loss[STEPS - 1] < loss[0],
              "%s: loss %.6f -> %.6f goes down, one process %.6f", what, loss[0], loss[STEPS - 1], ref_loss[STEPS - 1]);
        CHECK(all_bytes_ok, "%s: bytes handed to MPI per step = formula on every rank (rank 0: pipeline %ld = %ld, "
              "TP all-reduce %ld = %ld (sent %ld = %ld), gathers %ld = %ld, DP %ld = %ld (sent %ld = %ld))", what,
              mine.pipe_bytes, want.pipe_bytes, mine.tp_size, want.tp_size, mine.tp_sent, want.tp_sent,
              mine.gather_size, want.gather_size, mine.dp_size, want.dp_size, mine.dp_sent, want.dp_sent);
    }
    free(ref), free(got), free(first), free(start);
    pp_trainer_free(t);
    pp_sched_free(s);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    pp_model_cfg c;
    pp_model_cfg_default(&c);
    c.depth = 4, c.width = 16, c.hidden = 32, c.batch = 16, c.lr = 0.2f;
    static const int shapes[][3] = {{2, 2, 2}, {1, 4, 1}, {2, 4, 1}, {4, 2, 1}, {2, 1, 4}, {1, 2, 4},
                                    {4, 1, 2}, {1, 1, 8}, {1, 8, 1}, {2, 2, 1}, {1, 2, 2}};
    static const char *scheds[2] = {"gpipe", "1f1b"};
    static const int Ms[3] = {1, 2, 4};
    /* "sample" (make test): every other shape, the first (2 x 2 x 2) among
     * them; make check runs them all. */
    int every = argc > 1 && strcmp(argv[1], "sample") == 0 ? 2 : 1;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k += (size_t)every) {
        int P = shapes[k][0], T = shapes[k][1], D = shapes[k][2], N = P * T * D;
        if (N > world) continue;
        MPI_Comm sub;
        pp_grid *g = first_ranks(N, &sub);
        if (!g) continue;
        char err[300];
        if (pp_grid_shape(g, T, D, err, sizeof err) != PP_OK) {
            if (rank == 0) CHECK(0, "grid %dx%dx%d: %s", P, T, D, err);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        placement(g);
        timed_case(g);
        for (int si = 0; si < 2; si++)
            for (int mi = 0; mi < 3; mi++)
                if (c.batch % (D * Ms[mi]) == 0 && (P > 1 || si == 0)) one_case(g, &c, scheds[si], Ms[mi]);
        pp_model_cfg ends = c;   /* the model with an input and an output layer, once per shape */
        ends.features = 24;
        ends.checkpoint = T > 1;   /* tensor parallel: the recompute's sums too */
        one_case(g, &ends, P > 1 ? "1f1b" : "gpipe", 2);
        pp_grid_free(g);
        MPI_Comm_free(&sub);
    }
    /* Shapes that do not fit are refused with the arithmetic, the grid unchanged. */
    pp_grid *g = NULL;
    char err[300] = "";
    if (pp_grid_new(MPI_COMM_WORLD, &g) != PP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    int T = world + 1;
    pp_status st = pp_grid_shape(g, T, 1, err, sizeof err);
    if (rank == 0)
        CHECK(st == PP_EARG && g->P == world && g->T == 1 && strstr(err, "is not whole"),
              "--tp %d on %d ranks refused: %s", T, world, err);
    st = pp_grid_shape(g, 0, 1, err, sizeof err);
    if (rank == 0) CHECK(st == PP_EARG, "--tp 0 refused: %s", err);
    pp_grid_free(g);
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
