/* theory.c -- the formulas the course teaches, and the measured figures
 * they are compared with.
 *
 * With P stages of equal cost and M micro-batches, GPipe and 1F1B both take
 * (M + P - 1) forward-plus-backward slots per step, of which each rank is
 * busy for M: the bubble is (P-1)/(M+P-1) of the step, or (P-1)/M when
 * measured against the ideal, bubble-free time.  They differ in memory:
 * GPipe holds all M micro-batches' activations, 1F1B at most P - stage.
 * Left out on purpose: interleaved and zero-bubble formulas (with their builders).
 */
#include "core.h"

#include <math.h>
#include <stdlib.h>

double pp_theory_bubble_step(pp_family f, int P, int M)
{
    switch (f) {
    case PP_FAM_NAIVE: return (double)(P - 1) / P;
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B: return (double)(P - 1) / (M + P - 1);
    default: return -1.0;
    }
}

double pp_theory_bubble_ideal(pp_family f, int P, int M)
{
    switch (f) {
    case PP_FAM_NAIVE: return (double)(P - 1);
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B: return (double)(P - 1) / M;
    default: return -1.0;
    }
}

int pp_theory_peak_inflight(pp_family f, int P, int M, int stage)
{
    switch (f) {
    case PP_FAM_NAIVE: return 1;
    case PP_FAM_GPIPE: return M;
    case PP_FAM_1F1B: return P - stage < M ? P - stage : M;
    default: return -1;
    }
}

const char *pp_theory_bubble_step_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "(P-1)/P";
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B: return "(P-1)/(M+P-1)";
    default: return "none";
    }
}

const char *pp_theory_bubble_ideal_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "P-1";
    case PP_FAM_GPIPE:
    case PP_FAM_1F1B: return "(P-1)/M";
    default: return "none";
    }
}

const char *pp_theory_peak_text(pp_family f)
{
    switch (f) {
    case PP_FAM_NAIVE: return "1";
    case PP_FAM_GPIPE: return "M";
    case PP_FAM_1F1B: return "min(M, P-stage)";
    default: return "none";
    }
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

double pp_median5(double *v)
{
    for (int i = 1; i < 5; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1], v[j - 1] = x;
        }
    return v[2];
}
