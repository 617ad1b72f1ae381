/* draw.c -- the live view's picture, drawn with ncurses from the model alone.
 *
 *   title      the state, the demo, the schedule, P, M, the tick, the time
 *   axis       time in ms (measured), at round values
 *   one row per rank: "r2 s2 " then one cell per time slot, coloured by
 *              what the rank was doing, with F3 / B3 labels where they fit;
 *              the action under way is drawn up to now
 *   legend     every symbol the rows can show
 *   panel      per rank: busy %, activations held now and peak (in
 *              micro-batches, or chunks) against the formula, bytes
 *              sent; the bubble so far against the formula and the
 *              prediction; compute actions done; the demo's note;
 *              on GPU ranks, which rank computes on which GPU
 *   key line   the keys, what n runs next while paused, or the question asked
 *
 * Colour is never the only signal: every activity has its own glyph too, so
 * the picture reads the same with NO_COLOR or on a monochrome terminal, and
 * the colours are backgrounds that read on light and dark terminals alike.
 * Every line fits 80 columns without cutting a word.
 * Left out on purpose: MPI, clocks and input (view.c).
 */
#include "view.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Seconds shown for time t: the spans in which the step stood still (paused,
 * no compute under way) are left out of the picture's clock. */
double pp_view_shown(const pp_view_model *m, double t)
{
    double shown = t;
    for (int k = 0; k + 1 < m->nheld + 2; k += 2) {
        double a = k < m->nheld ? m->held[k] : m->held_since, b = k < m->nheld ? m->held[k + 1] : m->now;
        if (a < 0 || a >= t) continue;
        shown -= (b < t ? b : t) - a;
    }
    return shown;
}

/* What a timeline cell shows, in drawing priority order (later wins). */
enum { CELL_IDLE, CELL_SEND, CELL_HOLD, CELL_WAIT, CELL_F, CELL_B, CELL_I, CELL_W, CELL_AR, CELL_KINDS };

static const char GLYPH[CELL_KINDS] = {' ', '~', '|', '.', '>', '<', '(', ')', '#'};
static const char *WORD[CELL_KINDS] = {"idle", "send", "held", "wait msg", "forward", "backward", "B input",
                                       "B weight", "all-reduce"};

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

/* A cell's look: compute kinds are coloured blocks (reverse video in mono),
 * the rest their glyph; an all-reduce is a '#' on red. */
static chtype look(int cell, int mono)
{
    int block = cell >= CELL_F && cell != CELL_AR;
    if (mono) return (chtype)GLYPH[cell] | (block ? A_REVERSE : A_NORMAL);
    if (cell == CELL_IDLE) return ' ';
    return (chtype)(block ? ' ' : GLYPH[cell]) | COLOR_PAIR(1 + cell);
}

/* The legend's items, as they appear: a symbol and its word.  `n` of them. */
static int legend_items(const pp_view_model *m, int *cells)
{
    int n = 0;
    for (int k = CELL_F; k <= CELL_W; k++)
        if (m->kinds[k - CELL_F]) cells[n++] = k;
    if (m->T * m->D > 1) cells[n++] = CELL_AR;
    int rest[] = {CELL_WAIT, CELL_SEND, CELL_HOLD, CELL_IDLE};
    for (int k = 0; k < 4; k++) cells[n++] = rest[k];
    return n;
}

/* Lines the legend takes at width w (each item: swatch, space, word, two spaces). */
static int legend_lines(const pp_view_model *m, int w)
{
    int cells[CELL_KINDS], n = legend_items(m, cells), lines = 1, x = 2;
    for (int i = 0; i < n; i++) {
        int need = (int)strlen(WORD[cells[i]]) + 4;
        if (x + need > w) lines++, x = 2;
        x += need;
    }
    return lines;
}

void pp_draw_min_size(const pp_view_model *m, int *h, int *w)
{
    /* A row per rank, a panel line per rank (per tensor-parallel group on a
     * grid), the legend, seven more, in real mode the note, on GPUs the
     * line saying which.  (The bubble's parts take a line more where there
     * is room: pp_draw_screen.) */
    *w = 80;
    *h = m->nrows + (m->T * m->D > 1 ? m->depth : m->nrows) + legend_lines(m, *w) + 7 + (m->real ? 1 : 0) +
         (m->devices[0] ? 1 : 0);
}

