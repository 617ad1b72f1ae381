/* 01_forward_flow.c -- one batch flows forward through the stages.
 *
 * The idea: a pipeline splits the model's blocks over the ranks.  Rank 0
 * runs the first blocks on the input and sends what comes out to rank 1,
 * which runs the next blocks, and so on; the last rank holds the output.
 * Every rank prints what it received and what it sent (shape and checksum),
 * and rank 0 checks the output against the whole model run on one process.
 *
 *   mpiexec -n 4 ./demos/01_forward_flow
 */
#include "pp_demo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LINE = 200 };

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    d.opt.mb[0] = 1;
    static const pp_demo_spec spec = {.no_dump = "this demo trains nothing; demos 02 and 03 write their weights and data",
                                      .what = "Sends one batch forward through the stages and checks the output.",
                                      .real = 1, .no_schedule = 1, .no_steps = 1};
    pp_demo_start(&d, &spec, &argc, &argv);
    pp_demo_refuse_if(&d, d.opt.m_given && (d.opt.nmb != 1 || d.opt.mb[0] != 1),
                      "-m %d%s: this demo sends the whole batch as one message, M = 1 only; demo 02 splits it",
                      d.opt.mb[0], d.opt.nmb > 1 ? ",..." : "");
    pp_partition part;
    pp_demo_model(&d, NULL, &part);
    const pp_model_cfg *c = &d.opt.model;
    int me = d.grid->rank, P = d.grid->P, B = c->batch, W = c->width;
    pp_trainer *t = NULL;
    PP_CHECK(pp_trainer_new(d.grid, c, &part, NULL, &t), "could not make this rank's blocks");

    /* 1. Get the input: made from the seed on the first stage, received
     *    from the previous stage everywhere else.  2. Run my blocks.
     *    3. Send the result on.  The tag is 0: one message per pair.  The
     *    receive waits with pp_wait, which sleeps between tests: a rank that
     *    spins in MPI_Recv would take a core from a rank that is computing. */
    pp_tensor *in = NULL, *out = NULL;
    PP_CHECK(pp_tensor_new(NULL, PP_MEM_COMM, B, W, &in), "out of memory");
    PP_CHECK(pp_tensor_new(NULL, PP_MEM_COMM, B, W, &out), "out of memory");
    /* Messages travel in host memory: a tensor may live on a GPU (--device gpu). */
    float *msg = malloc((size_t)B * W * sizeof *msg);
    if (!msg) PP_CHECK(PP_ENOMEM, "out of memory");
    /* 0. Once untimed, on zeros: the first multiply of a process pays for
     *    setting up the library and touching memory, which is not the stage's
     *    work and would swamp the time of a small stage. */
    PP_CHECK(pp_trainer_forward_stage(t, me, in, out), "forward failed");
    if (me == 0) PP_CHECK(pp_model_inputs(c, 0, 0, in), "could not make the inputs");
    else {
        MPI_Request rq;
        MPI_Irecv(msg, B * W, MPI_FLOAT, me - 1, 0, d.grid->pipe, &rq);
        PP_CHECK(pp_wait(&rq, 50e-6), "receiving the input");
        pp_tensor_from_host(in, msg);
    }
    double t0 = pp_now();
    PP_CHECK(pp_trainer_forward_stage(t, me, in, out), "forward failed");
    double ms = (pp_now() - t0) * 1e3;
    pp_tensor_to_host(out, msg);
    if (me + 1 < P) MPI_Send(msg, B * W, MPI_FLOAT, me + 1, 0, d.grid->pipe);

    /* Each rank's line, printed by rank 0 in rank order. */
    int first, n = pp_trainer_blocks(t, me, &first);
    char line[LINE], *all = me == 0 ? malloc((size_t)P * LINE) : NULL;
    char blocks[24];
    snprintf(blocks, sizeof blocks, "%d-%d", first, first + n - 1);
    snprintf(line, sizeof line, "%6d  %-7s  %-8s %+11.4f %3d %9.2f   %-6s %+11.4f", me, blocks,
             me == 0 ? "input" : "received", pp_tensor_sum(in), n, ms, me + 1 < P ? "sent" : "output",
             pp_tensor_sum(out));
    MPI_Gather(line, LINE, MPI_CHAR, all, LINE, MPI_CHAR, 0, d.grid->pipe);

    /* The last rank sends the output to rank 0, which compares it with the
     * whole model on one process. */
    if (me == P - 1 && P > 1) MPI_Send(msg, B * W, MPI_FLOAT, 0, 1, d.grid->pipe);
    if (me == 0) {
        pp_tensor *y = NULL, *x = NULL;
        MPI_Request rq;
        if (P > 1) MPI_Irecv(msg, B * W, MPI_FLOAT, P - 1, 1, d.grid->pipe, &rq);
        if (P > 1) PP_CHECK(pp_wait(&rq, 50e-6), "receiving the output");
        PP_CHECK(pp_tensor_new(NULL, PP_MEM_OTHER, B, W, &x), "out of memory");
        PP_CHECK(pp_tensor_new(NULL, PP_MEM_OTHER, B, W, &y), "out of memory");
        PP_CHECK(pp_model_inputs(c, 0, 0, x), "could not make the inputs");
        PP_CHECK(pp_reference_forward(c, x, y), "the single-process forward failed");
        float *ref = malloc((size_t)B * W * sizeof *ref);
        if (!ref) PP_CHECK(PP_ENOMEM, "out of memory");
        pp_tensor_to_host(y, ref);
        long differ = 0;
        double maxdiff = 0;
        for (long i = 0; i < (long)B * W; i++) {   /* msg: the pipeline's output */
            differ += memcmp(&ref[i], &msg[i], sizeof(float)) != 0;
            maxdiff = fmax(maxdiff, fabs((double)ref[i] - msg[i]));
        }
        free(ref);
        char parts[128];
        pp_partition_str(&part, parts, sizeof parts);
        printf("forward of one batch: %d samples x %d features through %d blocks\n"
               "(width %d, hidden %d) on %d rank%s; stages run blocks %s\n", B, W, c->depth, W, c->hidden, P,
               P == 1 ? "" : "s", parts);
        printf("every message is the batch's activations, %d x %d; sum = a checksum of\n"
               "all its numbers (computed), time = measured on the rank (after one\n"
               "untimed run: a process's first multiply also sets up the library)\n\n", B, W);
        printf("%6s  %-7s  %-8s %11s %3s %9s   %-6s %11s\n", "rank", "blocks", "in", "sum", "ran", "time, ms", "out",
               "sum");
        for (int r = 0; r < P; r++) printf("%s\n", all + (size_t)r * LINE);
        printf("  %-52s%-6s %+11.4f\n", "the whole model on one process:", "output", pp_tensor_sum(y));
        if (differ == 0)
            printf("the pipeline's output equals the single-process output bit for bit\n"
                   "(%ld of %ld numbers differ)\n", differ, (long)B * W);
        else
            printf("MISMATCH: %ld of %ld output numbers differ from the single-process run\n"
                   "(largest difference %.3g)\n", differ, (long)B * W, maxdiff);
        fflush(stdout);
        pp_tensor_free(x), pp_tensor_free(y);
        if (differ) pp_die(__FILE__, __LINE__, "compare with one process", PP_EARG, "the outputs differ");
    }
    free(all), free(msg);
    pp_tensor_free(in), pp_tensor_free(out);
    pp_trainer_free(t);
    return pp_demo_end(&d);
}
