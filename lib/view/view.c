/* view.c -- the live view on rank 0: owns the terminal, keeps the model of
 * the step being run, reads the keys, and redraws 20 times a second from a
 * thread of its own.
 *
 * The thread makes no MPI call (MPI is started with MPI_THREAD_FUNNELED):
 * rank 0's main thread runs its share of the step and hands events and
 * takes commands through this module, under one mutex.  Drawing into
 * ncurses' screen image happens under the mutex; writing the frame to the
 * terminal happens outside it, so a slow terminal never holds up the step.
 * While the view is open, rank 0's stdout is kept in a temporary file and
 * printed when the view closes: the text report lands below the picture
 * instead of across it.
 * Keys are read from one place only: stdin when mpiexec reads the terminal
 * and passes keys on to rank 0, else the terminal itself (term.c decides).
 * Left out on purpose: what the picture looks like (draw.c).
 */
#include "view.h"
#include "pp_idle.h"

#include <curses.h>
#include <poll.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <term.h>
#include <unistd.h>

enum { MAX_CMDS = 32 };

/* How often the panel's parts are worked out again while a step runs. */
static const double PARTS_EVERY_S = 0.25;

struct pp_view {
    pthread_mutex_t mu;
    pthread_cond_t key_cv;
    pthread_t thread;
    int thread_on, stop;

    int fd;                 /* the terminal, read and write */
    FILE *in, *out;
    SCREEN *screen;
    int rows, cols, mono;
    int guard;              /* pipe to the guardian process, or -1 */
    struct termios saved;   /* the terminal's settings before the view */
    int key_fd;             /* where keys come from: the terminal, or stdin (mpiexec forwards them) */
    int saved_stdout;       /* rank 0's real stdout while the view has the screen */
    FILE *deferred;         /* what was printed meanwhile */

    pp_view_model m;
    int ok;                 /* every streamed event was kept (no allocation failed) */
    pp_view_camera cam;
    double start;           /* rank 0's clock at the step's start */
    int cmds[MAX_CMDS], ncmd;
    int want_key, key_done, key_quit;
    const pp_sched *lo;     /* the step under way (NULL between steps): its parts */
    pp_costs costs;
    double parts_at;        /* when they were last worked out (pp_now) */
};

/* ---- the model, filled from the step's thread ------------------------------ */

void pp_view_add(pp_view *v, int rank, const pp_event *e, int n, const pp_event *open)
{
    pthread_mutex_lock(&v->mu);
    if (v->m.run && !v->m.final && rank >= 0 && rank < v->m.nrows) {
        for (int i = 0; i < n && v->ok; i++) v->ok = pp_evlist_push(&v->m.run->ranks[rank], e[i]) == PP_OK;
        if (n > 0) pp_run_summarize(v->m.run);
        v->m.open[rank] = *open;
    }
    pthread_mutex_unlock(&v->mu);
}

void pp_view_started(pp_view *v, double start, int cores)
{
    pthread_mutex_lock(&v->mu);
    v->start = start;
    if (v->m.run) v->m.run->cores = cores;   /* for the parts (so far: the spans with every core
                                                computing end at the last compute done) */
    v->m.started = 1;
    pthread_mutex_unlock(&v->mu);
}

int pp_view_take_cmd(pp_view *v)
{
    pthread_mutex_lock(&v->mu);
    int cmd = PP_CMD_NONE;
    if (v->ncmd > 0) {
        cmd = v->cmds[0];
        memmove(v->cmds, v->cmds + 1, (size_t)--v->ncmd * sizeof *v->cmds);
    }
    pthread_mutex_unlock(&v->mu);
    return cmd;
}

void pp_view_set_control(pp_view *v, int paused, double tick_s)
{
    pthread_mutex_lock(&v->mu);
    v->m.paused = paused;
    v->m.tick_s = tick_s;
    pthread_mutex_unlock(&v->mu);
}

