/* pytorch_orders.h -- orders made the way PyTorch's pipelining makes them
 * (torch.distributed.pipelining, its schedules as published), written here
 * from their description, so that the tests feed the kit files in PyTorch's
 * two forms without PyTorch:
 *
 *   - LoopedBFS: each rank runs all forwards of its first chunk, then of its
 *     next chunk, ..., then the backwards chunk by chunk from the last, each
 *     chunk's micro-batches in reverse order (M-1 down to 0);
 *   - Interleaved 1F1B: micro-batches in rounds (max(1, M / P) of them,
 *     M / rounds each; PyTorch takes only M a multiple of the rounds), a
 *     warm-up of (v-1) rounds' forwards plus 2 per rank below the last,
 *     then one forward and one backward in turn, then the backwards; each
 *     chunk's micro-batches numbered in the order its actions come;
 *   - ZBV: two chunks per rank in a V; 2(P-r)-1 forwards of the lower
 *     chunk, r pairs of upper and lower forwards, P-r triples of the upper
 *     chunk's F, I, W; then F, I, W of the lower chunk and of the upper in
 *     turn; then r pairs of I's, P-r of the lower I and its oldest W, and
 *     the W's left, upper chunk first (laid out for max(M, 2P-1)
 *     micro-batches, those past M left out);
 *   - the comms form: PyTorch's lowering of a compute-only order.  It plays
 *     the ranks in turn, one action each per sweep, a compute only once its
 *     input is there; an F whose next stage is on another rank is followed
 *     by its SEND_F, and the RECV_F goes onto the receiving rank's list at
 *     that moment (so it says where the receive is posted, not where the
 *     rank waits); the same for a B or I and its gradient.  Each stage's
 *     UNSHARD comes before its first action, its REDUCE_GRAD after its last
 *     backward, its RESHARD at the end (FSDP's, written into every file;
 *     PyTorch places UNSHARD and RESHARD by its own look-ahead, which the
 *     kit does not read: it skips all three).
 *
 * Empty cells stand where PyTorch's lists have None (a rank waiting).
 */
#ifndef PP_PYTORCH_ORDERS_H
#define PP_PYTORCH_ORDERS_H

#include "pp.h"
#include "core.h"   /* pp_action_str */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void pt_idle(pp_sched *s, int r, int n)
{
    for (int i = 0; i < n; i++) pp_sched_push(s, r, (pp_action){-1, PP_IDLE, -1});
}

/* LoopedBFS for P ranks, v chunks each (stages r, r+P, ...), M micro-batches. */
static inline pp_sched *pt_looped_bfs(int P, int v, int M)
{
    pp_sched *s = NULL;
    if (pp_sched_new(P, &s) != PP_OK) return NULL;
    for (int r = 0; r < P; r++) {
        pt_idle(s, r, r);
        for (int c = 0; c < v; c++)
            for (int m = 0; m < M; m++) pp_sched_push(s, r, (pp_action){c * P + r, PP_F, m});
        pt_idle(s, r, 2 * (P - 1 - r));
        for (int c = v - 1; c >= 0; c--)
            for (int m = M - 1; m >= 0; m--) pp_sched_push(s, r, (pp_action){c * P + r, PP_B, m});
    }
    if (pp_sched_finish(s) != PP_OK) pp_sched_free(s), s = NULL;
    else snprintf(s->name, sizeof s->name, "pt-loopedbfs");
    return s;
}