/* ---- the timeline ------------------------------------------------------- */

/* The columns [c0, c1) that the time span [t0, t1) covers; 0 if none of w. */
static int span_cells(const pp_view_camera *cam, double t0, double t1, int w, int *c0, int *c1)
{
    pp_cells_of(t0, t1, cam->left, cam->slot, c0, c1);
    return *c1 > 0 && *c0 < w;
}

/* Paints one rank's row into `cells` (w columns from cam->left): the events,
 * then the action under way up to now, on the picture's clock
 * (pp_view_shown); start[c] is the event whose compute block begins in
 * column c (its label goes there; ev->n stands for `open`). */
static void paint_row(const pp_view_model *m, const pp_evlist *ev, const pp_event *open, const pp_view_camera *cam,
                      int w, unsigned char *cells, int *start)
{
    memset(cells, CELL_IDLE, (size_t)w);
    for (int c = 0; c < w; c++) start[c] = -1;
    /* The events by priority, then the one under way over them: it is what
     * the rank does now, so it takes at least the column after the last
     * block even when it has only just begun. */
    for (int prio = CELL_SEND; prio <= CELL_KINDS; prio++)
        for (int i = 0; i <= ev->n; i++) {
            const pp_event *e = i < ev->n ? &ev->ev[i] : open;
            int last = prio == CELL_KINDS;
            if (!e || e->type < 0 || (last ? i < ev->n : i == ev->n || cell_of(e) != prio)) continue;
            int c0, c1, cell = cell_of(e);
            double t0 = pp_view_shown(m, e->t0), t1 = pp_view_shown(m, e->t1 >= 0 ? e->t1 : m->now);
            if (!span_cells(cam, t0, t1, w, &c0, &c1)) continue;
            if (last && c1 <= (int)ceil((t0 - cam->left) / cam->slot - 0.5)) {
                c0 = (int)ceil((t0 - cam->left) / cam->slot - 0.5);
                c1 = c0 + 1;
            }
            for (int c = c0 < 0 ? 0 : c0; c < c1 && c < w; c++) cells[c] = (unsigned char)cell;
            if (cell >= CELL_F && cell != CELL_AR && c0 >= 0 && c0 < w) start[c0] = i;   /* compute blocks get labels */
        }
}

static void draw_rank(const pp_view_model *m, int r, const pp_view_camera *cam, int y, int w, int mono)
{
    const pp_evlist *ev = &m->run->ranks[r];
    const pp_event *open = m->final ? NULL : &m->open[r];
    unsigned char cells[1024];
    int start[1024];
    if (w > 1024) w = 1024;
    if (m->T * m->D == 1) {
        mvprintw(y, 0, "r%-2ds%-4.4s", r, m->stages[r]);
    } else {
        /* Grouped: the stage (and replica) named on a group's first row only. */
        int p, t, d;
        pp_place(m->depth, m->T, r, &p, &t, &d);
        char head[16] = "";
        if (t == 0 && m->D > 1) snprintf(head, sizeof head, "d%ds%d", d, m->stage_of[r]);
        else if (t == 0) snprintf(head, sizeof head, "s%d", m->stage_of[r]);
        mvprintw(y, 0, "%-5.5st%-2d", head, t);
    }
    paint_row(m, ev, open, cam, w, cells, start);
    for (int c = 0; c < w; c++) mvaddch(y, PP_LABEL_W + c, look(cells[c], mono));
    /* Labels: "F3" at the start of each compute block wide enough for it, the
     * letter alone where it is not; none on a cell an all-reduce took. */
    for (int c = 0; c < w; c++) {
        if (start[c] < 0 || cells[c] == CELL_AR) continue;
        const pp_event *e = start[c] < ev->n ? &ev->ev[start[c]] : open;
        char label[16];
        int len = snprintf(label, sizeof label, "%s%d", pp_kind_name((pp_kind)e->kind), e->mb);
        int width = 0;
        while (c + width < w && cells[c + width] == cells[c] && (width == 0 || start[c + width] < 0)) width++;
        if (width < len) len = 1;
        attr_t a = mono ? A_REVERSE | A_BOLD : COLOR_PAIR(1 + cells[c]) | A_BOLD;
        attron(a);
        mvaddnstr(y, PP_LABEL_W + c, label, len);
        attroff(a);
    }
}