void pp_view_set_next(pp_view *v, const char *text)
{
    pthread_mutex_lock(&v->mu);
    snprintf(v->m.next, sizeof v->m.next, "%s", text);
    pthread_mutex_unlock(&v->mu);
}

void pp_view_repeat(pp_view *v, int k, int n)
{
    pthread_mutex_lock(&v->mu);
    v->m.rep = k, v->m.reps = n;
    v->m.median_of = 0;
    pthread_mutex_unlock(&v->mu);
}

void pp_view_note(pp_view *v, const char *text)
{
    pthread_mutex_lock(&v->mu);
    snprintf(v->m.note, sizeof v->m.note, "%s", text);
    pthread_mutex_unlock(&v->mu);
}

void pp_view_devices(pp_view *v, const char *text)
{
    pthread_mutex_lock(&v->mu);
    snprintf(v->m.devices, sizeof v->m.devices, "%s", text);
    pthread_mutex_unlock(&v->mu);
}

void pp_view_alert(pp_view *v, const char *text)
{
    pthread_mutex_lock(&v->mu);
    snprintf(v->m.alert, sizeof v->m.alert, "%s", text);
    pthread_mutex_unlock(&v->mu);
}

int pp_view_wait_key(pp_view *v, const char *prompt)
{
    pthread_mutex_lock(&v->mu);
    if (v->m.quit) {
        pthread_mutex_unlock(&v->mu);
        return 1;
    }
    snprintf(v->m.prompt, sizeof v->m.prompt, " %s", prompt);
    v->want_key = 1;
    v->key_done = 0;
    while (!v->key_done && !v->stop) pthread_cond_wait(&v->key_cv, &v->mu);
    v->want_key = 0;
    v->m.prompt[0] = '\0';
    int quit = v->key_quit;
    pthread_mutex_unlock(&v->mu);
    return quit;
}

/* Counts the compute actions of s, and notes which kinds it has. */
static int count_computes(const pp_sched *s, int kinds[4])
{
    int n = 0;
    memset(kinds, 0, 4 * sizeof *kinds);
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_kind k = s->acts[r][i].kind;
            if (!pp_kind_is_compute(k)) continue;
            n++;
            kinds[k] = 1;
        }
    return n;
}

pp_status pp_view_begin_run(pp_view *v, const pp_sched *s, const pp_run *pred, const pp_exec_opts *o, int T, int D)
{
    pp_run *run = NULL;
    int rows = s->nranks * T * D;
    int *stage_of = calloc((size_t)rows, sizeof *stage_of);
    char (*stages)[8] = calloc((size_t)rows, sizeof *stages);
    pp_event *open = calloc((size_t)rows, sizeof *open);
    if (!stage_of || !stages || !open || pp_run_new(rows, s->nmb, &run) != PP_OK) {
        free(stage_of), free(stages), free(open);
        return PP_ENOMEM;
    }
    for (int r = 0; r < rows; r++) open[r].type = -1;
    run->T = T, run->D = D;
    for (int r = 0; r < rows; r++) stage_of[r] = -1;
    /* Each row shows the first stage its pipeline rank runs. */
    for (int st = s->nstages - 1; st >= 0; st--)
        for (int r = 0; r < rows; r++)
            if (pp_run_pipe_rank(run, r) == s->stage_rank[st]) stage_of[r] = st;
    /* ... and all of them as text, cut with '+' past 4 characters (the label's room). */
    for (int r = 0; r < rows; r++) {
        char all[64] = "";
        for (int st = 0; st < s->nstages && strlen(all) < 48; st++)
            if (pp_run_pipe_rank(run, r) == s->stage_rank[st])
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%d", all[0] ? "," : "", st);
        if (strlen(all) > 4) {
            char *cut = all + 3;
            while (cut > all && *cut != ',') cut--;
            snprintf(cut, 2, "+");
        }
        snprintf(stages[r], sizeof stages[r], "%s", all);
    }
    pthread_mutex_lock(&v->mu);
    pp_run_free(v->m.run);
    free(v->m.stage_of);
    free(v->m.stages);
    free(v->m.open);
    pp_view_model *m = &v->m;
    m->stages = stages;
    m->open = open;
    snprintf(m->name, sizeof m->name, "%s", s->name);
    m->family = s->family;
    m->nrows = rows;
    m->T = T, m->D = D, m->depth = s->nranks, m->chunks = s->chunks;
    m->M = s->nmb;
    m->stage_of = stage_of;
    memcpy(m->ticks, o->costs.ticks, sizeof m->ticks);
    m->tick0_s = m->tick_s = o->costs.tick_s;
    m->real = o->work != NULL;
    m->pred_bubble = pred ? pp_run_bubble_step(pred) : -1;
    m->formula_off = pp_theory_broken(s->family, s->nranks, s->nmb, s->chunks, &o->costs) != NULL;
    m->pred_makespan = pred ? pred->makespan : o->costs.tick_s;
    m->run = run;
    v->ok = 1;
    m->computes_total = count_computes(s, m->kinds) * T * D;   /* every pipeline of the grid runs s */
    m->next[0] = '\0';
    m->nheld = 0;
    m->held_since = -1;
    m->now = 0;
    m->started = m->final = m->paused = 0;
    m->median_of = 0;
    m->parts[0] = '\0';
    v->lo = s;   /* real compute too: its nominal costs, the blocks' measured alone, come before the step */
    v->costs = o->costs;
    v->parts_at = 0;
    v->cam = (pp_view_camera){0, 0, 1, 0};
    pthread_mutex_unlock(&v->mu);
    return PP_OK;
}

