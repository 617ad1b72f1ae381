/* report.c -- plain-text output for when stdout is not a terminal: the
 * timeline (one row per rank, one character per time slot) and the summary
 * (measured, predicted and formula figures side by side, each labelled).
 *
 * Drawing takes finished data and writes text; it knows nothing of MPI.
 * Left out on purpose: colour and live redraws (the ncurses view does those).
 */
#include "core.h"
#include "pp_demo.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* ---- timeline ---------------------------------------------------------- */

/* Paints one compute event into row[c0..c1): the kind's letter, then the
 * micro-batch digits if they fit, then the letter in lower case. */
static void paint(char *row, int c0, int c1, const pp_event *e)
{
    char label[24];
    int n = snprintf(label, sizeof label, "%s%d", pp_kind_name((pp_kind)e->kind), e->mb);
    if (n > c1 - c0) n = 1;
    for (int c = c0; c < c1; c++) {
        int k = c - c0;
        row[c] = k < n ? label[k] : (char)tolower((unsigned char)label[0]);
    }
}

void pp_report_timeline(FILE *f, const pp_run *r, double slot, int width)
{
    if (width < 20) width = 20;
    int cols = (int)ceil(r->makespan / slot - 1e-9);
    if (cols > width) {
        slot = r->makespan / width;
        cols = width;
    }
    if (cols < 1) cols = 1;
    char row[4096];
    if (cols > (int)sizeof row - 1) cols = (int)sizeof row - 1;
    for (int p = 0; p < r->nrows; p++) {
        memset(row, '.', (size_t)cols);
        row[cols] = '\0';
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            if (e->type != PP_EV_COMPUTE) continue;
            int c0 = (int)lround(e->t0 / slot), c1 = (int)lround(e->t1 / slot);
            if (c1 <= c0) c1 = c0 + 1;
            if (c0 >= cols) continue;
            paint(row, c0, c1 < cols ? c1 : cols, e);
        }
        /* The grid's collectives over what they interrupt, as '#'. */
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            int c0 = (int)lround(e->t0 / slot), c1 = (int)lround(e->t1 / slot);
            if (e->type != PP_EV_ALLREDUCE || c0 >= cols || c1 <= c0) continue;
            memset(row + c0, '#', (size_t)((c1 < cols ? c1 : cols) - c0));
        }
        char place[32] = "";
        int s, t, d;
        pp_place(r->nrows / (r->T * r->D), r->T, p, &s, &t, &d);
        if (r->D > 1) snprintf(place, sizeof place, " d%d", d);
        if (r->T * r->D > 1)
            fprintf(f, "  rank %d%s s%d t%d |%s|\n", p, place, s, t, row);
        else
            fprintf(f, "  rank %d |%s|\n", p, row);
    }
    fprintf(f, "  one column = %.2f ms; F = forward, B = backward (digits: micro-batch), . = idle%s\n",
            slot * 1e3, r->T * r->D > 1 ? ", # = all-reduce (longer than half a column)" : "");
}

/* ---- summary ----------------------------------------------------------- */

/* Prints "  27.3 %" or the "n/a" of a formula that does not apply. */
static void pct(FILE *f, double v)
{
    if (v < 0) fprintf(f, "%8s", "n/a");
    else fprintf(f, "%6.1f %%", 100.0 * v);
}

/* One bubble line: measured, formula (with its text) and predicted, and the
 * difference measured - formula where a formula applies. */
static void bubble_line(FILE *f, const char *label, double measured, const char *formula_text,
                        double formula, double predicted)
{
    fprintf(f, "  %s  measured", label);
    pct(f, measured);
    fprintf(f, "   formula %s", formula_text);
    pct(f, formula);
    fprintf(f, "   predicted");
    pct(f, predicted);
    if (formula >= 0) fprintf(f, "   measured - formula %+.2f points", 100 * (measured - formula));
    fprintf(f, "\n");
}

