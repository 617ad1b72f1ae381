/* draw.c -- the live view's picture, drawn with ncurses from the model alone.
 *
 *   header     demo, schedule, P, M, tick, elapsed, state
 *   axis       time in ms (measured)
 *   one row per rank: "r2 s2 " then one cell per time slot, coloured by
 *              what the rank was doing, with F3 / B3 labels where they fit
 *   legend
 *   panel      per rank: busy %, activations held now and peak against the
 *              formula, bytes sent; the bubble so far against the formula
 *              and the prediction; compute actions done
 *   key line   the keys, or the question being asked
 *
 * Colour is never the only signal: every activity has its own glyph too, so
 * the picture reads the same with NO_COLOR or on a monochrome terminal, and
 * the colours are backgrounds that read on light and dark terminals alike.
 * Left out on purpose: MPI, clocks and input (view.c).
 */
#include "view.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

/* What a timeline cell shows, in drawing priority order (later wins). */
enum { CELL_IDLE, CELL_SEND, CELL_HOLD, CELL_WAIT, CELL_F, CELL_B, CELL_I, CELL_W, CELL_AR, CELL_KINDS };

static const char GLYPH[CELL_KINDS] = {' ', '~', '|', '.', '>', '<', '(', ')', '#'};
static const char *WORD[CELL_KINDS] = {"idle", "send", "held", "wait msg", "forward", "backward", "B input",
                                       "B weight", "all-reduce"};

enum { LABEL_W = 8 };   /* "r12 s3  " column */

void pp_draw_colors(void)
{
    use_default_colors();
    init_pair(1 + CELL_SEND, COLOR_CYAN, -1);
    init_pair(1 + CELL_HOLD, COLOR_YELLOW, -1);
    init_pair(1 + CELL_WAIT, COLOR_RED, -1);
    init_pair(1 + CELL_F, COLOR_BLACK, COLOR_GREEN);
    init_pair(1 + CELL_B, COLOR_WHITE, COLOR_BLUE);
    init_pair(1 + CELL_I, COLOR_BLACK, COLOR_YELLOW);
    init_pair(1 + CELL_W, COLOR_WHITE, COLOR_MAGENTA);
    init_pair(1 + CELL_AR, COLOR_WHITE, COLOR_RED);
}

static int cell_of(const pp_event *e)
{
    if (e->type == PP_EV_SEND) return CELL_SEND;
    if (e->type == PP_EV_HOLD) return CELL_HOLD;
    if (e->type == PP_EV_WAIT) return CELL_WAIT;
    if (e->type == PP_EV_ALLREDUCE) return CELL_AR;
    switch (e->kind) {
    case PP_F: return CELL_F;
    case PP_B: return CELL_B;
    case PP_I: return CELL_I;
    default: return CELL_W;
    }
}

static chtype look(int cell, int mono)
{
    if (mono) return (chtype)GLYPH[cell] | (cell >= CELL_F ? A_REVERSE : A_NORMAL);
    if (cell == CELL_IDLE) return ' ';
    return (chtype)(cell >= CELL_F ? ' ' : GLYPH[cell]) | COLOR_PAIR(1 + cell);
}

void pp_draw_min_size(const pp_view_model *m, int *h, int *w)
{
    /* A row per rank, a panel line per rank (per tensor-parallel group on a
     * grid), eight more, and in real mode the note. */
    *h = m->nrows + (m->T * m->D > 1 ? m->depth : m->nrows) + 8 + (m->real ? 1 : 0);
    *w = 80;
}

/* ---- the timeline ------------------------------------------------------- */

/* Paints one rank's row into `cells` (w columns from cam->left). */
static void paint_row(const pp_evlist *ev, const pp_view_camera *cam, int w, unsigned char *cells, int *start)
{
    memset(cells, CELL_IDLE, (size_t)w);
    for (int c = 0; c < w; c++) start[c] = -1;
    for (int prio = CELL_SEND; prio < CELL_KINDS; prio++)
        for (int i = 0; i < ev->n; i++) {
            const pp_event *e = &ev->ev[i];
            int cell = cell_of(e);
            if (cell != prio) continue;
            double a = (e->t0 - cam->left) / cam->slot, b = (e->t1 - cam->left) / cam->slot;
            int c0 = (int)(a + 0.5), c1 = (int)(b + 0.5);
            if (c1 <= c0) c1 = c0 + 1;   /* anything that happened shows at least one cell */
            if (c1 <= 0 || c0 >= w) continue;
            for (int c = c0 < 0 ? 0 : c0; c < c1 && c < w; c++) cells[c] = (unsigned char)cell;
            if (cell >= CELL_F && cell != CELL_AR && c0 >= 0) start[c0] = i;   /* compute blocks get labels */
        }
}

