/* report.c -- plain-text output for when stdout is not a terminal: the
 * timeline (one row per rank, one character per time slot) and the summary
 * (measured, predicted and formula figures side by side, each labelled).
 *
 * Drawing takes finished data and writes text; it knows nothing of MPI.
 * Left out on purpose: colour and live redraws (the ncurses view does those).
 */
#include "view.h"
#include "pp_idle.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* ---- timeline ---------------------------------------------------------- */

/* Paints one compute event into row[c0..c1): its label ("F3") where it fits,
 * else the kind's letter alone, and the letter in lower case after it ("F3ff":
 * the forward goes on).  Marks the label's cells in `label` so that nothing
 * painted later hides them. */
static void paint(char *row, char *label, int c0, int c1, const pp_event *e)
{
    char text[24];
    int n = snprintf(text, sizeof text, "%s%d", pp_kind_name((pp_kind)e->kind), e->mb);
    if (n > c1 - c0) n = 1;
    for (int c = c0; c < c1; c++) {
        int k = c - c0;
        row[c] = k < n ? text[k] : (char)tolower((unsigned char)text[0]);
        label[c] = k < n;
    }
}

/* The cells [c0, c1) an event covers in `cols` columns of `slot` seconds
 * from time `left`; 0 if none.  A block that begins before `left` is cut
 * (its label is then not shown: *cut is set). */
static int cells(const pp_event *e, double left, double slot, int cols, int *c0, int *c1, int *cut)
{
    pp_cells_of(e->t0, e->t1, left, slot, c0, c1);
    if (*c1 > cols) *c1 = cols;
    *cut = *c0 < 0;
    if (*c0 < 0) *c0 = 0;
    return *c0 < cols && *c1 > 0;
}

/* One rank's row from time `left`: '.' waiting for a message, '|' held by a
 * pause, the computes over them, and a grid's collectives as '#' over what is
 * not a label. */
static void paint_row(const pp_evlist *ev, double left, double slot, int cols, char *row, char *label)
{
    memset(row, ' ', (size_t)cols);
    memset(label, 0, (size_t)cols);
    row[cols] = '\0';
    int c0, c1, cut;
    for (int i = 0; i < ev->n; i++) {
        const pp_event *e = &ev->ev[i];
        char glyph = e->type == PP_EV_WAIT ? '.' : e->type == PP_EV_HOLD ? '|' : 0;
        if (glyph && cells(e, left, slot, cols, &c0, &c1, &cut)) memset(row + c0, glyph, (size_t)(c1 - c0));
    }
    for (int i = 0; i < ev->n; i++)
        if (ev->ev[i].type == PP_EV_COMPUTE && cells(&ev->ev[i], left, slot, cols, &c0, &c1, &cut)) {
            paint(row, label, c0, c1, &ev->ev[i]);
            if (cut)   /* begun in the band before: it goes on */
                for (int c = c0; c < c1; c++) row[c] = (char)tolower((unsigned char)row[c0]), label[c] = 0;
        }
    for (int i = 0; i < ev->n; i++)
        if (ev->ev[i].type == PP_EV_ALLREDUCE && cells(&ev->ev[i], left, slot, cols, &c0, &c1, &cut))
            for (int c = c0; c < c1; c++)
                if (!label[c]) row[c] = '#';
}

/* Row p's label: "rank 5", or on a grid "rank 5 d1 s0 t1" (replica, stage,
 * tensor-parallel rank).  Returns its length. */
static int row_label(const pp_run *r, int p, char *buf, size_t n)
{
    int s, t, d;
    pp_place(r->nrows / (r->T * r->D), r->T, p, &s, &t, &d);
    if (r->D > 1) return snprintf(buf, n, "rank %d d%d s%d t%d", p, d, s, t);
    if (r->T > 1) return snprintf(buf, n, "rank %d s%d t%d", p, s, t);
    return snprintf(buf, n, "rank %d", p);
}

