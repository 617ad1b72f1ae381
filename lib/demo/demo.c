/* demo.c -- what every demo does first and last: start MPI, read the
 * options, get a checked schedule, and on bad input stop every rank with one
 * clear message.
 *
 * The rule for bad input: every rank must reach the same verdict and leave
 * through MPI_Finalize together, so that mpiexec returns at once instead of
 * waiting for a rank that waits for another.  Options are parsed on every
 * rank; a schedule file is read on rank 0 only (other machines may not have
 * it) and its text, or the news that it is bad, is broadcast.
 * With the live view, rank 0 finds the terminal at the start (so that a bad
 * --tty is refused before anything runs), opens the view at the first step,
 * and closes it at the end or on any error before printing, so the terminal
 * is always handed back; the step-by-step drawing is view.c's.
 * Unlike the rest of the library, this file ends the program: bad input
 * exits every rank with status 2, a failed call aborts them (pp_die).
 */
#include "view.h"
#include "pp_demo.h"
#include "pp_idle.h"
#include "model.h"

#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Which schedule a figure was worked out for: its name, family and sizes. */
typedef struct {
    char name[sizeof ((pp_sched *)0)->name];
    pp_family family;
    int nranks, nstages, nmb, chunks;
} sched_key;

static sched_key key_of(const pp_sched *s)
{
    sched_key k = {.family = s->family, .nranks = s->nranks, .nstages = s->nstages, .nmb = s->nmb, .chunks = s->chunks};
    memcpy(k.name, s->name, sizeof k.name);
    return k;
}

/* Was a figure for key k worked out for s (k's name empty: for none)? */
static int key_is(const sched_key *k, const pp_sched *s)
{
    return k->name[0] && strcmp(k->name, s->name) == 0 && k->family == s->family && k->nranks == s->nranks &&
           k->nstages == s->nstages && k->nmb == s->nmb && k->chunks == s->chunks;
}

/* What the demos need and do not show: the live view, the export files, the
 * terminal until the view opens, and in real mode the measured costs. */
struct pp_demo_state {
    int tty_fd;              /* rank 0: the terminal found, until the view opens */
    int keys_stdin;          /* rank 0: keys come on stdin (mpiexec forwards them) */
    pp_live *live;
    pp_view *view;           /* rank 0 */
    pp_export *exports;      /* rank 0 */
    double cost[PP_MODEL_NCOSTS]; /* seconds per block and per micro-batch, measured on rank 0 */
    int cost_M;              /* the M they were measured for (0: not yet) */
    pp_model_cfg cost_cfg;   /* and the model */
    double stage_scale[PP_MAX_STAGES]; /* the simulator's per-stage cost: timed, the weights; real,
                                          a stage's cost over one block's (stage_scales) */
    double weight[PP_MAX_STAGES]; /* timed: each stage's cost against an even one's (--slow-stage) */
    pp_demo_spec spec;       /* a demo that runs either way, as --real made it */
    int guard;               /* rank 0 without the view: the guardian's pipe (-1: none) */
    char devices[400];       /* rank 0, GPU ranks: which rank computes on which GPU */
    char note[160];          /* rank 0: a note given before the view opened, shown when it does */
    int paced;               /* the live view's tick has been chosen (pace) */
    pp_machine here;         /* what this machine adds (probed before the first step; payload 0: not yet) */
    int repeats;             /* rank 0: the last pp_demo_run's steps (--repeat), 0 if one */
    int rep, reps;           /* --repeat: the step under way is run rep of reps */
    double spread[2];        /* their lowest and highest measured bubble */
    /* rank 0, real mode: the step before, of schedule took_for (its name
     * empty: none) with --checkpoint as took_checkpoint: how long each of
     * its computes took, in seconds (pp_costs.took's shape and order, 4 x
     * nstages x M; below 0: not seen; the state's own, freed in
     * pp_demo_end), how long each of its messages took (pp_costs.took_msg's
     * shape and order, 2 x nstages x M; freed there too), and the mean
     * delivery of the messages waited for (s; below 0: none) */
    double *took;
    double *took_msg;
    double took_delivery;
    double took_handoff;   /* with the cores gated: the mean handoff in that step (s) */
    double took_woken;     /* with the cores gated: the share of races for a core a woken rank won
                              there (pp_run_woken_share; below 0: none raced) */
    sched_key took_for;
    int took_checkpoint;
    /* and the bubble predicted before the last step (for schedule here_for;
     * its name empty: none) */
    double here_step;
    sched_key here_for;
};

static const char *prog_name = "pp";
static pp_demo *current;   /* for pp_die: the view to close before printing */

/* Rank 0: gives the terminal back (the text printed meanwhile follows), and
 * finishes the export files: into place if `keep`, else removed.  Returns
 * PP_EIO if an export could not be written. */
static pp_status close_view(pp_demo *d, int keep)
{
    if (!d || !d->in) return PP_OK;
    pp_demo_state *in = d->in;
    int saved = 1;
    if (d->grid->rank == 0 && d->opt.save[0]) {   /* the schedule saved as it was given (pp_demo_schedule) */
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%s.tmp", d->opt.save);
        if (!keep || (saved = rename(tmp, d->opt.save) == 0) == 0) remove(tmp);
        pp_term_doomed(tmp, 0);
    }
    if (in->view) pp_view_close(in->view);
    in->view = NULL;
    if (in->guard >= 0) pp_term_unguard(in->guard);   /* a goodbye: this end is the kit's own */
    in->guard = -1;
    if (in->tty_fd >= 0) close(in->tty_fd);
    in->tty_fd = -1;
    pp_status st = pp_export_close(in->exports, keep);
    in->exports = NULL;
    return saved ? st : PP_EIO;
}

/* A step the watchdog stopped (PP_EHANG on this rank).  Rank 0 shows the
 * report in the live view, gives the terminal back, prints it and ends the
 * job.  If rank 0 does not answer within 2 s (it is the rank that stopped),
 * the rank that found the hang prints it, unless the view is open: then the
 * terminal's guardian prints it once the terminal is restored.  Every other
 * rank waits to be ended with the job. */
