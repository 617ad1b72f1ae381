/* sched.c -- schedules as data: the action notation, the builders (naive,
 * GPipe, 1F1B, interleaved 1F1B, ZB-H1; ZB-V is in zbv.c), lowering to explicit sends and
 * receives, and the CSV form (the kit's own, and PyTorch's compute-only and
 * comms forms).
 *
 * A schedule is nothing but one list of actions per rank.  Builders are short
 * functions that push actions; a schedule keeps the first failure of a push
 * (out of memory) and pp_sched_finish() reports it, so a builder is a plain
 * loop.  Nothing here knows about MPI or clocks.
 * Left out on purpose: checking (validate.c, which also lowers).
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- kinds and the notation ------------------------------------------- */

static const char *kind_names[PP_NKINDS] = {
    "F", "B", "I", "W", "SEND_F", "RECV_F", "SEND_B", "RECV_B", ""
};

const char *pp_kind_name(pp_kind k)
{
    return (k >= 0 && k < PP_NKINDS) ? kind_names[k] : "?";
}

int pp_kind_is_compute(pp_kind k)
{
    return k == PP_F || k == PP_B || k == PP_I || k == PP_W;
}

int pp_action_str(pp_action a, char *buf, size_t n)
{
    if (a.kind == PP_IDLE) {
        if (n) buf[0] = '\0';
        return 0;
    }
    return snprintf(buf, n, "%d%s%d", a.stage, pp_kind_name(a.kind), a.mb);
}

/* Reads a non-negative decimal number at *p; returns -1 if there is none or
 * it is too large to be a stage or micro-batch. */
static long read_count(const char **p)
{
    const char *s = *p;
    long v = 0;
    if (!isdigit((unsigned char)*s)) return -1;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s - '0');
        if (v > 1000000) return -1;
        s++;
    }
    *p = s;
    return v;
}

pp_status pp_action_parse(const char *text, pp_action *out)
{
    const char *p = text;
    long stage = read_count(&p);
    if (stage < 0) return PP_EPARSE;
    /* Longest kind name first, so "SEND_F" is not read as a bad "S". */
    int kind = -1;
    size_t best = 0;
    for (int k = 0; k < PP_IDLE; k++) {
        size_t len = strlen(kind_names[k]);
        if (len > best && strncmp(p, kind_names[k], len) == 0) {
            kind = k;
            best = len;
        }
    }
    if (kind < 0) return PP_EPARSE;
    p += best;
    long mb = read_count(&p);
    if (mb < 0 || *p != '\0') return PP_EPARSE;
    out->stage = (int)stage;
    out->kind = (pp_kind)kind;
    out->mb = (int)mb;
    return PP_OK;
}

/* ---- the schedule object ----------------------------------------------- */

pp_status pp_sched_new(int P, pp_sched **out)
{
    *out = NULL;
    if (P < 1) return PP_EARG;
    pp_sched *s = calloc(1, sizeof *s);
    if (!s) return PP_ENOMEM;
    s->nranks = P;
    s->len = calloc((size_t)P, sizeof *s->len);
    s->acts = calloc((size_t)P, sizeof *s->acts);
    s->cap = calloc((size_t)P, sizeof *s->cap);
    if (!s->len || !s->acts || !s->cap) {
        pp_sched_free(s);
        return PP_ENOMEM;
    }
    snprintf(s->name, sizeof s->name, "custom");
    *out = s;
    return PP_OK;
}

void pp_sched_free(pp_sched *s)
{
    if (!s) return;
    for (int r = 0; s->acts && r < s->nranks; r++) free(s->acts[r]);
    free(s->acts);
    free(s->len);
    free(s->cap);
    free(s->stage_rank);
    free(s);
}

void pp_sched_push(pp_sched *s, int rank, pp_action a)
{
    if (s->err != PP_OK) return;
    if (rank < 0 || rank >= s->nranks) {
        s->err = PP_EARG;
        return;
    }
    if (s->len[rank] == s->cap[rank]) {
        int cap = s->cap[rank] ? 2 * s->cap[rank] : 16;
        pp_action *grown = realloc(s->acts[rank], (size_t)cap * sizeof *grown);
        if (!grown) {
            s->err = PP_ENOMEM;
            return;
        }
        s->acts[rank] = grown;
        s->cap[rank] = cap;
    }
    s->acts[rank][s->len[rank]++] = a;
}