static void draw_rank(const pp_view_model *m, int r, const pp_view_camera *cam, int y, int w, int mono)
{
    const pp_evlist *ev = &m->run->ranks[r];
    unsigned char cells[1024];
    int start[1024];
    if (w > 1024) w = 1024;
    if (m->T * m->D == 1) {
        mvprintw(y, 0, "r%-2d s%-2d", r, m->stage_of[r]);
    } else {
        /* Grouped: the stage (and replica) named on a group's first row only. */
        int p, t, d;
        pp_place(m->depth, m->T, r, &p, &t, &d);
        char head[16] = "";
        if (t == 0 && m->D > 1) snprintf(head, sizeof head, "d%ds%d", d, m->stage_of[r]);
        else if (t == 0) snprintf(head, sizeof head, "s%d", m->stage_of[r]);
        mvprintw(y, 0, "%-5.5st%-2d", head, t);
    }
    paint_row(ev, cam, w, cells, start);
    for (int c = 0; c < w; c++) mvaddch(y, LABEL_W + c, look(cells[c], mono));
    /* Labels: "F3" at the start of each compute block wide enough for it. */
    for (int c = 0; c < w; c++) {
        if (start[c] < 0) continue;
        const pp_event *e = &ev->ev[start[c]];
        char label[16];
        int len = snprintf(label, sizeof label, "%s%d", pp_kind_name((pp_kind)e->kind), e->mb);
        int width = 0;
        while (c + width < w && cells[c + width] == cells[c] && (width == 0 || start[c + width] < 0)) width++;
        if (width < len) len = 1;   /* too narrow: the letter alone */
        attr_t a = mono ? A_REVERSE | A_BOLD : COLOR_PAIR(1 + cells[c]) | A_BOLD;
        attron(a);
        mvaddnstr(y, LABEL_W + c, label, len);
        attroff(a);
    }
}

/* The time axis: a label every ~12 columns, in ms since the step started. */
static void draw_axis(const pp_view_camera *cam, int y, int w)
{
    mvprintw(y, 0, "%-*s", LABEL_W, "ms");
    int every = 12;
    for (int c = 0; c + 6 < w; c += every) {
        double t = (cam->left + c * cam->slot) * 1e3;
        mvprintw(y, LABEL_W + c, "|%-.0f", t);
    }
}

/* The legend; all-reduce only where there are collectives (a grid). */
static void draw_legend(int y, int w, int mono, int grid)
{
    int x = 0;
    move(y, 0);
    for (int k = CELL_F; k < CELL_KINDS + CELL_F; k++) {
        int cell = k % CELL_KINDS;   /* compute kinds first, then the others */
        if (cell == CELL_AR && !grid) continue;
        int need = (int)strlen(WORD[cell]) + 3;
        if (x + need > w) break;
        addch(look(cell, mono) | (cell == CELL_IDLE ? A_UNDERLINE : 0));
        mvprintw(y, x + 1, " %s ", WORD[cell]);
        x += need;
        move(y, x);
    }
}

/* ---- the panel ------------------------------------------------------------ */

static void draw_panel(const pp_view_model *m, int y, int w)
{
    const pp_run *run = m->run;
    double span = m->final ? run->makespan : m->now;
    double total_busy = 0;
    int done = 0;
    for (int r = 0; r < m->nrows; r++) {
        total_busy += run->busy[r];
        for (int i = 0; i < run->ranks[r].n; i++) done += run->ranks[r].ev[i].type == PP_EV_COMPUTE;
    }
    /* One line per rank; on a grid, one per stage: its T x D ranks run the
     * same actions (busy is their mean, bytes their sum; activations held are
     * those of its first rank, replica 0). */
    int grid = m->T * m->D > 1, lines = grid ? m->depth : m->nrows;
    mvprintw(y++, 0, "%-5s stage  busy %%   activations held: now  peak  formula  sent KiB", grid ? "ranks" : "rank");
    for (int i = 0; i < lines; i++) {
        int r = grid ? pp_place_rank(m->depth, m->T, i, 0, 0) : i;   /* the line's first rank */
        const pp_evlist *ev = &run->ranks[r];
        int now_held = ev->n ? ev->ev[ev->n - 1].inflight : 0;
        int formula = pp_theory_peak_inflight(m->family, m->depth, m->M, m->stage_of[r]);
        char f[16] = "-", who[32];
        if (formula >= 0) snprintf(f, sizeof f, "%d", formula);
        double busy = 0, sent = 0;
        int n = 0;
        for (int k = 0; k < m->nrows; k++)
            if (grid ? m->stage_of[k] == m->stage_of[r] : k == r) busy += run->busy[k], sent += (double)run->bytes_sent[k], n++;
        busy /= n;
        if (!grid) snprintf(who, sizeof who, "%4d", r);
        else if (m->D == 1) snprintf(who, sizeof who, "%d-%d", r, r + m->T - 1);
        else snprintf(who, sizeof who, "%dx%d", m->T, m->D);
        mvprintw(y++, 0, "%-5s %4d %6.1f %%   %22d %5d %8s %9.0f", who, m->stage_of[r],
                 span > 0 ? 100 * busy / span : 0.0, now_held, run->peak_inflight[r], f, sent / 1024.0);
    }
    double measured = span > 0 ? 1 - total_busy / (m->nrows * span) : 0;
    double formula = pp_theory_bubble_step(m->family, m->depth, m->M);
    double pred = m->pred_bubble;
    char ftext[48] = "", ptext[48] = "";
    if (formula >= 0) snprintf(ftext, sizeof ftext, "formula %s %.1f %%", pp_theory_bubble_step_text(m->family),
                               100 * formula);
    else snprintf(ftext, sizeof ftext, "formula: none for this schedule");
    if (pred >= 0) snprintf(ptext, sizeof ptext, "predicted %.1f %%", 100 * pred);
    mvprintw(y++, 0, "bubble%s %.1f %% (measured)   %s   %s", m->final ? "" : " so far", 100 * measured, ftext, ptext);
    const char *flag = !m->final ? "" : run->paused && run->retimed ? "   PAUSED AND RE-TICKED: not the schedule's bubble"
                       : run->paused ? "   PAUSED: held time counts as idle" : run->retimed ? "   RE-TICKED: tick changed" : "";
    mvprintw(y++, 0, "compute actions done: %d of %d   peak formula: %s%s", done, m->computes_total,
             pp_theory_peak_text(m->family), flag);
    if (m->note[0]) mvprintw(y, 0, "%.*s", w, m->note);
    (void)w;
}

