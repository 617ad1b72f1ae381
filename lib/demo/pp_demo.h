/* pp_demo.h -- what the numbered demos share: the command line, and the
 * scaffolding that starts MPI, reads the options, gets
 * a checked schedule, runs steps with the live view and the exports, and
 * stops every rank together on bad input.
 *
 * Unlike the core, the scaffolding ends the program: on bad input rank 0
 * prints one line and every rank exits with status 2 (pp_demo_refuse_if),
 * and a failed call aborts every rank (PP_CHECK).
 */
#ifndef PP_DEMO_H
#define PP_DEMO_H

#include "pp.h"
#include "pp_model.h"
#include "pp_report.h"

/* The compiler checks a printf-style call's arguments against its format. */
#if defined(__GNUC__)
#define PP_DEMO_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define PP_DEMO_PRINTF(fmt, first)
#endif

/* ---- the command line ---------------------------------------------------- */

/* What a demo says about itself: its description and the options it takes. */
typedef struct {
    const char *what;        /* one line for --help */
    int real;                /* computes for real: the model's options are taken, the timed
                                ones (--tick-ms, --cost, --payload) refused */
    int mb_list_ok;          /* -m takes a list such as 1,2,4 (a sweep) */
    int no_schedule;         /* the demo picks its schedules: --schedule is refused */
    int grid_ok;             /* --tp and --dp are taken */
    int csv_ok;              /* it prints a table, and --csv writes it */
    int no_steps;            /* it runs no pipeline step: --steps, --lr, --save-schedule,
                                --trace, --events and --svg are refused */
    int plain;               /* it prints plain text only: --save-schedule, --tty, --trace,
                                --events and --svg are refused */
    int all_ok;              /* --schedule all: the demo runs every builder */
    const char *no_dump;     /* real compute that writes no .npy files: why --dump is refused */
    const char *no_checkpoint; /* real compute that chooses checkpointing itself: why --checkpoint is refused */
    const char *no_partition;  /* real compute that makes its own splits: why --partition and --layers are refused */
    int stream;              /* inference: each micro-batch is a request; --interval is taken */
    int either;              /* timed, or with --real real compute (then as if .real were set) */
    int here;                /* it prints the bubble predicted for this machine: a probe step runs
                                before its first step (on one pipeline: T = D = 1) */
} pp_demo_spec;

#define PP_MAX_MB_LIST 32

/* In the live view, timed demos pick a tick that makes their longest step
 * last about this many seconds, unless --tick-ms is given. */
#define PP_LIVE_STEP_S 4.0

/* Weights (or losses) that differ from the ones they must equal to
 * rounding by more than this share of the largest were trained wrong:
 * float rounding moves them by a few float epsilons of it a step, a
 * gradient lost or added twice by a learning step (demos 02 and 12). */
#define PP_ROUNDING_SHARE 1e-4