pp_status pp_sched_finish(pp_sched *s)
{
    if (s->err != PP_OK) return s->err;
    int S = 0, M = 0;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_IDLE) continue;
            if (a.stage + 1 > S) S = a.stage + 1;
            if (a.mb + 1 > M) M = a.mb + 1;
        }
    free(s->stage_rank);
    s->stage_rank = malloc((size_t)(S ? S : 1) * sizeof *s->stage_rank);
    if (!s->stage_rank) return PP_ENOMEM;
    for (int st = 0; st < S; st++) s->stage_rank[st] = -1;
    /* The first rank seen running a stage owns it; the validator refuses a
     * stage found on two ranks. */
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind != PP_IDLE && s->stage_rank[a.stage] < 0) s->stage_rank[a.stage] = r;
        }
    s->nstages = S;
    s->nmb = M;
    /* chunks: the most stages one rank runs (1 for a plain pipeline) */
    s->chunks = 1;
    for (int r = 0; r < s->nranks; r++) {
        int mine = 0;
        for (int st = 0; st < S; st++) mine += s->stage_rank[st] == r;
        if (mine > s->chunks) s->chunks = mine;
    }
    return PP_OK;
}

/* ---- builders ---------------------------------------------------------- */

static pp_action act(int stage, pp_kind k, int mb)
{
    pp_action a = {stage, k, mb};
    return a;
}

/* Starts a built schedule: checks P and M, allocates, names it. */
static pp_status begin(const char *name, pp_family fam, int P, int M, pp_sched **out)
{
    *out = NULL;
    if (P < 1 || M < 1) return PP_EARG;
    pp_status st = pp_sched_new(P, out);
    if (st != PP_OK) return st;
    snprintf((*out)->name, sizeof (*out)->name, "%s", name);
    (*out)->family = fam;
    return PP_OK;
}

/* Ends a built schedule; frees it if a push failed. */
static pp_status end(pp_sched **out)
{
    pp_status st = pp_sched_finish(*out);
    if (st != PP_OK) {
        pp_sched_free(*out);
        *out = NULL;
    }
    return st;
}

pp_status pp_sched_forward(int P, int S, int M, pp_sched **out)
{
    if (S != 1 && S != P) return PP_EARG;
    /* the one-rank comparison is no pipeline: no formula (custom) */
    pp_status st = begin(S == 1 ? "one rank" : "stream", S == 1 ? PP_FAM_CUSTOM : PP_FAM_FORWARD, P, M, out);
    if (st != PP_OK) return st;
    (*out)->forward_only = 1;
    /* Every stage takes the requests in order; the messages do the rest
     * (a rank takes request m + 1 as soon as it has passed m on). */
    for (int r = 0; r < S; r++)
        for (int m = 0; m < M; m++) pp_sched_push(*out, r, act(r, PP_F, m));
    return end(out);
}

pp_status pp_sched_naive(int P, int M, pp_sched **out)
{
    pp_status st = begin("naive", PP_FAM_NAIVE, P, M, out);
    if (st != PP_OK) return st;
    /* Every rank: F0 B0 F1 B1 ...  The messages do the rest: rank 0 cannot
     * start F1 until the gradient of micro-batch 0 has come all the way back. */
    for (int r = 0; r < P; r++)
        for (int m = 0; m < M; m++) {
            pp_sched_push(*out, r, act(r, PP_F, m));
            pp_sched_push(*out, r, act(r, PP_B, m));
        }
    return end(out);
}

pp_status pp_sched_gpipe(int P, int M, pp_sched **out)
{
    pp_status st = begin("gpipe", PP_FAM_GPIPE, P, M, out);
    if (st != PP_OK) return st;
    /* Every rank: all M forwards, then all M backwards in the same order. */
    for (int r = 0; r < P; r++) {
        for (int m = 0; m < M; m++) pp_sched_push(*out, r, act(r, PP_F, m));
        for (int m = 0; m < M; m++) pp_sched_push(*out, r, act(r, PP_B, m));
    }
    return end(out);
}

