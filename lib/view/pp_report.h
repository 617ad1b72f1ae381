/* pp_report.h -- the plain-text reports: a run as text, for output that is
 * not a terminal (and for the lessons' excerpts).  The view layer's public
 * part (report.c); the live view and the exports are internal (view.h).
 */
#ifndef PP_REPORT_H
#define PP_REPORT_H

#include <stdio.h>

#include "pp.h"
#include "pp_idle.h"
#include "pp_model.h"

/* One row per rank, one character per time slot: F/B/I/W blocks with the
 * micro-batch where it fits, '.' idle.  `slot` is seconds per column; width
 * caps the row length (longer runs are rescaled). */
void pp_report_timeline(FILE *f, const pp_run *r, double slot, int width);
/* The measured bubble taken apart (pp_idle.h): formula + each part =
 * measured, the critical path's hops and the median delivery; `nominal`:
 * the costs the step was meant to have. */
void pp_report_parts(FILE *f, const pp_sched *s, const pp_run *m, const pp_costs *nominal);
/* The bubble predicted for this machine before the step (`predicted`, a
 * share of the step; pp_costs_here) and the probe's figures it came from,
 * beside the measured bubble. */
void pp_report_here(FILE *f, const pp_run *m, double predicted, const pp_machine *here, int timed);
/* The per-rank table, the measured / predicted / formula bubble lines and
 * the parts. */
void pp_report_summary(FILE *f, const pp_run *measured, const pp_run *predicted, const pp_sched *s,
                       const pp_exec_opts *o);
/* Writes `text` in lines of at most 79 columns, broken at spaces: the first
 * after `first`, the others after `rest` (their indents). */
void pp_report_wrap(FILE *f, const char *text, const char *first, const char *rest);
/* The one sentence for a run whose formula does not hold (`broken`, from
 * pp_theory_broken): after `mark` ("note: " in a summary, indented; "! " in
 * a table, at the margin), continued after `indent`. */
void pp_report_broken(FILE *f, const char *broken, const char *mark, const char *indent);
/* Mean seconds per row spent waiting for pipeline messages in a run. */
double pp_run_wait_s(const pp_run *r);
/* The communication table of a grid's step (rank 0): every rank's counts
 * (all: [g->size]) summed, beside their formulas: pipeline bytes
 * 2(P-1) B d 4, tensor-parallel all-reduces T (2L-1) B d 4 (T (3L-1) B d 4
 * with checkpointing: the recompute sums again) and all-gathers
 * T 2(P-1) B d 4, the data-parallel sum D params 4.  wait_ms: the pipeline's
 * waiting time per rank.  The sums go to *sum (may be NULL). */
void pp_report_comm(FILE *f, const pp_comm_stats *all, const pp_grid *g, const pp_model_cfg *c, int edges, double wait_ms,
                    pp_comm_stats *sum);

#endif /* PP_REPORT_H */
