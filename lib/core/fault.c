/* fault.c -- bugs a rank runs on purpose, so that a student (or a test) can
 * watch the watchdog catch a stopped rank, a lost message and a deadlock,
 * or see a late message and an overrun compute named in the bubble's parts.
 *
 * Each strikes at micro-batch M/2 of the rank's lowered list (pp.h says what
 * each does); pp_fault_site finds where, and the executor acts on it.
 * Left out on purpose: faults inside MPI itself (a real lost packet); these
 * are the bugs a program makes, which is where hangs come from in practice.
 */
#include "step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Did sscanf read the whole text (its %n in `used`)? */
static int ends(const char *text, int used)
{
    return used > 0 && text[used] == '\0';
}

/* The faults' names, in pp_fault_kind's order. */
static const char *names[] = {"", "stall", "drop", "swap", "error", "late", "slow"};

pp_status pp_fault_parse(const char *text, int nranks, pp_fault *f, char *err, size_t errlen)
{
    const int n = (int)(sizeof names / sizeof *names);
    memset(f, 0, sizeof *f);
    f->action = -1;
    if (!text || !text[0] || strcmp(text, "none") == 0) return PP_OK;
    char kind[8] = "";
    int rank = 0, action = 0, used = 0;
    if (sscanf(text, "%7[a-z]:%d%n", kind, &rank, &used) == 2 && ends(text, used)) {   /* stall:1 */
        for (int k = 1; k < n; k++)
            if (k != PP_FAULT_ERROR && strcmp(kind, names[k]) == 0) f->kind = (pp_fault_kind)k;
    } else if ((sscanf(text, "error:%d:%d%n", &rank, &action, &used) == 2 && ends(text, used)) ||
               (sscanf(text, "%d:%d%n", &rank, &action, &used) == 2 && ends(text, used))) {   /* error:1:5, 1:5 */
        if (action >= 0) f->kind = PP_FAULT_ERROR, f->action = action;
    }
    if (f->kind == PP_FAULT_NONE) {
        int k = 1;
        while (k < n && strcmp(text, names[k]) != 0) k++;
        if (k < n) snprintf(err, errlen, "'%s' needs the rank that runs it: %s:RANK%s", text, text,
                            k == PP_FAULT_ERROR ? ":ACTION" : "");
        else snprintf(err, errlen, "'%s' is not a fault: use stall:RANK, drop:RANK, swap:RANK, late:RANK, slow:RANK, "
                      "error:RANK:ACTION or none", text);
        return PP_EPARSE;
    }
    f->rank = rank;
    if (rank < 0 || (nranks > 0 && rank >= nranks)) {
        if (nranks > 0)
            snprintf(err, errlen, "'%s': rank %d is not in the job: the ranks are 0 to %d", text, rank, nranks - 1);
        else snprintf(err, errlen, "'%s': rank %d is not a rank: ranks are numbered from 0", text, rank);
        f->kind = PP_FAULT_NONE;
        return PP_EPARSE;
    }
    return PP_OK;
}

/* The first action of `rank`'s list of micro-batch mb whose kind is a or b
 * (and stage, if stage >= 0), from index `from`; -1 if none. */
static int find(const pp_sched *lo, int rank, int mb, int stage, pp_kind a, pp_kind b, int from)
{
    for (int i = from; i < lo->len[rank]; i++) {
        pp_action x = lo->acts[rank][i];
        if (x.mb == mb && (x.kind == a || x.kind == b) && (stage < 0 || x.stage == stage)) return i;
    }
    return -1;
}

int pp_fault_site(const pp_fault *f, const pp_sched *lo, int rank, int *at, int *from)
{
    int m = lo->nmb / 2;
    *at = *from = -1;
    switch (f->kind) {
    case PP_FAULT_STALL:
    case PP_FAULT_SLOW:
        for (int i = 0; i < lo->len[rank] && *at < 0; i++)
            if (pp_kind_is_compute(lo->acts[rank][i].kind) && lo->acts[rank][i].mb == m) *at = i;
        break;
    case PP_FAULT_DROP:
    case PP_FAULT_LATE: *at = find(lo, rank, m, -1, PP_SEND_F, PP_SEND_B, 0); break;
    case PP_FAULT_SWAP:
        /* The first stage of this rank that gets micro-batch m's gradient
         * from another rank: its wait for it goes before the first message
         * of m's activation (received, or sent on). */
        for (int i = 0; i < lo->len[rank] && *at < 0; i++) {
            pp_action x = lo->acts[rank][i];
            if (x.kind != PP_RECV_B || x.mb != m) continue;
            int first = find(lo, rank, m, x.stage, PP_RECV_F, PP_SEND_F, 0);
            if (first >= 0 && first < i) *at = first, *from = i;
        }
        break;
    case PP_FAULT_ERROR: *at = f->action < lo->len[rank] ? f->action : -1; break;
    default: break;
    }
    return *at >= 0;
}

pp_status pp_fault_check(const pp_fault *f, const pp_grid *g, const pp_sched *lo, char *err, size_t errlen)
{
    if (f->kind == PP_FAULT_NONE) return PP_OK;
    int p, t, d, at, from;
    pp_place(g->P, g->T, f->rank, &p, &t, &d);
    if (f->kind == PP_FAULT_STALL && g->size == 1) {
        snprintf(err, errlen, "--fault stall:%d: with one rank, no other rank waits for it and nothing would "
                 "notice the stall: run 2 ranks or more", f->rank);
        return PP_EARG;
    }
    if (pp_fault_site(f, lo, p, &at, &from)) return PP_OK;
    const char *name = names[f->kind];
    switch (f->kind) {
    case PP_FAULT_STALL:
    case PP_FAULT_SLOW:
        snprintf(err, errlen, "--fault %s:%d: rank %d computes nothing of micro-batch %d", name, f->rank, f->rank,
                 lo->nmb / 2);
        break;
    case PP_FAULT_DROP:
    case PP_FAULT_LATE:
        snprintf(err, errlen, "--fault %s:%d: rank %d sends nothing of micro-batch %d (with one pipeline rank "
                 "there are no messages): run 2 ranks or more", name, f->rank, f->rank, lo->nmb / 2);
        break;
    case PP_FAULT_SWAP:
        snprintf(err, errlen, "--fault swap:%d: rank %d receives no gradient of micro-batch %d from another rank "
                 "(it runs the last stage alone): pick a rank that sends activations on, such as 0", f->rank,
                 f->rank, lo->nmb / 2);
        break;
    default:
        snprintf(err, errlen, "--fault error:%d:%d: rank %d has %d actions in its lowered list (0 to %d)", f->rank,
                 f->action, f->rank, lo->len[p], lo->len[p] - 1);
        break;
    }
    return PP_EARG;
}

void pp_fault_plan(pp_step *step)
{
    int from = -1;
    const pp_fault *f = &step->o->fault;
    for (int i = 0; i < step->len; i++) step->order[i] = i;
    step->fault = PP_FAULT_NONE, step->fault_at = -1;
    if (f->kind == PP_FAULT_NONE || f->rank != step->g->rank || !pp_fault_site(f, step->lo, step->me, &step->fault_at, &from))
        return;
    step->fault = f->kind;
    if (f->kind == PP_FAULT_SWAP) {   /* the receive moved ahead of its place */
        for (int k = from; k > step->fault_at; k--) step->order[k] = step->order[k - 1];
        step->order[step->fault_at] = from;
        step->fault_at = -1;
    }
}