pp_status pp_sched_1f1b(int P, int M, pp_sched **out)
{
    pp_status st = begin("1f1b", PP_FAM_1F1B, P, M, out);
    if (st != PP_OK) return st;
    for (int r = 0; r < P; r++) {
        /* Warm-up: enough forwards that the first gradient arrives just as
         * the steady phase starts.  Rank r holds at most P - r micro-batches. */
        int warm = P - r - 1 < M ? P - r - 1 : M;
        int f = 0, b = 0;
        while (f < warm) pp_sched_push(*out, r, act(r, PP_F, f++));
        /* Steady: one forward, one backward. */
        while (f < M) {
            pp_sched_push(*out, r, act(r, PP_F, f++));
            pp_sched_push(*out, r, act(r, PP_B, b++));
        }
        /* Cool-down: the backwards still owed. */
        while (b < M) pp_sched_push(*out, r, act(r, PP_B, b++));
    }
    return end(out);
}

/* Interleaved 1F1B (Megatron-LM): rank r holds v chunks, stages r, r + P,
 * ..., r + (v-1)P, each 1/v of a stage's blocks.  The micro-batches go in
 * rounds of at least P (M / P rounds, the first M mod that one larger): a
 * rank runs a round's forwards through chunk 0, the same micro-batches
 * through chunk 1, and so on, then the next round; backwards walk the
 * chunks the other way.  A round of at least P micro-batches keeps rank 0
 * busy until its first micro-batch is back from rank P-1 for the next
 * chunk; with M < P there is one round of M, and rank 0 waits between
 * chunks (the formula no longer holds: pp_theory_broken says so).  The
 * warm-up is longer than 1F1B's by (v-1) forwards of the first round, the
 * price of the smaller bubble.  With v = 1 it is 1F1B itself. */
static void interleaved_rounds(int P, int M, int *rounds, int *base, int *extra)
{
    *rounds = M >= P ? M / P : 1;
    *base = M / *rounds;     /* micro-batches per round; the first *extra rounds one more */
    *extra = M % *rounds;
}

int pp_interleaved_round(int P, int M)
{
    int rounds, base, extra;
    interleaved_rounds(P, M, &rounds, &base, &extra);
    return base + (extra > 0);
}

/* The k-th forward (or backward) of rank r. */
static pp_action interleaved_at(int P, int M, int v, int r, int k, pp_kind kind)
{
    int rounds, base, extra, m0 = 0;
    interleaved_rounds(P, M, &rounds, &base, &extra);
    for (int j = 0; j < rounds; j++) {
        int g = base + (j < extra);
        if (k < v * g) {
            int chunk = kind == PP_B ? v - 1 - k / g : k / g;
            return act(chunk * P + r, kind, m0 + k % g);
        }
        k -= v * g, m0 += g;
    }
    return act(-1, PP_IDLE, -1);   /* past the end: not asked for */
}

pp_status pp_sched_interleaved(int P, int M, int v, pp_sched **out)
{
    if (v < 1) {
        *out = NULL;
        return PP_EARG;
    }
    pp_status st = begin("interleaved", PP_FAM_INTERLEAVED, P, M, out);
    if (st != PP_OK) return st;
    int total = v * M;
    for (int r = 0; r < P; r++) {
        int warm = v == 1 ? P - r - 1 : 2 * (P - r - 1) + (v - 1) * pp_interleaved_round(P, M);
        if (warm > total) warm = total;
        int f = 0, b = 0;
        while (f < warm) pp_sched_push(*out, r, interleaved_at(P, M, v, r, f++, PP_F));
        while (f < total) {
            pp_sched_push(*out, r, interleaved_at(P, M, v, r, f++, PP_F));
            pp_sched_push(*out, r, interleaved_at(P, M, v, r, b++, PP_B));
        }
        while (b < total) pp_sched_push(*out, r, interleaved_at(P, M, v, r, b++, PP_B));
    }
    return end(out);
}

/* ZB-H1: 1F1B with the backward split into I (the input gradient, which the
 * rank below waits for) and W (the weight gradient, which nobody waits for).
 * The I's keep 1F1B's places; rank r runs each W after r more I's, so
 * the later ranks, whose gradients come first, carry W's into the cool-down
 * where 1F1B leaves them idle.  Every rank then holds at most P micro-batches
 * (from F to W), rank 0's peak under 1F1B. */
