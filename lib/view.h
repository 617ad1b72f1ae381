/* view.h -- what the live view's modules share: the model the screen is
 * drawn from (view.c fills it, draw.c draws it) and the terminal helpers
 * (term.c).  Internal: not part of pp.h.
 */
#ifndef PP_VIEW_H
#define PP_VIEW_H

#include "internal.h"

#include <signal.h>
#include <termios.h>

/* Everything one frame shows.  Times are seconds since the step started. */
typedef struct {
    char prog[32];          /* the demo */
    char name[32];          /* the schedule */
    pp_family family;
    int P, M;               /* rows (ranks of the whole grid), micro-batches */
    int T, D, depth;        /* the grid: tensor-parallel ranks, replicas, pipeline stages */
    int *stage_of;          /* [P] the stage each rank runs (first one, for labels) */
    double ticks[4];        /* F, B, I, W cost in ticks */
    double tick0_s;         /* the tick the step started with */
    double tick_s;          /* the tick in force now (+ and - change it) */
    double pred_bubble;     /* the simulator's prediction: bubble share of the step, or -1 */
    double pred_makespan;   /* and the makespan, in ticks */
    pp_run *run;            /* the events so far: live while running, the exact gathered ones when final */
    int computes_total;     /* compute actions in the step */
    double now;             /* how far the step has got */
    int started, final, paused, quit;
    char prompt[160];       /* shown on the key line while waiting for a key */
    int real;               /* real compute: costs are measured ms, not ticks */
    char note[160];         /* a line from the demo: loss, samples/s (real mode) */
} pp_view_model;

/* Where the timeline is looking: set by the keys, kept between frames. */
typedef struct {
    double slot;            /* seconds per column */
    double left;            /* time at the left edge */
    int follow;             /* keep the newest events in sight */
    int shift;              /* columns to scroll by on the next frame (arrows) */
} pp_view_camera;

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
/* Starts a small guardian process that restores the terminal (`restore`
 * escape sequence, then `saved` settings) if this process dies without
 * saying goodbye.  Returns the pipe to say goodbye on, or -1. */
int pp_term_guard(int fd, const struct termios *saved, const char *restore);
/* Normal end: the terminal was restored here; the guardian leaves quietly. */
void pp_term_unguard(int pipe_fd);
/* Ctrl-C (SIGINT) sets pp_interrupted instead of killing the rank; the demo
 * then ends as if q had been pressed.  A rank that has not ended 5 seconds
 * later (or gets a second Ctrl-C) dies, terminal restored. */
void pp_term_catch_interrupt(void);
extern volatile sig_atomic_t pp_interrupted;

#endif /* PP_VIEW_H */
