/* 03_memory_split.c -- what each rank holds when the model is split.
 *
 * The idea: a pipeline divides the parameters (and their gradients) among
 * the ranks, so each holds about 1/P of them.  Activations are another
 * matter: a forward keeps what its backward will need, and how many
 * micro-batches' worth a rank keeps at once depends on the schedule (GPipe:
 * all M; 1F1B: P - stage).  The demo trains one step under each schedule,
 * counts every allocation by role, and puts the formula beside each figure;
 * rank 0 also runs the whole model alone, as the thing being split.  With
 * --schedule, one schedule instead: one that gives a rank several stages
 * (interleaved, zbv) or splits the backward (zbh1, zbv) gets a table that
 * also counts what an I keeps for its W, each figure beside the one worked
 * out by walking the rank's list.
 *
 *   mpiexec -n 4 ./demos/03_memory_split -m 8
 *   mpiexec -n 4 ./demos/03_memory_split -m 8 --schedule zbh1
 */
#include "pp_demo.h"

#include <stdlib.h>
#include <string.h>

static double kib(long bytes)
{
    return bytes / 1024.0;
}

/* Walks rank r's list: the peaks of stored activations and of what I keeps
 * for W, in bytes, and the most I's waiting for their W at once.  With
 * --checkpoint (ckpt) an F keeps only the stage's input, and the B or I
 * makes the rest again. */
static void walk(const pp_sched *s, int r, const pp_trainer *t, int ckpt, long *acts, long *iw, int *kept)
{
    long a = 0, k = 0;
    int n = 0;
    *acts = *iw = 0, *kept = 0;
    for (int i = 0; i < s->len[r]; i++) {
        pp_action x = s->acts[r][i];
        long ab = pp_trainer_act_bytes(t, x.stage, s->nmb), kb = pp_trainer_iw_bytes(t, x.stage, s->nmb);
        long in = ckpt ? pp_trainer_input_bytes(t, x.stage, s->nmb) : ab;
        if (x.kind == PP_F) a += in;
        if (x.kind == PP_B || x.kind == PP_I) a += ab - in;   /* the recompute (0 without --checkpoint) */
        if (a > *acts) *acts = a;
        if (x.kind == PP_B || x.kind == PP_W) a -= ab;
        if (x.kind == PP_I) k += kb, n++;
        if (x.kind == PP_W) k -= kb, n--;
        if (k > *iw) *iw = k;
        if (n > *kept) *kept = n;
    }
}

/* The table for a schedule with several stages per rank or a split backward. */
static void split_table(const pp_sched *s, const pp_trainer *t, const pp_mem *all, const pp_run *meas,
                        const pp_model_cfg *c)
{
    int P = s->nranks, M = s->nmb;
    printf("%s, M=%d: KiB per rank, measured from the allocations / predicted by\n"
           "walking the rank's list (an F stores a micro-batch's activations, its B or W\n"
           "frees them; an I keeps its gradients until its W)\n", s->name, M);
    if (c->checkpoint)
        printf("--checkpoint: an F stores only the stage's input; its B or I makes the rest\n"
               "again, and B or W frees it all\n");
    printf("  rank %-9s parameters     stored activations, peak   kept from I for W\n", "blocks");
    printf("       %-9s meas./formula  meas./pred.  held/formula  meas./pred.  I's\n", "");
    for (int r = 0; r < P; r++) {
        char blocks[48] = "";
        int nb = 0;
        for (int st = 0; st < s->nstages; st++) {
            if (s->stage_rank[st] != r) continue;
            int first, n = pp_trainer_blocks(t, st, &first);
            size_t k = strlen(blocks);
            if (n == 1) snprintf(blocks + k, sizeof blocks - k, "%s%d", k ? "," : "", first);
            else snprintf(blocks + k, sizeof blocks - k, "%s%d-%d", k ? "," : "", first, first + n - 1);
            nb += n;
        }
        long acts, iw;
        int kept, held = pp_theory_peak_inflight(s->family, P, M, s->chunks, r);
        walk(s, r, t, c->checkpoint, &acts, &iw, &kept);
        char hf[24], kf[16] = "";
        snprintf(hf, sizeof hf, "%d/%s", meas->peak_inflight[r], held >= 0 ? "" : "-");
        if (held >= 0) snprintf(hf + strlen(hf), sizeof hf - strlen(hf), "%d", held);
        if (s->family == PP_FAM_ZBH1) snprintf(kf, sizeof kf, "/%d", M < r + 1 ? M : r + 1);
        char ks[16];
        snprintf(ks, sizeof ks, "%d%s", kept, kf);
        printf("%6d %-9s %6.1f/%-6.1f  %6.1f/%-6.1f %-11s  %6.1f/%-6.1f %s\n", r, blocks, kib(all[r].peak[PP_MEM_PARAMS]),
               kib(nb * pp_block_params(c) * 4L), kib(all[r].peak[PP_MEM_ACTS]), kib(acts), hf,
               kib(all[r].peak[PP_MEM_IW]), kib(iw), ks);
    }
    char text[600];
    snprintf(text, sizeof text, "formulas: parameters = blocks x %ld floats x 4 bytes (the gradients the same); held: "
             "the most %s at once, measured / formula %s%s; I's: the most I's waiting for their W, walked%s.",
             pp_block_params(c), s->chunks > 1 ? "chunks of a micro-batch stored" : "micro-batches stored",
             pp_theory_peak_text(s->family), s->chunks > 1 ? " (a chunk stores its own blocks' share)" : "",
             s->family == PP_FAM_ZBH1 ? " / formula min(M, r+1): rank r runs each W after r more I's" : "");
    pp_report_wrap(stdout, text, "  ", "  ");
    fflush(stdout);
}