void pp_report_summary(FILE *f, const pp_run *m, const pp_run *pred, const pp_sched *s,
                       const pp_exec_opts *o)
{
    int P = s->nstages, M = s->nmb;
    pp_family fam = s->family;

    fprintf(f, "  rank    busy    idle   micro-batches held at peak    sent\n");
    fprintf(f, "        (measured, of makespan)   measured / formula %s\n", pp_theory_peak_text(fam));
    for (int p = 0; p < m->nrows; p++) {
        double busy = m->makespan > 0 ? m->busy[p] / m->makespan : 0;
        int formula = pp_theory_peak_inflight(fam, P, M, pp_run_pipe_rank(m, p));
        fprintf(f, "  %4d  %5.1f %%  %5.1f %%  %13d / ", p, 100 * busy, 100 * (1 - busy), m->peak_inflight[p]);
        if (formula < 0) fprintf(f, "%-13s", "n/a");
        else fprintf(f, "%-13d", formula);
        fprintf(f, "%7.0f KiB\n", m->bytes_sent[p] / 1024.0);
    }

    double tick_s = o->costs.tick_s;
    fprintf(f, "  makespan: %.1f ms measured, %.1f ms predicted by the simulator (%g ticks of %.2f ms)\n",
            m->makespan * 1e3, pred->makespan * 1e3, pred->makespan / tick_s, tick_s * 1e3);

    bubble_line(f, "bubble, share of the step  = idle / (P x makespan):", pp_run_bubble_step(m),
                pp_theory_bubble_step_text(fam), pp_theory_bubble_step(fam, P, M), pp_run_bubble_step(pred));
    bubble_line(f, "bubble over the ideal time = idle / busy:          ", pp_run_bubble_ideal(m),
                pp_theory_bubble_ideal_text(fam), pp_theory_bubble_ideal(fam, P, M), pp_run_bubble_ideal(pred));
    if (m->paused)
        fprintf(f, "  note: this step was paused in the live view: time held counts as idle, so the measured bubble is larger than the schedule's\n");
    if (m->retimed)
        fprintf(f, "  note: the tick was changed (+/-) during this step: the prediction and the formula assume one tick throughout\n");
    if (m->T > 1 && o->costs.allreduce > 0)
        fprintf(f, "  on the grid every F, B and I ends with a tensor-parallel all-reduce (%g ticks, counted as compute);\n",
                o->costs.allreduce);
    if (m->D > 1 && o->costs.dp_sum > 0)
        fprintf(f, "  the replicas' gradient sum (%g ticks) ends the step: the prediction includes it, the formula does not\n",
                o->costs.dp_sum);
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

static void comm_row(FILE *f, const char *what, int calls, long bytes, const char *formula, long want, long sent,
                     long sent_want, double ms)
{
    fprintf(f, "  %-28s %6d %11ld  %-21s %11ld %s %11ld %s %11ld %9.2f\n", what, calls, bytes, formula, want,
            bytes == want ? "=" : "!", sent, sent == sent_want ? "=" : "!", sent_want, ms);
}

void pp_report_comm(FILE *f, const pp_comm_stats *all, const pp_grid *g, const pp_model_cfg *c, double wait_ms,
                    pp_comm_stats *sum)
{
    pp_comm_stats s = {0};
    int n = g->size, P = g->P, T = g->T, D = g->D, L = c->depth;
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
    fprintf(f, "\ncommunication in the last step, all ranks together (measured: bytes handed to MPI, time in the calls):\n");
    fprintf(f, "  %-28s %6s %11s  %-21s %11s   %11s   %11s %9s\n", "what", "calls", "bytes", "formula", "= bytes",
            "sent", "formula", "ms/rank");
    comm_row(f, "pipeline sends (stage edges)", s.pipe_msgs, s.pipe_bytes, "2(P-1) B d 4", 2L * (P - 1) * act,
             s.pipe_bytes, 2L * (P - 1) * act, wait_ms);
    if (T > 1) {
        long ar = (long)T * (2 * L - 1) * act, ga = (long)T * 2 * (P - 1) * act;
        comm_row(f, "TP all-reduce (every block)", s.tp_calls, s.tp_size, "T (2L-1) B d 4", ar, s.tp_sent,
                 ar * 2 * (T - 1) / T, s.tp_s / n * 1e3);
        comm_row(f, "TP all-gather (received)", s.gather_calls, s.gather_size, "T 2(P-1) B d 4", ga, s.gather_sent,
                 ga * (T - 1) / T, s.gather_s / n * 1e3);
    }
    if (D > 1) {
        /* b2 is whole on each of a group's T ranks: T - 1 extra copies per block. */
        long dp = (long)D * (pp_model_params(c) + (long)(T - 1) * L * c->width) * 4;
        comm_row(f, "DP gradient all-reduce", s.dp_calls, s.dp_size, T > 1 ? "D (params+(T-1)L d) 4" : "D params 4", dp, s.dp_sent, dp * 2 * (D - 1) / D,
                 s.dp_s / n * 1e3);
    }
    fprintf(f, "  B = %d samples, d = %d floats of 4 bytes, L = %d blocks, params = %ld; \"sent\": bytes a rank sent\n"
               "  to others (an all-reduce sends 2(n-1)/n of its vector, an all-gather (n-1)/n, n ranks in the group).\n",
            c->batch, c->width, L, pp_model_params(c));
    if (D > 1 && T > 1)
        fprintf(f, "  The bias b2 of every block is whole on each tensor-parallel rank, so the replicas sum T copies of it.\n");
    fprintf(f, "  ms/rank: time inside the calls, mean per rank (pipeline: waiting for a message, bubble included).\n");
    if (sum) *sum = s;
}
