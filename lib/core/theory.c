/* theory.c -- the formulas the course teaches, and the measured figures
 * they are compared with.
 *
 * P pipeline ranks, M micro-batches; a rank's share of the model costs F
 * forward and B backward (B = I + W when the backward is split).  The bubble
 * is the time each rank spends idle in a step: every rank has the same work
 * (M (F+B)), so the bubble is what its start waits for and its end waits
 * after.
 *   GPipe, 1F1B: (P-1)(F+B) idle per rank, (P-1)/(M+P-1) of the step, any F, B.
 *   Interleaved, v chunks of 1/v of the rank's share: the fill and drain
 *     shrink v times: (P-1)/(vM+P-1).  Warm-up memory grows instead: rank r
 *     holds up to (v+1)P - 2r - 1 chunks (of 1/v of its activations each).
 *   ZB-H1, F = I = W: only the I's are on the path between ranks, and the
 *     W's fill the cool-down: (P-1)F idle per rank, (P-1)/(3M+P-1) of the
 *     step (a third of 1F1B's idle time), when M >= P.  Every rank holds up
 *     to P micro-batches, rank 0's peak under 1F1B.
 *   ZB-V, F = I = W, two chunks of half the share: the first forward
 *     reaches the last rank in half the time: (P-1)F/2 idle per rank,
 *     (P-1)/(6M+P-1), exact when M = P or M >= 2P (in between, for some M
 *     the unit-time order leaves a gap more); up to 2P half-size chunks held
 *     (P whole stages, as 1F1B's rank 0).
 *   Inference (forwards only), P stages of F each: a stream of M requests
 *     fills and drains the pipeline as GPipe's forwards do, (P-1)/(M+P-1);
 *     at steady state a request leaves every F instead of every P F (up to
 *     P times the rate of one rank holding the whole model), and each still
 *     takes P F from end to end (pp_theory_stream).  Nothing is stored.
 * Where F, I and W differ or M breaks the condition, the simulator's
 * prediction is the reference and pp_theory_broken() says what failed.
 */
#include "core.h"

#include <math.h>
#include <stdlib.h>

/* Each formula's fill-and-drain term, and busy slots per rank per step, in
 * units of the fill term's own step: (P-1) / (work + P-1). */
static double work_units(pp_family f, int M, int v)
{
    switch (f) {
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B:
    case PP_FAM_FORWARD: return M;
    case PP_FAM_INTERLEAVED: return (double)v * M;
    case PP_FAM_ZBH1: return 3.0 * M;
    case PP_FAM_ZBV: return 6.0 * M;
    default: return -1;
    }
}

double pp_theory_bubble_step(pp_family f, int P, int M, int v)
{
    if (f == PP_FAM_NAIVE) return (double)(P - 1) / P;
    double w = work_units(f, M, v);
    return w < 0 ? -1.0 : (P - 1) / (w + P - 1);
}

double pp_theory_bubble_ideal(pp_family f, int P, int M, int v)
{
    if (f == PP_FAM_NAIVE) return (double)(P - 1);
    double w = work_units(f, M, v);
    return w < 0 ? -1.0 : (P - 1) / w;
}

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

int pp_theory_peak_inflight(pp_family f, int P, int M, int v, int rank)
{
    switch (f) {
    case PP_FAM_NAIVE: return 1;
    case PP_FAM_GPIPE: return M;
    case PP_FAM_1F1B: return min_int(M, P - rank);
    case PP_FAM_INTERLEAVED: {
        /* the warm-up's forwards and the one that starts the steady phase:
         * (v-1) g + 2(P-1-r) + 1, with g the micro-batches in the builder's
         * first round (P when M is a multiple of P: (v+1)P - 2r - 1) */
        int g = pp_interleaved_round(P, M);
        return v == 1 ? min_int(M, P - rank) : min_int(v * M, (v - 1) * g + 2 * (P - rank) - 1);
    }
    case PP_FAM_ZBH1: return min_int(M, P);
    case PP_FAM_ZBV: return 2 * min_int(M, P);
    case PP_FAM_FORWARD: return 0;
    default: return -1;
    }
}