void pp_report_timeline(FILE *f, const pp_run *r, double slot, int width)
{
    char name[48];
    int labw = row_label(r, r->nrows - 1, name, sizeof name);   /* the last row's is the longest */
    int prefix = 2 + labw + 2;
    int cols = (int)ceil(r->makespan / slot - 1e-9), room = width - prefix - 1;
    if (room < 20) room = 20;
    /* Too long for the width: the step in up to four bands, one after the
     * other; longer still, columns twice, four times ... as wide (with a
     * slot that is a tick over a power of two, as the demos give, a tick is
     * still a whole number of columns, or a column a whole number of ticks). */
    while (cols > 4 * room) {
        slot *= 2;
        cols = (int)ceil(r->makespan / slot - 1e-9);
    }
    int bands = (cols + room - 1) / room;
    if (bands < 1) bands = 1;
    int bandw = (cols + bands - 1) / bands;
    if (bandw < 1) bandw = 1;
    char row[4096], label[4096];
    if (bandw > (int)sizeof row - 1) bandw = (int)sizeof row - 1;
    int kinds[PP_NKINDS] = {0}, waits = 0, holds = 0, sums = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            if (e->type == PP_EV_COMPUTE) kinds[e->kind] = 1;
            waits |= e->type == PP_EV_WAIT, holds |= e->type == PP_EV_HOLD, sums |= e->type == PP_EV_ALLREDUCE;
        }
    for (int b = 0; b < bands; b++) {
        double left = b * bandw * slot;
        int w = b + 1 < bands ? bandw : cols - b * bandw;
        if (bands > 1) fprintf(f, "%s  from %.0f to %.0f ms:\n", b ? "\n" : "", left * 1e3, (left + w * slot) * 1e3);
        for (int p = 0; p < r->nrows; p++) {
            paint_row(&r->ranks[p], left, slot, w, row, label);
            row_label(r, p, name, sizeof name);
            fprintf(f, "  %-*s |%s|\n", labw, name, row);
        }
    }
    /* The legend: every symbol the rows above can hold, and no other. */
    char legend[1024];
    int n = snprintf(legend, sizeof legend, "one column = %.2f ms (measured); F3ff = the forward of micro-batch 3 "
                     "(f: it goes on; a block too short for its number shows its letter alone)", slot * 1e3);
    const char *names[] = {"", "B = backward", "I = backward for the input", "W = backward for the weights",
                           ". = waiting for a message", "| = held by a pause",
                           r->T == 1 ? "# = the replicas' gradient sum"
                           : r->D > 1 ? "# = a collective of the tensor-parallel group inside a compute, or at the "
                                        "end of the row the replicas' gradient sum"
                                      : "# = a collective of the tensor-parallel group inside a compute",
                           "blank = idle"};
    int have[] = {0, kinds[PP_B], kinds[PP_I], kinds[PP_W], waits, holds, sums, 1};
    for (int k = 1; k < 8 && n < (int)sizeof legend; k++)
        if (have[k]) n += snprintf(legend + n, sizeof legend - (size_t)n, "; %s", names[k]);
    pp_report_wrap(f, legend, "  ", "    ");
}

void pp_report_broken(FILE *f, const char *broken, const char *mark, const char *indent)
{
    char note[300];
    snprintf(note, sizeof note, "%sthe formula assumes what this run does not (%s): the prediction, which replays the "
             "schedule with its costs, is the reference", mark, broken);
    pp_report_wrap(f, note, mark[0] == '!' ? "" : indent, indent);
}

void pp_report_wrap(FILE *f, const char *text, const char *first, const char *rest)
{
    const char *indent = first;
    while (*text) {
        int room = 79 - (int)strlen(indent), len = (int)strlen(text);
        if (len > room) {   /* break at the last space that fits */
            len = room;
            while (len > 0 && text[len] != ' ') len--;
            if (len == 0) len = room;
        }
        fprintf(f, "%s%.*s\n", indent, len, text);
        text += len;
        while (*text == ' ') text++;
        indent = rest;
    }
}

/* ---- summary ----------------------------------------------------------- */

/* "27.3 %", or "n/a" where a formula does not apply. */
static const char *pct(char *buf, size_t n, double v)
{
    if (v < 0) snprintf(buf, n, "n/a");
    else snprintf(buf, n, "%.1f %%", 100.0 * v);
    return buf;
}

/* One bubble definition on two lines: its name and formula, then measured,
 * formula and predicted, and diff = measured - formula where one applies. */
