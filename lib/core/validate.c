/* validate.c -- refuses a schedule that is incomplete or would deadlock,
 * before anything runs, and shows where with a step-by-rank grid.
 *
 * The checks, in order: every stage on one rank; no action twice; no
 * micro-batch number that only a few stages use; every stage runs F and B
 * (or I and W) for every micro-batch; every send has its receive;
 * and finally a replay (sim.c) of the lowered schedule (sends and receives
 * explicit) that finds any action placed before what it needs (a B before its
 * F) and any cycle of ranks waiting on each other.  A schedule that passes is
 * handed back lowered: the simulator and the executor run that one, so the
 * lowering happens once.
 * Left out on purpose: memory limits (a schedule may hold many activations).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

void pp_check_clear(pp_check *c)
{
    if (!c) return;
    free(c->grid);
    c->grid = NULL;
}

/* Records the first problem found; later ones are ignored. */
static void report(pp_check *c, pp_bad_kind kind, int rank, int index, const char *msg)
{
    if (c->kind != PP_BAD_NONE) return;
    c->kind = kind;
    c->rank = rank;
    c->index = index;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

/* ---- the grid ----------------------------------------------------------- */

/* A step-by-rank picture of the schedule around the marked actions: mark[r]
 * is the index to bracket on rank r (or -1); an index equal to the list's
 * length brackets `missing` placed after the last action. */
static char *make_grid(const pp_sched *s, const int *mark, const char *missing)
{
    int lo = -1, maxlen = 0;
    for (int r = 0; r < s->nranks; r++) {
        if (mark[r] >= 0 && (lo < 0 || mark[r] < lo)) lo = mark[r];
        /* a step past the end only to show a missing action there */
        int len = s->len[r] + (mark[r] == s->len[r]);
        if (len > maxlen) maxlen = len;
    }
    /* Six steps of 10 columns fit 80 with the rank's name and the "... "
     * on either side: the marked one near the left, up to three before it. */
    lo = lo > 3 ? lo - 3 : 0;
    int hi = lo + 6 < maxlen ? lo + 6 : maxlen;
    size_t cap = (size_t)(s->nranks + 2) * (size_t)(hi - lo + 2) * 16 + 256;
    char *g = malloc(cap);
    if (!g) return NULL;
    size_t n = (size_t)snprintf(g, cap, "  step   %s", lo > 0 ? "... " : "");
    for (int i = lo; i < hi; i++) n += (size_t)snprintf(g + n, cap - n, "%-10d", i);
    n += (size_t)snprintf(g + n, cap - n, "\n");
    for (int r = 0; r < s->nranks; r++) {
        n += (size_t)snprintf(g + n, cap - n, "  rank %-2d%s", r, lo > 0 ? "... " : "");
        for (int i = lo; i < hi; i++) {
            char as[32] = "";
            if (i < s->len[r]) pp_action_str(s->acts[r][i], as, sizeof as);
            else if (i == mark[r]) snprintf(as, sizeof as, "%s?", missing);
            if (i >= s->len[r] && i != mark[r]) break;
            if (s->acts[r] && i < s->len[r] && s->acts[r][i].kind == PP_IDLE) snprintf(as, sizeof as, "-");
            char cell[40];
            snprintf(cell, sizeof cell, i == mark[r] ? "[%s]" : " %s ", as);
            n += (size_t)snprintf(g + n, cap - n, "%-10s", cell);
        }
        n += (size_t)snprintf(g + n, cap - n, "%s\n", hi < s->len[r] ? "..." : "");
    }
    return g;
}

/* ---- checks ------------------------------------------------------------ */

/* Every action's stage belongs to the rank running it; comm actions point at
 * a neighbour that exists and runs on another rank. */
static void check_stages(const pp_sched *s, pp_check *c)
{
    char as[24], msg[256];
    for (int st = 0; st < s->nstages; st++)
        if (s->stage_rank[st] < 0) {
            snprintf(msg, sizeof msg, "stage %d has no actions: stages must be numbered 0..%d without gaps",
                     st, s->nstages - 1);
            report(c, PP_BAD_STAGE, 0, 0, msg);
        }
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_IDLE) continue;
            pp_action_str(a, as, sizeof as);
            if (s->stage_rank[a.stage] != r) {
                snprintf(msg, sizeof msg, "%s is on rank %d, but stage %d runs on rank %d: a stage's actions belong to one rank",
                         as, r, a.stage, s->stage_rank[a.stage]);
                report(c, PP_BAD_STAGE, r, i, msg);
            }
            if (pp_kind_is_compute(a.kind)) continue;
            /* A message goes to the next stage (SEND_F, RECV_B) or the previous one; stage -1 is no stage. */
            int peer = pp_peer_stage(a);
            if (peer < 0 || peer >= s->nstages || s->stage_rank[peer] == r) {
                snprintf(msg, sizeof msg, "%s has no partner: stage %d is %s", as, peer,
                         peer < 0 || peer >= s->nstages ? "not in the schedule" : "on the same rank");
                report(c, PP_BAD_UNMATCHED, r, i, msg);
            }
        }
}