/* The time axis, in ms since the step started: a label at every multiple of
 * a round step (1, 2 or 5 times a power of ten) at least 8 columns apart. */
static void draw_axis(const pp_view_camera *cam, int y, int w)
{
    mvprintw(y, 0, "%-*s", PP_LABEL_W, "ms");
    double slot_ms = cam->slot * 1e3, step = pp_round_step(slot_ms * 8);
    double first = ceil(cam->left * 1e3 / step - 1e-9) * step;
    if (!(step > 0) || !isfinite(first)) return;   /* no axis rather than no end */
    for (double t = first;; t += step) {
        int c = (int)floor((t - cam->left * 1e3) / slot_ms + 0.5);
        if (c + 6 >= w) break;
        mvprintw(y, PP_LABEL_W + c, "|%g", fabs(t) < 1e-9 ? 0.0 : t);
    }
}

static void draw_legend(const pp_view_model *m, int y, int w, int mono)
{
    int cells[CELL_KINDS], n = legend_items(m, cells), x = 2;
    for (int i = 0; i < n; i++) {
        int cell = cells[i], need = (int)strlen(WORD[cell]) + 4;
        if (x + need > w) y++, x = 2;
        mvaddch(y, x, look(cell, mono) | (cell == CELL_IDLE ? A_UNDERLINE : 0));
        mvprintw(y, x + 1, " %s", WORD[cell]);
        x += need;
    }
}

/* ---- the panel ------------------------------------------------------------ */

static void draw_panel(const pp_view_model *m, int y, int w, int parts)
{
    const pp_run *run = m->run;
    double span = pp_view_shown(m, m->now);   /* the picture's time: held spans left out */
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
    char ftitle[48];
    snprintf(ftitle, sizeof ftitle, "formula %s", m->family == PP_FAM_CUSTOM ? "" : pp_theory_peak_text(m->family));
    /* The activations a rank holds, each a forward of one micro-batch (m.b.)
     * whose weight gradient (B, or W) has not run yet: counted in
     * micro-batches, or where a rank runs several stages in chunks (one
     * stage's activations of one micro-batch).  The header's width with the
     * formula's column left out: */
    const int header_w = 54;
    if (header_w + (int)strlen(ftitle) > w) snprintf(ftitle, sizeof ftitle, "formula");   /* its text is in the report */
    int fw = (int)strlen(ftitle);
    mvprintw(y++, 0, "%-5s %5s  %6s  %15s %5s  %-*s %9s", grid ? "stage" : "rank", grid ? "ranks" : "stage", "busy",
             m->chunks > 1 ? "chunks held now" : "m.b. held now", "peak", fw, ftitle, "sent KiB");
    for (int i = 0; i < lines; i++) {
        int r = grid ? pp_place_rank(m->depth, m->T, i, 0, 0) : i;   /* the line's first rank */
        const pp_evlist *ev = &run->ranks[r];
        int now_held = ev->n ? ev->ev[ev->n - 1].inflight : 0;
        int formula = pp_theory_peak_inflight(m->family, m->depth, m->M, m->chunks, pp_run_pipe_rank(run, r));
        char f[16] = "-", who[32];
        if (formula >= 0) snprintf(f, sizeof f, "%d", formula);
        double busy = 0, sent = 0;
        int n = 0;
        for (int k = 0; k < m->nrows; k++)
            if (grid ? m->stage_of[k] == m->stage_of[r] : k == r) busy += run->busy[k], sent += (double)run->bytes_sent[k], n++;
        busy /= n;
        /* a line per rank: rank, stage; per stage: stage, how many ranks run it */
        if (!grid) snprintf(who, sizeof who, "%4d", r);
        else snprintf(who, sizeof who, "%4d", m->stage_of[r]);
        char col2[16];
        if (grid) snprintf(col2, sizeof col2, "%d", n);
        else snprintf(col2, sizeof col2, "%s", m->stages[r]);
        mvprintw(y++, 0, "%-5s %5s  %4.1f %%  %15d %5d  %-*s %9.0f", who, col2,
                 span > 0 ? 100 * busy / span : 0.0, now_held, run->peak_inflight[r], fw, f, sent / 1024.0);
    }
    double measured = span > 0 ? 1 - total_busy / (m->nrows * span) : 0;
    double formula = pp_theory_bubble_step(m->family, m->depth, m->M, m->chunks);
    char ftext[48] = "", ptext[48] = "";
    if (formula >= 0 && m->formula_off) snprintf(ftext, sizeof ftext, "formula: does not apply");   /* the report says why */
    else if (formula >= 0)
        snprintf(ftext, sizeof ftext, "formula %s %.1f %%", pp_theory_bubble_step_text(m->family), 100 * formula);
    else snprintf(ftext, sizeof ftext, "formula: none");
    if (m->pred_bubble >= 0) snprintf(ptext, sizeof ptext, "predicted %.1f %%", 100 * m->pred_bubble);
    mvprintw(y++, 0, "bubble%s %.1f %% measured  %s  %s", m->final ? "" : " so far", 100 * measured, ftext, ptext);
    double held = m->now - span;
    char flag[80] = "";
    if (held > 0) snprintf(flag, sizeof flag, "   %.1f s held, left out of the picture", held);
    if (m->final && run->retimed) snprintf(flag, sizeof flag, "   %s: tick changed", run->paused ? "PAUSED, RE-TICKED" : "RE-TICKED");
    else if (m->final && run->paused) snprintf(flag, sizeof flag, "   PAUSED: %.1f s held, left out", held);
    if (m->final && run->quit) snprintf(flag, sizeof flag, "   QUIT: the rest ran without its ticks");
    mvprintw(y++, 0, "compute actions done: %d of %d%s", done, m->computes_total, flag);
    if (parts) mvprintw(y++, 0, "%.*s", w, m->parts);
    if (m->note[0]) mvprintw(y++, 0, "%.*s", w, m->note);
    if (m->devices[0]) mvprintw(y, 0, "%.*s", w, m->devices);
}