/* What the user typed (or the demo's defaults for what was not). */
typedef struct {
    int mb[PP_MAX_MB_LIST];  /* -m/--microbatches: one value or a list "1,2,4" */
    int nmb;
    int m_given;             /* -m was on the command line */
    char schedule[256];      /* --schedule: a builder name, a CSV file (or "all" where all_ok) */
    int chunks;              /* --chunks v: chunks per rank for interleaved (0 = its default, 2) */
    double tick_ms;          /* --tick-ms */
    size_t payload;          /* --payload: bytes, "64K" and "1M" accepted */
    double ticks[4];         /* --cost F=1,B=2,I=1,W=1 */
    double ar_ticks;         /* --cost AR=0.5: ticks of one all-reduce on a grid (timed mode) */
    char csv[256];           /* --csv FILE: the demo's table for plotting */
    char save[256];          /* --save-schedule FILE: the schedule as CSV */
    int no_tui;              /* --no-tui: plain text even on a terminal */
    char tty[256];           /* --tty PATH: the terminal to draw on (else found, or PP_TTY) */
    int exit_at_end;         /* --exit: leave at once when done, no final picture */
    char trace[256];         /* --trace FILE.json: Chrome trace events (Perfetto) */
    char events[256];        /* --events FILE.csv: every event */
    char svg[256];           /* --svg FILE.svg: the timeline as a picture */
    int help;                /* --help given */
    pp_model_cfg model;      /* --depth, --width, --hidden, --batch, --steps, --lr, --seed, --checkpoint */
    char partition[16];      /* --partition front|back|balanced */
    char layers[256];        /* --layers 3,5,4,4: blocks per stage (checked once P is known) */
    char dump[256];          /* --dump DIR: weights, inputs and outputs as .npy */
    int tp, dp;              /* --tp T, --dp D: the grid (P = ranks / (T x D)) */
    double watchdog_s;       /* --watchdog SECONDS: 0 off, < 0 the default (pp_watchdog_limit) */
    char fault[64];          /* --fault KIND:RANK (or PP_FAULT): a bug run on purpose */
    int no_validate;         /* --no-validate: run a schedule whose order would deadlock */
    char device[8];          /* --device cpu|gpu: where every rank computes */
    int repeat;              /* --repeat N: timed steps run N times, the median shown */
    int real;                /* --real: computes for real (a demo with spec.either) */
    double link_gbps, link_us; /* --link GBPS[,US]: the link model (0: none) */
    double interval;         /* --interval TICKS: between two requests' arrivals (0: all waiting) */
    int slow_stage;          /* --slow-stage S:FACTOR: stage S costs FACTOR times the others (-1: none) */
    double slow_factor;
    unsigned long given;     /* bit k: the k-th option of pp_cli_given's list was given */
} pp_opts;

/* M = 8, schedule 1f1b, tick 10 ms, 64 KiB, F=1 B=2 I=1 W=1; the model of
 * pp_model_cfg_default, partition front. */
void pp_cli_defaults(pp_opts *o);
/* Parses argv into o (o holds the defaults on entry), refusing what the
 * demo does not take.  On error PP_EARG with a one-line message in err. */
pp_status pp_cli_parse(int argc, char **argv, const pp_demo_spec *spec, pp_opts *o, char *err, size_t errlen);
/* Was option `name` ("--steps") on the command line? */
int pp_cli_given(const pp_opts *o, const char *name);
void pp_cli_usage(FILE *f, const char *prog, const pp_demo_spec *spec, const pp_opts *defaults);

/* ---- the demos' start, steps and end ------------------------------------ */

typedef struct pp_demo_state pp_demo_state;   /* the live view, exports, measured costs */

typedef struct {
    const char *prog;
    const pp_demo_spec *spec;
    pp_grid *grid;
    pp_opts opt;             /* the demo's defaults on entry to pp_demo_start, then what was typed */
    pp_exec_opts exec;       /* how a step runs: costs and tick, payload, the live view's watch */
    int tui;                 /* the live view is on (same on every rank) */
    int quit;                /* q or Ctrl-C: the demo stops (same on every rank) */
    pp_demo_state *in;
} pp_demo;

/* MPI_Init, the grid, the options (d->opt holds the demo's defaults on
 * entry), where the output goes.  On bad input rank 0 prints one line and
 * every rank exits with status 2; --help prints the usage and exits 0. */
void pp_demo_start(pp_demo *d, const pp_demo_spec *spec, int *argc, char ***argv);
/* Builds (or loads) the schedule named for M micro-batches, validates it and
 * returns it lowered (pp_sched_validate); on failure reports and exits all
 * ranks (status 2).  With --save-schedule, the schedule is saved as given. */
pp_sched *pp_demo_schedule(pp_demo *d, const char *name, int M);
/* The second half of pp_demo_schedule, for a schedule the demo built
 * itself: validates s (frees it) and returns it lowered, or refuses. */
pp_sched *pp_demo_lower(pp_demo *d, pp_sched *s);
/* Collective: rank 0's verdict `bad` is shared; if set, rank 0 prints the
 * message and every rank exits with status 2. */
void pp_demo_refuse_if(pp_demo *d, int bad, const char *fmt, ...) PP_DEMO_PRINTF(3, 4);
/* Predicts (the simulator) and runs (timed executor) one step of a lowered
 * schedule, with the live view and the exports.  Every rank gets *pred;
 * *meas is set on rank 0 only.  With --repeat N the step runs N times and
 * *meas is the run whose bubble is the median. */