/* One schedule: a training step, then every rank's counts on rank 0. */
static void one_schedule(pp_demo *d, const pp_partition *part, pp_sched *s, const char *name, int M, int *held_out,
                         int *params_ok)
{
    const pp_model_cfg *c = &d->opt.model;
    int P = d->grid->P;
    if (!s) s = pp_demo_schedule(d, name, M);
    pp_trainer *t = NULL;
    PP_CHECK(pp_trainer_new(d->grid, c, part, s->stage_rank, &t), "could not make this rank's blocks");
    pp_run *pred = NULL, *meas = NULL;
    double loss;
    pp_demo_train(d, t, s, &pred, &meas, &loss);
    pp_mem *all = d->grid->rank == 0 ? calloc((size_t)P, sizeof *all) : NULL;
    PP_CHECK(pp_trainer_mem_all(t, all), "gathering the memory counts");
    int split = 0;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) split |= s->acts[r][i].kind == PP_I || s->acts[r][i].kind == PP_W;
    if (d->grid->rank == 0 && !d->quit && (split || s->chunks > 1 || s->family == PP_FAM_CUSTOM)) {
        split_table(s, t, all, meas, c);
    } else if (d->grid->rank == 0 && !d->quit) {
        printf("%s%s, M=%d: KiB per rank, measured from the allocations / formula\n", name[0] == '1' ? "\n" : "", name, M);
        printf("  rank blocks  parameters     gradients      activations, peak       buffers\n");
        printf("               meas./formula  meas./formula  meas./formula %-10s  meas.\n",
               c->checkpoint ? "(h-1 x in+1)" : "(held x 1)");
        for (int r = 0; r < P; r++) {
            int first, n = pp_trainer_blocks(t, r, &first);
            long want_p = n * pp_block_params(c) * 4L;
            if (held_out) held_out[r] = meas ? meas->peak_inflight[r] : -1;
            if (params_ok) *params_ok &= all[r].peak[PP_MEM_PARAMS] == want_p && all[r].peak[PP_MEM_GRADS] == want_p;
            int held = pp_theory_peak_inflight(s->family, P, M, s->chunks, r);
            long per_mb = pp_trainer_act_bytes(t, r, M), want_a = pp_trainer_peak_act_bytes(t, r, M, held);
            char blocks[24];
            snprintf(blocks, sizeof blocks, "%d-%d", first, first + n - 1);
            char acts[48];
            if (c->checkpoint)
                snprintf(acts, sizeof acts, "%5.1f/%-5.1f (%dx%.1f+%.1f)", kib(all[r].peak[PP_MEM_ACTS]), kib(want_a),
                         held - 1, kib(pp_trainer_input_bytes(t, r, M)), kib(per_mb));
            else
                snprintf(acts, sizeof acts, "%5.1f/%-5.1f (%d x %.1f)", kib(all[r].peak[PP_MEM_ACTS]), kib(want_a),
                         held, kib(per_mb));
            printf("%6d %-7s %6.1f/%-6.1f  %6.1f/%-6.1f  %-23s %7.1f\n", r, blocks, kib(all[r].peak[PP_MEM_PARAMS]),
                   kib(want_p), kib(all[r].peak[PP_MEM_GRADS]), kib(want_p), acts, kib(all[r].peak[PP_MEM_COMM]));
        }
        printf("  formulas: parameters and gradients = blocks x %ld floats x 4 bytes;\n", pp_block_params(c));
        char text[300];
        if (c->checkpoint)
            snprintf(text, sizeof text, "stored activations (--checkpoint) = (h - 1) x the stage's input, h = %s "
                     "micro-batches held, + one micro-batch's whole, made again by its backward;",
                     pp_theory_peak_text(s->family));
        else
            snprintf(text, sizeof text, "stored activations = %s micro-batches held x one micro-batch's;",
                     pp_theory_peak_text(s->family));
        pp_report_wrap(stdout, text, "  ", "  ");
        printf("  buffers: the message buffers of the step (activations and gradients)\n");
        fflush(stdout);
    }
    if (d->grid->rank == 0 && !d->quit && pp_backend_gpu() >= 0)
        printf("  --device gpu: every figure above is memory allocated on the rank's GPU; each\n"
               "  buffer that crosses to another rank also has a copy of its size that MPI\n"
               "  sends from or receives into (page-locked host memory, or GPU memory where\n"
               "  MPI reads it), not counted here\n");
    free(all);
    if (d->opt.dump[0] && !d->quit) {
        char err[400] = "";
        int bad = pp_trainer_dump(t, d->opt.dump, err, sizeof err) != PP_OK;
        pp_demo_refuse_if(d, bad, "%s", err);
        if (d->grid->rank == 0)
            printf("wrote %s's weights, input, target and output into %s/ as .npy\n", name, d->opt.dump);
    }
    pp_run_free(pred), pp_run_free(meas);
    pp_trainer_free(t);
    pp_sched_free(s);
}