/* Interleaved 1F1B; NULL where PyTorch refuses M (not a multiple of its rounds). */
static inline pp_sched *pt_interleaved(int P, int v, int M)
{
    int rounds = M / P > 1 ? M / P : 1, per = M / rounds;
    if (M % rounds != 0) return NULL;
    pp_sched *s = NULL;
    int *next_f = calloc((size_t)v * P, sizeof *next_f), *next_b = calloc((size_t)v * P, sizeof *next_b);
    if (!next_f || !next_b || pp_sched_new(P, &s) != PP_OK) goto out;
    for (int r = 0; r < P; r++) {
        memset(next_f, 0, (size_t)v * P * sizeof *next_f), memset(next_b, 0, (size_t)v * P * sizeof *next_b);
        int warm = (v - 1) * per + 2 * (P - 1 - r), total = v * M;
        if (warm > total) warm = total;
        int after_warm = v * P + 2 * (P - 1 - r) - (warm + r);   /* idle steps after the warm-up */
        pt_idle(s, r, r);
        for (int op = 0; op < total + warm; op++) {
            int f_stage = (op / per) % v * P + r, b_stage = (v - 1 - (op - warm) / per % v) * P + r;
            if (op < total) pp_sched_push(s, r, (pp_action){f_stage, PP_F, next_f[f_stage]++});
            if (op == warm - 1) pt_idle(s, r, after_warm);
            if (op >= total) pt_idle(s, r, 1);   /* the cool-down: a backward every other step */
            if (op >= warm) pp_sched_push(s, r, (pp_action){b_stage, PP_B, next_b[b_stage]++});
        }
    }
    if (pp_sched_finish(s) != PP_OK) pp_sched_free(s), s = NULL;
    else snprintf(s->name, sizeof s->name, "pt-interleaved");
out:
    free(next_f), free(next_b);
    return s;
}

/* ZBV for P ranks and M micro-batches. */
static inline pp_sched *pt_zbv(int P, int M)
{
    pp_sched *s = NULL;
    if (pp_sched_new(P, &s) != PP_OK) return NULL;
    int n = M > 2 * P - 1 ? M : 2 * P - 1;
    for (int r = 0; r < P; r++) {
        int lo = r, hi = 2 * P - 1 - r, cnt[2][3] = {{0}};   /* [chunk][F, I, W]: the next micro-batch */
        int (*seq)[2] = malloc((size_t)(6 * n + 4 * P) * sizeof *seq), len = 0;   /* (chunk, kind) in order */
        if (!seq) {
            pp_sched_free(s);
            return NULL;
        }
#define PT(c, k) (seq[len][0] = (c), seq[len][1] = (k), len++)
        for (int k = 0; k < 2 * (P - r) - 1; k++) PT(0, 0);
        for (int k = 0; k < r; k++) PT(1, 0), PT(0, 0);
        for (int k = 0; k < P - r; k++) PT(1, 0), PT(1, 1), PT(1, 2);
        int f0 = 2 * (P - r) - 1 + r, f1 = P, i0 = 0, i1 = P - r;
        for (; f1 < f0 || f0 < n; f1++, i0++, i1++) {
            if (f0 < n) PT(0, 0), f0++;
            PT(0, 1), PT(0, 2), PT(1, 0), PT(1, 1), PT(1, 2);
        }
        int w0 = i0, w1 = i1;
        for (int k = 0; k < r; k++) PT(0, 1), PT(1, 1), i0++, i1++;
        for (int k = 0; k < P - r; k++) PT(0, 1), PT(0, 2), i0++, w0++;
        for (; w1 < i1; w1++) PT(1, 2);
        for (; w0 < i0; w0++) PT(0, 2);
#undef PT
        static const pp_kind kinds[3] = {PP_F, PP_I, PP_W};
        for (int j = 0; j < len; j++) {
            int c = seq[j][0], k = seq[j][1], m = cnt[c][k]++;
            if (m < M) pp_sched_push(s, r, (pp_action){c ? hi : lo, kinds[k], m});
        }
        free(seq);
    }
    if (pp_sched_finish(s) != PP_OK) pp_sched_free(s), s = NULL;
    else snprintf(s->name, sizeof s->name, "pt-zbv");
    return s;
}

/* Appends one cell to row r of the text being made. */
static inline void pt_cell(char **row, size_t *len, int r, const char *cell)
{
    size_t n = strlen(cell), at = len[r];
    char *grown = realloc(row[r], at + n + 2);
    if (!grown) return;
    row[r] = grown;
    if (at) grown[at++] = ',';
    memcpy(grown + at, cell, n + 1);
    len[r] = at + n;
}

/* The comms form of a compute-only order, as CSV text (malloc'd), or NULL
 * if the order cannot be played (PyTorch refuses it too). */