void pp_demo_run(pp_demo *d, const pp_sched *s, pp_run **pred, pp_run **meas);
/* Rank 0, after pp_demo_run: how many steps --repeat ran (0 if one), and
 * their lowest and highest measured bubble (shares of the step). */
int pp_demo_spread(const pp_demo *d, double *lo, double *hi);
/* The bubble (share of the step) that lowered schedule s is predicted to
 * have on this machine: its costs with the probe's figures added (probed
 * before the first step; timed mode adds the computes' overshoot too).  For
 * the last step pp_demo_train ran, if it ran s, the prediction made before
 * it: where that step had a step before it at the same M and --checkpoint,
 * every rank a core of its own and T = D = 1, each compute is as long as it
 * took in the step before, every message waited for there as long as it
 * took, and one that had come as long as those took on the mean, or less
 * where it had come sooner (the probe's delivery where none was waited for;
 * pp_run_took). */
double pp_demo_here(const pp_demo *d, const pp_sched *s);
/* After the probe: how many ranks run on rank 0's machine (0: not known),
 * its cores in *cores, and how real computes take them when the ranks are
 * more: *gated 1, in turn through the executor's gate, a whole compute
 * each, and *wait_s the mean time from a core's release to the start of a
 * compute that waited for it, in the last real step (measured); *gated 0,
 * as the operating system shares them, and *wait_s how long the probe
 * measured a rank keeps a core (0: not measured).  pp_demo_here replays
 * either way. */
int pp_demo_sharing(const pp_demo *d, int *cores, int *gated, double *wait_s);
/* Real mode, the cores taken in turn: the share of its races for a core that
 * a rank woken by a message won over the rank that sent it, in the last
 * step (pp_run_woken_share), which the prediction for the next weighs the
 * two orders by; below 0 if there was none. */
double pp_demo_woken_share(const pp_demo *d);
/* pp_demo_run, then on rank 0 the run in plain text: the header, the
 * measured timeline at `per_tick` columns a tick (the run's tick: the live
 * view may have paced it), and the summary (after a blank line unless
 * `first`). */
void pp_demo_run_report(pp_demo *d, const pp_sched *s, int per_tick, int first, pp_run **pred, pp_run **meas);
/* A comparison table's marks for a run: " *paused", " *re-ticked", or both,
 * if the live view disturbed its timing; "" if not. */
const char *pp_demo_disturbed(const pp_run *meas);
/* The notes under a comparison table, each only if needed: what '*' means
 * (some run was disturbed) and what '!' means (`broken`, a formula's
 * condition a run breaks, from pp_theory_broken). */
void pp_demo_table_notes(FILE *f, int disturbed, const char *broken);
/* Between steps and at the end, with the live view: shows `prompt` and waits
 * for a key on rank 0 (every rank waits, asleep).  Returns 1 if q was
 * pressed (d->quit is set).  Without the view, or with --exit, returns 0. */
int pp_demo_hold(pp_demo *d, const char *prompt);
/* Real mode, after pp_demo_start: checks the model options against P and
 * every M (refusing bad ones on all ranks), measures the cost of a block and
 * makes the partition over the stages of schedule s (P stages when s is
 * NULL).  Every rank gets the same partition. */
void pp_demo_model(pp_demo *d, const pp_sched *s, pp_partition *part);
/* Real mode: the model's costs measured for the last step or partition
 * (pp_model_measure's, seconds), into cost[PP_MODEL_NCOSTS]. */
void pp_demo_costs(const pp_demo *d, double *cost);
/* Collective: rank 0's measured figures v[n] reach every rank.  The others
 * wait asleep, looking once a millisecond: a rank that looked every few
 * microseconds would take turns on rank 0's core while it measures. */
void pp_demo_share_measured(pp_demo *d, double *v, int n);
/* One training step of t under s, as pp_demo_run: *pred from the measured
 * costs (a backward's with its recompute when d->opt.model.checkpoint is
 * set, as it must be when t checkpoints), *meas (rank 0) the step's
 * events, *loss the step's loss. */