static void end_stuck(pp_demo *d)
{
    const char *report = pp_hang_report(d->grid);
    if (d->grid->rank == 0) {
        pp_hang_answer(d->grid);
        if (d->in->view) {
            pp_view_alert(d->in->view, report);
            if (!d->opt.exit_at_end) pp_view_wait_key(d->in->view, "the watchdog stopped the step: press any key to end");
        }
        close_view(d, 0);
        fflush(stdout);
        fprintf(stderr, "%s: %s", d->prog, report);
        pp_sleep_until(pp_now() + 0.3);   /* for mpiexec to pass the report on before it ends the job */
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    if (!pp_hang_answered(d->grid, 2.0) && pp_hang_found_here(d->grid)) {
        fflush(stdout);
        if (!d->tui) fprintf(stderr, "%s: %s", d->prog, report);
        else pp_hang_end_rank0(d->grid);
        pp_sleep_until(pp_now() + 0.3);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    /* Rank 0 (or the finder) ends the job; rank 0 may first wait for a key
     * in the view.  Ten minutes on, a job nobody ends ends itself. */
    for (double end = pp_now() + 600; pp_now() < end;) pp_sleep_until(pp_now() + 0.05);
    _exit(3);
}

void pp_die(const char *file, int line, const char *call, pp_status st, const char *hint)
{
    if (st == PP_EHANG && current && current->grid) end_stuck(current);
    close_view(current, 0);
    fflush(stdout);
    char msg[900], why[300] = "";
    if (st == PP_EDEVICE) snprintf(why, sizeof why, " (%s)", pp_backend_error());   /* the GPU's own reason */
    snprintf(msg, sizeof msg, "%s:%d: %s failed: %s%s%s%s\n", file, line, call, pp_strerror(st), why,
             hint && hint[0] ? "; " : "", hint ? hint : "");
    /* Another rank draws the live view: printed now, the line would land in
     * the picture.  Rank 0's guardian prints it once the terminal is back. */
    int later = current && current->grid && current->tui && current->grid->rank != 0 &&
                pp_hang_tell(current->grid, msg);
    if (!later) fprintf(stderr, "%s: %s", prog_name, msg);
    pp_sleep_until(pp_now() + 0.3);   /* for mpiexec to pass the line on before it ends the job */
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* Every rank calls this with the same verdict: rank 0 says why, all leave. */
static void refuse(pp_demo *d, const char *fmt, ...)
{
    if (d->grid->rank == 0) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        close_view(d, 0);
        fflush(stdout);
        fprintf(stderr, "%s: error: %s\n", d->prog, msg);
    }
    pp_live_free(d->in->live);
    pp_machine_free(&d->in->here);
    pp_grid_free(d->grid);
    free(d->in);
    MPI_Finalize();
    exit(2);
}

void pp_demo_refuse_if(pp_demo *d, int bad, const char *fmt, ...)
{
    MPI_Bcast(&bad, 1, MPI_INT, 0, d->grid->all);
    if (!bad) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    refuse(d, "%s", msg);
}

/* Rank 0 decides where the output goes: the live view on a terminal, or
 * plain text; and opens the export files, so a bad path is refused now. */
static void choose_output(pp_demo *d)
{
    char why[300] = "", err[400] = "", path[256];
    int bad = 0, tui = 0;
    pp_demo_state *in = d->in;
    if (d->grid->rank == 0 && !d->opt.no_tui) {
        in->tty_fd = pp_term_find(d->opt.tty, path, sizeof path, why, sizeof why, &bad, &in->keys_stdin);
        tui = in->tty_fd >= 0;
    }
    pp_demo_refuse_if(d, bad, "%s: %s", d->opt.tty[0] ? "--tty" : "PP_TTY", why);
    if (d->grid->rank == 0 && (d->opt.trace[0] || d->opt.events[0] || d->opt.svg[0] || d->opt.csv[0]))
        bad = pp_export_open(d->opt.trace, d->opt.events, d->opt.svg, d->opt.csv, &in->exports, err, sizeof err) !=
              PP_OK;
    pp_demo_refuse_if(d, bad, "%s", err);
    MPI_Bcast(&tui, 1, MPI_INT, 0, d->grid->all);
    d->tui = tui;
}

/* Appends "0-3" or "0,2" (ranks with flag set, as runs) to text. */
static void rank_list(char *text, size_t n, const char *flag, int size)
{
    int k = 0;
    for (int r = 0; r < size; r++) {
        if (!flag[r]) continue;
        int last = r;
        while (last + 1 < size && flag[last + 1]) last++;
        size_t len = strlen(text);
        snprintf(text + len, n - len, last > r ? "%s%d-%d" : "%s%d", k++ ? "," : "", r, last);
        r = last;
    }
}

/* --device: every rank takes its backend before any tensor is made.  A rank
 * that cannot (a build without CUDA, no GPU) says why, and every rank stops.
 * On GPUs rank 0 puts together which rank computes on which:
 * "GPU ranks: 0,2 on GPU 0 (NVIDIA H200); 1,3 on GPU 1 (NVIDIA H200)". */
static void choose_device(pp_demo *d)
{
    char err[300] = "";
    int bad = pp_backend_use(d->opt.device, d->grid->all, err, sizeof err) != PP_OK;
    struct { int bad, rank; } me = {bad, d->grid->rank}, first;
    MPI_Allreduce(&me, &first, 1, MPI_2INT, MPI_MAXLOC, d->grid->all);
    if (first.bad) {
        MPI_Bcast(err, sizeof err, MPI_CHAR, first.rank, d->grid->all);
        refuse(d, "%s", err);
    }
    d->exec.device = pp_backend_clock();
    if (strcmp(d->opt.device, "gpu") != 0) return;
    enum { NAME = 128 };
    int P = d->grid->size, here;
    char mine[NAME], *all = malloc((size_t)P * NAME), *flag = calloc((size_t)P, 1);
    if (!all || !flag) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    /* On several machines a GPU is named with its machine's. */
    MPI_Comm_size(d->grid->node, &here);
    char host[64] = "";
    if (here < P) gethostname(host, sizeof host - 1);
    snprintf(mine, sizeof mine, "%s%s%s", pp_backend_device(), host[0] ? " on " : "", host);
    MPI_Gather(mine, NAME, MPI_CHAR, all, NAME, MPI_CHAR, 0, d->grid->all);
    char *text = d->in->devices;
    size_t n = sizeof d->in->devices;
    snprintf(text, n, "GPU ranks: ");
    int shared = 0;   /* a GPU with two ranks or more */
    for (int r = 0; d->grid->rank == 0 && r < P; r++) {
        int seen = 0, on_it = 0;   /* this device named already? the ranks on it */
        for (int q = 0; q < r; q++) seen |= strcmp(all + (size_t)q * NAME, all + (size_t)r * NAME) == 0;
        if (seen) continue;
        for (int q = 0; q < P; q++) on_it += flag[q] = strcmp(all + (size_t)q * NAME, all + (size_t)r * NAME) == 0;
        shared |= on_it > 1;
        if (r > 0) snprintf(text + strlen(text), n - strlen(text), "; ");
        rank_list(text, n, flag, P);
        snprintf(text + strlen(text), n - strlen(text), " on %s", all + (size_t)r * NAME);
    }
    /* Processes on one GPU run their kernels by turns, not side by side (README, On GPU ranks). */
    if (shared) snprintf(text + strlen(text), n - strlen(text), " (ranks on one GPU take turns on it)");
    free(all), free(flag);
}

/* Ranks on several machines: rank 0 says which ranks run where, and that
 * the watchdog is off (it keeps every rank's state in one machine's shared
 * memory). */
static void say_machines(const pp_demo *d)
{
    enum { NAME = 64 };
    int here, P = d->grid->size;
    MPI_Comm_size(d->grid->node, &here);
    if (here == P) return;   /* one machine (every rank decides the same) */
    char mine[NAME] = "", *all = malloc((size_t)P * NAME), *flag = calloc((size_t)P, 1);
    if (!all || !flag) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    gethostname(mine, NAME - 1);
    MPI_Gather(mine, NAME, MPI_CHAR, all, NAME, MPI_CHAR, 0, d->grid->all);
    char text[600] = "ranks by machine: ";
    for (int r = 0; d->grid->rank == 0 && r < P; r++) {
        int seen = 0;   /* this machine named already? */
        for (int q = 0; q < r; q++) seen |= strcmp(all + (size_t)q * NAME, all + (size_t)r * NAME) == 0;
        if (seen) continue;
        for (int q = 0; q < P; q++) flag[q] = strcmp(all + (size_t)q * NAME, all + (size_t)r * NAME) == 0;
        if (r > 0) snprintf(text + strlen(text), sizeof text - strlen(text), "; ");
        rank_list(text, sizeof text, flag, P);
        snprintf(text + strlen(text), sizeof text - strlen(text), " on %s", all + (size_t)r * NAME);
    }
    if (d->grid->rank == 0) {
        snprintf(text + strlen(text), sizeof text - strlen(text), " (the watchdog is off: it needs every rank "
                 "on one machine)");
        pp_report_wrap(stdout, text, "", "  ");
        fflush(stdout);
    }
    free(all), free(flag);
}

void pp_demo_start(pp_demo *d, const pp_demo_spec *spec, int *argc, char ***argv)
{
    int provided;
    /* Funneled: the view's drawing thread on rank 0 makes no MPI call. */
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    d->spec = spec;
    d->tui = d->quit = 0;
    const char *slash = strrchr((*argv)[0], '/');
    d->prog = prog_name = slash ? slash + 1 : (*argv)[0];
    if (!(d->in = calloc(1, sizeof *d->in))) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    d->in->tty_fd = d->in->guard = -1;
    d->in->took_woken = -1;   /* no step yet */
    current = d;
    /* The options first: every rank reaches the same verdict on its own, so
     * a bad one (or --help) ends the job before the ranks set anything up. */
    char err[512];
    pp_opts defaults = d->opt;
    int bad = pp_cli_parse(*argc, *argv, spec, &d->opt, err, sizeof err) != PP_OK, world_rank;
    if (d->opt.real) {   /* --real: from here a real demo */
        d->in->spec = *spec, d->in->spec.real = 1;
        d->spec = spec = &d->in->spec;
    }
    if (bad || d->opt.help) {
        MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
        if (world_rank == 0 && bad) fprintf(stderr, "%s: error: %s\n", d->prog, err);
        else if (world_rank == 0) pp_cli_usage(stdout, d->prog, spec, &defaults);
        free(d->in);
        MPI_Finalize();
        exit(bad ? 2 : 0);
    }
    PP_CHECK(pp_grid_new(MPI_COMM_WORLD, &d->grid), "could not set up the ranks");
    pp_term_catch_interrupt(d->prog, d->grid->rank == 0);
    if (d->opt.tp != 1 || d->opt.dp != 1) {
        if (pp_grid_shape(d->grid, d->opt.tp, d->opt.dp, err, sizeof err) != PP_OK) refuse(d, "%s", err);
    }
    pp_exec_opts_default(&d->exec);
    d->exec.costs.tick_s = d->opt.tick_ms * 1e-3;
    d->exec.payload = d->opt.payload;
    d->exec.link = (pp_link){.gbps = d->opt.link_gbps, .latency_s = d->opt.link_us * 1e-6};
    pp_demo_stage_costs(d, NULL, 0);   /* --slow-stage, or every stage the same */
    for (int k = 0; k < 4; k++) d->exec.costs.ticks[k] = d->opt.ticks[k];
    if (!spec->real) {
        d->exec.costs.allreduce = d->grid->T > 1 ? d->opt.ar_ticks : 0;
        d->exec.costs.dp_sum = d->grid->D > 1 ? d->opt.ar_ticks : 0;
    }
    d->exec.watchdog_s = d->opt.watchdog_s;
    d->exec.interrupted = &pp_interrupted;
    choose_device(d);
    say_machines(d);
    if (spec->real && d->grid->rank == 0 && d->exec.link.gbps > 0) {   /* (timed demos: in each schedule's header) */
        char line[400];   /* a pipeline message: a micro-batch's activations, batch / (D M) x width floats */
        const pp_model_cfg *c = &d->opt.model;
        pp_demo_link_text(d, (long)(c->batch / (d->grid->D * d->opt.mb[0])) * c->width * (long)sizeof(float), line,
                          sizeof line);
        pp_report_wrap(stdout, line, "", "  ");
        fflush(stdout);
    }
    /* --fault as typed, else PP_FAULT from the environment, else the demo's own. */
    const char *env = getenv("PP_FAULT");
    int from_env = !pp_cli_given(&d->opt, "--fault") && env && env[0];
    const char *fault = from_env ? env : d->opt.fault;
    if (pp_fault_parse(fault, d->grid->size, &d->exec.fault, err, sizeof err) != PP_OK)
        refuse(d, "%s: %s", from_env ? "PP_FAULT" : "--fault", err);
    if (from_env) snprintf(d->opt.fault, sizeof d->opt.fault, "%s", env);
    choose_output(d);
    if (d->grid->rank == 0 && !d->tui && d->in->devices[0]) printf("%s\n\n", d->in->devices);
    /* Rank 0 killed without the view: a guardian says so in one line. */
    if (d->grid->rank == 0 && !d->tui) d->in->guard = pp_term_guard(-1, NULL, "", d->prog, NULL);
}

/* Rank 0 reads the file; every rank gets its text, or NULL and the reason. */
static char *share_file(pp_demo *d, const char *path, char *err, size_t errlen)
{
    long len = -1;
    char *text = NULL;
    if (d->grid->rank == 0 && !(text = pp_read_text(path, &len))) {
        snprintf(err, errlen, "cannot read schedule file '%s'", path);
        len = -1;
    } else if (d->grid->rank == 0 && len > (64L << 20)) {
        snprintf(err, errlen, "schedule file '%s' is %ld MiB: a schedule is a small text file (64 MiB at most)", path,
                 len >> 20);
        len = -1;
    } else if (d->grid->rank == 0 && (long)strlen(text) != len) {
        snprintf(err, errlen, "schedule file '%s' holds a NUL byte at offset %ld: it is not a text file of actions",
                 path, (long)strlen(text));
        len = -1;
    }
    MPI_Bcast(&len, 1, MPI_LONG, 0, d->grid->all);
    if (len < 0) {
        free(text);
        return NULL;
    }
    if (d->grid->rank != 0) text = malloc((size_t)len + 1);
    if (!text) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "schedule file too large");
    MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, d->grid->all);
    return text;
}