/* ---- the whole screen ----------------------------------------------------- */

/* Keeps the newest events in sight unless the user scrolled away. */
static void aim(const pp_view_model *m, pp_view_camera *cam, int w)
{
    double window = cam->slot * w;
    cam->left += cam->shift * cam->slot;
    cam->shift = 0;
    double end = pp_view_shown(m, m->now);
    if (cam->follow) cam->left = end > 0.95 * window ? end - 0.95 * window : 0;
    if (cam->left > end) cam->left = end - window / 2;
    if (cam->left < 0) cam->left = 0;
}

/* The title: the state first, then as many of the other parts as fit in w,
 * whole: the demo and schedule, the shape, the clock, the costs. */
static void draw_title(const pp_view_model *m, int w)
{
    const char *state = m->alert[0] ? "STUCK"
                      : m->quit     ? "STOPPING"
                      : m->paused   ? "PAUSED"
                      : m->final    ? "DONE"
                      : m->started  ? "RUNNING"
                                    : "STARTING";
    char parts[6][96], grid[48];
    if (m->T * m->D > 1) snprintf(grid, sizeof grid, "P=%d x T=%d x D=%d", m->depth, m->T, m->D);
    else if (m->chunks > 1) snprintf(grid, sizeof grid, "P=%d x v=%d", m->nrows, m->chunks);
    else snprintf(grid, sizeof grid, "P=%d", m->nrows);
    snprintf(parts[0], sizeof parts[0], "%s: %s", m->prog, m->name);
    snprintf(parts[1], sizeof parts[1], "%s M=%d", grid, m->M);
    if (m->median_of > 1)
        snprintf(parts[1] + strlen(parts[1]), sizeof parts[1] - strlen(parts[1]), " median of %d", m->median_of);
    else if (m->reps > 1)
        snprintf(parts[1] + strlen(parts[1]), sizeof parts[1] - strlen(parts[1]), " run %d/%d", m->rep, m->reps);
    double ms = m->tick0_s * 1e3;
    if (m->real && (m->kinds[PP_I] || m->kinds[PP_W]))
        snprintf(parts[3], sizeof parts[3], "real compute: F=%.2f I=%.2f W=%.2f ms a block, measured", m->ticks[PP_F] * ms,
                 m->ticks[PP_I] * ms, m->ticks[PP_W] * ms);
    else if (m->real)
        snprintf(parts[3], sizeof parts[3], "real compute: F=%.2f B=%.2f ms a block, measured", m->ticks[PP_F] * ms,
                 m->ticks[PP_B] * ms);
    else if (m->kinds[PP_I] || m->kinds[PP_W])
        snprintf(parts[3], sizeof parts[3], "tick %.4g ms  F=%.3g I=%.3g W=%.3g ticks", m->tick_s * 1e3, m->ticks[PP_F],
                 m->ticks[PP_I], m->ticks[PP_W]);
    else if (!m->kinds[PP_B])   /* forwards only (inference) */
        snprintf(parts[3], sizeof parts[3], "tick %.4g ms  F=%.3g ticks", m->tick_s * 1e3, m->ticks[PP_F]);
    else snprintf(parts[3], sizeof parts[3], "tick %.4g ms  F=%.3g B=%.3g ticks", m->tick_s * 1e3, m->ticks[PP_F],
                  m->ticks[PP_B]);
    /* the clock before the costs, in ms as on the axis and in the tables (not below 0 before the start) */
    double clock_ms = 1e3 * pp_view_shown(m, m->now);
    if (clock_ms < 0) clock_ms = 0;
    snprintf(parts[2], sizeof parts[2], clock_ms < 100 ? "step %.1f ms" : "step %.0f ms", clock_ms);
    attron(A_BOLD);
    mvprintw(0, 0, "%s", state);
    attroff(A_BOLD);
    int x = (int)strlen(state);
    for (int k = 0; k < 4; k++) {
        int len = (int)strlen(parts[k]);
        if (x + 2 + len > w) continue;   /* a part that does not fit is left out whole */
        mvprintw(0, x + 2, "%s", parts[k]);
        x += 2 + len;
    }
}

