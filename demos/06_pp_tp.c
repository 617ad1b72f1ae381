/* 06_pp_tp.c -- pipeline and tensor parallelism together.
 *
 * The idea: tensor parallelism (TP) splits every block over T ranks, which
 * must then add their partial results twice per block and micro-batch;
 * pipeline parallelism (PP) splits the blocks into stages that talk only at
 * the stage boundaries.  The demo trains the same model on the same ranks
 * shaped two ways (8 ranks: 2 stages x 4 TP ranks, then 4 stages x 2 TP
 * ranks), counts every byte each rank hands to MPI and the time spent in the
 * calls, and puts the counts beside the formulas.
 *
 * With --link GBPS[,US] every message between ranks crosses a modelled link
 * of that speed: each shape trains on this machine's own links, then on the
 * modelled one, and the step times are put side by side.
 *
 *   mpiexec -n 8 ./demos/06_pp_tp            both shapes
 *   mpiexec -n 8 ./demos/06_pp_tp --tp 2     one shape (P = 8 / 2 = 4)
 *   mpiexec -n 8 ./demos/06_pp_tp --link 0.1,100   on a slow link too
 */
#include "pp_demo.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int P, T, D;
    double step_ms, tp_ms, pipe_ms;
    long tp_bytes, pipe_bytes;
    double tp_calls, pipe_msgs;   /* per rank and step */
    int edges;                    /* stage edges between ranks (pp_sched_edges) */
} shape_result;

/* Trains on the grid as it is now shaped; if `report`, prints the timeline
 * (plain text), the communication table and what it shows. */