static inline char *pt_comms_csv(const pp_sched *s)
{
    int P = s->nranks, S = s->nstages, M = s->nmb, ok = 1;
    char **row = calloc((size_t)P, sizeof *row), cell[48];
    size_t *len = calloc((size_t)P, sizeof *len);
    int *pc = calloc((size_t)P, sizeof *pc);
    char *done = calloc((size_t)S * M * 4, 1), *got = calloc((size_t)S * M * 2, 1), *used = calloc((size_t)S, 1);
    int *last_bwd = malloc((size_t)S * sizeof *last_bwd);   /* index on its rank of each stage's last B or W */
    if (!row || !len || !pc || !done || !got || !used || !last_bwd) ok = 0;
#define DONE(k, st, m) done[((st) * M + (m)) * 4 + (k)]
#define GOT(dir, st, m) got[((st) * M + (m)) * 2 + (dir)]
    for (int st = 0; ok && st < S; st++) last_bwd[st] = -1;
    for (int r = 0; ok && r < P; r++)
        for (int i = 0; i < s->len[r]; i++)
            if (s->acts[r][i].kind == PP_B || s->acts[r][i].kind == PP_W) last_bwd[s->acts[r][i].stage] = i;
    for (int left = 1; ok && left;) {
        int moved = 0;
        left = 0;
        for (int r = 0; r < P; r++) {
            if (pc[r] >= s->len[r]) continue;
            left = 1;
            pp_action a = s->acts[r][pc[r]];
            int ready = 1, dir = -1, to = -1;   /* dir 0: an activation goes up to stage `to`, 1: a gradient down */
            if (a.kind == PP_F && a.stage > 0)
                ready = GOT(0, a.stage, a.mb) || (s->stage_rank[a.stage - 1] == r && DONE(PP_F, a.stage - 1, a.mb));
            if ((a.kind == PP_B || a.kind == PP_I) && a.stage < S - 1)
                ready = GOT(1, a.stage, a.mb) ||
                        (s->stage_rank[a.stage + 1] == r && (DONE(PP_B, a.stage + 1, a.mb) || DONE(PP_I, a.stage + 1, a.mb)));
            if (!ready) continue;
            if (a.kind != PP_IDLE) {
                if (!used[a.stage]) {
                    used[a.stage] = 1;
                    snprintf(cell, sizeof cell, "%dUNSHARD", a.stage), pt_cell(row, len, r, cell);
                }
                pp_action_str(a, cell, sizeof cell), pt_cell(row, len, r, cell);
                DONE(a.kind, a.stage, a.mb) = 1;
                if (a.kind == PP_F && a.stage < S - 1 && s->stage_rank[a.stage + 1] != r) dir = 0, to = a.stage + 1;
                if ((a.kind == PP_B || a.kind == PP_I) && a.stage > 0 && s->stage_rank[a.stage - 1] != r)
                    dir = 1, to = a.stage - 1;
                if (dir >= 0) {
                    pp_action send = {a.stage, dir ? PP_SEND_B : PP_SEND_F, a.mb}, recv = {to, dir ? PP_RECV_B : PP_RECV_F, a.mb};
                    pp_action_str(send, cell, sizeof cell), pt_cell(row, len, r, cell);
                    pp_action_str(recv, cell, sizeof cell), pt_cell(row, len, s->stage_rank[to], cell);
                    GOT(dir, to, a.mb) = 1;
                }
                if (pc[r] == last_bwd[a.stage]) snprintf(cell, sizeof cell, "%dREDUCE_GRAD", a.stage), pt_cell(row, len, r, cell);
            }
            pc[r]++;
            moved = 1;
        }
        if (left && !moved) ok = 0;   /* no rank can go on */
    }
#undef DONE
#undef GOT
    char *text = NULL;
    size_t total = 1;
    for (int r = 0; ok && r < P; r++) {
        for (int st = 0; st < S; st++)
            if (s->stage_rank[st] == r) snprintf(cell, sizeof cell, "%dRESHARD", st), pt_cell(row, len, r, cell);
        total += len[r] + 1;
    }
    if (ok && (text = malloc(total))) {
        size_t n = 0;
        for (int r = 0; r < P; r++) n += (size_t)sprintf(text + n, "%s\n", row[r] ? row[r] : "");
    }
    for (int r = 0; row && r < P; r++) free(row[r]);
    free(row), free(len), free(pc), free(done), free(got), free(used), free(last_bwd);
    return text;
}

#endif