static void track_held(pp_view_model *m);

/* The panel's line of parts (pp_idle.h): so far, over the schedule's own
 * replay, or at the end, over the formula.  Called with the lock held. */
static void work_out_parts(pp_view *v, int whole)
{
    pp_view_model *m = &v->m;
    pp_idle x;
    if (!v->lo || !m->run) return;
    v->parts_at = pp_now();
    if (m->tick_s != m->tick0_s) {   /* + or -: the step no longer has the costs it was meant to */
        snprintf(m->parts, sizeof m->parts, "bubble's parts: none (the tick was changed)");
        return;
    }
    pp_status st = whole ? pp_idle_breakdown(v->lo, &v->costs, m->run, &x) : pp_idle_so_far(v->lo, &v->costs, m->run, &x);
    if (st != PP_OK || !x.ok) {   /* before the first compute is done there is nothing to take apart:
                                     the last line stays */
        if (st != PP_OK || whole || !x.ran_nothing)
            snprintf(m->parts, sizeof m->parts, "bubble's parts%s: none (%.60s)", whole ? "" : " so far", x.why);
        return;
    }
    double pt[PP_NPARTS];
    for (int k = 0; k < PP_NPARTS; k++) pt[k] = pp_part_points(&x, (pp_part)k, 1);
    /* over the formula at the end, over the schedule's own replay so far
     * (lesson 04 names each part; 79 columns at most) */
    char sched[24] = "", num[PP_NPARTS][12];
    for (int k = 0; k < PP_NPARTS; k++)   /* one decimal below 10 points, none above: the line keeps its width */
        snprintf(num[k], sizeof num[k], fabs(pt[k]) < 9.95 ? "%+.1f" : "%+.0f", pt[k]);
    if (pt[PP_PART_CORES] != 0) {   /* ranks waited for a core: one part more, in the same width */
        if (whole) snprintf(sched, sizeof sched, " sched%s", num[PP_PART_SCHEDULE]);
        snprintf(m->parts, sizeof m->parts, "pts over %s:%.10s imb%.5s ovr%.5s late%.5s msg%.5s core%.5s kit%.5s",
                 whole ? "formula" : "sched so far", sched, num[PP_PART_IMBALANCE], num[PP_PART_OVERRUN],
                 num[PP_PART_LATE], num[PP_PART_MESSAGES], num[PP_PART_CORES], num[PP_PART_REACTION]);
        return;
    }
    if (whole) snprintf(sched, sizeof sched, " sched %s", num[PP_PART_SCHEDULE]);
    snprintf(m->parts, sizeof m->parts, "over the %s, pts:%.11s imb %.5s ovr %.5s late %.5s msg %.5s kit %.5s",
             whole ? "formula" : "schedule so far", sched, num[PP_PART_IMBALANCE], num[PP_PART_OVERRUN], num[PP_PART_LATE],
             num[PP_PART_MESSAGES], num[PP_PART_REACTION]);
}

