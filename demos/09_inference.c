/* 09_inference.c -- inference as an assembly line.
 *
 * The idea: serving a stream of requests, a pipeline has no backward pass to
 * wait for.  Each stage takes request m + 1 as soon as it has passed request
 * m on (the send goes on beside the next compute), so once the line is full
 * every stage is busy and a request leaves every stage time: up to P times
 * the rate of one rank holding the whole model.  But one request still has
 * to pass through every stage in turn, so its own latency does not fall.
 * The demo runs the same stream twice on the same ranks: the whole model on
 * rank 0, then one stage per rank, and measures both.  Timed (a request
 * costs F ticks per stage), or with --real the model's blocks compute each
 * request (batch / M samples), and the two runs' outputs are compared.
 *
 *   mpiexec -n 4 ./demos/09_inference                 32 requests, all waiting
 *   mpiexec -n 4 ./demos/09_inference --interval 2    one every 2 ticks
 *   mpiexec -n 2 ./demos/09_inference --real          the MLP, one rank a core
 *
 * Left out on purpose: batching requests together, and requests of
 * different sizes (every request costs F ticks per stage).
 */
#include "pp_demo.h"
#include "pp_build.h"

#include <stdlib.h>
#include <string.h>

/* What one run of the stream measured (rank 0). */
typedef struct {
    double rate;        /* requests per second at steady state */
    double service[3];  /* latency in service, s: median, 90th percentile, largest */
    double queued[3];   /* latency from arrival, s: the same three */
    double busy[64];    /* share of the steady window each rank computed */
    int n_busy;
    double stage_s;     /* its slowest stage's forward of one request (seconds: cost, or measured) */
} stream_result;

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, 90th percentile and largest of n values (sorted in place). */
static void percentiles(double *v, int n, double out[3])
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    out[0] = v[n / 2];
    out[1] = v[(9 * n) / 10 < n ? (9 * n) / 10 : n - 1];
    out[2] = v[n - 1];
}

/* The event of `kind` for micro-batch mb on stage st in row r, or NULL. */
static const pp_event *find(const pp_run *run, int r, int st, int mb)
{
    for (int i = 0; i < run->ranks[r].n; i++) {
        const pp_event *e = &run->ranks[r].ev[i];
        if (e->type == PP_EV_COMPUTE && e->kind == PP_F && e->stage == st && e->mb == mb) return e;
    }
    return NULL;
}

/* Rank 0: the figures of one measured run.  Steady state: from the moment
 * request `first` is done (the line has filled) until the first stage ends
 * its last request (then the line drains); the rate counts the requests
 * done in between. */
static void measure(const pp_sched *s, const pp_run *run, const double *arrive_s, int first, stream_result *x)
{
    int M = s->nmb, last_row = s->stage_rank[s->nstages - 1];
    double *done = calloc((size_t)M, sizeof *done), *service = calloc((size_t)M, sizeof *service);
    double *queued = calloc((size_t)M, sizeof *queued), t1 = 0;
    if (!done || !service || !queued) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    for (int m = 0; m < M; m++) {
        const pp_event *in = find(run, s->stage_rank[0], 0, m), *out = find(run, last_row, s->nstages - 1, m);
        done[m] = out ? out->t1 : 0;
        service[m] = out && in ? out->t1 - in->t0 : 0;
        queued[m] = done[m] - arrive_s[m];
        if (in && in->t1 > t1) t1 = in->t1;
    }
    /* The rate: requests leaving the last stage once the line is full (the
     * line drains at the same pace).  The busy shares: until the first stage
     * is done, or if the line runs slower than that stage, until the last. */
    double t0 = done[first], out = done[M - 1] - t0;
    x->rate = out > 0 ? (M - 1 - first) / out : -1;
    if (t1 <= t0) t1 = done[M - 1];
    double window = t1 - t0;
    x->n_busy = run->nrows < 64 ? run->nrows : 64;
    for (int r = 0; r < x->n_busy; r++) {
        double busy = 0;   /* compute inside the window */
        for (int i = 0; i < run->ranks[r].n; i++) {
            const pp_event *e = &run->ranks[r].ev[i];
            double a = e->t0 > t0 ? e->t0 : t0, b = e->t1 < t1 ? e->t1 : t1;
            if (e->type == PP_EV_COMPUTE && b > a) busy += b - a;
        }
        x->busy[r] = window > 0 ? busy / window : 0;
    }
    percentiles(service, M, x->service);
    percentiles(queued, M, x->queued);
    free(done), free(service), free(queued);
}

