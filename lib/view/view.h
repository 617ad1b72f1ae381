/* view.h -- what the view's modules share, and what the demo scaffolding
 * asks of them: the live channel between the ranks (live.c), the screen on
 * rank 0 (view.c, drawn by draw.c from a model, on the terminal term.c
 * finds), and the export files (export.c).  Internal: not part of the
 * public headers; the plain-text reports are (pp_report.h).
 */
#ifndef PP_VIEW_H
#define PP_VIEW_H

#include "core.h"
#include "pp_report.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <termios.h>

typedef struct pp_live pp_live;   /* the ranks' channel to the view while a step runs */
typedef struct pp_view pp_view;   /* the screen, on rank 0 */

/* ---- live.c: the channel -------------------------------------------------- */

/* Keys turned into commands by the view, carried out by rank 0's live channel. */
enum { PP_CMD_NONE, PP_CMD_PAUSE, PP_CMD_STEP, PP_CMD_FASTER, PP_CMD_SLOWER, PP_CMD_QUIT };

/* Collective over the grid.  `view` is the screen on rank 0 (NULL elsewhere). */
pp_status pp_live_new(const pp_grid *g, pp_view *view, pp_live **out);
void pp_live_free(pp_live *l);
/* Every rank, before each step; rank 0 keeps the predicted run to choose steps by. */
pp_status pp_live_begin(pp_live *l, const pp_run *pred, double tick_s);
/* What the executor calls while the step runs (pp_watch): events stream to
 * rank 0's view, keys come back; rank 0's end hands back the view's run. */
const pp_watch *pp_live_watch(pp_live *l);
/* After a step, every rank learns whether q was pressed (collective);
 * between steps and at the end, every rank waits for rank 0's key (1: quit). */
int pp_live_quit(pp_live *l);
int pp_live_hold(pp_live *l, const char *prompt);

/* ---- view.c: the screen (rank 0) ------------------------------------------ */

/* Every call may come from the thread running the step while the view's own
 * thread draws: the view locks what it shares. */
/* `late`: text the terminal's guardian prints if this process dies with the
 * view open (the watchdog's report, in memory the ranks share), or NULL. */
pp_status pp_view_open(int fd, int keys_stdin, const char *prog, const char *late, pp_view **out);
void pp_view_close(pp_view *v);
/* A new step: one row per rank of a T x D grid of pipelines running s, and
 * an empty run that the streamed events fill. */
pp_status pp_view_begin_run(pp_view *v, const pp_sched *s, const pp_run *pred, const pp_exec_opts *o, int T, int D);
/* Events of `rank` streamed in (they are the step's record: there is no other
 * copy), and the action it has under way (t1 -1; type -1: none), which is
 * drawn up to now. */
void pp_view_add(pp_view *v, int rank, const pp_event *e, int n, const pp_event *open);
/* The step has started (rank 0's clock), its ranks taking `cores` cores in
 * turn (pp_run.cores; 0: not so). */
void pp_view_started(pp_view *v, double start, int cores);
/* Every event is in: the run, summarized and flagged, with one more owner
 * (the view keeps drawing it as the final picture). */
pp_run *pp_view_end_run(pp_view *v, int retimed, int quit);
int pp_view_take_cmd(pp_view *v);
void pp_view_set_control(pp_view *v, int paused, double tick_s);
/* While paused: which action n runs next ("" when not paused). */
void pp_view_set_next(pp_view *v, const char *text);
/* A line the panel shows under the figures (loss, samples/s). */
void pp_view_note(pp_view *v, const char *text);
/* --repeat: the coming step is run k of n (the title says so; n < 2: none). */
void pp_view_repeat(pp_view *v, int k, int n);
/* After n runs of lowered schedule lo (--repeat's runs, or demo 02's steps),
 * the picture shows run r, the median one, its parts worked out with
 * `costs`; the title says "median of n".  The caller still owns r. */