/* ---- the whole screen ----------------------------------------------------- */

/* Keeps the newest events in sight unless the user scrolled away. */
static void aim(const pp_view_model *m, pp_view_camera *cam, int w)
{
    double window = cam->slot * w;
    cam->left += cam->shift * cam->slot;
    cam->shift = 0;
    double end = m->final ? m->run->makespan : m->now;
    if (cam->follow) cam->left = end > 0.95 * window ? end - 0.95 * window : 0;
    if (cam->left > end) cam->left = end - window / 2;
    if (cam->left < 0) cam->left = 0;
}

void pp_draw_screen(const pp_view_model *m, pp_view_camera *cam, int h, int w, int mono)
{
    int min_h, min_w;
    erase();
    pp_draw_min_size(m, &min_h, &min_w);
    if (h < min_h || w < min_w) {
        mvprintw(0, 0, "terminal too small: %dx%d; %d ranks need at least %dx%d.", w, h, m->nrows, min_w, min_h);
        mvprintw(1, 0, "Enlarge the window, or run with --no-tui for plain text.  q quits.");
        return;
    }
    const char *state = m->quit ? "STOPPING" : m->paused ? "PAUSED" : m->final ? "DONE" : m->started ? "RUNNING" : "STARTING";
    char head[256], grid[48];
    if (m->T * m->D > 1) snprintf(grid, sizeof grid, "P=%d x T=%d x D=%d", m->depth, m->T, m->D);
    else snprintf(grid, sizeof grid, "P=%d", m->nrows);
    if (m->real)
        snprintf(head, sizeof head, "%s  %s M=%d  real compute: F=%.2f B=%.2f ms per block (measured before)  elapsed %.3f s (measured)  %s",
                 m->name, grid, m->M, m->ticks[PP_F] * m->tick0_s * 1e3, m->ticks[PP_B] * m->tick0_s * 1e3,
                 m->final ? m->run->makespan : m->now, m->prog);
    else
        snprintf(head, sizeof head, "%s  %s M=%d  tick %.3g ms  F=%g B=%g ticks  elapsed %.3f s (measured)  %s", m->name,
                 grid, m->M, m->tick_s * 1e3, m->ticks[PP_F], m->ticks[PP_B], m->final ? m->run->makespan : m->now,
                 m->prog);
    int room = w - (int)strlen(state) - 2;
    mvprintw(0, 0, "%.*s", room, head);
    attron(A_BOLD);
    mvprintw(0, w - (int)strlen(state) - 1, "%s", state);
    attroff(A_BOLD);

    int tw = w - LABEL_W;
    aim(m, cam, tw);
    draw_axis(cam, 1, tw);
    for (int r = 0; r < m->nrows; r++) draw_rank(m, r, cam, 2 + r, tw, mono);
    int y = 2 + m->nrows;
    draw_legend(y++, w, mono, m->T * m->D > 1);
    if (h > min_h) y++;
    draw_panel(m, y, w);
    attron(A_REVERSE);
    if (m->prompt[0]) mvprintw(h - 1, 0, "%-*.*s", w, w, m->prompt);
    else mvprintw(h - 1, 0, "%-*.*s", w, w, " space pause/resume   n one step   + faster   - slower   <- -> scroll   f follow   q quit");
    attroff(A_REVERSE);
}