pp_sched *pp_demo_schedule(pp_demo *d, const char *name, int M)
{
    int P = d->grid->P;
    pp_sched *s = NULL;
    char err[512] = "";
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, ".csv") == 0) {
        char *text = share_file(d, name, err, sizeof err);
        if (!text) refuse(d, "%s", err);
        char inner[400] = "";
        pp_status st = pp_sched_from_csv(text, &s, inner, sizeof inner);
        free(text);
        if (st != PP_OK) refuse(d, "%s: %s", name, inner);
        const char *base = strrchr(name, '/');
        snprintf(s->name, sizeof s->name, "%.31s", base ? base + 1 : name);
        if (d->opt.chunks)
            refuse(d, "--chunks %d: %s sets its own stages per rank (leave --chunks out)", d->opt.chunks, name);
        if (s->nranks != P)
            refuse(d, "%s has %d rows but mpiexec started %d ranks: the schedule needs one row per rank", name,
                   s->nranks, P);
        if (d->opt.m_given && d->opt.nmb > 1)   /* a sweep over M: the file's M is the only one */
            refuse(d, "-m: a list of %d values, but %s fixes M at %d micro-batch%s (leave -m out)", d->opt.nmb, name,
                   s->nmb, s->nmb == 1 ? "" : "es");
        if (d->opt.m_given && s->nmb != M)
            refuse(d, "-m %d disagrees with %s, which has %d micro-batch%s (leave -m out)", M, name, s->nmb,
                   s->nmb == 1 ? "" : "es");
    } else {
        char why[300];
        /* The order for this run's costs (ZB-V's depends on them), each
         * stage at the same share (a previous schedule's shares are stale). */
        pp_costs costs = d->exec.costs;
        costs.stage_scale = NULL;
        if (pp_sched_build_for(name, P, M, d->opt.chunks, &costs, &s, why, sizeof why) != PP_OK) refuse(d, "%s", why);
    }
    return pp_demo_lower(d, s);
}

pp_sched *pp_demo_lower(pp_demo *d, pp_sched *s)
{
    char err[512] = "";
    if (d->opt.slow_stage >= s->nstages) {
        int S = s->nstages;
        pp_sched_free(s);
        refuse(d, "--slow-stage %d:%g: the schedule has stages 0 to %d", d->opt.slow_stage, d->opt.slow_factor, S - 1);
    }
    pp_check c;
    pp_sched *lowered = NULL;
    pp_status checked = d->opt.no_validate ? pp_sched_lower_unchecked(s, &lowered, &c) : pp_sched_validate(s, &lowered, &c);
    if (checked != PP_OK) {
        if (d->grid->rank == 0) fprintf(stderr, "%s: schedule '%s' refused before running:\n%s", d->prog, s->name,
                                        c.grid ? c.grid : "");
        char msg[300];
        snprintf(msg, sizeof msg, "%s", c.msg);
        pp_check_clear(&c);
        pp_sched_free(s);
        refuse(d, "schedule refused: %s", msg);
    }
    if (d->exec.fault.kind != PP_FAULT_NONE && pp_fault_check(&d->exec.fault, d->grid, lowered, err, sizeof err) != PP_OK)
        refuse(d, "%s", err);
    if (d->opt.save[0]) {   /* as given: compute-only, the form one edits; into place at a good end */
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%s.tmp", d->opt.save);
        if (d->grid->rank == 0) pp_term_doomed(tmp, 1);
        int bad = d->grid->rank == 0 && pp_sched_save(s, tmp) != PP_OK;
        pp_demo_refuse_if(d, bad, "--save-schedule: cannot write '%s'", d->opt.save);
    }
    pp_sched_free(s);
    return lowered;
}