void pp_view_show_run(pp_view *v, pp_run *r, const pp_sched *lo, const pp_costs *costs, int n);
/* A line saying where the ranks compute (GPU ranks), under the note. */
void pp_view_devices(pp_view *v, const char *text);
/* The watchdog's report (lines of text), shown in place of the panel. */
void pp_view_alert(pp_view *v, const char *text);
/* Shows `prompt` and waits for a key: returns 1 for q (quit), 0 for any other. */
int pp_view_wait_key(pp_view *v, const char *prompt);

/* ---- export.c: --trace, --events, --svg and the --csv table (rank 0) ------ */

/* Opening checks the paths can be written; close(keep=0) leaves nothing behind. */
typedef struct pp_export pp_export;
pp_status pp_export_open(const char *trace, const char *events, const char *svg, const char *table, pp_export **out,
                         char *err, size_t errlen);
pp_status pp_export_run(pp_export *x, const pp_run *r, const pp_sched *s, const pp_exec_opts *o, const char *prog);
/* One row of the table (no newline), after `header` if it is the first. */
void pp_export_table_row(pp_export *x, const char *header, const char *fmt, va_list ap);
pp_status pp_export_close(pp_export *x, int keep);

/* ---- draw.c: the picture, from a model ------------------------------------ */

/* Everything one frame shows.  Times are seconds since the step started. */
typedef struct {
    char prog[32];          /* the demo */
    char name[32];          /* the schedule */
    pp_family family;
    int nrows, M;           /* rows (ranks of the whole grid), micro-batches */
    int T, D, depth;        /* the grid: tensor-parallel ranks, replicas, pipeline ranks */
    int chunks;             /* stages per pipeline rank (v; 1 in a plain pipeline) */
    int *stage_of;          /* [P] the stage each rank runs (first one, for labels) */
    char (*stages)[8];      /* [P] the stages each row's rank runs, as text: "2", "0,4", "0,4+" (cut) */
    double ticks[4];        /* F, B, I, W cost in ticks */
    double tick0_s;         /* the tick the step started with */
    double tick_s;          /* the tick in force now (+ and - change it) */
    double pred_bubble;     /* the simulator's prediction: bubble share of the step, or -1 */
    int formula_off;        /* 1: the run breaks a condition of the formula (pp_theory_broken) */
    double pred_makespan;   /* and the makespan, in seconds */
    pp_run *run;            /* the step's events as they stream in: when final, the step's whole record */
    pp_event *open;         /* [nrows] each rank's action under way (type -1: none), drawn up to now */
    /* While paused the picture stands still: time in which every rank held
     * (no compute under way) is left out of the live picture, so that an
     * action run with n appears right after the ones before it.  Spans of
     * real time, [held[2k], held[2k+1]); the final picture shows real time. */
    double *held;
    int nheld, held_cap;
    double held_since;      /* when the current such span began, or -1 */
    int computes_total;     /* compute actions in the step */
    double now;             /* how far the step has got */
    int started, final, paused, quit;
    char prompt[160];       /* shown on the key line while waiting for a key */
    int real;               /* real compute: costs are measured ms, not ticks */
    char note[160];         /* a line from the demo: loss, samples/s (real mode) */
    char devices[400];      /* which rank computes on which GPU ("" on the CPU) */
    char alert[4096];       /* the watchdog's report, drawn in place of the panel ("" none) */
    char next[96];          /* paused: which action n runs next */
    int kinds[4];           /* which of F, B, I and W the schedule has */
    char parts[96];         /* the bubble's parts so far (pp_idle.h), or "" */
    int rep, reps;          /* --repeat: this step is run rep of reps (reps < 2: one run) */
    int median_of;          /* > 1: the picture shows the median of this many steps (pp_view_show_run) */
} pp_view_model;

/* Where the timeline is looking: set by the keys, kept between frames. */
typedef struct {
    double slot;            /* seconds per column */
    double left;            /* time at the left edge */
    int follow;             /* keep the newest events in sight */
    int shift;              /* columns to scroll by on the next frame (arrows) */
} pp_view_camera;