const char *pp_theory_bubble_step_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "(P-1)/P";
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B:
    case PP_FAM_FORWARD: return "(P-1)/(M+P-1)";
    case PP_FAM_INTERLEAVED: return "(P-1)/(vM+P-1)";
    case PP_FAM_ZBH1: return "(P-1)/(3M+P-1)";
    case PP_FAM_ZBV: return "(P-1)/(6M+P-1)";
    default: return "none";
    }
}

const char *pp_theory_bubble_ideal_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "P-1";
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B:
    case PP_FAM_FORWARD: return "(P-1)/M";
    case PP_FAM_INTERLEAVED: return "(P-1)/(vM)";
    case PP_FAM_ZBH1: return "(P-1)/(3M)";
    case PP_FAM_ZBV: return "(P-1)/(6M)";
    default: return "none";
    }
}

const char *pp_theory_peak_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "1";
    case PP_FAM_GPIPE: return "M";
    case PP_FAM_1F1B: return "min(M, P-stage)";
    case PP_FAM_INTERLEAVED: return "min(vM,(v-1)g+2P-2r-1)";   /* g: pp_interleaved_round() */
    case PP_FAM_ZBH1: return "min(M, P)";
    case PP_FAM_ZBV: return "2 min(M, P)";
    case PP_FAM_FORWARD: return "0";
    default: return "none";
    }
}

const char *pp_theory_broken(pp_family f, int P, int M, int v, const pp_costs *c)
{
    for (int m = 0; c->release && m < M; m++)
        if (c->release[m] > 0) return "requests arrive over time (the formula has them all waiting)";
    const double *t = c->ticks;
    int split = f == PP_FAM_ZBH1 || f == PP_FAM_ZBV;
    if (split && (fabs(t[PP_I] - t[PP_F]) > 1e-9 || fabs(t[PP_W] - t[PP_F]) > 1e-9))
        return "F, I and W do not cost the same";
    if (f == PP_FAM_ZBH1 && M < P) return "M is less than P";
    if (f == PP_FAM_ZBV && M > P && M < 2 * P) return "M is between P and 2P, where ZB-V's formula is not always exact";
    if (f == PP_FAM_ZBV && M < P) return "M is less than P";
    if (f == PP_FAM_INTERLEAVED && v > 1 && M < P)
        return "M < P: rank 0 waits for each micro-batch to come back before its next chunk";
    return NULL;
}

/* Total compute time over all ranks. */
static double total_busy(const pp_run *r)
{
    double sum = 0;
    for (int p = 0; p < r->nrows; p++) sum += r->busy[p];
    return sum;
}

/* A share to 12 decimals: a step replayed in seconds carries float rounding
 * (1e-16) that must not tip a figure printed to one decimal, such as an exact
 * 18.75 %, to the other side of its formula's. */
static double exact(double share)
{
    return round(share * 1e12) / 1e12;
}

double pp_run_bubble_step(const pp_run *r)
{
    if (r->makespan <= 0) return 0;
    return exact(1.0 - total_busy(r) / (r->nrows * r->makespan));
}

double pp_run_bubble_ideal(const pp_run *r)
{
    double busy = total_busy(r);
    if (busy <= 0) return 0;
    return exact((r->nrows * r->makespan - busy) / busy);
}

static int ascending(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double pp_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, ascending);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double pp_median5(double *v)
{
    return pp_median(v, 5);
}

void pp_theory_stream(int P, double stage_s, double gap_s, double *rate, double *latency_s)
{
    /* the slowest of: the pipeline's pace (one stage), and the arrivals */
    double pace = gap_s > stage_s ? gap_s : stage_s;
    *rate = pace > 0 ? 1.0 / pace : 0;
    *latency_s = P * stage_s;
}