pp_run *pp_view_end_run(pp_view *v, int retimed, int quit)
{
    pthread_mutex_lock(&v->mu);
    pp_run *run = v->ok ? v->m.run : NULL;
    if (run) {
        pp_run_summarize(run);
        run->retimed = retimed;
        run->quit = quit;
        pp_run_keep(run);
    }
    work_out_parts(v, 1);
    v->lo = NULL;   /* the demo may free the schedule now */
    v->m.paused = 0;
    track_held(&v->m);   /* a pause still open ends here */
    v->m.final = 1;
    for (int r = 0; v->m.open && r < v->m.nrows; r++) v->m.open[r].type = -1;
    v->m.now = v->m.run ? v->m.run->makespan : 0;
    v->cam.slot = 0;   /* refit to the whole step */
    v->cam.left = 0;
    v->cam.follow = 0;
    pthread_mutex_unlock(&v->mu);
    return run;
}

void pp_view_show_run(pp_view *v, pp_run *r, const pp_sched *lo, const pp_costs *costs, int n)
{
    pthread_mutex_lock(&v->mu);
    if (v->m.run != r) {
        pp_run_free(v->m.run);
        v->m.run = pp_run_keep(r);
    }
    v->lo = lo, v->costs = *costs;
    work_out_parts(v, 1);
    v->lo = NULL;
    v->m.median_of = n;   /* the title: "median of n" */
    v->m.nheld = 0, v->m.held_since = -1;   /* the caller shows only a run that was never held */
    v->m.now = r->makespan;
    v->cam.slot = 0, v->cam.left = 0, v->cam.follow = 0;   /* refit to the whole step */
    pthread_mutex_unlock(&v->mu);
}

/* ---- keys -------------------------------------------------------------- */

static void push_cmd(pp_view *v, int cmd)
{
    if (v->ncmd < MAX_CMDS) v->cmds[v->ncmd++] = cmd;
}

/* Acts on the bytes of one read: single keys and arrow sequences. */
static void on_keys(pp_view *v, const unsigned char *k, int n)
{
    int page = (v->cols - 6) / 4;
    for (int i = 0; i < n; i++) {
        int c = k[i];
        if (c == 27 && i + 2 < n && (k[i + 1] == '[' || k[i + 1] == 'O')) {
            /* ESC [ or ESC O, digits, a final byte: C right, D left; H, 1~ or 7~ Home (terminals differ) */
            int j = i + 2, num = 0;
            while (j < n - 1 && k[j] >= '0' && k[j] <= '9') num = 10 * num + (k[j++] - '0');
            int fin = k[j];
            c = fin == 'C' ? KEY_RIGHT : fin == 'D' ? KEY_LEFT : fin == 'H' || (fin == '~' && (num == 1 || num == 7)) ? KEY_HOME : 0;
            i = j;
            if (!c) continue;   /* another key's sequence (up, End, F1): nothing to do, at a prompt too */
        }
        if (v->want_key && c != KEY_LEFT && c != KEY_RIGHT && c != KEY_HOME) {   /* the arrows still scroll */
            v->key_quit = c == 'q' || c == 'Q';
            v->key_done = 1;
            pthread_cond_broadcast(&v->key_cv);
            continue;
        }
        switch (c) {
        case ' ': push_cmd(v, PP_CMD_PAUSE); break;
        case 'n': case 'N': push_cmd(v, PP_CMD_STEP); break;
        case '+': case '=': push_cmd(v, PP_CMD_FASTER); break;
        case '-': case '_': push_cmd(v, PP_CMD_SLOWER); break;
        case 'q': case 'Q':
            push_cmd(v, PP_CMD_QUIT);
            v->m.quit = 1;
            break;
        case KEY_LEFT: v->cam.shift -= page, v->cam.follow = 0; break;
        case KEY_RIGHT: v->cam.shift += page, v->cam.follow = 0; break;
        case KEY_HOME: v->cam.left = 0, v->cam.follow = 0; break;
        case 'f': case 'F': v->cam.follow = !v->m.final; break;
        }
    }
}