/* Every (stage, micro-batch) needs at least an F and a B, so a schedule with
 * more such pairs than actions is incomplete.  Checked first, with longs,
 * because the later checks keep one counter per pair and kind: a micro-batch
 * numbered 999999 must not make them allocate millions. */
static void check_size(const pp_sched *s, pp_check *c)
{
    long actions = 0;
    int far_r = 0, far_i = 0, far_mb = -1;   /* the action with the highest micro-batch */
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_IDLE) continue;
            actions++;
            if (a.mb > far_mb) far_r = r, far_i = i, far_mb = a.mb;
        }
    long pairs = (long)s->nstages * s->nmb;
    if (pairs <= actions) return;
    char as[24], msg[256];
    pp_action_str(s->acts[far_r][far_i], as, sizeof as);
    snprintf(msg, sizeof msg, "%s makes M=%d micro-batches on %d stage%s, which need at least %ld actions (an F and a B "
             "each), but the schedule has %ld: number the micro-batches 0..M-1", as, s->nmb, s->nstages,
             s->nstages == 1 ? "" : "s", 2 * pairs, actions);
    report(c, PP_BAD_MISSING, far_r, far_i, msg);
}

/* Counts each kind per (stage, micro-batch); reports the first duplicate. */
static int *count_actions(const pp_sched *s, pp_check *c)
{
    int n = s->nstages * s->nmb;
    int *cnt = calloc((size_t)PP_IDLE * (size_t)(n ? n : 1), sizeof *cnt);
    if (!cnt) return NULL;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_IDLE) continue;
            if (++cnt[a.kind * n + pp_sm(s, a.stage, a.mb)] == 2) {
                char as[24], msg[256];
                pp_action_str(a, as, sizeof as);
                snprintf(msg, sizeof msg, "%s appears twice: each action runs exactly once per step", as);
                report(c, PP_BAD_DUPLICATE, r, i, msg);
            }
        }
    return cnt;
}

/* Does stage st run any compute action of micro-batch m? */
static int uses(const pp_sched *s, const int *cnt, int st, int m)
{
    int n = s->nstages * s->nmb, k = pp_sm(s, st, m);
    return cnt[PP_F * n + k] + cnt[PP_B * n + k] + cnt[PP_I * n + k] + cnt[PP_W * n + k] > 0;
}

/* M is read from the largest micro-batch number.  A number that fewer than
 * half the stages use, on a stage that lacks another number the others use,
 * is a cell numbered off (PyTorch's 1F1B order numbers its last rank's
 * micro-batches one off: 3F8 where 3F0 belongs).  Blaming the many stages
 * that lack it would point at the wrong rank, so the odd cell is named. */
static void check_numbering(const pp_sched *s, const int *cnt, pp_check *c)
{
    for (int m = 0; m < s->nmb && s->nstages > 1; m++) {
        int have = 0, st = -1;   /* stages with any action of m; the first */
        for (int k = 0; k < s->nstages; k++)
            if (uses(s, cnt, k, m)) have++, st = st < 0 ? k : st;
        if (have == 0 || 2 * have >= s->nstages) continue;
        int lacks = -1;   /* a number that stage lacks (and so should have had) */
        for (int q = 0; q < s->nmb && lacks < 0; q++)
            if (q != m && !uses(s, cnt, st, q)) lacks = q;
        if (lacks < 0) continue;   /* just a micro-batch missing elsewhere: check_complete says so */
        int r = s->stage_rank[st], at = 0;
        while (at < s->len[r] && (s->acts[r][at].stage != st || s->acts[r][at].mb != m ||
                                  !pp_kind_is_compute(s->acts[r][at].kind)))
            at++;
        char as[24], msg[256];
        pp_action_str(s->acts[r][at], as, sizeof as);
        snprintf(msg, sizeof msg, "rank %d runs %s, but only %d of the %d stages %s micro-batch %d, and stage %d has "
                 "no %dF%d: each stage numbers its micro-batches 0..M-1 (is this one numbered off by one?)", r, as,
                 have, s->nstages, have == 1 ? "has" : "have", m, st, st, lacks);
        report(c, PP_BAD_MISSING, r, at, msg);
        return;
    }
}