/* The bottom line: the question asked, or while paused what n runs next,
 * or the keys. */
static void draw_keys(const pp_view_model *m, int h, int w)
{
    char line[256];
    if (m->prompt[0]) snprintf(line, sizeof line, "%s", m->prompt);
    else if (m->paused) snprintf(line, sizeof line, " %s   space resume  q quit", m->next[0] ? m->next : "paused");
    else snprintf(line, sizeof line, " space pause  n step  + faster  - slower  <- -> scroll  f follow  q quit");
    attron(A_REVERSE);
    mvprintw(h - 1, 0, "%-*.*s", w, w, line);
    attroff(A_REVERSE);
}

/* The watchdog's report in place of the panel: its lines, each wrapped at
 * the width (continuations indented), as many as fit above the key line. */
static void draw_alert(const pp_view_model *m, int y, int h, int w)
{
    attron(A_BOLD);
    for (const char *p = m->alert; *p && y < h - 1;) {
        size_t len = strcspn(p, "\n");
        for (size_t done = 0, indent = 0; done < len && y < h - 1; indent = 4) {
            size_t room = (size_t)w - indent, take = len - done;
            if (take > room) {   /* cut at the last space that fits */
                take = room;
                while (take > 1 && p[done + take] != ' ') take--;
                if (take <= 1) take = room;
            }
            mvprintw(y++, (int)indent, "%.*s", (int)take, p + done);
            done += take;
            while (done < len && p[done] == ' ') done++;
        }
        p += len + (p[len] == '\n');
    }
    attroff(A_BOLD);
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
    draw_title(m, w);
    int tw = w - PP_LABEL_W;
    aim(m, cam, tw);
    draw_axis(cam, 1, tw);
    for (int r = 0; r < m->nrows; r++) draw_rank(m, r, cam, 2 + r, tw, mono);
    int y = 2 + m->nrows;
    draw_legend(m, y, w, mono);
    y += legend_lines(m, w);
    int parts = m->parts[0] && h > min_h;   /* the bubble's parts, where there is a line for them */
    if (h > min_h + parts) y++;
    if (m->alert[0]) draw_alert(m, y, h, w);
    else draw_panel(m, y, w, parts);
    draw_keys(m, h, w);
}