/* Waits up to `ms` for keys, and acts on them. */
static void read_keys(pp_view *v, int ms)
{
    struct pollfd p = {v->key_fd, POLLIN, 0};
    if (v->key_fd < 0) {
        poll(NULL, 0, ms);
        return;
    }
    if (poll(&p, 1, ms) <= 0 || !(p.revents & (POLLIN | POLLHUP))) return;
    unsigned char buf[64];
    ssize_t got = read(v->key_fd, buf, sizeof buf);
    if (got == 0) v->key_fd = -1;   /* end of file (an error, such as a signal, is not) */
    if (got <= 0) return;
    pthread_mutex_lock(&v->mu);
    on_keys(v, buf, (int)got);
    pthread_mutex_unlock(&v->mu);
}

/* ---- the drawing thread ------------------------------------------------- */

/* The terminal's size now; ncurses is told when it changed (rank 0 gets no
 * SIGWINCH: it is not in the terminal's foreground job). */
static void follow_size(pp_view *v)
{
    struct winsize ws;
    if (ioctl(v->fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return;
    if (ws.ws_row != v->rows || ws.ws_col != v->cols) {
        v->rows = ws.ws_row;
        v->cols = ws.ws_col;
        resize_term(v->rows, v->cols);
        clearok(curscr, TRUE);
        v->cam.slot = 0;
    }
}

/* Columns per time: the whole predicted step if it fits with a tick at least
 * two columns wide, else two columns per tick and scrolling.  The final
 * picture fits the whole step if a tick keeps one column at least (timed
 * mode), else it starts at the beginning and scrolls: a block squeezed under
 * one column would vanish under its neighbour. */
static void choose_slot(pp_view *v)
{
    pp_view_model *m = &v->m;
    int tw = v->cols - PP_LABEL_W - 1;   /* the label column and one to spare */
    if (tw < 10) tw = 10;
    double whole = m->final ? pp_view_shown(m, m->run->makespan) * 1.02 : m->pred_makespan * 1.06;
    double slot = whole / tw;
    if (!m->final && slot > m->tick0_s / 2) slot = m->tick0_s / 2;
    if (m->final && !m->real && slot > m->tick0_s) slot = m->tick0_s;
    if (!(slot > 0) || !isfinite(slot)) slot = 1e-3;   /* (a time not a number would draw the axis forever) */
    v->cam.slot = slot;
}

/* Notes the spans of time in which the step stood still: paused, and no
 * rank with a compute under way (pp_view_shown leaves them out). */
static void track_held(pp_view_model *m)
{
    int computing = 0;
    for (int r = 0; r < m->nrows; r++) computing |= m->open[r].type == PP_EV_COMPUTE;
    int still = m->paused && !computing && !m->final;
    if (still && m->held_since < 0) m->held_since = m->now;
    if (still || m->held_since < 0) return;
    if (m->nheld + 2 > m->held_cap) {
        int cap = m->held_cap ? 2 * m->held_cap : 16;
        double *grown = realloc(m->held, (size_t)cap * sizeof *grown);
        if (!grown) return;   /* the picture then shows real time from here on */
        m->held = grown, m->held_cap = cap;
    }
    m->held[m->nheld++] = m->held_since;
    m->held[m->nheld++] = m->now;
    m->held_since = -1;
}

static void *draw_loop(void *arg)
{
    pp_view *v = arg;
    int interrupted = 0;
    for (;;) {
        read_keys(v, 50);
        pthread_mutex_lock(&v->mu);
        if (pp_interrupted && !interrupted) {   /* Ctrl-C: as if q were pressed */
            interrupted = 1;
            on_keys(v, (const unsigned char *)"q", 1);
        }
        if (v->stop) {
            pthread_mutex_unlock(&v->mu);
            return NULL;
        }
        follow_size(v);
        pp_view_model *m = &v->m;
        if (m->run) {
            if (m->started && !m->final && !m->alert[0]) m->now = pp_now() - v->start;   /* stuck: the clock stops */
            if (m->started && !m->final && pp_now() - v->parts_at > PARTS_EVERY_S) work_out_parts(v, 0);
            track_held(m);
            if (v->cam.slot <= 0) choose_slot(v);
            pp_draw_screen(m, &v->cam, v->rows, v->cols, v->mono);
        }
        wnoutrefresh(stdscr);
        pthread_mutex_unlock(&v->mu);
        doupdate();
    }
}

/* ---- opening and closing ------------------------------------------------ */

/* The escape sequences that give the screen back: plain attributes, the
 * cursor shown, the keypad in its normal mode; then a new line. */
static void restore_text(char *buf, size_t n)
{
    const char *caps[] = {"sgr0", "cnorm", "rmkx"};
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < 3; i++) {
        char *s = tigetstr((char *)caps[i]);
        if (s && s != (char *)-1 && k + strlen(s) < n) {
            memcpy(buf + k, s, strlen(s) + 1);
            k += strlen(s);
        }
    }
    if (k + 3 < n) memcpy(buf + k, "\r\n", 3);
}

pp_status pp_view_open(int fd, int keys_stdin, const char *prog, const char *late, pp_view **out)
{
    pp_view *v = calloc(1, sizeof *v);
    if (!v) return PP_ENOMEM;
    v->fd = fd;
    v->guard = v->saved_stdout = -1;
    snprintf(v->m.prog, sizeof v->m.prog, "%s", prog);
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->key_cv, NULL);
    tcgetattr(fd, &v->saved);
    /* Ctrl-C must not make the terminal drop the frame being written (its
     * default): that left a garbled last picture.  Closing restores `saved`. */
    struct termios quiet = v->saved;
    quiet.c_lflag |= NOFLSH;
    tcsetattr(fd, TCSANOW, &quiet);
    v->in = fdopen(dup(fd), "r");
    v->out = fdopen(dup(fd), "w");
    const char *term = getenv("TERM");
    v->screen = v->in && v->out ? newterm(term && term[0] ? NULL : "xterm", v->out, v->in) : NULL;
    if (!v->screen) {
        if (v->in) fclose(v->in);
        if (v->out) fclose(v->out);
        free(v);
        return PP_EIO;
    }
    set_term(v->screen);
    /* Draw on the normal screen, not the alternate one: the final picture
     * stays in the terminal's scrollback, and whatever is printed after it
     * (the report, mpiexec's messages when a rank fails) comes below it.
     * newterm has queued the switch to the alternate screen; the first
     * refresh sends it, then the way back goes on the same stream after it
     * (putp writes to stdout, which mpiexec forwards at its own pace: the
     * way back came first in about a third of the runs, and the view stayed
     * on the alternate screen), and the next refresh clears the normal one. */
    char leave_alternate[128] = "";
    if (!exit_ca_mode || strlen(exit_ca_mode) < sizeof leave_alternate) {   /* (else both ways stay ncurses') */
        if (exit_ca_mode) strcpy(leave_alternate, exit_ca_mode);
        enter_ca_mode = NULL;
        exit_ca_mode = NULL;
        /* The wide library (ncursesw, with its numbers kept as int) reads
         * its own copy of the terminal's capabilities, which the assignments
         * above do not reach: there endwin would switch back again, and the
         * terminal put the cursor back where the first switch left it, at
         * the top, so what came next was printed over the picture.  Both
         * ways are emptied where the strings are kept (tigetstr finds them;
         * the switch newterm queued is in ncurses' output already). */
        const char *ways[] = {"smcup", "rmcup"};
        for (int i = 0; i < 2; i++) {
            char *way = tigetstr((char *)ways[i]);
            if (way && way != (char *)-1) way[0] = '\0';
        }
    }
    /* No scrolling to save bytes, of a part of the screen or the whole: tmux
     * keeps a line scrolled off in its history, so stale panel lines piled
     * up above the picture.  A shifted line is written again instead. */
    change_scroll_region = NULL;
    scroll_forward = NULL, parm_index = NULL;
    scroll_reverse = NULL, parm_rindex = NULL;
    cbreak();
    noecho();
    nonl();
    curs_set(0);
    refresh();
    fputs(leave_alternate, v->out);
    fflush(v->out);
    clearok(curscr, TRUE);
    typeahead(-1);   /* keys are read by this module, never waited for by ncurses */
    const char *no_color = getenv("NO_COLOR");
    v->mono = (no_color && no_color[0]) || !has_colors();
    if (!v->mono) {
        start_color();
        pp_draw_colors();
    }
    getmaxyx(stdscr, v->rows, v->cols);
    char restore[256];
    restore_text(restore, sizeof restore);
    v->guard = pp_term_guard(fd, &v->saved, restore, prog, late);

    v->key_fd = keys_stdin ? STDIN_FILENO : fd;
    fflush(stdout);
    v->deferred = tmpfile();
    if (v->deferred) {
        v->saved_stdout = dup(STDOUT_FILENO);
        dup2(fileno(v->deferred), STDOUT_FILENO);
    }
    v->thread_on = pthread_create(&v->thread, NULL, draw_loop, v) == 0;
    *out = v;
    return PP_OK;
}