pp_status pp_sched_zbh1(int P, int M, pp_sched **out)
{
    pp_status st = begin("zbh1", PP_FAM_ZBH1, P, M, out);
    if (st != PP_OK) return st;
    for (int r = 0; r < P; r++) {
        int warm = P - r - 1 < M ? P - r - 1 : M;
        int f = 0, i = 0, w = 0;
        while (f < warm) pp_sched_push(*out, r, act(r, PP_F, f++));
        while (i < M) {
            if (f < M) pp_sched_push(*out, r, act(r, PP_F, f++));
            pp_sched_push(*out, r, act(r, PP_I, i++));
            if (i - 1 - r >= w) pp_sched_push(*out, r, act(r, PP_W, w++));
        }
        while (w < M) pp_sched_push(*out, r, act(r, PP_W, w++));
    }
    return end(out);
}

int pp_sched_edges(const pp_sched *s)
{
    int e = 0;
    for (int st = 0; st + 1 < s->nstages; st++) e += s->stage_rank[st] != s->stage_rank[st + 1];
    return e;
}

/* ---- lowering: the sends and receives a compute-only schedule implies --- */

int pp_sched_has_comm(const pp_sched *s)
{
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++)
            if (!pp_kind_is_compute(s->acts[r][i].kind) && s->acts[r][i].kind != PP_IDLE)
                return 1;
    return 0;
}

/* Is the neighbouring stage `other` run by another rank than `r`? */
static int remote(const pp_sched *s, int r, int other)
{
    return other >= 0 && other < s->nstages && s->stage_rank[other] != r;
}

/* Pushes lowered action a of rank r, noting the action of s it comes from. */
static void push_from(pp_sched *lo, int **src, int r, int from, pp_action a)
{
    src[r][lo->len[r]] = from;
    pp_sched_push(lo, r, a);
}

pp_status pp_sched_lower(const pp_sched *s, pp_sched **out, int ***src_index)
{
    *out = NULL;
    *src_index = NULL;
    pp_sched *lo = NULL;
    pp_status st = pp_sched_new(s->nranks, &lo);
    if (st != PP_OK) return st;
    memcpy(lo->name, s->name, sizeof lo->name);
    memcpy(lo->note, s->note, sizeof lo->note);
    lo->family = s->family;
    lo->forward_only = s->forward_only;
    int **src = calloc((size_t)s->nranks, sizeof *src);
    int explicit_comm = pp_sched_has_comm(s);
    for (int r = 0; src && r < s->nranks; r++) {
        /* At most three lowered actions come from one action. */
        if (!(src[r] = malloc((size_t)(3 * s->len[r] + 1) * sizeof **src))) goto fail;
        for (int i = 0; i < s->len[r] && lo->err == PP_OK; i++) {
            pp_action a = s->acts[r][i];
            if (a.kind == PP_IDLE) continue;
            int fwd = a.kind == PP_F, bwd = a.kind == PP_B || a.kind == PP_I;
            /* The receive comes right before the compute that needs it: the
             * executor posts every receive early anyway, so this is where
             * the rank waits, not where the message is asked for. */
            if (!explicit_comm && fwd && remote(s, r, a.stage - 1)) push_from(lo, src, r, i, act(a.stage, PP_RECV_F, a.mb));
            if (!explicit_comm && bwd && remote(s, r, a.stage + 1)) push_from(lo, src, r, i, act(a.stage, PP_RECV_B, a.mb));
            push_from(lo, src, r, i, a);
            /* The send goes right after the compute that produced it. */
            if (!explicit_comm && fwd && remote(s, r, a.stage + 1)) push_from(lo, src, r, i, act(a.stage, PP_SEND_F, a.mb));
            if (!explicit_comm && bwd && remote(s, r, a.stage - 1)) push_from(lo, src, r, i, act(a.stage, PP_SEND_B, a.mb));
        }
    }
    if (!src || (st = pp_sched_finish(lo)) != PP_OK) goto fail;
    *out = lo;
    *src_index = src;
    return PP_OK;
fail:
    pp_free_index(src, s->nranks);
    pp_sched_free(lo);
    return st != PP_OK ? st : PP_ENOMEM;
}

void pp_free_index(int **idx, int nranks)
{
    for (int r = 0; idx && r < nranks; r++) free(idx[r]);
    free(idx);
}

/* ---- the CSV form ------------------------------------------------------ */

/* Copies the cell starting at *p (up to a comma or the end of the line) into
 * buf without surrounding blanks; moves *p past the comma.  Returns 1 if the
 * line has ended. */