/* Every stage runs F, and B or both I and W, for every micro-batch; with
 * explicit communication, every send has its receive. */
static void check_complete(const pp_sched *s, const int *cnt, int explicit_comm, pp_check *c)
{
    int n = s->nstages * s->nmb;
    char msg[256];
    for (int st = 0; st < s->nstages && c->kind == PP_BAD_NONE; st++)
        for (int m = 0; m < s->nmb && c->kind == PP_BAD_NONE; m++) {
            int k = pp_sm(s, st, m), r = s->stage_rank[st];
#define CNT(kind) cnt[(kind) * n + k]
            const char *missing = NULL;
            if (!CNT(PP_F)) missing = "F";
            else if (s->forward_only) missing = NULL;   /* inference: forwards only */
            else if (!CNT(PP_B) && !CNT(PP_I) && !CNT(PP_W)) missing = "B";
            else if (!CNT(PP_B) && !CNT(PP_I)) missing = "I";
            else if (!CNT(PP_B) && !CNT(PP_W)) missing = "W";
            if (missing) {
                snprintf(msg, sizeof msg, "%d%s%d is missing: stage %d must run F and B (or I and W) for every micro-batch 0..%d",
                         st, missing, m, st, s->nmb - 1);
                report(c, PP_BAD_MISSING, r, s->len[r], msg);
                snprintf(c->missing, sizeof c->missing, "%d%s%d", st, missing, m);
            } else if (CNT(PP_B) && (CNT(PP_I) || CNT(PP_W))) {
                /* mark the second of the two in the rank's list: the one that made it both */
                int at = -1, first = -1;   /* first: 1 if a B came first, 0 if an I or W did */
                for (int i = 0; i < s->len[r] && at < 0; i++) {
                    pp_action a = s->acts[r][i];
                    if (a.stage != st || a.mb != m || !(a.kind == PP_B || a.kind == PP_I || a.kind == PP_W)) continue;
                    if (first < 0) first = a.kind == PP_B;
                    else if ((a.kind == PP_B) != first) at = i;
                }
                snprintf(msg, sizeof msg, "stage %d runs both B and I/W for micro-batch %d: use one or the other", st, m);
                report(c, PP_BAD_DUPLICATE, r, at >= 0 ? at : s->len[r], msg);
            }
            if (!explicit_comm || c->kind != PP_BAD_NONE) continue;
            /* A boundary to a stage on another rank needs one send and one receive each way. */
            struct { int send_k, send_st, recv_k, recv_st; } pairs[2] = {
                {PP_SEND_F, st, PP_RECV_F, st + 1},
                {PP_SEND_B, st + 1, PP_RECV_B, st},
            };
            if (st + 1 >= s->nstages || s->stage_rank[st + 1] == r) continue;
            for (int p = 0; p < 2; p++) {
                int send_st = pairs[p].send_st, recv_st = pairs[p].recv_st;
                int sends = cnt[pairs[p].send_k * n + pp_sm(s, send_st, m)];
                int recvs = cnt[pairs[p].recv_k * n + pp_sm(s, recv_st, m)];
                if (sends == 1 && recvs == 1) continue;
                char sa[24], ra[24];
                snprintf(sa, sizeof sa, "%d%s%d", send_st, pp_kind_name(pairs[p].send_k), m);
                snprintf(ra, sizeof ra, "%d%s%d", recv_st, pp_kind_name(pairs[p].recv_k), m);
                if (!sends && !recvs) {
                    snprintf(msg, sizeof msg, "%s and %s are missing: with explicit communication every boundary needs both", sa, ra);
                    report(c, PP_BAD_MISSING, s->stage_rank[send_st], s->len[s->stage_rank[send_st]], msg);
                    snprintf(c->missing, sizeof c->missing, "%s", sa);
                    continue;
                }
                /* Point at the action that is there, on its own rank. */
                int who = s->stage_rank[sends ? send_st : recv_st];
                pp_action a = {sends ? send_st : recv_st, sends ? pairs[p].send_k : pairs[p].recv_k, m};
                snprintf(msg, sizeof msg, "%s %s has no %s on rank %d",
                         sends ? "send without its receive:" : "receive without its send:", sends ? sa : ra,
                         sends ? ra : sa, s->stage_rank[sends ? recv_st : send_st]);
                int at = 0;
                while (at < s->len[who] && memcmp(&s->acts[who][at], &a, sizeof a) != 0) at++;
                report(c, PP_BAD_UNMATCHED, who, at, msg);
            }
#undef CNT
        }
}