void pp_demo_train(pp_demo *d, pp_trainer *t, const pp_sched *s, pp_run **pred, pp_run **meas, double *loss);
/* Trains t under s for --steps steps, showing each step's loss and
 * samples/s in the view.  Every rank gets the last loss; rank 0 the last
 * step's events in *last (the caller frees them; NULL elsewhere, or if q
 * stopped the demo before a step ran). */
void pp_demo_train_steps(pp_demo *d, pp_trainer *t, const pp_sched *s, double *loss, pp_run **last);
/* Rank 0: a line the live view shows under its figures (loss, samples/s). */
void pp_demo_note(pp_demo *d, const char *fmt, ...) PP_DEMO_PRINTF(2, 3);
/* Rank 0: the live view shows run r of schedule s, the one the text reports
 * of the n steps or runs that preceded (their median), its parts worked out
 * with d's costs now; no view: nothing. */
void pp_demo_show(pp_demo *d, pp_run *r, const pp_sched *s, int n);
/* Rank 0, with --csv: one row of the demo's table (printf-style, no
 * newline), after `header` (the column names) if it is the first. */
void pp_demo_csv_row(pp_demo *d, const char *header, const char *fmt, ...) PP_DEMO_PRINTF(3, 4);
/* Collective: with the live view, opens it now (timed schedule s's stage
 * costs set and the tick paced for it, as its first step would), so that
 * what rank 0 prints next comes after the picture, in order, instead of
 * racing it to the terminal; no view: nothing. */
void pp_demo_view_now(pp_demo *d, const pp_sched *s);
/* The schedule's one-line description: name, P, M (if show_m), costs, tick, payload. */
void pp_demo_header(FILE *f, const pp_demo *d, const pp_sched *s, int show_m);
/* Timed mode: each of n stages' costs as a multiple of an even stage's (the
 * others 1); scale NULL: --slow-stage's, or all 1.  From the next step on. */
void pp_demo_stage_costs(pp_demo *d, const double *scale, int n);
/* With --link, the link model in words ("" without one), with what a
 * message of `bytes` takes to cross it. */
void pp_demo_link_text(const pp_demo *d, long bytes, char *out, size_t n);
/* The grid demos' heading: the ranks as P x T x D and where rank k sits. */
void pp_demo_grid_header(FILE *f, const pp_grid *g);
/* Ends the demo: frees, MPI_Finalize, returns the exit status to use. */
int pp_demo_end(pp_demo *d);
/* Prints (rank 0) and aborts every rank: used by PP_CHECK. */
void pp_die(const char *file, int line, const char *call, pp_status st, const char *hint);

#define PP_CHECK(call, hint)                                                    \
    do {                                                                        \
        pp_status pp_st_ = (call);                                              \
        if (pp_st_ != PP_OK) pp_die(__FILE__, __LINE__, #call, pp_st_, hint);   \
    } while (0)

/* ---- after the watchdog stopped a step (after_hang.c) --------------------- */

/* The report every rank's state and the cause ("" if none was written); the
 * finder waits for it to be whole.  Whether the rank that found the hang is
 * this one. */
const char *pp_hang_report(const pp_grid *g);
int pp_hang_found_here(const pp_grid *g);
/* Rank 0 says it will print the report; the others wait up to wait_s for it
 * (1: it answered). */
void pp_hang_answer(const pp_grid *g);
int pp_hang_answered(const pp_grid *g, double wait_s);
/* Rank 0 did not answer (it is the stopped rank): end it first, so that the
 * terminal's guardian prints the report before the job ends (same machine). */
void pp_hang_end_rank0(const pp_grid *g);
/* Where the report will be written (memory the ranks share), for a process
 * that outlives this one (the terminal's guardian); NULL if none.  A rank's
 * one-line error put there for the guardian to print once the terminal is
 * restored (0 if it cannot be). */
const char *pp_hang_text(const pp_grid *g);
int pp_hang_tell(const pp_grid *g, const char *line);

#endif /* PP_DEMO_H */