/* The first step with the view: rank 0 opens it, every rank joins the channel. */
static void open_view(pp_demo *d)
{
    pp_demo_state *in = d->in;
    int ok = 1;
    if (d->grid->rank == 0) {
        ok = pp_view_open(in->tty_fd, in->keys_stdin, d->prog, pp_hang_text(d->grid), &in->view) == PP_OK;
        if (ok && in->guard >= 0) pp_term_unguard(in->guard);   /* the view's guardian takes over */
        if (ok) in->guard = -1;
        if (ok) in->tty_fd = -1;   /* the view owns it now */
        if (ok && in->devices[0]) pp_view_devices(in->view, in->devices);
        if (ok && in->note[0]) pp_view_note(in->view, in->note);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, d->grid->all);
    d->tui = ok;
    if (ok) PP_CHECK(pp_live_new(d->grid, in->view, &in->live), "could not set up the live view's channel");
    d->exec.watch = ok ? pp_live_watch(in->live) : NULL;
}

/* The live view's pace, once per demo: unless --tick-ms was given, a tick
 * that makes the demo's longest timed step last about PP_LIVE_STEP_S, so that
 * a person can follow it (the steps of a sweep over M are scaled by the
 * formula's M + P - 1). */
static void pace(pp_demo *d, const pp_sched *s)
{
    pp_costs unit = d->exec.costs;
    unit.tick_s = 1.0;
    pp_run *pred = NULL;
    if (pp_simulate(s, &unit, &pred) != PP_OK) return;
    int most = s->nmb, P = s->nstages;
    for (int i = 0; i < d->opt.nmb; i++) most = d->opt.mb[i] > most ? d->opt.mb[i] : most;
    double ticks = pred->makespan * (most + P - 1) / (s->nmb + P - 1), tick = PP_LIVE_STEP_S / ticks;
    pp_run_free(pred);
    if (tick < 0.010) tick = 0.010;
    if (tick > 0.5) tick = 0.5;
    d->exec.costs.tick_s = tick;
}

/* Timed: does every stage of s cost the same (no --slow-stage, no weights)? */
static int weights_even(const pp_demo *d, const pp_sched *s)
{
    for (int k = 0; k < s->nstages && k < PP_MAX_STAGES; k++)
        if (d->in->weight[k] != 1) return 0;
    return 1;
}

/* More ranks than cores on some machine (known after the probe)? */
static int crowded(const pp_demo *d)
{
    for (int r = 0; r < d->in->here.ranks; r++) {
        int cores;
        if (pp_machine_sharing(&d->in->here, r, &cores) > cores) return 1;
    }
    return 0;
}

/* The bubble predicted for this machine; `took` (or NULL) gives each
 * compute and message the time it took in the step before (pp_costs.took,
 * and the state's took_msg), and a message not seen there takes `delivery`
 * seconds (below 0: as long as the probe found).  With the step before's
 * times and the cores taken whole, the races for a core are replayed both
 * ways (pp_costs.woken_first) and the two weighed by the share the woken
 * rank won there (took_woken). */
static double here_from(const pp_demo *d, const pp_sched *s, const double *took, double delivery)
{
    pp_costs nominal = d->exec.costs, c;
    nominal.took = took;
    nominal.took_msg = took ? d->in->took_msg : NULL;
    pp_machine m = d->in->here;
    if (delivery >= 0) m.delivery_s = delivery;
    pp_run *pred = NULL;
    pp_costs_here(&nominal, &m, s, d->exec.work == NULL, &c);
    if (took && c.machine) c.handoff = d->in->took_handoff / c.tick_s;
    double b = pp_simulate(s, &c, &pred) == PP_OK ? pp_run_bubble_step(pred) : -1;
    pp_run_free(pred);
    double p = d->in->took_woken;   /* the races for a core: each order weighed by how often it won */
    if (took && c.machine && c.turn == 0 && b >= 0 && p > 0) {
        c.woken_first = 1;
        double w = pp_simulate(s, &c, &pred) == PP_OK ? pp_run_bubble_step(pred) : -1;
        pp_run_free(pred);
        if (w >= 0) b = (1 - p) * b + p * w;
    }
    return b;
}

/* With more ranks than cores taking them in turn: the median delivery of
 * the messages that a rank waited for and that were made while a core was
 * free (fewer computes under way than cores), or -1 if none was.  A message
 * made while every core computes is seen late (its receiver waits for a
 * moment on a core to wake), but its compute would wait for its turn then
 * anyway; the one that counts is the one that finds a core free. */
static double free_core_delivery(const pp_sched *s, const pp_run *meas, int cores)
{
    int cap = 0, n = 0;
    for (int p = 0; p < meas->nrows; p++) cap += meas->ranks[p].n;
    double *d = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *d);
    if (!d) return -1;
    for (int p = 0; p < meas->nrows; p++)
        for (int i = 0; i < meas->ranks[p].n; i++) {
            const pp_event *e = &meas->ranks[p].ev[i];
            if (e->type != PP_EV_WAIT || e->t1 - e->t0 < 50e-6) continue;   /* not waited for */
            int fwd = e->kind == PP_RECV_F, from = fwd ? e->stage - 1 : e->stage + 1;
            if (from < 0 || from >= s->nstages) continue;
            int q = s->stage_rank[from];
            const pp_event *made = NULL;
            for (int j = 0; q < meas->nrows && j < meas->ranks[q].n && !made; j++) {
                const pp_event *x = &meas->ranks[q].ev[j];
                if (x->type == PP_EV_SEND && x->kind == (fwd ? PP_SEND_F : PP_SEND_B) && x->stage == from && x->mb == e->mb)
                    made = x;
            }
            if (!made || made->t0 > e->t1) continue;
            int running = 0;
            for (int r = 0; r < meas->nrows; r++)
                for (int j = 0; j < meas->ranks[r].n; j++) {
                    const pp_event *x = &meas->ranks[r].ev[j];
                    running += x->type == PP_EV_COMPUTE && x->t0 <= made->t0 && made->t0 < x->t1;
                }
            if (running < cores) d[n++] = e->t1 - made->t0;
        }
    double med = n ? pp_median(d, n) : -1;
    free(d);
    return med;
}

/* Real mode, rank 0, after a step: how long each of its computes and
 * messages took, and the mean delivery of a message waited for (with the
 * cores taken in turn: the median of those made while a core was free), for
 * the next step's prediction. */
static void note_took(pp_demo *d, const pp_sched *s, const pp_run *meas)
{
    pp_demo_state *in = d->in;
    int per = s->nstages * s->nmb;   /* each (stage, micro-batch) */
    double *took = realloc(in->took, (PP_W + 1) * (size_t)per * sizeof *took);   /* F, B, I, W */
    if (took) in->took = took;
    double *msg = took ? realloc(in->took_msg, 2 * (size_t)per * sizeof *msg) : NULL;   /* forward, backward */
    if (!msg) pp_die(__FILE__, __LINE__, "realloc", PP_ENOMEM, "");
    in->took_msg = msg;
    pp_idle parts;
    int waited = pp_idle_breakdown(s, &d->exec.costs, meas, &parts) == PP_OK && parts.ok && parts.waited_mean_s > 0;
    in->took_delivery = waited ? parts.waited_mean_s : -1;
    in->took_handoff = meas->handoffs > 0 ? meas->handoff_s : 0;
    int cores;
    in->took_woken = -1;
    if (in->here.gated && pp_machine_sharing(&in->here, 0, &cores) > cores) {
        double free_s = free_core_delivery(s, meas, cores);
        if (free_s >= 0) in->took_delivery = free_s;
        in->took_woken = pp_run_woken_share(s, meas, in->here.machine, in->here.cores);
    }
    double typical = in->took_delivery >= 0 ? in->took_delivery : in->here.delivery_s;   /* none waited for: the probe's */
    PP_CHECK(pp_run_took(s, meas, typical, took, msg), "out of memory");
    in->took_for = key_of(s), in->took_checkpoint = d->opt.model.checkpoint;
}