/* Real mode: the model's blocks over S stages compute the stream.  Its
 * outputs stay in *out (rank 0, batch x width: the one-rank run's), or are
 * compared with them (the pipelined run's, sent by the last stage's rank):
 * *differ counts the numbers that differ.  In *stage_s: the slowest stage's
 * forward of one request (measured block costs, seconds). */
static void real_stream(pp_demo *d, const pp_sched *lo, pp_run **pred, pp_run **meas, float **out, long *differ,
                        double *stage_s)
{
    const pp_model_cfg *c = &d->opt.model;
    int S = lo->nstages, me = d->grid->rank, last = lo->stage_rank[S - 1], most = 0;
    long n = (long)c->batch * c->width;
    pp_partition part;
    pp_demo_model(d, lo, &part);
    for (int s = 0; s < S; s++) most = part.first[s + 1] - part.first[s] > most ? part.first[s + 1] - part.first[s] : most;
    *stage_s = most * d->exec.costs.ticks[PP_F] * d->exec.costs.tick_s;
    pp_trainer *t = NULL;
    double loss;
    PP_CHECK(pp_trainer_new(d->grid, c, &part, lo->stage_rank, &t), "could not make this rank's blocks");
    pp_demo_train(d, t, lo, pred, meas, &loss);
    float *y = me == 0 || me == last ? malloc((size_t)n * sizeof *y) : NULL;
    if ((me == 0 || me == last) && !y) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    if (me == last) pp_tensor_to_host(pp_trainer_outputs(t), y);
    if (last != 0 && me == last) MPI_Send(y, (int)n, MPI_FLOAT, 0, 0, d->grid->all);
    if (last != 0 && me == 0) MPI_Recv(y, (int)n, MPI_FLOAT, last, 0, d->grid->all, MPI_STATUS_IGNORE);
    if (me == 0 && !*out) *out = y, y = NULL;   /* the first run's: the reference */
    else if (me == 0)
        for (long i = 0; i < n; i++) *differ += memcmp(&y[i], &(*out)[i], sizeof *y) != 0;
    free(y);
    pp_trainer_free(t);
}

/* Runs the stream through S stages (1: the whole model on rank 0) and
 * measures it on rank 0.  Returns 0 if q stopped the demo. */
static int run_stream(pp_demo *d, int S, const double *release, stream_result *x, double *tick_s, float **out,
                      long *differ)
{
    int P = d->grid->P, M = d->opt.mb[0];
    pp_sched *built = NULL;
    PP_CHECK(pp_sched_forward(P, S, M, &built), "could not build the stream");
    pp_sched *lo = pp_demo_lower(d, built);
    /* One rank holding the whole model: its one stage costs all P stages. */
    double F = d->exec.costs.ticks[PP_F];
    if (S == 1 && !d->opt.real) d->exec.costs.ticks[PP_F] = P * F;
    d->exec.costs.release = release;
    pp_run *pred = NULL, *meas = NULL;
    if (d->opt.real) real_stream(d, lo, &pred, &meas, out, differ, &x->stage_s);
    else pp_demo_run(d, lo, &pred, &meas), x->stage_s = d->exec.costs.ticks[PP_F] * d->exec.costs.tick_s;
    *tick_s = d->exec.costs.tick_s;   /* the live view may have chosen it */
    if (d->grid->rank == 0 && meas && !d->quit) {
        double *arrive_s = malloc((size_t)M * sizeof *arrive_s);
        if (!arrive_s) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
        for (int m = 0; m < M; m++) arrive_s[m] = release[m] * *tick_s;
        measure(lo, meas, arrive_s, P - 1, x);
        free(arrive_s);
        if (meas->paused || meas->retimed)
            printf("(the %s run was %s in the live view: its times are not the stream's alone)\n",
                   S == 1 ? "one-rank" : "pipelined", meas->paused ? "paused" : "re-ticked");
    }
    if (!d->opt.real) d->exec.costs.ticks[PP_F] = F;
    d->exec.costs.release = NULL;
    pp_run_free(pred), pp_run_free(meas);
    pp_sched_free(lo);
    return !d->quit;
}