static int next_cell(const char **p, const char *eol, char *buf, size_t n)
{
    const char *c = *p;
    while (c < eol && *c != ',') c++;
    const char *b = *p, *e = c;
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    size_t len = (size_t)(e - b) < n - 1 ? (size_t)(e - b) : n - 1;
    memcpy(buf, b, len);
    buf[len] = '\0';
    *p = c < eol ? c + 1 : c;
    return c >= eol;
}

/* Is the line empty or a comment ('#')? */
static int skip_line(const char *b, const char *eol)
{
    while (b < eol && isspace((unsigned char)*b)) b++;
    return b == eol || *b == '#';
}

/* The cell's text for an error: at most 40 characters, "..." if cut. */
static const char *shown(const char *cell, char *buf, size_t n)
{
    snprintf(buf, n, "%.40s%s", cell, strlen(cell) > 40 ? "..." : "");
    for (char *c = buf; *c; c++)
        if (!isprint((unsigned char)*c)) *c = '?';
    return buf;
}

/* What a file held besides the kit's own cells, counted for the note. */
typedef struct {
    int overlaps;   /* (F;B)OVERLAP_F_B pairs */
    int fsdp;       /* UNSHARD, RESHARD, REDUCE_GRAD: skipped */
    int bw;         /* 2BW0, PyTorch's older name for a full backward */
} csv_extras;

/* Is the cell PyTorch's FSDP action ("0UNSHARD", "1RESHARD", "0REDUCE_GRAD")? */
static int fsdp_cell(const char *cell)
{
    while (isdigit((unsigned char)*cell)) cell++;
    return strcmp(cell, "UNSHARD") == 0 || strcmp(cell, "RESHARD") == 0 || strcmp(cell, "REDUCE_GRAD") == 0;
}

/* Reads one cell into actions (two for an overlapped pair, none for an
 * FSDP action); 0 or -1 with err set. */
static int read_cell(const char *cell, pp_action *a, int *n, csv_extras *x, int line, int col, char *err, size_t errlen)
{
    char buf[64], one[64], two[64];
    *n = 0;
    if (!cell[0]) {
        a[(*n)++] = (pp_action){-1, PP_IDLE, -1};
        return 0;
    }
    const char *close = strchr(cell, ')'), *semi = strchr(cell, ';');
    if (cell[0] == '(' && close && semi && semi < close) {
        if (strcmp(close + 1, "OVERLAP_F_B") != 0) {
            snprintf(err, errlen, "line %d, cell %d: '%s' is an overlapped pair of a kind not run here (only "
                     "(F;B)OVERLAP_F_B is: its two actions back to back)", line, col, shown(cell, buf, sizeof buf));
            return -1;
        }
        snprintf(one, sizeof one, "%.*s", (int)(semi - cell - 1), cell + 1);
        snprintf(two, sizeof two, "%.*s", (int)(close - semi - 1), semi + 1);
        if (pp_action_parse(one, &a[0]) != PP_OK || pp_action_parse(two, &a[1]) != PP_OK || a[0].kind != PP_F ||
            (a[1].kind != PP_B && a[1].kind != PP_I)) {
            snprintf(err, errlen, "line %d, cell %d: '%s' is not an overlapped forward and backward (write "
                     "(0F7;7B3)OVERLAP_F_B)", line, col, shown(cell, buf, sizeof buf));
            return -1;
        }
        *n = 2;
        x->overlaps++;
        return 0;
    }
    if (pp_action_parse(cell, &a[0]) == PP_OK) {
        *n = 1;
        return 0;
    }
    if (fsdp_cell(cell)) {   /* FSDP's gather, release and gradient sum: nothing to run here */
        x->fsdp++;
        return 0;
    }
    /* "2BW0": PyTorch's older notation for a full backward, read as 2B0. */
    const char *bw = strstr(cell, "BW");
    if (bw && bw > cell && isdigit((unsigned char)bw[-1]) && isdigit((unsigned char)bw[2])) {
        snprintf(one, sizeof one, "%.*sB%s", (int)(bw - cell), cell, bw + 2);
        if (pp_action_parse(one, &a[0]) == PP_OK) {
            *n = 1;
            x->bw++;
            return 0;
        }
    }
    snprintf(err, errlen, "line %d, cell %d: '%s' is not an action (write stage, kind, micro-batch: 2F0, 3B1, "
                 "1I4, 1W4, or leave the cell empty)", line, col, shown(cell, buf, sizeof buf));
    return -1;
}

/* PyTorch's form: where a stage and micro-batch have a W, their B is the
 * input half.  Returns how many B's were read so. */