/* Real mode, rank 0, after the probe: the bubble predicted for this machine
 * before step s runs.  Where the step before ran the same schedule, each
 * compute as long as it took there, each message waited for there as long
 * as it took, and one that had come as long as the messages waited for took
 * on the mean, or less where it had come sooner (pp_run_took; not the
 * probe's delivery: a rank that has just begun to wait is awake, the probe's
 * ranks wait longer, and one that has waited a while sleeps between looks).
 * Each compute, not its stage's mean: inside a
 * step a compute may run slower than the block measured alone, some always
 * do (the last micro-batches'), and the step is as long as its slowest chain
 * of computes and messages, so a slow compute on it delays the end while a
 * fast one off it gives nothing back.  With more ranks than cores the ranks
 * take the cores in turn, a whole compute each (the executor's gate), a
 * compute that waited for its core starts as long after the core was freed
 * as such computes did in the step before, on the mean, and a message that
 * had come takes at most as long as those made while a core was free
 * (free_core_delivery).  Else
 * none is kept,
 * and pp_demo_here predicts from the blocks' measured costs and the probe
 * (with more ranks than cores and no gate, taking turns on the cores as the
 * probe found the operating system gives them). */
static void predict_step(pp_demo *d, const pp_sched *s, const pp_trainer *t)
{
    pp_demo_state *in = d->in;
    in->here_for.name[0] = 0;
    if (pp_trainer_flops(t) == 0) in->took_for.name[0] = 0;   /* a trainer's first step: the step kept was another's */
    if (!key_is(&in->took_for, s) || in->took_checkpoint != d->opt.model.checkpoint ||
        (crowded(d) && !in->here.gated))
        return;
    in->here_step = here_from(d, s, in->took, in->took_delivery);
    in->here_for = key_of(s);
}

/* Timed schedule s: each stage's cost (a rank's share of the model is split
 * among its chunks; a stage may weigh more), then, once per demo, the live
 * view's pace. */
static void timed_costs(pp_demo *d, const pp_sched *s)
{
    pp_demo_state *in = d->in;
    for (int k = 0; k < s->nstages && k < PP_MAX_STAGES; k++) in->stage_scale[k] = in->weight[k] / s->chunks;
    d->exec.costs.stage_scale = s->chunks == 1 && weights_even(d, s) ? NULL : in->stage_scale;
    if (d->tui && !in->paced && !pp_cli_given(&d->opt, "--tick-ms")) pace(d, s);
    in->paced = 1;
}

/* One step, timed (t NULL) or training t: predicted, run with the view, exported. */
static void run_step(pp_demo *d, const pp_sched *s, pp_run **pred, pp_run **meas, pp_trainer *t, double *loss)
{
    pp_demo_state *in = d->in;
    if (!t) timed_costs(d, s);
    in->paced = 1;
    d->exec.work = t ? pp_trainer_work(t) : NULL;
    *pred = NULL;
    /* Unchecked (--no-validate), a schedule may deadlock: then there is no
     * prediction, and the watchdog will stop the run. */
    pp_status sim = pp_simulate(s, &d->exec.costs, pred);
    if (sim != PP_OK && !(d->opt.no_validate && sim == PP_ESCHED))
        pp_die(__FILE__, __LINE__, "pp_simulate", sim, "the simulator could not replay a checked schedule");
    /* What this machine adds, probed once per message size: real compute's
     * messages carry a micro-batch's activations, which shrink as M grows. */
    pp_exec_opts probe = d->exec;
    if (t) probe.payload = (size_t)(d->opt.model.batch / s->nmb) * (size_t)d->opt.model.width * sizeof(float);
    int wanted = d->spec->here && d->grid->T * d->grid->D == 1;
    if (wanted && in->here.payload != (long)probe.payload) {   /* not probed yet, or for another size */
        pp_machine_free(&in->here);
        PP_CHECK(pp_probe_machine(d->grid, &probe, &in->here), "probing this machine");
    }
    if (t && wanted && d->grid->rank == 0) predict_step(d, s, t);
    if (d->tui && !in->live) open_view(d);
    if (in->view) pp_view_repeat(in->view, in->rep, in->reps);
    if (in->live) {
        PP_CHECK(pp_live_begin(in->live, *pred, d->exec.costs.tick_s), "out of memory");
        if (in->view) PP_CHECK(pp_view_begin_run(in->view, s, *pred, &d->exec, d->grid->T, d->grid->D), "out of memory");
    }
    if (t) PP_CHECK(pp_trainer_step(t, s, &d->exec, meas, loss), "the training step failed");
    else PP_CHECK(pp_exec_step(d->grid, s, &d->exec, meas), "the timed run failed");
    if (t && wanted && *meas) note_took(d, s, *meas);
    if (in->live) {
        d->quit = pp_live_quit(in->live);
    } else {
        /* Plain text: a Ctrl-C on any rank ends the demo after this step. */
        int mine = pp_interrupted != 0, any = 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, d->grid->all);
        d->quit = any;
    }
}

static void export_step(pp_demo *d, const pp_sched *s, const pp_run *meas)
{
    if (d->in->exports && !d->quit) PP_CHECK(pp_export_run(d->in->exports, meas, s, &d->exec, d->prog), "export failed");
}

static int by_bubble(const void *x, const void *y)
{
    double a = pp_run_bubble_step(*(pp_run *const *)x), b = pp_run_bubble_step(*(pp_run *const *)y);
    return (a > b) - (a < b);
}

/* --repeat N: the step run N times (fewer if q or Ctrl-C), the run with the
 * median bubble kept, the spread noted. */
void pp_demo_run(pp_demo *d, const pp_sched *s, pp_run **pred, pp_run **meas)
{
    int n = d->opt.repeat > 1 ? d->opt.repeat : 1, got = 0;
    *pred = *meas = NULL;
    d->in->repeats = 0;
    if (d->quit) return;
    pp_run **runs = calloc((size_t)n, sizeof *runs);
    if (!runs) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    for (int k = 0; k < n && !d->quit; k++) {
        if (k > 0) pp_run_free(*pred);
        d->in->rep = k + 1, d->in->reps = n;   /* the view's title says which run this is */
        run_step(d, s, pred, &runs[k], NULL, NULL);
        got = k + 1;
    }
    int keep = got - 1;   /* one step, or only cut-short ones (q): the last */
    if (d->grid->rank == 0 && got > 1) {
        int whole = 0;   /* a run cut short (q) is left out of the median */
        for (int k = 0; k < got; k++)
            if (!runs[k]->quit) {
                pp_run *x = runs[whole];
                runs[whole++] = runs[k], runs[k] = x;
            }
        qsort(runs, (size_t)whole, sizeof *runs, by_bubble);
        if (whole > 1) {
            d->in->repeats = whole;
            d->in->spread[0] = pp_run_bubble_step(runs[0]);
            d->in->spread[1] = pp_run_bubble_step(runs[whole - 1]);
        }
        if (whole > 0) keep = whole / 2;
        /* The picture shows the run the text reports, where every run went
         * as planned (no pause, no change of tick, none cut short). */
        int plain = whole == got;
        for (int k = 0; k < got; k++) plain &= !runs[k]->paused && !runs[k]->retimed;
        if (plain && whole > 1 && !d->exec.work) pp_demo_show(d, runs[keep], s, whole);
    }
    for (int k = 0; k < got; k++)
        if (k != keep) pp_run_free(runs[k]);
    *meas = runs[keep];
    free(runs);
    if (*meas) export_step(d, s, *meas);
}

double pp_demo_here(const pp_demo *d, const pp_sched *s)
{
    if (d->exec.work && key_is(&d->in->here_for, s)) return d->in->here_step;
    return here_from(d, s, NULL, -1);
}

int pp_demo_sharing(const pp_demo *d, int *cores, int *gated, double *wait_s)
{
    *gated = d->in->here.gated;
    *wait_s = *gated ? d->in->took_handoff : d->in->here.turn_s;
    return pp_machine_sharing(&d->in->here, 0, cores);
}

double pp_demo_woken_share(const pp_demo *d)
{
    return d->in->here.gated ? d->in->took_woken : -1;
}