static void report(const pp_demo *d, const stream_result x[2], double tick_s, long differ)
{
    int P = d->grid->P, M = d->opt.mb[0];
    double gap = d->opt.interval * tick_s, rate[2], lat[2];
    pp_theory_stream(1, x[0].stage_s, gap, &rate[0], &lat[0]);   /* one rank: one stage, the whole model */
    pp_theory_stream(P, x[1].stage_s, gap, &rate[1], &lat[1]);
    char line[600], arrivals[96];
    if (gap > 0) snprintf(arrivals, sizeof arrivals, "one arriving every %g ticks (%.1f ms)", d->opt.interval, gap * 1e3);
    else snprintf(arrivals, sizeof arrivals, "all waiting at the start");
    const pp_model_cfg *c = &d->opt.model;
    if (d->opt.real)
        snprintf(line, sizeof line, "inference, real compute: %d requests of %d samples, %s, through %d blocks (width "
                 "%d, hidden %d; %s); a block's forward measured at %.3f ms, so %.3f ms through the whole model "
                 "and %.3f ms through the largest of %d stages (computed: its blocks x a block's)", M, c->batch / M,
                 arrivals, c->depth, c->width, c->hidden, pp_backend_name(), x[0].stage_s / c->depth * 1e3,
                 x[0].stage_s * 1e3, x[1].stage_s * 1e3, P);
    else
        snprintf(line, sizeof line, "inference: %d requests, %s; each costs F=%g tick%s of %.4g ms per stage (the "
                 "whole model: %d stage%s, %g tick%s); %zu-byte messages", M, arrivals, d->opt.ticks[PP_F],
                 d->opt.ticks[PP_F] == 1 ? "" : "s", tick_s * 1e3, P, P == 1 ? "" : "s", P * d->opt.ticks[PP_F],
                 P * d->opt.ticks[PP_F] == 1 ? "" : "s", d->exec.payload);
    pp_report_wrap(stdout, line, "", "");
    printf("steady state: from request %d done (the line full) until the first stage ends\n"
           "the last request (then the line drains)\n\n", P - 1);
    printf("%-36s %10s %10s\n", "", "one rank", "P stages");
    if (x[0].rate > 0 && x[1].rate > 0)
        printf("%-36s %10.1f %10.1f\n", "throughput, requests/s (measured)", x[0].rate, x[1].rate);
    else   /* a clock that did not move between two departures: nothing to divide by */
        printf("%-36s %10s %10s\n", "throughput, requests/s (measured)", "n/a", "n/a");
    printf("%-36s %10.1f %10.1f\n", "  formula: 1 / max(stage, interval)", rate[0], rate[1]);
    if (x[0].rate > 0 && x[1].rate > 0)
        printf("%-36s %10s %9.2fx  (formula %.2fx)\n", "  P stages / one rank (measured)", "", x[1].rate / x[0].rate,
               rate[0] > 0 ? rate[1] / rate[0] : 0);
    printf("latency in service, ms (measured: the first stage starts the request, the last\n"
           "ends it):\n");
    const char *names[3] = {"median", "90th percentile", "largest"};
    for (int k = 0; k < 3; k++)
        printf("  %-34s %10.1f %10.1f\n", names[k], x[0].service[k] * 1e3, x[1].service[k] * 1e3);
    printf("  %-34s %10.1f %10.1f\n", d->opt.real ? "formula: stages x slowest F" : "formula: P stages x F",
           lat[0] * 1e3, lat[1] * 1e3);
    printf("latency from arrival, ms (measured, waiting in the queue included):\n");
    for (int k = 0; k < 3; k++)
        printf("  %-34s %10.1f %10.1f\n", names[k], x[0].queued[k] * 1e3, x[1].queued[k] * 1e3);
    printf("share of the steady state each rank computed (measured):\n  %-34s", "one rank");
    for (int r = 0; r < x[0].n_busy; r++) printf(" %3.0f%%", 100 * x[0].busy[r]);
    printf("\n  %-34s", "P stages");
    for (int r = 0; r < x[1].n_busy; r++) printf(" %3.0f%%", 100 * x[1].busy[r]);
    printf("\n");
    if (d->opt.real && differ == 0)
        printf("every request's output on P stages equals the one-rank run's bit for bit\n"
               "(0 of %ld numbers differ)\n", (long)c->batch * c->width);
    else if (d->opt.real)
        printf("MISMATCH: %ld of %ld output numbers differ from the one-rank run\n", differ, (long)c->batch * c->width);
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    d.opt.mb[0] = 32;
    static const pp_demo_spec spec = {
        .what = "Serves a stream of requests, forward passes only: first the whole model on one rank, then one stage "
                "per rank, and measures throughput and latency.",
        .no_schedule = 1, .stream = 1, .either = 1,
        .no_dump = "this demo trains nothing; demos 02 and 03 write their weights and data",
        .no_checkpoint = "inference runs no backward, so there is nothing to recompute"};
    pp_demo_start(&d, &spec, &argc, &argv);
    int P = d.grid->P, M = d.opt.mb[0];
    pp_demo_refuse_if(&d, M < 2 * P, "-m %d: a stream needs at least 2P = %d requests, so that a steady state "
                      "follows the line's filling", M, 2 * P);
    pp_demo_refuse_if(&d, P > 64, "%d ranks: this demo shows at most 64", P);
    pp_demo_refuse_if(&d, pp_cli_given(&d.opt, "--layers"), "--layers: the one-rank run has one stage and the "
                      "pipelined run P: give --partition front, back or balanced instead");
    pp_demo_refuse_if(&d, pp_cli_given(&d.opt, "--repeat"), "--repeat: a stream has no bubble to take the median "
                      "of; run the demo again to see how its figures vary");
    pp_demo_refuse_if(&d, d.opt.ticks[PP_B] != 2 || d.opt.ticks[PP_I] != 1 || d.opt.ticks[PP_W] != 1,
                      "--cost: a stream runs forwards only: give F alone, like --cost F=2");
    pp_demo_refuse_if(&d, pp_cli_given(&d.opt, "--steps") || pp_cli_given(&d.opt, "--lr"),
                      "%s: inference trains nothing: each run is one pass of forwards (demos 02 and 10 train)",
                      pp_cli_given(&d.opt, "--steps") ? "--steps" : "--lr");
    double *release = malloc((size_t)M * sizeof *release);   /* [M] arrival of each request, ticks */
    if (!release) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    for (int m = 0; m < M; m++) release[m] = m * d.opt.interval;
    stream_result x[2];
    memset(x, 0, sizeof x);
    double tick_s = d.exec.costs.tick_s;
    float *out = NULL;   /* real mode, rank 0: the one-rank run's outputs */
    long differ = 0;
    if (run_stream(&d, 1, release, &x[0], &tick_s, &out, &differ) &&
        !pp_demo_hold(&d, "one rank done: press any key to run the same stream on P stages, q to quit"))
        run_stream(&d, P, release, &x[1], &tick_s, &out, &differ);
    if (d.grid->rank == 0 && !d.quit) report(&d, x, tick_s, differ);
    free(release), free(out);
    if (differ) pp_die(__FILE__, __LINE__, "compare with one rank", PP_EARG, "the outputs differ");
    return pp_demo_end(&d);
}