/* The columns [*c0, *c1) a span of time [t0, t1) takes in columns of `slot`
 * seconds from `left`: those whose middle it covers, so that back-to-back
 * spans share no column and leave none between them; a span that covers no
 * middle takes the column its own middle is in (whatever happened shows). */
static inline void pp_cells_of(double t0, double t1, double left, double slot, int *c0, int *c1)
{
    *c0 = (int)ceil((t0 - left) / slot - 0.5);
    *c1 = (int)ceil((t1 - left) / slot - 0.5);
    if (*c1 <= *c0) {
        *c0 = (int)floor(((t0 + t1) / 2 - left) / slot);
        *c1 = *c0 + 1;
    }
}

/* The smallest round step (1, 2 or 5 times a power of ten) of at least
 * `least`: where time axes put their labels. */
static inline double pp_round_step(double least)
{
    double p = pow(10, floor(log10(least))), step = 10 * p;
    const double mult[] = {5, 2, 1};
    for (int k = 0; k < 3; k++)
        if (mult[k] * p >= least * (1 - 1e-12)) step = mult[k] * p;
    return step;
}

/* A time of the step as the live picture shows it: with the spans left out
 * in which every rank was held by a pause (the text report keeps real time). */
double pp_view_shown(const pp_view_model *m, double t);
/* The columns left of the timeline: a row's label ("r1 s0,4+ " or
 * "r12s0,4+ ", draw.c's draw_rank): 8 characters and a space. */
enum { PP_LABEL_W = 9 };
/* Draws the whole screen (h rows, w columns) from the model.  `mono`: no
 * colours, distinct glyphs.  Knows nothing of MPI or clocks. */
void pp_draw_screen(const pp_view_model *m, pp_view_camera *cam, int h, int w, int mono);
/* The smallest screen the model fits on. */
void pp_draw_min_size(const pp_view_model *m, int *h, int *w);
/* Sets up the colour pairs (after start_color). */
void pp_draw_colors(void);

/* term.c: finds the terminal the user launched from.  Returns an open file
 * descriptor (read and write), or -1 with the reason in `why`; *bad is set
 * when the user named a path that is not a terminal.  *keys_stdin is set
 * when keys must be read from stdin: mpiexec reads the terminal itself and
 * passes the keys on, and a second reader of the terminal would steal bytes
 * mpiexec was about to read (and leave it blocked). */
int pp_term_find(const char *named, char *path, size_t n, char *why, size_t wn, int *bad, int *keys_stdin);
/* Starts a small guardian process that, if this process dies without
 * saying goodbye, restores the terminal fd (`restore` escape sequence, then
 * `saved` settings; fd -1: no terminal) and says so in one line on stderr,
 * or prints `late` instead when it holds text by then (fd >= 0 only).
 * Returns the pipe to say goodbye on, or -1. */
int pp_term_guard(int fd, const struct termios *saved, const char *restore, const char *prog, const char *late);
/* Normal end: the terminal was restored here; the guardian leaves quietly. */
void pp_term_unguard(int pipe_fd);
/* Ctrl-C (SIGINT) sets pp_interrupted instead of killing the rank; the demo
 * then ends as if q had been pressed.  A rank that has not ended 5 seconds
 * later (or gets a second Ctrl-C) dies, terminal restored.  SIGTERM, SIGHUP,
 * SIGQUIT and SIGPIPE end the rank as if uncaught, the terminal restored first, and
 * the `speaker` (rank 0) says in one line which signal it was. */
void pp_term_catch_interrupt(const char *prog, int speaker);
/* A file being written (writing 1) that a rank ended by one of those
 * signals (or SIGPIPE: what read its output stopped) removes first; writing
 * 0 once it is renamed into place or removed.  Up to 8 at once. */
void pp_term_doomed(const char *path, int writing);
extern volatile sig_atomic_t pp_interrupted;

#endif /* PP_VIEW_H */