int pp_demo_spread(const pp_demo *d, double *lo, double *hi)
{
    *lo = d->in->spread[0], *hi = d->in->spread[1];
    return d->in->repeats;
}

void pp_demo_run_report(pp_demo *d, const pp_sched *s, int per_tick, int first, pp_run **pred, pp_run **meas)
{
    pp_demo_run(d, s, pred, meas);
    if (d->quit || d->grid->rank != 0) return;
    printf("%s", first ? "" : "\n");
    pp_demo_header(stdout, d, s, 1);
    printf("measured timeline:\n");
    pp_report_timeline(stdout, *meas, d->exec.costs.tick_s / per_tick, 80);
    pp_report_summary(stdout, *meas, *pred, s, &d->exec);
    if (d->grid->T * d->grid->D == 1) pp_report_here(stdout, *meas, pp_demo_here(d, s), &d->in->here, 1);
    double lo, hi;
    int n = pp_demo_spread(d, &lo, &hi);
    if (n > 1)
        printf("  --repeat %d: the step shown is the median of %d; the measured bubble ran\n"
               "  from %.2f to %.2f %% (a spread of %.2f points)\n", d->opt.repeat, n, 100 * lo, 100 * hi,
               100 * (hi - lo));
    fflush(stdout);
}

const char *pp_demo_disturbed(const pp_run *meas)
{
    return meas->paused && meas->retimed ? " *paused, re-ticked"
         : meas->paused                  ? " *paused"
         : meas->retimed                 ? " *re-ticked"
                                         : "";
}

void pp_demo_table_notes(FILE *f, int disturbed, const char *broken)
{
    if (broken) pp_report_broken(f, broken, "! ", "  ");
    if (disturbed)
        fprintf(f, "* the step was paused (held time counts as idle) or its tick changed (+/-)\n"
                   "  in the live view: its bubble is not the schedule's alone\n");
}

/* ---- real mode ------------------------------------------------------------ */

/* Seconds one ordered all-reduce of n floats takes over comm: the median
 * of five after one to warm up, the slowest rank's (collective over all). */
static double time_allreduce(pp_demo *d, MPI_Comm comm, long n)
{
    float *buf = calloc((size_t)n + 1, sizeof *buf);
    double v[5], median, worst = 0;
    pp_waiter wait = {.poll_s = d->exec.poll_wait_s};
    if (!buf) pp_die(__FILE__, __LINE__, "calloc", PP_ENOMEM, "");
    for (int r = 0; r < 6; r++) {
        double t0 = pp_now();
        PP_CHECK(pp_allreduce_ordered(buf, n, comm, &wait, NULL), "timing an all-reduce");
        if (r > 0) v[r - 1] = pp_now() - t0;
    }
    free(buf);
    median = pp_median5(v);
    MPI_Allreduce(&median, &worst, 1, MPI_DOUBLE, MPI_MAX, d->grid->all);
    return worst;
}

/* Real mode counts costs in ticks of 1 ms, so that the figures the view and
 * the exports print as ticks read as milliseconds. */
static const double REAL_TICK_S = 1e-3;

/* The simulator's ticks from the measured seconds: F, B, I, W per block
 * (the stage's blocks multiply them); with --checkpoint a backward (B, or
 * its input half I) runs the forward again first, with its tensor-parallel
 * sum. */
static void real_ticks(pp_demo *d)
{
    pp_costs *c = &d->exec.costs;
    int again = d->opt.model.checkpoint;
    for (int k = 0; k < 4; k++) c->ticks[k] = d->in->cost[k] / REAL_TICK_S;
    if (again) c->ticks[PP_B] += c->ticks[PP_F], c->ticks[PP_I] += c->ticks[PP_F];
    c->allreduce_again = again ? c->allreduce : 0;
}

/* Each block's measured cost with the end layers' and the loss's folded in
 * (pp_model_block_s), [depth]; the caller frees it. */
static double *block_costs(pp_demo *d)
{
    double *cost = malloc((size_t)d->opt.model.depth * sizeof *cost);
    if (!cost) pp_die(__FILE__, __LINE__, "malloc", PP_ENOMEM, "");
    pp_model_block_s(&d->opt.model, d->in->cost, cost);
    return cost;
}

/* The simulator's cost of each stage, as a multiple of one block's F and B
 * (the ticks): its blocks, and on the end stages the end layers and the
 * loss.  A stage's F and B grow together by that factor: an end layer's
 * own split of F and B is not kept. */
static void stage_scales(pp_demo *d, const pp_partition *p)
{
    double *cost = block_costs(d), one = (d->exec.costs.ticks[PP_F] + d->exec.costs.ticks[PP_B]) * REAL_TICK_S;
    for (int s = 0; s < p->nstages; s++) {
        double sum = 0;
        for (int l = p->first[s]; l < p->first[s + 1]; l++) sum += cost[l];
        d->in->stage_scale[s] = one > 0 ? sum / one : p->first[s + 1] - p->first[s];
    }
    free(cost);
    d->exec.costs.stage_scale = d->in->stage_scale;
}

void pp_demo_costs(const pp_demo *d, double *cost)
{
    memcpy(cost, d->in->cost, sizeof d->in->cost);
}

void pp_demo_share_measured(pp_demo *d, double *v, int n)
{
    MPI_Request rq;
    MPI_Ibcast(v, n, MPI_DOUBLE, 0, d->grid->all, &rq);
    PP_CHECK(pp_wait(&rq, 1e-3), "sharing the measured figures");
}

/* Do the measured costs hold for the model now in d->opt.model at M?  The
 * same M and blocks; end layers measured if it has them (costs measured
 * with them hold without: pp_model_block_s leaves them out then). */
static int costs_hold(const pp_demo *d, int M)
{
    const pp_model_cfg *now = &d->opt.model, *then = &d->in->cost_cfg;
    return d->in->cost_M == M && now->width == then->width && now->hidden == then->hidden &&
           now->batch == then->batch && (now->features == 0 || now->features == then->features);
}

/* Rank 0 measures a block's costs for micro-batches of batch/M samples while
 * the others sleep (a rank spinning in a broadcast would share rank 0's core
 * and slow the measurement); every rank gets them.  They become the
 * simulator's costs: F, B, I, W per block, times the blocks of each stage. */
static void measure_costs(pp_demo *d, int M)
{
    pp_demo_state *in = d->in;
    /* On a grid: a replica's micro-batch, through one tensor-parallel slice
     * of a block; the group's all-reduce of that micro-batch's activation and
     * the replicas' gradient sum are timed apart, below. */
    pp_model_cfg slice = d->opt.model;
    slice.hidden /= d->grid->T;
    if (d->grid->rank == 0)
        PP_CHECK(pp_model_measure(&slice, slice.batch / (d->grid->D * M), in->cost), "could not measure the model");
    pp_demo_share_measured(d, in->cost, PP_MODEL_NCOSTS);
    in->took_for.name[0] = 0;   /* new costs: the model or M changed since the step kept */
    in->cost_M = M;
    in->cost_cfg = d->opt.model;
    pp_costs *c = &d->exec.costs;
    c->tick_s = REAL_TICK_S;
    const pp_grid *g = d->grid;
    long rows = slice.batch / (g->D * M), fs = slice.hidden;
    c->allreduce = 0, c->dp_sum = 0;
    if (g->T > 1)   /* one per block in F (and in B or I): scaled by the blocks like F and B */
        c->allreduce = time_allreduce(d, g->tp, rows * slice.width) / REAL_TICK_S;
    if (g->D > 1) {   /* the gradients of a stage's blocks, at most */
        int most = (slice.depth + g->P - 1) / g->P;
        long floats = most * (2L * slice.width * fs + fs + slice.width);
        c->dp_sum = time_allreduce(d, g->dp, floats) / REAL_TICK_S;
    }
    real_ticks(d);
}

/* Bytes of memory the machine has free for new work (Linux: MemAvailable);
 * -1 where it cannot tell (then the model is not checked against it). */