static int b_with_w_is_i(pp_sched *s)
{
    int S = s->nstages, M = s->nmb, changed = 0;
    long actions = 0;
    for (int r = 0; r < s->nranks; r++) actions += s->len[r];
    if ((long)S * M > 2 * actions) return 0;   /* too few actions for its numbers: the validator says so */
    char *has_w = calloc((size_t)S * M + 1, 1);
    if (!has_w) {
        s->err = PP_ENOMEM;
        return 0;
    }
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++)
            if (s->acts[r][i].kind == PP_W) has_w[(long)s->acts[r][i].stage * M + s->acts[r][i].mb] = 1;
    for (int r = 0; r < s->nranks; r++)
        for (int i = 0; i < s->len[r]; i++) {
            pp_action *a = &s->acts[r][i];
            if (a->kind == PP_B && has_w[(long)a->stage * M + a->mb]) a->kind = PP_I, changed++;
        }
    free(has_w);
    return changed;
}

/* PyTorch's comms form (a file with its FSDP actions in it): a RECV there
 * only posts a receive, and the rank waits at the compute that needs it,
 * so the sends and receives are left out and the computes lowered as the
 * kit lowers any compute-only order (receives posted early, each waited
 * for right before its compute): the comms form and the compute-only form
 * of one order then run alike.  Returns how many were left out. */
static int drop_comms(pp_sched *s)
{
    int dropped = 0;
    for (int r = 0; r < s->nranks; r++) {
        int k = 0;
        for (int i = 0; i < s->len[r]; i++) {
            pp_kind kind = s->acts[r][i].kind;
            if (kind == PP_SEND_F || kind == PP_RECV_F || kind == PP_SEND_B || kind == PP_RECV_B) dropped++;
            else s->acts[r][k++] = s->acts[r][i];
        }
        s->len[r] = k;
    }
    return dropped;
}

/* The note being written: how far, and how many clauses so far. */
typedef struct {
    pp_sched *s;
    size_t k;
    int clauses;
} note_w;

/* Appends one clause to the note, after the heading or "; " (cut at the
 * note's end, never past it). */