static void bubble_lines(FILE *f, const char *label, const char *text, double measured, double formula,
                         double predicted)
{
    char a[16], b[16], c[16];
    fprintf(f, "  %s, formula %s:\n", label, text);
    fprintf(f, "    measured %s   formula %s   predicted %s", pct(a, sizeof a, measured), pct(b, sizeof b, formula),
            pct(c, sizeof c, predicted));
    if (formula >= 0) fprintf(f, "   diff %+.2f points", 100 * (measured - formula));
    fprintf(f, "\n");
}

void pp_report_parts(FILE *f, const pp_sched *s, const pp_run *m, const pp_costs *nominal)
{
    pp_idle x;
    if (pp_idle_breakdown(s, nominal, m, &x) != PP_OK) return;
    if (!x.ok) {
        char line[256];
        snprintf(line, sizeof line, "the bubble is not taken apart: %s", x.why);
        pp_report_wrap(f, line, "  ", "    ");
        return;
    }
    double pt[PP_NPARTS];
    for (int k = 0; k < PP_NPARTS; k++) pt[k] = pp_part_points(&x, (pp_part)k, 2);
    fprintf(f, "  the bubble taken apart, in points of the step (measured):\n");
    if (x.formula >= 0) fprintf(f, "    formula %.2f + schedule %+.2f", 100 * x.formula, pt[PP_PART_SCHEDULE]);
    else fprintf(f, "    schedule %.2f (replayed: no formula)", 100 * x.base);
    fprintf(f, " + imbalance %+.2f + overrun %+.2f\n", pt[PP_PART_IMBALANCE], pt[PP_PART_OVERRUN]);
    fprintf(f, "    + late starts %+.2f + messages %+.2f", pt[PP_PART_LATE], pt[PP_PART_MESSAGES]);
    if (pt[PP_PART_CORES] != 0)   /* only where computes waited for their turn on a core */
        fprintf(f, " + cores %+.2f\n   ", pt[PP_PART_CORES]);
    fprintf(f, " + kit %+.2f = measured %.2f %%\n", pt[PP_PART_REACTION], 100 * x.measured);
    fprintf(f, "  critical path: %d computes and %d message hops (%.2f ms on their way);\n", x.path, x.hops,
            x.path_msg_s * 1e3);
    if (x.messages > 0)
        fprintf(f, "  median delivery %.0f us over the step's %d messages (measured)\n", x.delivery_s * 1e6, x.messages);
    else fprintf(f, "  no message in the step\n");
}

void pp_report_here(FILE *f, const pp_run *m, double predicted, const pp_machine *here, int timed)
{
    double got = pp_run_bubble_step(m);
    fprintf(f, "  this machine (a short probe step before this one, %.0f ms, measured):\n", here->probe_s * 1e3);
    if (timed) fprintf(f, "    a timed compute ran %.0f us past its cost (mean);\n", here->overshoot_s * 1e6);
    fprintf(f, "    a %ld KiB message took %.0f us from its compute to a waiting receiver (mean)\n", here->payload / 1024,
            here->delivery_s * 1e6);
    fprintf(f, "    predicted here %.1f %%   measured %.1f %%   diff %+.2f points\n", 100 * predicted, 100 * got,
            100 * (got - predicted));
}