static double available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* The most this rank will hold, in bytes: [0] weights and gradients, [1]
 * stored activations (GPipe's worst case, every micro-batch of the replica's
 * share) with message buffers and the batch, [2] rank 0's single-process
 * reference run (the whole model).  Counted with demo 03's formulas, per
 * float32, on this rank's tensor-parallel slice; blocks split evenly over
 * the stages (the partition comes later, from measured costs). */
static void rank_bytes(const pp_demo *d, double bytes[3])
{
    const pp_model_cfg *c = &d->opt.model;
    const pp_grid *g = d->grid;
    pp_model_cfg slice = *c;
    slice.hidden /= g->T;
    int blocks = c->depth / g->P + (g->pipe_rank < c->depth % g->P), rows = c->batch / g->D, fewest = d->opt.mb[0];
    for (int i = 1; i < d->opt.nmb; i++) fewest = d->opt.mb[i] < fewest ? d->opt.mb[i] : fewest;
    double wd = c->width, io = pp_model_io(c), f = sizeof(float);
    double ends = c->features > 0 ? 2 * io * wd : 0;   /* Win or Wout with its gradient, on an end stage */
    bytes[0] = f * (2 * blocks * (double)pp_block_params(&slice) + ends);
    /* messages and scratch, the batch's inputs, targets and outputs, the teacher */
    bytes[1] = f * ((double)pp_stage_act_floats(&slice, blocks, 1, rows) + 5 * rows * wd + 3 * rows * io + io * io);
    bytes[2] = g->rank != 0 ? 0
                            : f * (3 * (double)pp_model_params(c) +
                                   (double)pp_stage_act_floats(c, c->depth, 1, c->batch / fewest));
}

/* Refuses a model too big for the memory it will live in: the machine's, or
 * on GPU ranks the GPU's (free now).  Ranks that share a machine (a GPU) add
 * up their needs, and the one worst off speaks for all (no rank has
 * allocated anything yet). */
static void check_memory(pp_demo *d)
{
    MPI_Comm group;
    int gpu = pp_backend_gpu();
    double mine[3], need[3], avail = gpu >= 0 ? (double)pp_backend_free_bytes() : available_bytes();
    rank_bytes(d, mine);
    MPI_Comm_split(d->grid->node, gpu < 0 ? 0 : gpu, d->grid->rank, &group);   /* the ranks on my machine (GPU) */
    MPI_Allreduce(mine, need, 3, MPI_DOUBLE, MPI_SUM, group);
    MPI_Comm_free(&group);
    struct { double ratio; int rank; } me = {avail > 0 ? (need[0] + need[1] + need[2]) / avail : 0, d->grid->rank},
                                        worst;
    MPI_Allreduce(&me, &worst, 1, MPI_DOUBLE_INT, MPI_MAXLOC, d->grid->all);
    double fig[4] = {need[0], need[1], need[2], avail};
    MPI_Bcast(fig, 4, MPI_DOUBLE, worst.rank, d->grid->all);
    const double GiB = 1024.0 * 1024 * 1024;
    const pp_model_cfg *c = &d->opt.model;
    if (worst.ratio > 1)
        refuse(d, "--depth %d --width %d --hidden %d --batch %d needs about %.1f GiB on one %s (computed: weights "
               "and gradients %.1f GiB, activations and data %.1f GiB, rank 0's single-process check %.1f GiB), which "
               "has %.1f GiB free: make the model or the batch smaller", c->depth, c->width, c->hidden, c->batch,
               gpu >= 0 ? "GPU" : "machine",
               (fig[0] + fig[1] + fig[2]) / GiB, fig[0] / GiB, fig[1] / GiB, fig[2] / GiB, fig[3] / GiB);
}

/* Makes folder `path` and any parents it lacks (as mkdir -p), and checks it
 * can be written into.  Returns 0, or -1 with the reason in why. */
static int make_folder(const char *path, char *why, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char keep = *c;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            snprintf(why, n, "%.*s: %s", (int)(n / 2), p, strerror(errno));
            return -1;
        }
        *c = keep;
        if (!keep) break;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(path, W_OK) != 0) {
        snprintf(why, n, "%s", stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode) ? "a file is there" : strerror(errno));
        return -1;
    }
    return 0;
}

void pp_demo_model(pp_demo *d, const pp_sched *s, pp_partition *part)
{
    pp_model_cfg *c = &d->opt.model;
    int S = s ? s->nstages : d->grid->P;
    if (s && s->chunks > 1 && S > c->depth)
        refuse(d, "%s on %d rank%s has %d stages (%d per rank), but the model has %d blocks: every stage needs one "
               "(--depth %d or more%s)", s->name, s->nranks, s->nranks == 1 ? "" : "s", S, s->chunks, c->depth, S,
               strcmp(s->name, "interleaved") == 0 ? ", or fewer --chunks" : "");
    int T = d->grid->T, D = d->grid->D;
    if (c->hidden % T != 0)
        refuse(d, "--tp %d: the hidden width %d does not split into %d equal slices (%d / %d = %.2f): "
               "give a T that divides %d (or change --hidden)", T, c->hidden, T, c->hidden, T, (double)c->hidden / T,
               c->hidden);
    for (int i = 0; i < d->opt.nmb; i++)
        if (D > 1 && c->batch % (D * d->opt.mb[i]) != 0)
            refuse(d, "--batch %d does not split into D=%d replicas x M=%d micro-batches (%d / (%d x %d) = %.2f): "
                   "make the batch a multiple of %d", c->batch, D, d->opt.mb[i], c->batch, D, d->opt.mb[i],
                   (double)c->batch / (D * d->opt.mb[i]), D * d->opt.mb[i]);
        else if (c->batch % d->opt.mb[i] != 0)
            refuse(d, "--batch %d does not split into M=%d micro-batches: M must divide the batch "
                   "(or change --batch to a multiple of %d)", c->batch, d->opt.mb[i], d->opt.mb[i]);
    check_memory(d);
    if (d->opt.dump[0]) {   /* made now (with its parents), so that a bad path is refused before any step */
        char why[400] = "";
        int bad = d->grid->rank == 0 && make_folder(d->opt.dump, why, sizeof why) != 0;
        pp_demo_refuse_if(d, bad, "--dump: cannot make the folder '%s' (%s): give a folder this program can write into",
                          d->opt.dump, why);
    }
    if (!costs_hold(d, d->opt.mb[0])) measure_costs(d, d->opt.mb[0]);
    else real_ticks(d);   /* --checkpoint may differ from the costs' last use */
    double *cost = block_costs(d);
    char err[300];
    pp_status st = pp_partition_make(d->opt.layers[0] ? d->opt.layers : d->opt.partition, c->depth, S, cost, part,
                                      err, sizeof err);
    free(cost);
    if (st != PP_OK) refuse(d, "%s", err);
    stage_scales(d, part);
}

void pp_demo_train(pp_demo *d, pp_trainer *t, const pp_sched *s, pp_run **pred, pp_run **meas, double *loss)
{
    if (!costs_hold(d, s->nmb)) measure_costs(d, s->nmb);
    real_ticks(d);   /* --checkpoint may have changed (demo 10 runs without and with) */
    pp_partition part = {.nstages = s->nstages, .depth = d->opt.model.depth};   /* t's own */
    for (int k = 0; k < s->nstages; k++) {
        int first, n = pp_trainer_blocks(t, k, &first);
        part.first[k] = first, part.first[k + 1] = first + n;
    }
    stage_scales(d, &part);
    run_step(d, s, pred, meas, t, loss);
    if (*meas) export_step(d, s, *meas);
}

void pp_demo_train_steps(pp_demo *d, pp_trainer *t, const pp_sched *s, double *loss, pp_run **last)
{
    const pp_model_cfg *c = &d->opt.model;
    *last = NULL;
    for (int k = 0; k < c->steps && !d->quit; k++) {
        pp_run *pred = NULL, *meas = NULL;
        pp_demo_train(d, t, s, &pred, &meas, loss);
        if (meas)
            pp_demo_note(d, "step %d of %d: loss %.6f%s, %.0f samples/s (measured)", k + 1, c->steps, *loss,
                         d->grid->D > 1 ? " (the batch's: the replicas' shares added)" : "", c->batch / meas->makespan);
        pp_run_free(pred);
        pp_run_free(*last);
        *last = meas;
    }
}