/* The whole model on one rank, for comparison (rank 0; printed after the
 * live view's pictures, so that it is not drawn over). */
static void whole_model(const pp_model_cfg *c, int M, const pp_mem *one_mem)
{
    const pp_mem one = *one_mem;
        long rows = c->batch / M, per_mb = 4L * pp_stage_act_floats(c, c->depth, 1, (int)rows);
    printf("model: %d blocks, width %d, hidden %d: %ld parameters\n"
           "(%.1f KiB as float32); batch %d = %d micro-batches x %ld samples\n", c->depth, c->width, c->hidden,
           pp_model_params(c), kib(4 * pp_model_params(c)), c->batch, M, rows);
    printf("one rank, the whole model, the plain loop (one micro-batch at a time), measured:\n"
           "  parameters %.1f KiB, gradients %.1f KiB,\n"
           "  stored activations %.1f KiB at peak\n"
           "  (formula: one micro-batch through all %d blocks, %.1f KiB)\n", kib(one.peak[PP_MEM_PARAMS]),
           kib(one.peak[PP_MEM_GRADS]), kib(one.peak[PP_MEM_ACTS]), c->depth, kib(per_mb));
    printf("one micro-batch stores, per block: x (%ld x %d), h and gelu(h) (%ld x %d each);\n"
           "the last stage also its loss gradient\n", rows, c->width, rows, c->hidden);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    static const pp_demo_spec spec = {.what = "Counts parameters, gradients and activations per rank under GPipe and "
                                              "1F1B (or under the one --schedule names).",
                                      .real = 1};
    snprintf(d.opt.schedule, sizeof d.opt.schedule, "gpipe, then 1f1b");
    pp_demo_start(&d, &spec, &argc, &argv);
    int one = pp_cli_given(&d.opt, "--schedule");
    pp_demo_refuse_if(&d, pp_cli_given(&d.opt, "--steps"),
                      "--steps: this demo counts the memory of one step under each schedule; demo 02 trains for --steps");
    pp_sched *chosen = one ? pp_demo_schedule(&d, d.opt.schedule, d.opt.mb[0]) : NULL;
    pp_partition part;
    pp_demo_model(&d, chosen, &part);
    const pp_model_cfg *c = &d.opt.model;
    int M = chosen ? chosen->nmb : d.opt.mb[0], P = d.grid->P;
    int *held[2] = {NULL, NULL}, params_ok = 1;   /* gpipe's and 1f1b's peak micro-batches per rank (rank 0) */
    pp_mem one_rank = {0};
    if (d.grid->rank == 0)
        PP_CHECK(pp_reference_train(c, M, 1, NULL, NULL, &one_rank), "the single-process run failed");
    if (one) {
        one_schedule(&d, &part, chosen, chosen->name, M, NULL, NULL);
    } else {
        held[0] = calloc((size_t)P, sizeof *held[0]), held[1] = calloc((size_t)P, sizeof *held[1]);
        if (!held[0] || !held[1]) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
        one_schedule(&d, &part, NULL, "gpipe", M, held[0], &params_ok);
        if (!d.quit && !pp_demo_hold(&d, "gpipe done: press any key to run 1f1b (q quits)"))
            one_schedule(&d, &part, NULL, "1f1b", M, held[1], &params_ok);
    }
    if (d.grid->rank == 0 && !d.quit) {
        printf("\n");
        whole_model(c, M, &one_rank);
    }
    if (d.grid->rank == 0 && !d.quit && !one) {   /* what the tables measured, in a few words */
        if (!params_ok) printf("\nParameters and gradients: some rank's measured figure is not its blocks' (above).\n");
        else if (P == 1) printf("\nParameters and gradients all on one rank (measured).\n");
        else printf("\nParameters and gradients split %d ways: each rank holds its blocks' (measured).\n", P);
        int lo = held[0][0], hi = held[0][0];
        for (int r = 1; r < P; r++) lo = held[0][r] < lo ? held[0][r] : lo, hi = held[0][r] > hi ? held[0][r] : hi;
        const char *what = c->checkpoint ? "inputs (--checkpoint)" : "activations";
        if (lo == hi) printf("GPipe held %d micro-batch%s %s at its peak on every stage;\n", lo, hi == 1 ? "'s" : "es'", what);
        else printf("GPipe held %d to %d micro-batches' %s at its peak;\n", lo, hi, what);
        if (P == 1 || held[1][0] == held[1][P - 1]) printf("1F1B held %d on every stage (all measured).\n", held[1][0]);
        else printf("1F1B held %d on the first stage down to %d on the last (all measured).\n", held[1][0], held[1][P - 1]);
    }
    free(held[0]), free(held[1]);
    return pp_demo_end(&d);
}