void pp_report_summary(FILE *f, const pp_run *m, const pp_run *pred, const pp_sched *s,
                       const pp_exec_opts *o)
{
    int P = s->nranks, M = s->nmb, v = s->chunks;
    pp_family fam = s->family;

    fprintf(f, "  %4s  %8s  %8s  %-24s  %11s\n", "rank", "busy", "idle", "activations held at peak", "sent");
    fprintf(f, "  %4s  %8s  %8s  %13s  %9s  %11s\n", "", "", "", "measured", "formula", "KiB");
    for (int p = 0; p < m->nrows; p++) {
        double busy = m->makespan > 0 ? m->busy[p] / m->makespan : 0;
        int formula = pp_theory_peak_inflight(fam, P, M, v, pp_run_pipe_rank(m, p));
        char want[16] = "n/a";
        if (formula >= 0) snprintf(want, sizeof want, "%d", formula);
        fprintf(f, "  %4d  %6.1f %%  %6.1f %%  %13d  %9s  %11.0f\n", p, 100 * busy, 100 * (1 - busy),
                m->peak_inflight[p], want, m->bytes_sent[p] / 1024.0);
    }
    char note[200];
    snprintf(note, sizeof note, "(busy and idle: measured, shares of the makespan; formula %s%s)",
             pp_theory_peak_text(fam), v > 1 ? ", counted in chunks of a micro-batch" : "");
    pp_report_wrap(f, note, "  ", "  ");

    double tick_s = o->costs.tick_s;
    fprintf(f, "  makespan: %.1f ms measured, %.1f ms predicted (%g ticks of %.4g ms)\n", m->makespan * 1e3,
            pred->makespan * 1e3, pred->makespan / tick_s, tick_s * 1e3);
    bubble_lines(f, m->nrows > s->nranks ? "bubble, share of the step = idle / (ranks x makespan)"
                                         : "bubble, share of the step = idle / (P x makespan)",
                 pp_theory_bubble_step_text(fam),
                 pp_run_bubble_step(m), pp_theory_bubble_step(fam, P, M, v), pp_run_bubble_step(pred));
    bubble_lines(f, "bubble over the ideal time = idle / busy", pp_theory_bubble_ideal_text(fam),
                 pp_run_bubble_ideal(m), pp_theory_bubble_ideal(fam, P, M, v), pp_run_bubble_ideal(pred));
    fprintf(f, "  (formula and predicted: computed; diff = measured - formula, in points)\n");
    pp_report_parts(f, s, m, &o->costs);
    const char *broken = pp_theory_broken(fam, P, M, v, &o->costs);
    if (broken) pp_report_broken(f, broken, "note: ", "  ");
    else if (fam == PP_FAM_CUSTOM)
        fprintf(f, "  note: a schedule from a file has no formula: the prediction, which replays\n"
                   "  it with its costs, is the reference\n");
    if (m->paused)
        fprintf(f, "  note: this step was paused in the live view: time held counts as idle,\n"
                   "  so the measured bubble is larger than the schedule's\n");
    if (m->retimed)
        fprintf(f, "  note: the tick was changed (+/-) during this step: the prediction and the\n"
                   "  formula assume one tick throughout\n");
    int has_i = 0;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) has_i |= s->acts[r][i].kind == PP_I;
    if (m->T > 1 && o->costs.allreduce > 0)
        fprintf(f, "  On the grid every F%s ends with a tensor-parallel all-reduce\n"
                   "  (%g ticks, counted as compute).\n", has_i ? ", B and I" : " and B", o->costs.allreduce);
    if (m->D > 1 && o->costs.dp_sum > 0)
        fprintf(f, "  The replicas' gradient sum (%g ticks) ends the step: the prediction\n"
                   "  includes it, the formula does not.\n", o->costs.dp_sum);
}

/* ---- communication on a grid ------------------------------------------ */

double pp_run_wait_s(const pp_run *r)
{
    double sum = 0;
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++)
            if (r->ranks[p].ev[i].type == PP_EV_WAIT) sum += r->ranks[p].ev[i].t1 - r->ranks[p].ev[i].t0;
    return r->nrows ? sum / r->nrows : 0;
}

/* One row: what, calls, the vector's bytes beside their formula, the bytes
 * this kind of call sent to other ranks beside theirs, time per rank. */
static void comm_row(FILE *f, const char *what, int calls, long bytes, long want, long sent, long sent_want, double ms)
{
    fprintf(f, "  %-17s %6d %9ld %c %-9ld %9ld %c %-9ld %6.2f\n", what, calls, bytes, bytes == want ? '=' : '!', want,
            sent, sent == sent_want ? '=' : '!', sent_want, ms);
}

