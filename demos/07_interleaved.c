/* 07_interleaved.c -- 1F1B against interleaved 1F1B on the same ranks.
 *
 * The idea: give each rank v smaller chunks of the model instead of one big
 * stage (rank r holds stages r, r+P, ...).  The first micro-batch then
 * reaches the last rank after P-1 chunks of 1/v the work, so the fill and
 * the drain of the pipeline shrink v times: the bubble is (P-1)/(vM+P-1)
 * of the step instead of (P-1)/(M+P-1).  The price: every micro-batch
 * crosses v times as many rank boundaries (v times the messages, each as
 * large as before), and the warm-up runs further ahead, so the ranks hold
 * more activations.  The demo runs 1F1B, then interleaved with v = 2 and
 * v = 4, in timed mode (a rank's share of the work is F=1 B=2 ticks, split
 * evenly among its chunks), and measures all three.
 *
 *   mpiexec -n 4 ./demos/07_interleaved -m 8
 */
#include "pp_demo.h"

#include <stdlib.h>

enum { RUNS = 3 };
static const int chunks[RUNS] = {1, 2, 4};

/* Messages a run sent, all ranks together. */
static long messages(const pp_run *r, double *kib)
{
    long n = 0;
    *kib = 0;
    for (int p = 0; p < r->nrows; p++) {
        for (int i = 0; i < r->ranks[p].n; i++) n += r->ranks[p].ev[i].type == PP_EV_SEND;
        *kib += r->bytes_sent[p] / 1024.0;
    }
    return n;
}

/* The three runs side by side (rank 0). */
static void compare(pp_sched *const *s, pp_run *const *meas, int P, int M, const pp_costs *c)
{
    printf("\n1F1B against interleaved, P=%d ranks, M=%d (measured; formula in brackets)\n", P, M);
    printf("  schedule      v  bubble, share of the step  makespan   messages, count  sent\n");
    printf("                      measured  (formula)          ms  measured (formula)  KiB\n");
    int disturbed = 0;
    const char *broken = NULL;   /* a condition of a formula this run breaks (M < P): its row is marked ! */
    for (int k = 0; k < RUNS && s[k]; k++) {
        double kib;
        long n = messages(meas[k], &kib);
        const char *why = pp_theory_broken(s[k]->family, P, M, chunks[k], c);
        printf("  %-12s %2d %10.1f %%   (%4.1f %%)  %8.1f  %8ld   (%4d)  %5.0f%s%s\n", k ? "interleaved" : "1f1b",
               chunks[k], 100 * pp_run_bubble_step(meas[k]), 100 * pp_theory_bubble_step(s[k]->family, P, M, chunks[k]),
               meas[k]->makespan * 1e3, n, 2 * (chunks[k] * P - 1) * M, kib, why ? " !" : "", pp_demo_disturbed(meas[k]));
        disturbed |= pp_demo_disturbed(meas[k])[0] != 0;
        if (why) broken = why;
    }
    pp_demo_table_notes(stdout, disturbed, broken);
    printf("  messages: every micro-batch crosses the vP-1 boundaries between stages on\n"
           "  different ranks, each way: formula 2(vP-1)M\n");
    printf("peak activations a rank holds, in stages' worth (chunks held / v), measured\n"
           "(formula: 1f1b %s, interleaved %s chunks)\n", pp_theory_peak_text(PP_FAM_1F1B),
           pp_theory_peak_text(PP_FAM_INTERLEAVED));
    printf("  rank");
    for (int k = 0; k < RUNS && s[k]; k++) {
        char head[24];
        if (k) snprintf(head, sizeof head, "interleaved v=%d", chunks[k]);
        else snprintf(head, sizeof head, "1f1b");
        printf("  %16s", head);
    }
    printf("\n");
    for (int r = 0; r < P; r++) {
        printf("  %4d", r);
        for (int k = 0; k < RUNS && s[k]; k++) {
            double held = (double)meas[k]->peak_inflight[r] / chunks[k];
            double want = (double)pp_theory_peak_inflight(s[k]->family, P, M, chunks[k], r) / chunks[k];
            printf("     %5.2f (%5.2f)", held, want);
        }
        printf("\n");
    }
    printf("each message carries one micro-batch's activation or gradient, the same size\n"
           "at every boundary: more boundaries, more bytes\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    static const pp_demo_spec spec = {.here = 1, .what = "Runs 1F1B, then interleaved 1F1B with v = 2 and 4 chunks per rank, on "
                                              "the same ranks and micro-batches.",
                                      .no_schedule = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    int M = d.opt.mb[0], P = d.grid->P;
    /* Refuse an M that interleaved cannot take before 1F1B runs, in the
     * builder's words. */
    char err[200] = "";
    pp_sched *probe = NULL;
    pp_status st = pp_sched_build("interleaved", P, M, chunks[1], &probe, err, sizeof err);
    pp_sched_free(probe);
    pp_demo_refuse_if(&d, st != PP_OK, "%s", err);

    pp_sched *s[RUNS] = {NULL};
    pp_run *pred[RUNS] = {NULL}, *meas[RUNS] = {NULL};
    for (int k = 0; k < RUNS && !d.quit; k++) {
        d.opt.chunks = k ? chunks[k] : 0;
        s[k] = pp_demo_schedule(&d, k ? "interleaved" : "1f1b", M);
        /* a chunk's forward (1/v of a tick) two columns wide, room for its number */
        pp_demo_run_report(&d, s[k], 2 * chunks[k], k == 0, &pred[k], &meas[k]);
        char prompt[96];
        snprintf(prompt, sizeof prompt, "%s done: press any key to run interleaved with v=%d, q to quit",
                 k ? "interleaved" : "1f1b", k + 1 < RUNS ? chunks[k + 1] : 0);
        if (k + 1 < RUNS && !d.quit) pp_demo_hold(&d, prompt);
    }
    if (d.grid->rank == 0 && !d.quit) compare(s, meas, P, M, &d.exec.costs);
    for (int k = 0; k < RUNS; k++) {
        pp_sched_free(s[k]);
        pp_run_free(pred[k]);
        pp_run_free(meas[k]);
    }
    return pp_demo_end(&d);
}