static void one_shape(pp_demo *d, shape_result *res, int report)
{
    const pp_model_cfg *c = &d->opt.model;
    const pp_grid *g = d->grid;
    int P = g->P, T = g->T, D = g->D, M = d->opt.mb[0], L = c->depth, n = g->size;
    pp_sched *s = pp_demo_schedule(d, d->opt.schedule, M);
    pp_partition part;
    pp_demo_model(d, s, &part);
    pp_trainer *t = NULL;
    PP_CHECK(pp_trainer_new(g, c, &part, s->stage_rank, &t), "could not make this rank's slices of the blocks");
    pp_comm_stats *all = g->rank == 0 ? calloc((size_t)n, sizeof *all) : NULL;
    if (g->rank == 0 && !all) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    double loss = 0;
    pp_run *last = NULL;
    pp_demo_train_steps(d, t, s, &loss, &last);
    double ms = last ? last->makespan * 1e3 : 0;
    if (!d->quit) PP_CHECK(pp_trainer_comm_all(t, all), "gathering the communication counts");
    if (g->rank == 0 && !d->quit) {   /* what the link table compares: step, TP sums, pipeline waits */
        double tp_s = 0;
        for (int r = 0; r < n; r++) tp_s += all[r].tp_s;
        res->P = P, res->T = T, res->D = D, res->step_ms = ms, res->tp_ms = tp_s / n * 1e3;
        res->pipe_ms = last ? pp_run_wait_s(last) * 1e3 : 0;
    }
    if (g->rank == 0 && !d->quit && report) {
        char parts[128];
        pp_partition_str(&part, parts, sizeof parts);
        pp_demo_grid_header(stdout, g);
        char split[48] = "whole on each rank";
        if (T > 1) snprintf(split, sizeof split, "split %d ways inside each block", T);
        char line[400];
        snprintf(line, sizeof line, "%d blocks (width %d, hidden %d, %s; blocks per stage %s), batch %d in M=%d "
                 "micro-batch%s, %s, %d step%s", L, c->width, c->hidden, split, parts, c->batch, M, M == 1 ? "" : "es",
                 s->name, c->steps, c->steps == 1 ? "" : "s");
        pp_report_wrap(stdout, line, "", "");
        if (!d->tui && last) {
            printf("\nlast step, measured (one row per rank; a tensor-parallel group is T rows):\n");
            pp_report_timeline(stdout, last, last->makespan / 60, 80);
        }
        pp_comm_stats sum;
        double wait_ms = last ? pp_run_wait_s(last) * 1e3 : 0;
        int edges = pp_sched_edges(s);
        pp_report_comm(stdout, all, g, c, edges, wait_ms, &sum);
        printf("step time %.1f ms (measured), loss %.6f after %d step%s (measured)\n", ms, loss, c->steps,
               c->steps == 1 ? "" : "s");
        char text[600];
        double calls = (double)sum.tp_calls / n, msgs = (double)sum.pipe_msgs / n;
        if (T > 1 && P == 1)
            snprintf(text, sizeof text, "One stage: no pipeline messages at all; every byte is a TP sum (%.0f calls "
                     "per rank per step).", calls);
        else
            /* sums per block and micro-batch: forward and backward (not the first block's),
             * and with --checkpoint the forward again */
            snprintf(text, sizeof text, "TP moved %.1f times the bytes of the pipeline (formula T(%dL-1) / (2%s) = "
                     "%.1f), in %.0f calls per rank per step (mean) against %.0f pipeline messages: a TP sum sits "
                     "inside every block, and the compute waits for it.",
                     (double)sum.tp_size / (sum.pipe_bytes ? sum.pipe_bytes : 1), c->checkpoint ? 3 : 2,
                     edges == P - 1 ? "(P-1)" : "E",
                     (double)T * ((c->checkpoint ? 3 : 2) * L - 1) / (2.0 * (edges > 0 ? edges : 1)), calls, msgs);
        if (T > 1) pp_report_wrap(stdout, text, "", "");
        res->tp_bytes = sum.tp_size, res->pipe_bytes = sum.pipe_bytes, res->tp_calls = calls, res->pipe_msgs = msgs;
        res->edges = edges;
        fflush(stdout);
    }
    pp_run_free(last);
    free(all);
    pp_trainer_free(t);
    pp_sched_free(s);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    d.opt.model.steps = 3;
    static const pp_demo_spec spec = {.no_dump = "this demo does not write .npy files (02_microbatches does)",
                                      
        .what = "Trains one model on a grid of pipeline stages x tensor-parallel ranks and counts what every rank sends.",
        .real = 1, .grid_ok = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    /* Without --tp: the shapes the seeds compare, where the ranks allow them. */
    int shapes[2] = {d.grid->T, 0}, nshapes = 1;
    if (!pp_cli_given(&d.opt, "--tp") && d.grid->size % 4 == 0 && d.grid->size / d.grid->D >= 4) {
        int per = d.grid->size / d.grid->D;   /* ranks per replica */
        shapes[0] = per / 2;
        shapes[1] = per / 4;
        nshapes = 2;
    }
    /* With --link, each shape trains first on this machine's own links (own[i],
     * not reported), then on the modelled link. */
    shape_result res[2] = {{0}}, own[2] = {{0}};
    pp_link link = d.exec.link;
    for (int i = 0; i < nshapes && !d.quit; i++) {
        char err[400] = "";
        int bad = pp_grid_shape(d.grid, shapes[i], d.grid->D, err, sizeof err) != PP_OK;
        pp_demo_refuse_if(&d, bad, "%s", err);
        if (link.gbps > 0) {
            d.exec.link.gbps = 0;
            one_shape(&d, &own[i], 0);
            d.exec.link = link;
        }
        if (!d.quit) one_shape(&d, &res[i], 1);
        if (i + 1 < nshapes && !d.quit) pp_demo_hold(&d, "next shape: press any key (q quits)");
    }
    if (d.grid->rank == 0 && !d.quit && link.gbps > 0) {
        printf("\n=== this machine's own links against the modelled link (measured, ms)\n");
        printf("  shape       step             in TP sums       waiting for pipeline\n");
        printf("  P x T x D   own     link     own     link     own     link\n");
        for (int i = 0; i < nshapes; i++) {
            char shape[32];
            snprintf(shape, sizeof shape, "%d x %d x %d", res[i].P, res[i].T, res[i].D);
            printf("  %-9s %7.1f %8.1f %7.1f %8.1f %7.1f %8.1f\n", shape, own[i].step_ms, res[i].step_ms,
                   own[i].tp_ms, res[i].tp_ms, own[i].pipe_ms, res[i].pipe_ms);
        }
        printf("(TP sums and pipeline waits: per rank, mean.)  The link alone, per rank and\n"
               "step (formula: the counts above, each message at the modelled link's\n"
               "latency plus its bytes over the bandwidth):\n");
        for (int i = 0; i < nshapes; i++) {
            const shape_result *r = &res[i];
            /* a sum: two steps of T-1 pieces of 1/T of its vector; a pipeline message whole */
            double vec = r->tp_calls > 0 ? (double)r->tp_bytes / (r->tp_calls * d.grid->size) : 0;
            double tp = r->tp_calls * 2 * (r->T - 1) * pp_link_s(&link, (long)(vec / r->T));
            double pipe = r->pipe_msgs > 0 ? r->pipe_msgs * pp_link_s(&link, (long)(r->pipe_bytes / (r->pipe_msgs * d.grid->size))) : 0;
            printf("  %d x %d x %d: TP sums %.1f ms, pipeline messages %.1f ms\n", r->P, r->T, r->D, tp * 1e3, pipe * 1e3);
        }
        printf("A tensor-parallel sum crosses the link in every block, and its group waits;\n"
               "the pipeline only at its stage edges, while other micro-batches' work goes on.\n");
    }
    if (d.grid->rank == 0 && !d.quit && nshapes == 2) {
        printf("\n=== the two shapes side by side (measured)\n");
        printf("  shape      step     TP bytes   pipeline     TP ms   pipeline wait\n");
        printf("  P x T x D  ms                  bytes        per rank  ms per rank\n");
        for (int i = 0; i < 2; i++) {
            char shape[32];
            snprintf(shape, sizeof shape, "%d x %d x %d", res[i].P, res[i].T, res[i].D);
            printf("  %-9s %6.1f %11ld %10ld %10.2f %10.2f\n", shape, res[i].step_ms, res[i].tp_bytes,
                   res[i].pipe_bytes, res[i].tp_ms, res[i].pipe_ms);
        }
        /* what the rows show: the shape with the larger T, its sums against its pipeline's bytes */
        const shape_result *t = res[1].T > res[0].T ? &res[1] : &res[0];
        char line[600], shape[32];
        snprintf(shape, sizeof shape, "%d x %d x %d", t->P, t->T, t->D);
        int n = snprintf(line, sizeof line, "TP talks inside every block, so its bytes grow with T and the depth; the "
                         "pipeline talks only at the edges between stages (%d and %d here). ", res[0].edges,
                         res[1].edges);
        if (t->T > 1 && t->tp_bytes > t->pipe_bytes)
            snprintf(line + n, sizeof line - (size_t)n, "In %s the TP sums moved %.1f times the pipeline's bytes "
                     "(measured): that is why a TP group stays on one machine (fast links, the ranks adjacent) and "
                     "the pipeline's stages may sit on different machines.", shape,
                     (double)t->tp_bytes / (t->pipe_bytes > 0 ? t->pipe_bytes : 1));
        else
            snprintf(line + n, sizeof line - (size_t)n, "In %s the TP sums moved no more bytes than the pipeline "
                     "(measured): the usual reason to keep a TP group on one machine does not show here.", shape);
        pp_report_wrap(stdout, line, "", "");
    }
    return pp_demo_end(&d);
}