/* Replays the lowered schedule; maps a failure back to the caller's action
 * list through src (lowered action -> the action of s it comes from). */
static void check_replay(const pp_sched *s, const pp_sched *lo, int **src, pp_check *c, int **blocked)
{
    pp_costs unit;
    pp_costs_default(&unit);
    /* First as if every message arrived at once: what fails then is an
     * action placed before a local action it needs (a B before its F).
     * Then for real: what fails now is ranks waiting on each other. */
    for (int waits = 0; waits <= 1 && c->kind == PP_BAD_NONE; waits++) {
        pp_replay_fail fail;
        if (pp_replay(lo, &unit, NULL, waits, &fail) == PP_OK) continue;
        report(c, fail.kind, fail.rank, src[fail.rank][fail.index], fail.msg);
        if (fail.blocked) {
            for (int r = 0; r < s->nranks; r++)
                if (fail.blocked[r] >= 0) fail.blocked[r] = src[r][fail.blocked[r]];
            *blocked = fail.blocked;
        }
    }
}

static pp_status check(const pp_sched *s, pp_sched **lowered, pp_check *c, int replay)
{
    memset(c, 0, sizeof *c);
    if (lowered) *lowered = NULL;
    int explicit_comm = pp_sched_has_comm(s);

    if (s->nstages == 0) report(c, PP_BAD_MISSING, 0, 0, "the schedule has no actions");
    if (c->kind == PP_BAD_NONE) check_size(s, c);
    if (c->kind == PP_BAD_NONE) check_stages(s, c);
    int *cnt = c->kind == PP_BAD_NONE ? count_actions(s, c) : NULL;
    if (cnt && c->kind == PP_BAD_NONE) check_numbering(s, cnt, c);
    if (cnt && c->kind == PP_BAD_NONE) check_complete(s, cnt, explicit_comm, c);
    free(cnt);

    pp_sched *lo = NULL;
    int **src = NULL, *blocked = NULL;
    pp_status st = PP_OK;
    if (c->kind == PP_BAD_NONE && (st = pp_sched_lower(s, &lo, &src)) != PP_OK) return st;
    if (c->kind == PP_BAD_NONE && replay) check_replay(s, lo, src, c, &blocked);
    pp_free_index(src, s->nranks);
    if (c->kind == PP_BAD_NONE) {
        lo->lowered = 1;
        if (lowered) *lowered = lo;
        else pp_sched_free(lo);
        return PP_OK;
    }
    pp_sched_free(lo);

    /* Bracket the bad action, or every stuck rank's action for a deadlock. */
    int *mark = malloc((size_t)s->nranks * sizeof *mark);
    for (int r = 0; mark && r < s->nranks; r++)
        mark[r] = blocked ? blocked[r] : (r == c->rank ? c->index : -1);
    if (mark && s->nranks > 0) c->grid = make_grid(s, mark, c->missing);
    free(mark);
    free(blocked);
    return PP_ESCHED;
}

pp_status pp_sched_validate(const pp_sched *s, pp_sched **lowered, pp_check *c)
{
    return check(s, lowered, c, 1);
}

pp_status pp_sched_lower_unchecked(const pp_sched *s, pp_sched **lowered, pp_check *c)
{
    return check(s, lowered, c, 0);
}