void pp_demo_note(pp_demo *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->in->note, sizeof d->in->note, fmt, ap);   /* kept for a view not open yet */
    va_end(ap);
    if (d->in->view) pp_view_note(d->in->view, d->in->note);
}

void pp_demo_view_now(pp_demo *d, const pp_sched *s)
{
    if (!d->tui || d->in->live) return;
    timed_costs(d, s);
    open_view(d);
}

void pp_demo_show(pp_demo *d, pp_run *r, const pp_sched *s, int n)
{
    if (d->in->view && r) pp_view_show_run(d->in->view, r, s, &d->exec.costs, n);
}

int pp_demo_hold(pp_demo *d, const char *prompt)
{
    if (!d->in->live || d->quit || d->opt.exit_at_end) return d->quit;
    d->quit = pp_live_hold(d->in->live, prompt);
    return d->quit;
}

void pp_demo_header(FILE *f, const pp_demo *d, const pp_sched *s, int show_m)
{
    const double *t = d->exec.costs.ticks;
    char mb[32] = "", size[32];
    if (show_m) snprintf(mb, sizeof mb, ", M=%d micro-batch%s", s->nmb, s->nmb == 1 ? "" : "es");
    if (d->exec.payload % 1024 == 0) snprintf(size, sizeof size, "%zu KiB", d->exec.payload / 1024);
    else snprintf(size, sizeof size, "%zu-byte", d->exec.payload);
    char grid[96] = "", line[400], costs[96];
    int split = 0;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) split |= s->acts[r][i].kind == PP_I || s->acts[r][i].kind == PP_W;
    if (split) snprintf(costs, sizeof costs, "F=%g I=%g W=%g ticks of %.4g ms", t[PP_F], t[PP_I], t[PP_W],
                        d->exec.costs.tick_s * 1e3);
    else snprintf(costs, sizeof costs, "F=%g B=%g ticks of %.4g ms", t[PP_F], t[PP_B], d->exec.costs.tick_s * 1e3);
    if (s->chunks > 1) {   /* the costs are a rank's share; each chunk takes its part */
        size_t k = strlen(costs);
        snprintf(costs + k, sizeof costs - k, " for a rank's share, 1/%d of it per chunk", s->chunks);
    }
    if (d->grid->T * d->grid->D > 1)
        snprintf(grid, sizeof grid, " x T=%d x D=%d (%d ranks; all-reduce AR=%g ticks, real, of the payload)", d->grid->T,
                 d->grid->D, d->grid->size, d->opt.ar_ticks);
    char shape[96];
    if (s->chunks > 1)
        snprintf(shape, sizeof shape, "P=%d rank%s x v=%d chunks = %d stages", s->nranks, s->nranks == 1 ? "" : "s",
                 s->chunks, s->nstages);
    else snprintf(shape, sizeof shape, "P=%d stage%s on %d rank%s", s->nstages, s->nstages == 1 ? "" : "s", s->nranks,
                  s->nranks == 1 ? "" : "s");
    if (grid[0]) snprintf(line, sizeof line, "%s: P=%d stages%s%s; %s; %s messages", s->name, s->nstages, grid, mb,
                          costs, size);
    else snprintf(line, sizeof line, "%s: %s%s; %s; %s messages", s->name, shape, mb, costs, size);
    pp_report_wrap(f, line, "", "  ");
    if (s->note[0]) pp_report_wrap(f, s->note, "  ", "  ");   /* how a file was read */
    pp_demo_link_text(d, (long)d->exec.payload, line, sizeof line);
    if (line[0]) pp_report_wrap(f, line, "  ", "  ");
    if (!weights_even(d, s)) {   /* some stage costs more (or less) than the others */
        size_t n = (size_t)snprintf(line, sizeof line, "each stage's cost, times an even stage's:");
        for (int k = 0; k < s->nstages && k < PP_MAX_STAGES && n < sizeof line - 16; k++)
            n += (size_t)snprintf(line + n, sizeof line - n, "%s %g", k ? "," : "", d->in->weight[k]);
        pp_report_wrap(f, line, "  ", "  ");
    }
}

void pp_demo_stage_costs(pp_demo *d, const double *scale, int n)
{
    for (int k = 0; k < PP_MAX_STAGES; k++) d->in->weight[k] = k < n ? scale[k] : 1;
    if (!scale && d->opt.slow_stage >= 0) d->in->weight[d->opt.slow_stage] = d->opt.slow_factor;
}

void pp_demo_link_text(const pp_demo *d, long bytes, char *out, size_t n)
{
    const pp_link *l = &d->exec.link;
    out[0] = '\0';
    if (l->gbps <= 0) return;
    snprintf(out, n, "link (a model, --link): %g Gb/s, %g us latency: a message leaves %g us + bytes x 8 / %g Gb/s "
             "after its send begins, one after another per pair of ranks (%ld bytes: %.1f us, formula)", l->gbps,
             l->latency_s * 1e6, l->latency_s * 1e6, l->gbps, bytes, pp_link_s(l, bytes) * 1e6);
}

void pp_demo_grid_header(FILE *f, const pp_grid *g)
{
    char replica[48] = "";
    if (g->D > 1) snprintf(replica, sizeof replica, ", replica = k / %d", g->T * g->P);
    fprintf(f, "\n=== %d rank%s as P=%d stage%s x T=%d tensor-parallel rank%s x D=%d replica%s\n"
               "(rank k: t = k mod %d, stage = (k / %d) mod %d%s)\n", g->size, g->size == 1 ? "" : "s", g->P,
            g->P == 1 ? "" : "s", g->T, g->T == 1 ? "" : "s", g->D, g->D == 1 ? "" : "s", g->T, g->T, g->P, replica);
}

void pp_demo_csv_row(pp_demo *d, const char *header, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pp_export_table_row(d->in->exports, header, fmt, ap);
    va_end(ap);
}

int pp_demo_end(pp_demo *d)
{
    /* The run is complete here, so any key leaves, q included, and the
     * exports are written; only Ctrl-C still means "stop". */
    if (d->in->live && !d->quit && !d->opt.exit_at_end) {
        pp_live_hold(d->in->live, "done: press any key to leave, the arrows to scroll (the text report follows)");
        d->quit = pp_interrupted != 0;
    }
    /* The shell's status for an interrupted command; 1 for a run that q cut
     * short, so that a script does not take it for a whole one. */
    int status = pp_interrupted ? 130 : d->quit ? 1 : 0;
    if (d->grid->rank == 0 && close_view(d, !d->quit) != PP_OK) {
        fprintf(stderr, "%s: error: could not write an export file\n", d->prog);
        status = 1;
    } else if (d->grid->rank == 0 && !d->quit) {
        /* Every file the run wrote, by the option that asked for it. */
        const char *path[] = {d->opt.save, d->opt.csv, d->opt.events, d->opt.trace, d->opt.svg};
        const char *what[] = {"the schedule (--save-schedule)", "the table (--csv)", "every event (--events)",
                              "the trace (--trace)", "the timeline picture (--svg)"};
        for (int k = 0; k < 5; k++)
            if (path[k][0]) printf("wrote %s to %s\n", what[k], path[k]);
    }
    if (d->grid->rank == 0 && d->quit) {
        int asked = d->opt.save[0] || d->opt.csv[0] || d->opt.events[0] || d->opt.trace[0] || d->opt.svg[0] || d->opt.dump[0];
        fprintf(stderr, "%s: stopped (%s): %s\n", d->prog, pp_interrupted ? "Ctrl-C" : "q",
                asked ? "nothing was exported" : "the run was cut short");
    }
    pp_live_free(d->in->live);
    pp_machine_free(&d->in->here);
    free(d->in->took);
    free(d->in->took_msg);
    free(d->in);
    d->in = NULL;
    current = NULL;
    pp_grid_free(d->grid);
    d->grid = NULL;
    MPI_Finalize();
    return status;
}