static void clause(note_w *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void clause(note_w *o, const char *fmt, ...)
{
    char *note = o->s->note;
    size_t n = sizeof o->s->note;
    const char *sep = o->clauses == 0 ? "" : o->clauses == 1 ? " " : "; ";
    o->clauses++;
    int w = snprintf(note + o->k, n - o->k, "%s", sep);
    o->k += w > 0 && (size_t)w < n - o->k ? (size_t)w : 0;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(note + o->k, n - o->k, fmt, ap);
    va_end(ap);
    if (w > 0) o->k += (size_t)w < n - o->k ? (size_t)w : n - 1 - o->k;
}

/* s->note: what was read otherwise than in the kit's own form; and, for a
 * file with sends and receives but none of PyTorch's FSDP cells, that they
 * are read in the kit's sense (a RECV is where the rank waits). */
static void csv_note(pp_sched *s, int as_i, int comms, const csv_extras *x)
{
    if (!comms && !x->fsdp && pp_sched_has_comm(s))
        snprintf(s->note, sizeof s->note, "sends and receives read as written: a RECV is where the rank waits "
                 "(PyTorch's comms form, whose files hold UNSHARD, RESHARD and REDUCE_GRAD, is read as its computes "
                 "instead)");
    if (!as_i && !comms && !x->overlaps && !x->fsdp && !x->bw) return;
    note_w o = {s, strlen(s->note), 0};
    if (o.k) o.k += (size_t)snprintf(s->note + o.k, sizeof s->note - o.k, "; ");
    clause(&o, "read in PyTorch's form:");
    if (comms)
        clause(&o, "%d sends and receives left out (there a receive is posted where it is written and waited for "
               "at its compute; here each is posted early and waited for right before its compute)", comms);
    if (x->fsdp)
        clause(&o, "%d FSDP cells (UNSHARD, RESHARD, REDUCE_GRAD) skipped: no stage is sharded, and every step ends "
               "with its gradients summed", x->fsdp);
    if (as_i) clause(&o, "%d B cell%s whose W is also in the file run as I (the input half)", as_i, as_i == 1 ? "" : "s");
    if (x->bw) clause(&o, "%d BW cell%s run as B (the full backward)", x->bw, x->bw == 1 ? "" : "s");
    if (x->overlaps)
        clause(&o, "%d overlapped cell%s (F;B)OVERLAP_F_B run as the F, then the B", x->overlaps,
               x->overlaps == 1 ? "" : "s");
}

pp_status pp_sched_from_csv(const char *text, pp_sched **out, char *err, size_t errlen)
{
    *out = NULL;
    /* First pass: count the rows. */
    int rows = 0;
    for (const char *l = text; *l;) {
        const char *eol = strchr(l, '\n');
        if (!eol) eol = l + strlen(l);
        if (!skip_line(l, eol)) rows++;
        l = *eol ? eol + 1 : eol;
    }
    if (rows == 0) {
        snprintf(err, errlen, "the schedule has no rows (one row of actions per rank is needed)");
        return PP_EPARSE;
    }
    pp_sched *s = NULL;
    pp_status st = pp_sched_new(rows, &s);
    if (st != PP_OK) return st;

    /* Second pass: one rank per row, one action per cell. */
    int r = 0, line = 0;
    csv_extras x = {0};
    for (const char *l = text; *l && st == PP_OK;) {
        const char *eol = strchr(l, '\n');
        if (!eol) eol = l + strlen(l);
        line++;
        if (!skip_line(l, eol)) {
            const char *p = l;
            int col = 0, done = 0;
            while (!done && st == PP_OK) {
                char cell[64];
                pp_action a[2];
                int n;
                done = next_cell(&p, eol, cell, sizeof cell);
                col++;
                if (read_cell(cell, a, &n, &x, line, col, err, errlen) != 0) st = PP_EPARSE;
                for (int k = 0; k < n; k++) pp_sched_push(s, r, a[k]);
            }
            r++;
        }
        l = *eol ? eol + 1 : eol;
    }
    int comms = st == PP_OK && x.fsdp ? drop_comms(s) : 0;
    if (st == PP_OK) st = pp_sched_finish(s);
    int as_i = st == PP_OK ? b_with_w_is_i(s) : 0;
    if (st == PP_OK) st = s->err;
    if (st != PP_OK) {
        pp_sched_free(s);
        return st;
    }
    csv_note(s, as_i, comms, &x);
    *out = s;
    return PP_OK;
}

char *pp_read_text(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *grown = realloc(text, cap *= 2);
        if (!grown) { free(text); text = NULL; }
        else text = grown;
    }
    int failed = ferror(f);
    fclose(f);
    if (!text || failed) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    if (len) *len = (long)n;
    return text;
}

pp_status pp_sched_load(const char *path, pp_sched **out, char *err, size_t errlen)
{
    *out = NULL;
    char *text = pp_read_text(path, NULL);
    if (!text) {
        snprintf(err, errlen, "cannot open schedule file '%s': %s", path, strerror(errno));
        return PP_EIO;
    }
    char inner[200] = "";
    pp_status st = pp_sched_from_csv(text, out, inner, sizeof inner);
    free(text);
    if (st != PP_OK) snprintf(err, errlen, "%s: %s", path, inner);
    else snprintf((*out)->name, sizeof (*out)->name, "%.31s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    return st;
}

char *pp_sched_to_csv(const pp_sched *s)
{
    size_t cap = 64, n = 0;
    for (int r = 0; r < s->nranks; r++) cap += (size_t)s->len[r] * 16 + 2;
    char *text = malloc(cap);
    if (!text) return NULL;
    for (int r = 0; r < s->nranks; r++) {
        for (int i = 0; i < s->len[r]; i++) {
            if (i) text[n++] = ',';
            n += (size_t)pp_action_str(s->acts[r][i], text + n, cap - n);
        }
        text[n++] = '\n';
    }
    text[n] = '\0';
    return text;
}

pp_status pp_sched_save(const pp_sched *s, const char *path)
{
    /* Written as PATH.tmp and renamed: a file is never left half-written. */
    char *text = pp_sched_to_csv(s), tmp[4096];
    if (!text) return PP_ENOMEM;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    pp_status st = PP_EIO;
    if (f) {
        size_t len = strlen(text);
        st = fwrite(text, 1, len, f) == len ? PP_OK : PP_EIO;
        if (fclose(f) != 0) st = PP_EIO;
        if (st == PP_OK && rename(tmp, path) != 0) st = PP_EIO;
        if (st != PP_OK) remove(tmp);
    }
    free(text);
    return st;
}
