/* 12_3d.c -- all three at once: pipeline stages x tensor-parallel ranks x
 * data-parallel replicas.
 *
 * The idea: D replicas of the whole pipeline (each itself P stages of T
 * ranks) train on different parts of the batch; after the step's last
 * micro-batch they add their gradients (one all-reduce per gradient
 * tensor, at the end of the step: you see it on the timeline) and take the
 * same SGD step, so they stay identical.  The demo shows the sum at the end,
 * counts its bytes against the formula, checks that the replicas hold the
 * same weights, and compares the weights with one process running the same
 * micro-batch loop.
 *
 *   mpiexec -n 8 ./demos/12_3d                  2 x 2 x 2
 *   mpiexec -n 8 ./demos/12_3d --tp 1 --dp 4    2 x 1 x 4
 */
#include "pp_demo.h"

#include <math.h>
#include <stdlib.h>

/* When the replicas' gradient sum began on the first rank to reach it
 * (first), on the last (last), and when it ended on the last to finish (end),
 * in seconds on the step's clock.  A rank that reaches the sum early waits
 * there for the others: last - first is waiting, end - last the sum itself. */
static void dp_times(const pp_run *r, double *first, double *last, double *end)
{
    *first = 1e30, *last = *end = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            if (e->type != PP_EV_ALLREDUCE || e->mb >= 0) continue;
            if (e->t0 < *first) *first = e->t0;
            if (e->t0 > *last) *last = e->t0;
            if (e->t1 > *end) *end = e->t1;
        }
    if (*first > *last) *first = *last;
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    d.opt.tp = 2, d.opt.dp = 2;
    d.opt.model.steps = 3;
    static const pp_demo_spec spec = {.no_dump = "this demo does not write .npy files (02_microbatches does)",
                                      
        .what = "Trains one model on P pipeline stages x T tensor-parallel ranks x D replicas and shows the replicas' gradient sum.",
        .real = 1, .grid_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    const pp_model_cfg *c = &d.opt.model;
    const pp_grid *g = d.grid;
    int T = g->T, D = g->D, M = d.opt.mb[0], n = g->size;
    pp_sched *s = pp_demo_schedule(&d, d.opt.schedule, M);
    pp_partition part;
    pp_demo_model(&d, s, &part);
    pp_trainer *t = NULL;
    PP_CHECK(pp_trainer_new(g, c, &part, s->stage_rank, &t), "could not make this rank's slices of the blocks");
    long np = pp_model_params(c);
    pp_comm_stats *all = g->rank == 0 ? calloc((size_t)n, sizeof *all) : NULL;
    float *w0 = g->rank == 0 ? malloc((size_t)np * sizeof *w0) : NULL, *wr = g->rank == 0 ? malloc((size_t)np * sizeof *wr) : NULL;
    double *ref_loss = malloc((size_t)c->steps * sizeof *ref_loss);
    if ((g->rank == 0 && (!all || !w0 || !wr)) || !ref_loss) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    double loss = 0;
    pp_run *last = NULL;
    pp_demo_train_steps(&d, t, s, &loss, &last);
    double ms = last ? last->makespan * 1e3 : 0;
    if (!d.quit) {
        PP_CHECK(pp_trainer_comm_all(t, all), "gathering the communication counts");
        PP_CHECK(pp_trainer_params_of(t, 0, w0), "gathering replica 0's weights");
    }
    /* Every replica against replica 0, bit for bit. */
    double replica_diff = 0;
    int wrong = 0;   /* rank 0: weights trained wrong */
    for (int r = 1; r < D && !d.quit; r++) {
        PP_CHECK(pp_trainer_params_of(t, r, wr), "gathering a replica's weights");
        for (long i = 0; g->rank == 0 && i < np; i++) replica_diff = fmax(replica_diff, fabs((double)wr[i] - w0[i]));
    }
    if (g->rank == 0 && !d.quit) {
        char parts[128];
        pp_partition_str(&part, parts, sizeof parts);
        pp_demo_grid_header(stdout, g);
        char line[400];
        snprintf(line, sizeof line, "%d blocks (width %d, hidden %d; blocks per stage %s); batch %d: %d samples per "
                 "replica in M=%d micro-batches; %s; %d steps", c->depth, c->width, c->hidden, parts, c->batch,
                 c->batch / D, M, s->name, c->steps);
        pp_report_wrap(stdout, line, "", "");
        if (!d.tui && last) {
            printf("\nlast step, measured (one row per rank):\n");
            pp_report_timeline(stdout, last, last->makespan / 60, 80);
        }
        pp_comm_stats sum;
        pp_report_comm(stdout, all, g, c, pp_sched_edges(s), last ? pp_run_wait_s(last) * 1e3 : 0, &sum);
        long dp_bytes = sum.dp_size;
        double first = 0, arrived = 0, end = 0;
        if (last) dp_times(last, &first, &arrived, &end);
        if (D > 1) {
            printf("\nthe replicas' gradient sum, once per step after the last micro-batch (measured):\n");
            printf("  in a %.2f ms step, the first rank reached it at %.2f ms, the last at\n"
                   "  %.2f ms: %.2f ms of waiting for the other replicas to finish their\n"
                   "  micro-batches, then %.2f ms of summing\n", ms, first * 1e3, arrived * 1e3,
                   (arrived - first) * 1e3, (end - arrived) * 1e3);
            printf("summing after every micro-batch instead would move M = %d times the bytes\n"
                   "for the same sum: %ld instead of %ld (formula: M times the row above)\n", M, (long)M * dp_bytes,
                   dp_bytes);
        }
        /* One process, the same micro-batch loop and replica grouping. */
        PP_CHECK(pp_reference_train_dp(c, D, M, c->steps, wr, ref_loss, NULL), "the single-process run failed");
        double diff = 0, big = 0;
        for (long i = 0; i < np; i++) diff = fmax(diff, fabs((double)w0[i] - wr[i])), big = fmax(big, fabs((double)wr[i]));
        printf("\nloss after %d step%s: %.6f (measured), one process %.6f\n", c->steps, c->steps == 1 ? "" : "s", loss,
               ref_loss[c->steps - 1]);
        /* Every replica applies the same summed gradient: identical, bit
         * for bit.  One process: the same sums in the same order with T = 1,
         * with T > 1 the hidden sum added in pieces (rounding only). */
        if (D > 1) {
            snprintf(line, sizeof line, "largest difference between the replicas' weights: %.2e (measured: %s)",
                     replica_diff, replica_diff == 0 ? "they stay identical"
                                                     : "THEY DIFFER, though every replica applies the same sum");
            pp_report_wrap(stdout, line, "", "");
        }
        int off = T == 1 ? diff != 0 : diff > PP_ROUNDING_SHARE * big;
        wrong = replica_diff != 0 || off;
        char verdict[120];
        if (!off)
            snprintf(verdict, sizeof verdict, "%s", T == 1 ? "with T = 1 bit for bit is expected"
                     : "with T > 1 the hidden sum is added in pieces, so the rounding may differ");
        else if (T == 1) snprintf(verdict, sizeof verdict, "THEY DIFFER: with T = 1 they must be equal bit for bit");
        else
            snprintf(verdict, sizeof verdict, "THEY DIFFER by more than rounding explains (%.0e of the largest weight)",
                     PP_ROUNDING_SHARE);
        snprintf(line, sizeof line, "largest difference from one process's weights: %.2e of a largest weight %.3f "
                 "(measured; %s)", diff, big, verdict);
        pp_report_wrap(stdout, line, "", "");
        if (wrong) printf("trained wrong: status 1\n");
    }
    free(all), free(w0), free(wr), free(ref_loss);
    pp_run_free(last);
    pp_trainer_free(t);
    pp_sched_free(s);
    int status = pp_demo_end(&d);
    return status ? status : wrong;   /* weights trained wrong: status 1 */
}