void pp_view_close(pp_view *v)
{
    if (!v) return;
    pthread_mutex_lock(&v->mu);
    v->stop = 1;
    pthread_cond_broadcast(&v->key_cv);
    pthread_mutex_unlock(&v->mu);
    if (v->thread_on) pthread_join(v->thread, NULL);
    /* The picture stays on the screen; the key line goes, and the cursor
     * ends on it, so what is printed next starts on a clean line.  After
     * Ctrl-C it is repainted whole (mpiexec may have written over it);
     * otherwise only what changed is sent: a whole repaint clears the
     * screen first, and terminals keep what a clear wipes in their
     * scrollback, so the picture would be there twice. */
    if (v->m.run) {   /* the last state, which the thread may not have drawn yet */
        follow_size(v);
        if (v->cam.slot <= 0) choose_slot(v);
        pp_draw_screen(&v->m, &v->cam, v->rows, v->cols, v->mono);
    }
    if (pp_interrupted) clearok(curscr, TRUE);
    move(v->rows - 1, 0);
    clrtoeol();
    refresh();
    endwin();
    delscreen(v->screen);
    fclose(v->in);
    fclose(v->out);
    tcsetattr(v->fd, TCSANOW, &v->saved);
    pp_term_unguard(v->guard);
    close(v->fd);
    if (v->deferred) {
        fflush(stdout);
        dup2(v->saved_stdout, STDOUT_FILENO);
        close(v->saved_stdout);
        rewind(v->deferred);
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof buf, v->deferred)) > 0;) fwrite(buf, 1, n, stdout);
        fclose(v->deferred);
        fflush(stdout);
    }
    pp_run_free(v->m.run);
    free(v->m.stage_of);
    free(v->m.stages);
    free(v->m.open);
    free(v->m.held);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->key_cv);
    free(v);
}