void pp_report_comm(FILE *f, const pp_comm_stats *all, const pp_grid *g, const pp_model_cfg *c, int edges,
                    double wait_ms, pp_comm_stats *sum)
{
    pp_comm_stats s = {0};
    int n = g->size, P = g->P, T = g->T, D = g->D, L = c->depth, E = edges;
    for (int r = 0; r < n; r++) {
        s.pipe_bytes += all[r].pipe_bytes, s.pipe_msgs += all[r].pipe_msgs;
        s.tp_size += all[r].tp_size, s.tp_sent += all[r].tp_sent, s.tp_calls += all[r].tp_calls;
        s.tp_s += all[r].tp_s;
        s.gather_size += all[r].gather_size, s.gather_sent += all[r].gather_sent;
        s.gather_calls += all[r].gather_calls, s.gather_s += all[r].gather_s;
        s.dp_size += all[r].dp_size, s.dp_sent += all[r].dp_sent, s.dp_calls += all[r].dp_calls;
        s.dp_s += all[r].dp_s;
    }
    long act = (long)c->batch * c->width * 4;   /* the whole batch's activations at one boundary, bytes */
    fprintf(f, "\ncommunication in the last step, all ranks together (measured: the bytes handed\n"
               "to MPI, the time in the calls; each beside its formula, computed)\n");
    fprintf(f, "  %-17s %6s %-21s %-21s %6s\n", "", "calls", "    bytes", "    bytes sent", "ms per");
    fprintf(f, "  %-17s %6s %-21s %-21s %6s\n", "", "", " measured = formula", " measured = formula", "rank");
    comm_row(f, "pipeline sends", s.pipe_msgs, s.pipe_bytes, 2L * E * act, s.pipe_bytes, 2L * E * act, wait_ms);
    /* Two all-reduces per block and sample (the model's first block needs no
     * input gradient); with checkpointing a third: the recompute's forward. */
    int per = c->checkpoint ? 3 : 2;
    long ar = (long)T * (per * L - 1) * act, ga = (long)T * 2 * E * act;
    if (T > 1) {
        comm_row(f, "TP all-reduces", s.tp_calls, s.tp_size, ar, s.tp_sent, ar * 2 * (T - 1) / T, s.tp_s / n * 1e3);
        comm_row(f, "TP all-gathers", s.gather_calls, s.gather_size, ga, s.gather_sent, ga * (T - 1) / T,
                 s.gather_s / n * 1e3);
    }
    /* b2 is whole on each of a group's T ranks: T - 1 extra copies per block. */
    long dp = (long)D * (pp_model_params(c) + (long)(T - 1) * L * c->width) * 4;
    if (D > 1)
        comm_row(f, "DP gradient sums", s.dp_calls, s.dp_size, dp, s.dp_sent, dp * 2 * (D - 1) / D, s.dp_s / n * 1e3);
    char text[1400], edge[120];
    const char *e = E == P - 1 ? "(P-1)" : "E";
    if (E == P - 1) snprintf(edge, sizeof edge, "the P-1 stage edges");
    else snprintf(edge, sizeof edge, "the E = %d edges between stages on different ranks", E);
    int k = snprintf(text, sizeof text, "Formulas: pipeline sends 2%s b w 4 bytes, at %s, each way", e, edge);
    if (T > 1)
        k += snprintf(text + k, sizeof text - (size_t)k, "; TP all-reduces T (%dL-1) b w 4 (%s per block and sample, "
                      "but the model's first block needs no input gradient), TP all-gathers of the slices a stage "
                      "received T 2%s b w 4", per, c->checkpoint ? "three with --checkpoint, the recompute's forward "
                      "summing again," : "two", e);
    if (D > 1)
        k += snprintf(text + k, sizeof text - (size_t)k, "; DP gradient sums D %s4",
                      T > 1 ? "(params + (T-1) L w) " : "params ");
    snprintf(text + k, sizeof text - (size_t)k, ". Here b = %d samples in the batch, w = %d, the width, in floats "
             "of 4 bytes, L = %d blocks, params = %ld. \"Bytes\" is the vector a call works on; \"bytes sent\" what a rank sent to "
             "others: an all-reduce sends 2(n-1)/n of its vector, an all-gather (n-1)/n, n ranks in the group.%s "
             "ms per rank: the time inside the calls, mean per rank (pipeline sends: waiting for a message, the bubble "
             "included). A ! in place of = marks a count that differs from its formula.", c->batch, c->width, L, pp_model_params(c),
             D > 1 && T > 1 ? " The second bias of every block (added after the all-reduce) is whole on each "
                                              "tensor-parallel rank, so the replicas sum T copies of it." : "");
    pp_report_wrap(f, text, "  ", "  ");
    if (sum) *sum = s;
}
