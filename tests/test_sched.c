/* test_sched.c -- schedules without MPI: the notation, the builders, the CSV
 * form, the validator on every kind of broken schedule, and the simulator
 * against the formulas.  Runs as one process (MPI is initialised only because
 * the library links it).
 */
#include "pp.h"
#include "pp_demo.h"
#include "core.h"   /* pp_read_text: the files PyTorch's orders are kept in */
#include "check.h"
#include "random_sched.h"
#include "pytorch_orders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The actions of one rank as "0F0 0F1 ...". */
static void rank_str(const pp_sched *s, int r, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->len[r] && k + 16 < n; i++) {
        k += (size_t)snprintf(buf + k, n - k, "%s", i ? " " : "");
        k += (size_t)pp_action_str(s->acts[r][i], buf + k, n - k);
    }
}

static void test_notation(void)
{
    const char *good[] = {"2F0", "3B1", "1W4", "0I12", "0SEND_F3", "1RECV_F3", "2SEND_B0", "1RECV_B0", "10F100"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        pp_action a;
        char back[32] = "";
        int ok = pp_action_parse(good[i], &a) == PP_OK;
        if (ok) pp_action_str(a, back, sizeof back);
        CHECK(ok && strcmp(back, good[i]) == 0, "notation round trip %s -> %s", good[i], back);
    }
    pp_action a;
    CHECK(pp_action_parse("2F0", &a) == PP_OK && a.stage == 2 && a.kind == PP_F && a.mb == 0,
          "2F0 is stage 2, forward, micro-batch 0");
    const char *bad[] = {"", "F0", "2F", "2X0", "2F0x", "-1F0", "2 F0", "2SEND0", "a1F0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(pp_action_parse(bad[i], &a) == PP_EPARSE, "'%s' is refused as an action", bad[i]);
}

/* Every builder is named in the list the help and the refusals quote, in
 * the course's order, and builds by that name. */
static void test_builder_names(void)
{
    static const char *each[] = {"naive", "gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    const char *names = pp_sched_names();
    int ok = strcmp(names, "naive, gpipe, 1f1b, interleaved, zbh1, zbv") == 0;
    for (size_t k = 0; k < sizeof each / sizeof each[0]; k++) {
        pp_sched *s = NULL;
        ok &= pp_sched_is_builder(each[k]) && pp_sched_build(each[k], 4, 8, 0, &s, NULL, 0) == PP_OK;
        pp_sched_free(s);
    }
    ok &= !pp_sched_is_builder("zigzag");
    CHECK(ok, "the builders' names, '%s', list all six, and each builds by its name", names);
}

static void test_builders(void)
{
    pp_sched *s;
    char buf[2048];
    CHECK(pp_sched_1f1b(4, 8, &s) == PP_OK, "1f1b builds for P=4, M=8");
    rank_str(s, 0, buf, sizeof buf);
    CHECK(strncmp(buf, "0F0 0F1 0F2 0F3 0B0 0F4 0B1 0F5 0B2 0F6 0B3 0F7 0B4 0B5 0B6 0B7", 64) == 0,
          "1f1b rank 0 order: %s", buf);
    rank_str(s, 3, buf, sizeof buf);
    CHECK(strcmp(buf, "3F0 3B0 3F1 3B1 3F2 3B2 3F3 3B3 3F4 3B4 3F5 3B5 3F6 3B6 3F7 3B7") == 0,
          "1f1b last rank alternates from the start: %s", buf);
    rank_str(s, 1, buf, sizeof buf);
    CHECK(strncmp(buf, "1F0 1F1 1F2 1B0 1F3 1B1", 23) == 0, "1f1b rank 1 warms up with 3 forwards: %s", buf);
    pp_sched_free(s);

    CHECK(pp_sched_gpipe(3, 4, &s) == PP_OK, "gpipe builds for P=3, M=4");
    rank_str(s, 1, buf, sizeof buf);
    CHECK(strcmp(buf, "1F0 1F1 1F2 1F3 1B0 1B1 1B2 1B3") == 0, "gpipe rank 1: all forwards then all backwards: %s", buf);
    pp_sched_free(s);

    CHECK(pp_sched_naive(2, 3, &s) == PP_OK, "naive builds for P=2, M=3");
    rank_str(s, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "0F0 0B0 0F1 0B1 0F2 0B2") == 0, "naive rank 0: %s", buf);
    pp_sched_free(s);

    /* Every builder, many P and M: each rank has exactly M forwards and M
     * backwards of its own stage, and the schedule validates. */
    const char *names[] = {"naive", "gpipe", "1f1b"};
    int all_ok = 1;
    for (int b = 0; b < 3; b++)
        for (int P = 1; P <= 8; P++)
            for (int M = 1; M <= 17; M++) {
                pp_check c;
                if (pp_sched_build(names[b], P, M, 0, &s, NULL, 0) != PP_OK) { all_ok = 0; continue; }
                for (int r = 0; r < P; r++) {
                    int f = 0, bw = 0;
                    for (int i = 0; i < s->len[r]; i++) {
                        f += s->acts[r][i].kind == PP_F && s->acts[r][i].stage == r;
                        bw += s->acts[r][i].kind == PP_B && s->acts[r][i].stage == r;
                    }
                    if (f != M || bw != M || s->len[r] != 2 * M) all_ok = 0;
                }
                if (pp_sched_validate(s, NULL, &c) != PP_OK) {
                    printf("# %s P=%d M=%d refused: %s\n", names[b], P, M, c.msg);
                    all_ok = 0;
                }
                pp_check_clear(&c);
                pp_sched_free(s);
            }
    CHECK(all_ok, "every builder, P 1..8, M 1..17: M forwards and M backwards per rank, and valid");
    CHECK(pp_sched_build("zigzag", 4, 8, 0, &s, NULL, 0) == PP_EARG && s == NULL, "an unknown builder name is refused");
    CHECK(pp_sched_gpipe(4, 0, &s) == PP_EARG, "M = 0 is refused by the builders");
}


/* Interleaved, ZB-H1 and ZB-V: the order of small cases checked by hand,
 * every P, M and v the builders take, and what they refuse. */
static void expect_rows(const char *name, int P, int M, int v, const char *const *want)
{
    pp_sched *s = NULL;
    char buf[2048], err[256] = "";
    int ok = pp_sched_build(name, P, M, v, &s, err, sizeof err) == PP_OK;
    for (int r = 0; ok && r < P; r++) {
        rank_str(s, r, buf, sizeof buf);
        if (strcmp(buf, want[r]) != 0) {
            printf("# %s rank %d: %s\n#   wanted: %s\n", name, r, buf, want[r]);
            ok = 0;
        }
    }
    CHECK(ok, "%s P=%d M=%d%s: every rank's order as worked out by hand%s%s", name, P, M, v > 1 ? " v=2" : "",
          err[0] ? ": " : "", err);
    pp_sched_free(s);
}

static void test_new_builders(void)
{
    /* Interleaved, P=2, M=2, v=2: rank 0 holds stages 0 and 2.  Its warm-up
     * is 2(P-r-1) + (v-1)P = 4 forwards (all of them): chunk 0 for micro-
     * batches 0 and 1, then chunk 1; the backwards come chunk 1 first. */
    const char *inter[] = {"0F0 0F1 2F0 2F1 2B0 2B1 0B0 0B1", "1F0 1F1 3F0 3B0 3F1 3B1 1B0 1B1"};
    expect_rows("interleaved", 2, 2, 2, inter);
    /* ZB-H1, P=3, M=3: 1F1B's places for F and I; rank r runs each W r
     * places after its I, the rest at the end. */
    const char *zbh1[] = {"0F0 0F1 0F2 0I0 0W0 0I1 0W1 0I2 0W2", "1F0 1F1 1I0 1F2 1I1 1W0 1I2 1W1 1W2",
                          "2F0 2I0 2F1 2I1 2F2 2I2 2W0 2W1 2W2"};
    expect_rows("zbh1", 3, 3, 0, zbh1);
    /* ZB-V, P=2, M=2: stages 0 and 3 on rank 0, 1 and 2 on rank 1, played in
     * unit time: forwards first (upper chunk first) while fewer than 4
     * chunks are held, then I's (lower chunk first), then the oldest W. */
    const char *zbv[] = {"0F0 0F1 3F0 3I0 3F1 3I1 0I0 3W0 0I1 3W1 0W0 0W1",
                         "1F0 2F0 1F1 2F1 2I0 1I0 2I1 1I1 2W0 1W0 2W1 1W1"};
    expect_rows("zbv", 2, 2, 0, zbv);

    /* Every P 1..8, M 1..32, v 1..4 the builders take: valid; each stage on
     * its rank (interleaved s mod P, ZB-V the V); every stage runs F and B,
     * or I and W, once per micro-batch. */
    const char *names[] = {"interleaved", "zbh1", "zbv"};
    int valid = 1, placed = 1, counted = 1, cases = 0;
    for (int b = 0; b < 3; b++)
        for (int P = 1; P <= 8; P++)
            for (int M = 1; M <= 32; M++)
                for (int v = 1; v <= (b == 0 ? 4 : 1); v++) {
                    pp_sched *s = NULL;
                    pp_check c;
                    if (pp_sched_build(names[b], P, M, b == 0 ? v : 0, &s, NULL, 0) != PP_OK) { valid = 0; continue; }
                    cases++;
                    int chunks = b == 0 ? v : b == 1 ? 1 : 2;
                    if (s->nstages != chunks * P || s->chunks != chunks) placed = 0;
                    for (int st = 0; st < s->nstages; st++) {
                        int want = b == 0 ? st % P : b == 1 ? st : (st < P ? st : 2 * P - 1 - st);
                        if (s->stage_rank[st] != want) placed = 0;
                    }
                    int *n = calloc((size_t)s->nstages * M * 4, sizeof *n);
                    for (int r = 0; n && r < P; r++)
                        for (int i = 0; i < s->len[r]; i++) {
                            pp_action a = s->acts[r][i];
                            n[(a.stage * M + a.mb) * 4 + a.kind]++;
                        }
                    for (int k = 0; n && k < s->nstages * M; k++) {
                        int *x = n + k * 4;
                        if (!(x[PP_F] == 1 && ((x[PP_B] == 1 && !x[PP_I] && !x[PP_W]) || (!x[PP_B] && x[PP_I] == 1 && x[PP_W] == 1))))
                            counted = 0;
                    }
                    free(n);
                    if (pp_sched_validate(s, NULL, &c) != PP_OK) {
                        if (valid) printf("# %s P=%d M=%d v=%d refused: %s\n", names[b], P, M, v, c.msg);
                        valid = 0;
                    }
                    pp_check_clear(&c);
                    pp_sched_free(s);
                }
    CHECK(valid, "interleaved (v 1..4, any M), zbh1 and zbv validate for every P 1..8, M 1..32 (%d cases)",
          cases);
    CHECK(placed, "each stage on its rank: interleaved stage s on rank s mod P, ZB-V stages r and 2P-1-r on rank r");
    CHECK(counted, "every stage runs F and B, or F, I and W, exactly once per micro-batch");

    /* Refusals name the arithmetic. */
    pp_sched *s = NULL;
    char err[300] = "";
    /* Interleaved with M not a multiple of P (PyTorch's takes M = 6, 10, 15 at P = 4, v = 2). */
    static const int odd_M[] = {6, 10, 15};
    for (int k = 0; k < 3; k++) {
        pp_costs unit;
        pp_costs_default(&unit);
        double half[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
        unit.stage_scale = half;
        pp_run *run = NULL;
        int M = odd_M[k];
        pp_sched *lo = NULL;
        pp_check c;
        if (pp_sched_build("interleaved", 4, M, 2, &s, err, sizeof err) == PP_OK && pp_sched_validate(s, &lo, &c) == PP_OK)
            pp_simulate(lo, &unit, &run);
        double want = 3.0 / (2 * M + 3);
        CHECK(run && fabs(pp_run_bubble_step(run) - want) < 1e-12 && !pp_theory_broken(PP_FAM_INTERLEAVED, 4, M, 2, &unit),
              "interleaved P=4 v=2 M=%d (not a multiple of P): builds, and the simulated bubble %.1f %% equals "
              "(P-1)/(vM+P-1) = %.1f %%", M, run ? 100 * pp_run_bubble_step(run) : -1.0, 100 * want);
        pp_run_free(run), pp_sched_free(s), pp_sched_free(lo);
    }
    pp_costs dflt;
    pp_costs_default(&dflt);
    const char *below = pp_theory_broken(PP_FAM_INTERLEAVED, 4, 3, 2, &dflt);
    CHECK(pp_sched_build("interleaved", 4, 3, 2, &s, err, sizeof err) == PP_OK && below && strstr(below, "M < P"),
          "interleaved with M < P builds, and the formula is said not to hold: %s", below ? below : "(nothing)");
    pp_sched_free(s);
    CHECK(pp_sched_build("1f1b", 4, 8, 3, &s, err, sizeof err) == PP_EARG && strstr(err, "only interleaved"),
          "--chunks with 1f1b refused: %s", err);
    CHECK(pp_sched_build("interleaved", 4, 8, 17, &s, err, sizeof err) == PP_EARG && strstr(err, "1 to 16"),
          "17 chunks refused: %s", err);
    pp_sched_build("interleaved", 4, 8, 0, &s, NULL, 0);
    CHECK(s && s->chunks == 2, "interleaved without --chunks takes v = 2");
    pp_sched_free(s);

    /* Mutations the validator or the placement check must catch: a W before
     * its I; a chunk moved to another rank. */
    pp_check c;
    pp_sched_zbh1(3, 3, &s);
    pp_action t = s->acts[0][3];   /* 0I0 0W0 -> 0W0 0I0 */
    s->acts[0][3] = s->acts[0][4], s->acts[0][4] = t;
    CHECK(pp_sched_validate(s, NULL, &c) == PP_ESCHED && c.kind == PP_BAD_ORDER && c.rank == 0 && c.index == 3,
          "a W before its I is refused, the W marked: %s", c.msg);
    pp_check_clear(&c);
    pp_sched_free(s);
    pp_sched_interleaved(2, 2, 2, &s);
    s->acts[1][2].stage = 2;   /* 3F0 on rank 1 becomes 2F0: stage 2 is rank 0's */
    CHECK(pp_sched_validate(s, NULL, &c) == PP_ESCHED, "a chunk run by the wrong rank is refused: %s", c.msg);
    pp_check_clear(&c);
    pp_sched_free(s);
}

static void test_csv(void)
{
    pp_sched *s, *back;
    char err[256] = "";
    pp_sched_1f1b(4, 6, &s);
    char *text = pp_sched_to_csv(s);
    int ok = pp_sched_from_csv(text, &back, err, sizeof err) == PP_OK;
    char *again = ok ? pp_sched_to_csv(back) : NULL;
    CHECK(ok && again && strcmp(text, again) == 0, "CSV round trip of 1f1b P=4 M=6");
    CHECK(ok && back->nranks == 4 && back->nstages == 4 && back->nmb == 6, "CSV read back: P=4, S=4, M=6");
    free(text);
    free(again);
    pp_sched_free(back);
    pp_sched_free(s);

    /* Empty cells are idle slots; they are kept, and skipped when run. */
    ok = pp_sched_from_csv("0F0,,0B0\n,1F0,1B0\n", &s, err, sizeof err) == PP_OK;
    CHECK(ok && s->len[0] == 3 && s->acts[0][1].kind == PP_IDLE, "an empty cell is an idle slot");
    pp_check c;
    CHECK(ok && pp_sched_validate(s, NULL, &c) == PP_OK, "a hand-written schedule with idle slots validates");
    text = ok ? pp_sched_to_csv(s) : NULL;
    CHECK(text && strcmp(text, "0F0,,0B0\n,1F0,1B0\n") == 0, "idle slots survive writing: %s", text ? text : "");
    free(text);
    pp_sched_free(s);

    /* The kit's own ZB-V order (P=4, M=8) written in PyTorch's compute-only
     * notation: its B's are the input halves (each has a W) and four cells
     * are overlapped pairs.  Read, it is the kit's zbv, action for action;
     * the note says how it was read. */
    pp_sched *kit = NULL, *torch = NULL;
    pp_sched_zbv(4, 8, &kit);
    ok = pp_sched_load("tests/data/kit_zbv_p4m8_as_pytorch.csv", &torch, err, sizeof err) == PP_OK;
    char *a = kit ? pp_sched_to_csv(kit) : NULL, *b = ok ? pp_sched_to_csv(torch) : NULL;
    CHECK(ok && a && b && strcmp(a, b) == 0, "the kit's ZB-V in PyTorch's notation loads as the same actions as zbv%s%s",
          err[0] ? ": " : "", err);
    CHECK(ok && strstr(torch->note, "64 B cells whose W is also in the file run as I") &&
              strstr(torch->note, "4 overlapped cells"),
          "the note says how it was read: %s", ok ? torch->note : "");
    free(a), free(b);
    pp_sched_free(kit), pp_sched_free(torch);
    /* A B with an I (not a W) is still refused, the second of the two marked. */
    ok = pp_sched_from_csv("0F0,0B0,0I0\n", &s, err, sizeof err) == PP_OK;
    CHECK(ok && pp_sched_validate(s, NULL, &c) == PP_ESCHED && c.rank == 0 && c.index == 2 && strstr(c.msg, "both B"),
          "B and I for one micro-batch: refused, the I marked (%d): %s", c.index, c.msg);
    pp_check_clear(&c);
    pp_sched_free(s);
    /* Overlapped cells: anything but (F;B)OVERLAP_F_B is refused by name. */
    CHECK(pp_sched_from_csv("(0F0;0W0)OVERLAP_F_B\n", &s, err, sizeof err) == PP_EPARSE && strstr(err, "cell 1"),
          "an overlapped cell that is not F then B is refused: %s", err);

    /* Saved to a file and loaded back, a schedule is unchanged. */
    char path[] = "/tmp/pp_test_schedXXXXXX";
    int fd = mkstemp(path);
    pp_sched_gpipe(3, 5, &s);
    text = pp_sched_to_csv(s);
    ok = fd >= 0 && pp_sched_save(s, path) == PP_OK && pp_sched_load(path, &back, err, sizeof err) == PP_OK;
    again = ok ? pp_sched_to_csv(back) : NULL;
    CHECK(ok && again && strcmp(text, again) == 0 && back->nmb == 5, "a schedule saved to a file loads back unchanged");
    if (ok) pp_sched_free(back);
    free(text);
    free(again);
    pp_sched_free(s);
    if (fd >= 0) { close(fd); remove(path); }
    CHECK(pp_sched_load("/nonexistent/x.csv", &s, err, sizeof err) == PP_EIO && strstr(err, "cannot open"),
          "a missing schedule file is reported: %s", err);

    CHECK(pp_sched_from_csv("0F0,0B0\n1F0,1X0\n", &s, err, sizeof err) == PP_EPARSE &&
          strstr(err, "line 2, cell 2") && strstr(err, "'1X0'"),
          "a bad cell is named by line and cell: %s", err);
    CHECK(pp_sched_from_csv("# only a comment\n\n", &s, err, sizeof err) == PP_EPARSE, "an empty CSV is refused");
}

/* Validates a CSV schedule; returns the kind of problem found. */
static pp_bad_kind verdict(const char *csv, char *msg, size_t n)
{
    pp_sched *s;
    char err[256];
    if (pp_sched_from_csv(csv, &s, err, sizeof err) != PP_OK) return (pp_bad_kind)-1;
    pp_check c;
    pp_sched_validate(s, NULL, &c);
    snprintf(msg, n, "%s", c.msg);
    pp_bad_kind k = c.kind;
    if (k != PP_BAD_NONE) printf("# %s\n%s", c.msg, c.grid ? c.grid : "(no grid)\n");
    pp_check_clear(&c);
    pp_sched_free(s);
    return k;
}

static void test_validator(void)
{
    char msg[256];
    CHECK(verdict("0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1\n", msg, sizeof msg) == PP_BAD_NONE, "a correct schedule passes");
    CHECK(verdict("0F0,0B1,0F1,0B0\n1F0,1B0,1F1,1B1\n", msg, sizeof msg) == PP_BAD_ORDER && strstr(msg, "0B1"),
          "a B before its F is caught: %s", msg);
    CHECK(verdict("0F0,0F1,0B0\n1F0,1B0,1F1,1B1\n", msg, sizeof msg) == PP_BAD_MISSING && strstr(msg, "0B1"),
          "a missing action is caught: %s", msg);
    CHECK(verdict("0F0,0F0,0B0\n1F0,1B0\n", msg, sizeof msg) == PP_BAD_DUPLICATE, "a duplicate is caught: %s", msg);
    CHECK(verdict("0F0,0F1,0B0,0B1\n1F1,1B1,1F0,1B0\n", msg, sizeof msg) == PP_BAD_NONE,
          "micro-batches may be taken in another order when nothing waits in a cycle");
    CHECK(verdict("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n", msg, sizeof msg) == PP_BAD_DEADLOCK &&
          strstr(msg, "rank 0") && strstr(msg, "rank 1"),
          "a cycle of waits is caught: %s", msg);
    CHECK(verdict("0F0,0SEND_F0,0RECV_B0,0B0\n1F0,1B0,1SEND_B0\n", msg, sizeof msg) == PP_BAD_UNMATCHED &&
          strstr(msg, "send without its receive"),
          "a send without its receive is caught: %s", msg);
    CHECK(verdict("0F0,0SEND_F0,0RECV_B0,0B0\n1RECV_F0,1F0,1B0\n", msg, sizeof msg) == PP_BAD_UNMATCHED &&
          strstr(msg, "receive without its send"),
          "a receive without its send is caught: %s", msg);
    CHECK(verdict("0F0,0SEND_F0,0RECV_B0,0B0\n1RECV_F0,1F0,1B0,1SEND_B0\n", msg, sizeof msg) == PP_BAD_NONE,
          "a schedule with explicit sends and receives passes");
    CHECK(verdict("0F0,0SEND_F0,0B0,0RECV_B0\n1RECV_F0,1F0,1B0,1SEND_B0\n", msg, sizeof msg) == PP_BAD_ORDER,
          "a backward before the receive of its gradient is caught: %s", msg);
    /* Messages to a stage that is not there: before, stage -1 passed and the replay read outside its arrays. */
    CHECK(verdict("0F0,0B0,0RECV_F0\n", msg, sizeof msg) == PP_BAD_UNMATCHED && strstr(msg, "stage -1"),
          "a receive from the stage before stage 0 is caught: %s", msg);
    CHECK(verdict("0F0,0SEND_B0,0B0\n", msg, sizeof msg) == PP_BAD_UNMATCHED && strstr(msg, "stage -1"),
          "a gradient sent to the stage before stage 0 is caught: %s", msg);
    CHECK(verdict("0F0,0SEND_F0,0B0\n", msg, sizeof msg) == PP_BAD_UNMATCHED && strstr(msg, "stage 1"),
          "an activation sent past the last stage is caught: %s", msg);
    CHECK(verdict("0F0,0B0,0F999999,0B999999\n1F0,1B0\n", msg, sizeof msg) == PP_BAD_MISSING,
          "a micro-batch number far past the others is refused as missing micro-batches, without running out of memory: %s",
          msg);
    /* PyTorch's 1F1B order numbers its last rank one off: the odd cell is named, not rank 0. */
    CHECK(verdict("0F0,0F1,0B0,0B1\n1F0,1F1,1B0,1B1\n2F0,2F1,2B0,2B1\n3F1,3B1,3F2,3B2\n", msg, sizeof msg) ==
              PP_BAD_MISSING && strstr(msg, "rank 3 runs 3F2") && strstr(msg, "no 3F0") && !strstr(msg, "0F2"),
          "a micro-batch numbered one off on the last rank is blamed on its cell: %s", msg);
    CHECK(verdict("0F0,0F1,0B0,0B1\n1F0,1F1,1B0\n", msg, sizeof msg) == PP_BAD_MISSING && strstr(msg, "1B1 is missing"),
          "an action missing on one stage is still blamed on that stage: %s", msg);
    CHECK(verdict("0F0,0B0,0F1,0B1\n1F0,1B0\n", msg, sizeof msg) == PP_BAD_MISSING && strstr(msg, "1F1 is missing"),
          "a micro-batch one of two stages forgot is blamed on that stage, not called one off: %s", msg);
    CHECK(verdict("0F0,0B0,0F1,0B1,0F2,0B2\n1F0,1B0,1F1,1B1,1F2,1B2\n2F0,2B0,2F1,2B1,2F2,2B2\n3F0,3B0,3F1,3B1\n", msg,
                  sizeof msg) == PP_BAD_MISSING && strstr(msg, "3F2 is missing"),
          "a last micro-batch one stage forgot is blamed on that stage: %s", msg);
    CHECK(verdict("0F0,0B0,1F0\n1B0\n", msg, sizeof msg) == PP_BAD_STAGE, "a stage split over two ranks is caught: %s", msg);
    CHECK(verdict("0F0,0I0,0W0\n1F0,1I0,1W0\n", msg, sizeof msg) == PP_BAD_NONE, "B split into I and W passes");
    CHECK(verdict("0F0,0W0,0I0\n1F0,1I0,1W0\n", msg, sizeof msg) == PP_BAD_ORDER, "a W before its I is caught: %s", msg);

    /* The grid marks the bad action. */
    pp_sched *s;
    char err[128];
    pp_sched_from_csv("0F0,0B1,0F1,0B0\n1F0,1B0,1F1,1B1\n", &s, err, sizeof err);
    pp_check c;
    pp_sched_validate(s, NULL, &c);
    CHECK(c.grid && strstr(c.grid, "[0B1]") && c.rank == 0 && c.index == 1, "the grid brackets the first bad action");
    pp_check_clear(&c);
    pp_sched_free(s);
}

/* The schedule as the simulator takes it: validated and lowered (s is freed). */
static pp_sched *lowered(pp_sched *s)
{
    pp_sched *lo = NULL;
    pp_check c;
    if (s && pp_sched_validate(s, &lo, &c) != PP_OK) printf("# %s refused: %s\n", s->name, c.msg);
    pp_check_clear(&c);
    pp_sched_free(s);
    return lo;
}

static void test_simulator(void)
{
    const char *names[] = {"gpipe", "1f1b", "naive"};
    pp_costs c;
    pp_costs_default(&c);
    c.tick_s = 1.0;   /* times in ticks */
    int exact = 1, peaks = 1;
    for (int b = 0; b < 3; b++)
        for (int P = 1; P <= 8; P++)
            for (int M = 1; M <= 32; M++) {
                pp_sched *s;
                pp_run *r;
                pp_sched_build(names[b], P, M, 0, &s, NULL, 0);
                s = lowered(s);
                if (!s || pp_simulate(s, &c, &r) != PP_OK) { exact = 0; pp_sched_free(s); continue; }
                double want = pp_theory_bubble_step(s->family, P, M, s->chunks);
                double ideal = pp_theory_bubble_ideal(s->family, P, M, s->chunks);
                if (fabs(pp_run_bubble_step(r) - want) > 1e-12 || fabs(pp_run_bubble_ideal(r) - ideal) > 1e-12) {
                    printf("# %s P=%d M=%d: simulated %.6f, formula %.6f\n", names[b], P, M, pp_run_bubble_step(r), want);
                    exact = 0;
                }
                for (int st = 0; st < P; st++)
                    if (r->peak_inflight[st] != pp_theory_peak_inflight(s->family, P, M, s->chunks, st)) peaks = 0;
                pp_run_free(r);
                pp_sched_free(s);
            }
    CHECK(exact, "simulated bubble equals the formula exactly (both definitions), every builder, P 1..8, M 1..32");
    CHECK(peaks, "simulated peak activations equal the formula (GPipe M, 1F1B min(M, P-stage), naive 1)");

    /* The new builders, where their formulas' conditions hold (F = I = W = 1,
     * B = 2; a chunk costs 1/v of a rank's share). */
    const char *more[] = {"interleaved", "zbh1", "zbv"};
    double scale[64];
    int cases = 0, conditions = 1;
    exact = peaks = 1;
    for (int b = 0; b < 3; b++)
        for (int P = 1; P <= 8; P++)
            for (int M = 1; M <= 32; M++)
                for (int v = 1; v <= (b == 0 ? 4 : 1); v++) {
                    pp_sched *s;
                    pp_run *r;
                    if (pp_sched_build(more[b], P, M, b == 0 ? v : 0, &s, NULL, 0) != PP_OK) continue;
                    int holds = !pp_theory_broken(s->family, P, M, s->chunks, &c);
                    int should = b == 0 ? M >= P || v == 1 : b == 1 ? M >= P : M == P || M >= 2 * P;
                    if (holds != should) conditions = 0;
                    if (!holds) { pp_sched_free(s); continue; }
                    for (int k = 0; k < 64; k++) scale[k] = 1.0 / s->chunks;
                    c.stage_scale = scale;
                    s = lowered(s);
                    cases++;
                    if (!s || pp_simulate(s, &c, &r) != PP_OK) { exact = 0; pp_sched_free(s); continue; }
                    double want = pp_theory_bubble_step(s->family, P, M, s->chunks);
                    double ideal = pp_theory_bubble_ideal(s->family, P, M, s->chunks);
                    if (fabs(pp_run_bubble_step(r) - want) > 1e-9 || fabs(pp_run_bubble_ideal(r) - ideal) > 1e-9) {
                        if (exact) printf("# %s P=%d M=%d v=%d: simulated %.6f, formula %.6f\n", more[b], P, M, v,
                                          pp_run_bubble_step(r), want);
                        exact = 0;
                    }
                    for (int rk = 0; rk < P; rk++)
                        if (r->peak_inflight[rk] != pp_theory_peak_inflight(s->family, P, M, s->chunks, rk)) {
                            if (peaks) printf("# %s P=%d M=%d v=%d rank %d: peak %d, formula %d\n", more[b], P, M, v, rk,
                                              r->peak_inflight[rk], pp_theory_peak_inflight(s->family, P, M, s->chunks, rk));
                            peaks = 0;
                        }
                    c.stage_scale = NULL;
                    pp_run_free(r);
                    pp_sched_free(s);
                }
    CHECK(conditions, "the formulas' conditions: interleaved M >= P, ZB-H1 M >= P, ZB-V M = P or >= 2P");
    CHECK(exact, "interleaved, ZB-H1, ZB-V: simulated bubble equals the formula (both definitions) wherever its "
          "conditions hold, P 1..8, M 1..32, v 1..4 (%d cases)", cases);
    CHECK(peaks, "their simulated peak chunks held per rank equal the formula (interleaved min(vM, (v-1)g+2P-2r-1), "
          "ZB-H1 min(M, P), ZB-V 2 min(M, P))");
    /* Costs that break a formula: it says so, and the prediction differs. */
    pp_sched *s;
    pp_run *r;
    c.ticks[PP_I] = 2;
    pp_sched_zbh1(4, 8, &s);
    const char *why = pp_theory_broken(s->family, 4, 8, 1, &c);
    s = lowered(s);
    r = NULL;
    if (s) pp_simulate(s, &c, &r);
    CHECK(why && strstr(why, "F, I and W") && r && fabs(pp_run_bubble_step(r) - pp_theory_bubble_step(PP_FAM_ZBH1, 4, 8, 1)) > 0.01,
          "ZB-H1 with I = 2 ticks: the formula's condition is said broken (%s), and the prediction differs (%.1f %%)",
          why ? why : "nothing", r ? 100 * pp_run_bubble_step(r) : 0.0);
    c.ticks[PP_I] = 1;
    pp_run_free(r);
    pp_sched_free(s);

    pp_sched_gpipe(4, 8, &s);
    s = lowered(s);
    pp_simulate(s, &c, &r);
    CHECK(r->makespan == 33.0, "GPipe P=4 M=8 with F=1, B=2 takes (M+P-1)(F+B) = 33 ticks: %g", r->makespan);
    pp_run_free(r);
    double slow[4] = {1, 1, 2, 1};
    c.stage_scale = slow;
    pp_simulate(s, &c, &r);
    CHECK(r->makespan > 33.0 && pp_run_bubble_step(r) > pp_theory_bubble_step(PP_FAM_GPIPE, 4, 8, 1),
          "a stage twice as slow makes the step longer and the bubble larger: %g ticks", r->makespan);
    pp_run_free(r);
    pp_sched_free(s);
}

/* The one path for the data: the simulator takes only what validation handed
 * back, lowered once; costs become seconds in one function; a schedule keeps
 * the first failure of its pushes. */
static void test_one_path(void)
{
    pp_sched *s = NULL, *lo = NULL;
    pp_check c;
    pp_run *r = NULL;
    pp_costs k;
    pp_costs_default(&k);
    pp_sched_1f1b(3, 4, &s);
    CHECK(pp_simulate(s, &k, &r) == PP_ESCHED && r == NULL, "the simulator refuses a schedule that was not validated");
    CHECK(pp_sched_validate(s, &lo, &c) == PP_OK && lo && lo->lowered && !s->lowered,
          "validation hands back a lowered copy and leaves the schedule as built");
    int comm = 0, same = lo && lo->nstages == s->nstages && lo->nmb == s->nmb && strcmp(lo->name, s->name) == 0;
    for (int i = 0; lo && i < lo->len[1]; i++) comm += lo->acts[1][i].kind >= PP_SEND_F && lo->acts[1][i].kind <= PP_RECV_B;
    CHECK(same && lo->len[1] == s->len[1] + comm && comm == 4 * 4,
          "the lowered schedule: the middle rank's 8 actions plus a send and a receive each way per micro-batch (%d)",
          lo ? lo->len[1] : -1);
    CHECK(pp_simulate(lo, &k, &r) == PP_OK && fabs(r->makespan - (4 + 3 - 1) * 3 * k.tick_s) < 1e-12,
          "the simulator's run is in seconds: (M+P-1)(F+B) ticks of %.0f ms = %.3f s", k.tick_s * 1e3,
          r ? r->makespan : -1);
    pp_run_free(r);
    k.allreduce = 0.5;
    double sum, f = pp_cost_s(&k, PP_F, 0, &sum), w = pp_cost_s(&k, PP_W, 0, NULL);
    CHECK(fabs(f - 1.5 * k.tick_s) < 1e-15 && fabs(sum - 0.5 * k.tick_s) < 1e-15 && fabs(w - k.tick_s) < 1e-15,
          "pp_cost_s: F with its all-reduce %.3f s (the sum %.3f s), W without one %.3f s", f, sum, w);
    k.allreduce_again = 0.5;   /* checkpointing: B runs its forward again, with its sum */
    double bsum, b = pp_cost_s(&k, PP_B, 0, &bsum), f2 = pp_cost_s(&k, PP_F, 0, NULL);
    CHECK(fabs(b - 3.0 * k.tick_s) < 1e-15 && fabs(bsum - 1.0 * k.tick_s) < 1e-15 && f2 == f,
          "pp_cost_s with the recompute's all-reduce: B %.3f s (two sums, %.3f s), F unchanged", b, bsum);
    pp_sched_free(lo);
    pp_sched_free(s);

    pp_sched_new(2, &s);
    pp_sched_push(s, 0, (pp_action){0, PP_F, 0});
    pp_sched_push(s, 5, (pp_action){5, PP_F, 0});   /* rank 5 of 2: the first failure */
    pp_sched_push(s, 0, (pp_action){0, PP_B, 0});   /* ignored after it */
    CHECK(pp_sched_finish(s) == PP_EARG && s->len[0] == 1, "a schedule keeps its first failed push; later pushes do nothing");
    pp_sched_free(s);
}

static void test_cli(void)
{
    struct { const char *args[4]; const char *expect; } bad[] = {
        {{"-m", "0"}, "'0' is not a number of micro-batches"},
        {{"-m", "-3"}, "'-3'"},
        {{"-m", "eight"}, "'eight'"},
        {{"-m", "4,8"}, "is a list"},
        {{"--schedule", "zigzag"}, "'zigzag' is not a schedule"},
        {{"--tick-ms", "0"}, "--tick-ms"},
        {{"--payload", "12Q"}, "--payload"},
        {{"--cost", "F=x"}, "--cost"},
        {{"--frobnicate"}, "unknown option '--frobnicate'"},
        {{"--tick-ms"}, "needs a value"},
        {{"extra"}, "unexpected argument"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[6] = {"demo"};
        int argc = 1;
        for (int k = 0; k < 4 && bad[i].args[k]; k++) argv[argc++] = (char *)bad[i].args[k];
        pp_opts o;
        pp_cli_defaults(&o);
        char err[512] = "";
        pp_demo_spec spec = {.what = "a demo"};
        pp_status st = pp_cli_parse(argc, argv, &spec, &o, err, sizeof err);
        CHECK(st == PP_EARG && strstr(err, bad[i].expect), "option %s %s refused: %s", argv[1], argc > 2 ? argv[2] : "", err);
    }
    char *argv[] = {"demo", "-m", "1,2,4", "--tick-ms=2.5", "--payload", "16K", "--cost", "F=1,B=3", "--schedule", "gpipe"};
    pp_opts o;
    pp_cli_defaults(&o);
    pp_demo_spec spec = {.what = "a demo", .mb_list_ok = 1};
    char err[256] = "";
    pp_status st = pp_cli_parse(10, argv, &spec, &o, err, sizeof err);
    CHECK(st == PP_OK && o.nmb == 3 && o.mb[2] == 4 && o.tick_ms == 2.5 && o.payload == 16384 &&
          o.ticks[PP_B] == 3 && strcmp(o.schedule, "gpipe") == 0,
          "good options are read: M list, --tick-ms=, 16K, costs, schedule %s", err);
}

/* The slowest stage of a partition, under per-block costs. */
static double worst_stage(const pp_partition *p, const double *cost)
{
    double worst = 0;
    for (int s = 0; s < p->nstages; s++) {
        double sum = 0;
        for (int b = p->first[s]; b < p->first[s + 1]; b++) sum += cost[b];
        if (sum > worst) worst = sum;
    }
    return worst;
}

/* The best slowest stage over every contiguous split of blocks from..L-1
 * into S stages, by trying them all. */
static double brute_best(const double *cost, int from, int L, int S)
{
    if (S == 1) {
        double sum = 0;
        for (int b = from; b < L; b++) sum += cost[b];
        return from < L ? sum : 1e300;
    }
    double best = 1e300, head = 0;
    for (int k = from; k < L - S + 1; k++) {   /* this stage takes from..k */
        head += cost[k];
        double rest = brute_best(cost, k + 1, L, S - 1);
        double w = head > rest ? head : rest;
        if (w < best) best = w;
    }
    return best;
}

static void test_partition(void)
{
    char err[256] = "";
    pp_partition p;
    double skew[5] = {4, 1, 1, 1, 1};
    CHECK(pp_partition_make("balanced", 5, 2, skew, &p, err, sizeof err) == PP_OK && p.first[1] == 1,
          "balanced: costs 4,1,1,1,1 over 2 stages put the heavy block alone (first[1] = %d, want 1)", p.first[1]);
    pp_partition_make("front", 5, 2, skew, &p, err, sizeof err);
    CHECK(p.first[1] == 3, "front: 5 blocks over 2 stages give 3 | 2 (first[1] = %d)", p.first[1]);
    pp_partition_make("back", 5, 2, skew, &p, err, sizeof err);
    CHECK(p.first[1] == 2, "back: 5 blocks over 2 stages give 2 | 3 (first[1] = %d)", p.first[1]);
    /* Random costs: the dynamic programme finds the best split there is. */
    unsigned seed = 12345;
    int bad = 0, cases = 0;
    for (int L = 1; L <= 9; L++)
        for (int S = 1; S <= L && S <= 5; S++)
            for (int rep = 0; rep < 20; rep++, cases++) {
                double cost[9];
                for (int b = 0; b < L; b++) {
                    seed = seed * 1103515245u + 12345u;
                    cost[b] = 0.1 + (seed >> 16) % 1000 / 100.0;
                }
                if (pp_partition_make("balanced", L, S, cost, &p, err, sizeof err) != PP_OK) {
                    bad++;
                    continue;
                }
                int ok = p.nstages == S && p.first[0] == 0 && p.first[S] == L;
                for (int s = 0; s < S; s++) ok = ok && p.first[s + 1] > p.first[s];
                if (!ok || worst_stage(&p, cost) > brute_best(cost, 0, L, S) + 1e-9) bad++;
            }
    CHECK(bad == 0, "balanced: %d random cases (L 1-9, S 1-5): every stage non-empty and the slowest stage as fast as the best split found by trying all (%d wrong)",
          cases, bad);
    CHECK(pp_partition_make("balanced", 5, 2, NULL, &p, err, sizeof err) == PP_EARG,
          "balanced without measured costs is refused");
}

/* End times of every compute of a compute-only schedule, worked out here
 * apart from the simulator: a compute starts when its rank is free and its
 * input is there (from another rank: `latency` after it was made), and
 * takes its cost, or the time c->took gives it; a message, the time
 * c->took_msg gives it where it does.  end[r][i] for action i of
 * rank r; 0 if some action could never start. */
static int own_replay(const pp_sched *s, const pp_costs *c, double **end)
{
    int S = s->nstages, M = s->nmb, left = 0;
    double *made = malloc((size_t)4 * S * M * sizeof *made);   /* [kind][stage][mb] when done, -1 not yet */
    int *pc = calloc((size_t)s->nranks, sizeof *pc);
    double *t = calloc((size_t)s->nranks, sizeof *t);
    for (int i = 0; made && i < 4 * S * M; i++) made[i] = -1;
    for (int r = 0; r < s->nranks; r++) left += s->len[r];
#define MADE(k, st, m) made[((k) * S + (st)) * M + (m)]
    for (int moved = 1; moved && made && pc && t;) {
        moved = 0;
        for (int r = 0; r < s->nranks; r++)
            while (pc[r] < s->len[r]) {
                pp_action a = s->acts[r][pc[r]];
                double ready = t[r];
                int from = -1, k = PP_F;   /* the stage and kind it needs, if any */
                if (a.kind == PP_F && a.stage > 0) from = a.stage - 1;
                if ((a.kind == PP_B || a.kind == PP_I) && a.stage < S - 1)
                    from = a.stage + 1, k = MADE(PP_B, a.stage + 1, a.mb) >= 0 ? PP_B : PP_I;
                if (a.kind == PP_IDLE) { end[r][pc[r]++] = t[r]; left--, moved = 1; continue; }
                if (from >= 0) {
                    double in = MADE(k, from, a.mb);
                    if (in < 0) break;   /* not made yet: this rank waits */
                    double msg = c->took_msg ? c->took_msg[(from > a.stage) * S * M + from * M + a.mb] : -1;
                    if (s->stage_rank[from] != r) in += msg >= 0 ? msg : pp_cost_s(c, PP_RECV_F, a.stage, NULL);
                    if (in > ready) ready = in;
                }
                double took = c->took && a.kind <= PP_W ? c->took[(a.kind * S + a.stage) * M + a.mb] : -1;
                t[r] = ready + (took >= 0 ? took : pp_cost_s(c, a.kind, a.stage, NULL));
                MADE(a.kind, a.stage, a.mb) = end[r][pc[r]++] = t[r];
                left--, moved = 1;
            }
    }
#undef MADE
    free(made), free(pc), free(t);
    return left == 0;
}

/* Random case i from `base` (tests/random_sched.h): *s, its ranks in *P,
 * its seed and `what` it is; *lo, the validated and lowered form, or NULL if
 * the validator refused it (*chk says why; the caller clears it). */
static void random_case(uint64_t base, int i, int *P, uint64_t *seed, char *what, size_t n, pp_sched **s,
                        pp_sched **lo, pp_check *chk)
{
    int v, M;
    random_shape(base, i, 4, P, &v, &M, seed);
    *s = random_sched(*seed, *P, v, M, what, n), *lo = NULL;
    if (*s && pp_sched_validate(*s, lo, chk) != PP_OK) *lo = NULL;
}

/* Random costs in ticks of 1 s, from *rs: F, B, I, W of 0.5 to 2 ticks, a
 * latency of 0 to 0.5. */
static pp_costs random_costs(uint64_t *rs)
{
    pp_costs c;
    pp_costs_default(&c);
    c.tick_s = 1.0;
    for (int k = PP_F; k <= PP_W; k++) c.ticks[k] = 0.5 * (1 + rnd_below(rs, 4));
    c.latency = 0.25 * rnd_below(rs, 3);
    return c;
}

/* Random valid schedules (tests/random_sched.h): the validator accepts
 * them, the CSV form reads back the same lists, and the simulator's times
 * equal the ones worked out above, at random costs and latency, and in
 * every other case with a time of its own for three computes and three
 * messages in four (a step measured before: pp_costs.took, took_msg); also where every rank has a core
 * of its own that it takes in turns. */
static void test_random(int cases)
{
    int refused = 0, csv_bad = 0, sim_bad = 0, alone_bad = 0;
    uint64_t base = 7700001;
    for (int i = 0; i < cases; i++) {
        int P;
        uint64_t seed;
        char what[200];
        pp_sched *s, *lo, *back = NULL;
        pp_check chk = {0};
        random_case(base, i, &P, &seed, what, sizeof what, &s, &lo, &chk);
        if (!lo) {
            if (refused++ < 3) printf("# %s refused: %s\n", what, s ? chk.msg : "out of memory");
            pp_check_clear(&chk);
            pp_sched_free(s);
            continue;
        }
        /* The CSV form, written and read back: the same lists. */
        char *csv = pp_sched_to_csv(s), err[256] = "";
        int same = csv && pp_sched_from_csv(csv, &back, err, sizeof err) == PP_OK && back->nranks == s->nranks;
        for (int r = 0; same && r < s->nranks; r++) {
            char a[4096], b[4096];
            rank_str(s, r, a, sizeof a), rank_str(back, r, b, sizeof b);
            same = strcmp(a, b) == 0;
        }
        if (!same && csv_bad++ < 3) printf("# %s: the CSV form reads back otherwise (%s)\n", what, err);
        /* The simulator against the replay worked out here. */
        uint64_t rs = seed ^ 0x5151;
        pp_costs c = random_costs(&rs);
        int n_took = 4 * s->nstages * s->nmb;
        double *took = i % 2 ? malloc((size_t)n_took * sizeof *took) : NULL;
        for (int k = 0; took && k < n_took; k++) took[k] = rnd_below(&rs, 4) ? 0.1 * (1 + rnd_below(&rs, 30)) : -1;
        c.took = took;
        double *took_msg = took ? malloc((size_t)n_took / 2 * sizeof *took_msg) : NULL;   /* forward, backward */
        for (int k = 0; took_msg && k < n_took / 2; k++) took_msg[k] = rnd_below(&rs, 4) ? 0.05 * rnd_below(&rs, 20) : -1;
        c.took_msg = took_msg;
        double **end = calloc((size_t)P, sizeof *end);
        for (int r = 0; end && r < P; r++) end[r] = malloc((size_t)(s->len[r] + 1) * sizeof **end);
        int mine = end && own_replay(s, &c, end);
        /* then each rank on a machine of its own with one core, taken in
         * turns (the replay of ranks sharing cores, with none to share) */
        int machine[4] = {0, 1, 2, 3}, cores[4] = {1, 1, 1, 1};
        for (int alone = 0; alone < 2; alone++) {
            if (alone) c.machine = machine, c.cores = cores, c.turn = 0.1 * rnd_below(&rs, 10);
            pp_run *run = NULL;
            int ok = mine && pp_simulate(lo, &c, &run) == PP_OK;
            for (int r = 0; ok && r < P; r++) {
                int j = 0;   /* rank r's next compute event */
                for (int i = 0; ok && i < s->len[r]; i++) {
                    if (s->acts[r][i].kind == PP_IDLE) continue;
                    while (j < run->ranks[r].n && run->ranks[r].ev[j].type != PP_EV_COMPUTE) j++;
                    ok = j < run->ranks[r].n && fabs(run->ranks[r].ev[j].t1 - end[r][i]) < 1e-9;
                    j++;
                }
            }
            int *bad = alone ? &alone_bad : &sim_bad;
            if (!ok && (*bad)++ < 3)
                printf("# %s: the simulator's times differ from the replay here%s\n", what,
                       alone ? " (a core for each rank, taken in turns)" : "");
            pp_run_free(run);
        }
        for (int r = 0; end && r < P; r++) free(end[r]);
        free(end), free(csv), free(took), free(took_msg);
        pp_sched_free(s), pp_sched_free(lo), pp_sched_free(back);
    }
    CHECK(refused == 0, "%d random valid schedules (P 1..4, v 1..3, M 1..8): the validator accepts every one (%d refused)",
          cases, refused);
    CHECK(csv_bad == 0, "the same, written as CSV and read back: the same lists (%d differ)", csv_bad);
    CHECK(sim_bad == 0, "the same at random costs and latency, every other one with measured times for most computes and messages: "
          "the simulator's end of every compute equals a replay worked out apart (%d differ)", sim_bad);
    CHECK(alone_bad == 0, "the same with each rank on a core of its own, taken in turns (the replay of ranks sharing "
          "cores, which real compute's prediction takes): the same times (%d differ)", alone_bad);
}

/* How many computes of machine m's ranks are under way at time x in run
 * (begun, not yet ended: holding a core, or queued between turns). */
static int under_way(const pp_run *run, const pp_costs *c, int m, double x)
{
    int n = 0;
    for (int q = 0; q < run->nrows; q++)
        for (int k = 0; k < run->ranks[q].n; k++) {
            const pp_event *o = &run->ranks[q].ev[k];
            n += o->type == PP_EV_COMPUTE && c->machine[q] == m && o->t0 <= x && o->t1 > x;
        }
    return n;
}

/* With the races for a core given to the woken rank (pp_costs.woken_first):
 * until when may compute k of row r leave a free core to a rank that its
 * sends since its previous compute woke, every other core of the machine
 * computing as it sent (one
 * waiting since before the send, on its machine, a compute next: it runs
 * first and asks first, sim.c)?  That rank's ask, its wait's end; 0 if
 * none. */
static double woke_until(const pp_run *run, const pp_costs *c, int r, int k)
{
    double until = 0;
    for (int j = k - 1; j >= 0 && run->ranks[r].ev[j].type != PP_EV_COMPUTE; j--) {
        const pp_event *x = &run->ranks[r].ev[j];
        if (x->type != PP_EV_SEND) continue;
        int fwd = x->kind == PP_SEND_F;
        for (int q = 0; q < run->nrows; q++)
            for (int i = 0; i < run->ranks[q].n; i++) {
                if (c->machine[q] != c->machine[r]) break;
                const pp_event *w = &run->ranks[q].ev[i];
                if (w->type != PP_EV_WAIT || w->kind != (fwd ? PP_RECV_F : PP_RECV_B) ||
                    w->stage != x->stage + (fwd ? 1 : -1) || w->mb != x->mb || !(w->t0 < x->t0))
                    continue;
                int n = i + 1, busy = 0;   /* busy: the others' computes under way as the send was made */
                while (n < run->ranks[q].n && run->ranks[q].ev[n].type == PP_EV_SEND) n++;
                for (int o = 0; o < run->nrows; o++) {
                    if (o == r || o == q || c->machine[o] != c->machine[r]) continue;
                    for (int j = 0; j < run->ranks[o].n; j++) {
                        const pp_event *y = &run->ranks[o].ev[j];
                        busy += y->type == PP_EV_COMPUTE && y->t0 < x->t0 && x->t0 < y->t1;
                    }
                }
                if (n < run->ranks[q].n && run->ranks[q].ev[n].type == PP_EV_COMPUTE && w->t1 > until &&
                    busy >= c->cores[c->machine[r]] - 1)
                    until = w->t1;
            }
    }
    return until;
}

/* Did compute k of row r wait for a core only while every core of its
 * machine was held?  It could begin when its row's previous event ended
 * (its rank free, its input there: a wait ends when the message comes),
 * or, with woken_first, once a rank its message woke has asked
 * (woke_until); through every moment from then to its start, as many
 * computes of the machine as it has cores were under way.  The moments
 * checked: every start and end in between, and just after each. */
static int waited_for_a_core_only(const pp_run *run, const pp_costs *c, int r, int k)
{
    const pp_event *e = &run->ranks[r].ev[k];
    double ready = k > 0 ? run->ranks[r].ev[k - 1].t1 : 0, woke = c->woken_first ? woke_until(run, c, r, k) : 0;
    if (woke > ready) ready = woke;
    int m = c->machine[r];
    if (e->t0 <= ready + 1e-9) return 1;
    if (under_way(run, c, m, ready + 1e-9) < c->cores[m]) return 0;
    for (int q = 0; q < run->nrows; q++)
        for (int j = 0; j < run->ranks[q].n; j++) {
            const pp_event *o = &run->ranks[q].ev[j];
            double at[2] = {o->t0, o->t1};
            for (int w = 0; w < 2; w++)
                if (o->type == PP_EV_COMPUTE && c->machine[q] == m && at[w] > ready && at[w] < e->t0 - 1e-9 &&
                    under_way(run, c, m, at[w] + 1e-9) < c->cores[m])
                    return 0;
        }
    return 1;
}

/* Ranks sharing a machine's cores in turns (pp_costs.machine, cores,
 * turn: real compute on more ranks than cores), on random valid schedules,
 * random machines, cores and turns, and a step worked out by hand. */
static void test_shared_cores(int cases)
{
    int bad_wait = 0, bad_whole = 0, bad_plain = 0, bad_one = 0, faster = 0, turned = 0;
    uint64_t base = 8800001;
    for (int i = 0; i < cases; i++) {
        int P;
        uint64_t seed;
        char what[200];
        pp_sched *s, *lo;
        pp_check chk = {0};
        random_case(base, i, &P, &seed, what, sizeof what, &s, &lo, &chk);
        if (!lo) {
            pp_check_clear(&chk);
            pp_sched_free(s);
            continue;
        }
        uint64_t rs = seed ^ 0x7373;
        pp_costs c = random_costs(&rs);
        int machine[4], cores[4], plenty[4] = {4, 4, 4, 4};
        for (int r = 0; r < P; r++) machine[r] = rnd_below(&rs, 2) ? 0 : r, cores[r] = 1 + rnd_below(&rs, 2);
        c.turn = i % 2 ? 0 : 0.1 * (1 + rnd_below(&rs, 10));   /* every other case: each compute to its end */
        c.woken_first = i % 4 == 1;   /* and every other one of those: the races to the woken rank */
        pp_run *plain = NULL, *shared = NULL, *roomy = NULL;
        int ok = pp_simulate(lo, &c, &plain) == PP_OK;
        c.machine = machine, c.cores = cores;
        ok = ok && pp_simulate(lo, &c, &shared) == PP_OK;
        int waits = ok, whole = ok;
        for (int r = 0; ok && r < P; r++)
            for (int k = 0; k < shared->ranks[r].n; k++) {
                const pp_event *e = &shared->ranks[r].ev[k];
                if (e->type != PP_EV_COMPUTE) continue;
                double cost = pp_cost_s(&c, (pp_kind)e->kind, e->stage, NULL), took = e->t1 - e->t0;
                waits &= waited_for_a_core_only(shared, &c, r, k);
                whole &= took >= cost - 1e-9 && (c.turn > 0 || fabs(took - cost) < 1e-9);
                turned += took > cost + 1e-9;
            }
        bad_wait += !waits, bad_whole += !whole;
        faster += ok && shared->makespan < plain->makespan - 1e-9;
        /* a core for every rank: the plain replay, event for event */
        c.cores = plenty;
        int same = ok && pp_simulate(lo, &c, &roomy) == PP_OK && roomy->makespan == plain->makespan;
        for (int r = 0; same && r < P; r++) {
            same = roomy->ranks[r].n == plain->ranks[r].n;
            for (int k = 0; same && k < roomy->ranks[r].n; k++)
                same = roomy->ranks[r].ev[k].t0 == plain->ranks[r].ev[k].t0 && roomy->ranks[r].ev[k].t1 == plain->ranks[r].ev[k].t1;
        }
        bad_plain += !same;
        /* one core, no latency: some rank can always compute, so the step is
           every compute's cost added up, in turns or not */
        int one[4] = {1, 1, 1, 1}, all0[4] = {0, 0, 0, 0};
        pp_run *serial = NULL;
        c.latency = 0, c.machine = all0, c.cores = one;
        double sum = 0;
        for (int r = 0; r < P; r++)
            for (int k = 0; k < s->len[r]; k++)
                if (s->acts[r][k].kind != PP_IDLE) sum += pp_cost_s(&c, s->acts[r][k].kind, s->acts[r][k].stage, NULL);
        bad_one += !(ok && pp_simulate(lo, &c, &serial) == PP_OK && fabs(serial->makespan - sum) < 1e-9);
        if ((!waits || !whole || !same) && bad_wait + bad_whole + bad_plain <= 3) printf("# %s: shared cores wrong\n", what);
        pp_run_free(plain), pp_run_free(shared), pp_run_free(roomy), pp_run_free(serial);
        pp_sched_free(s), pp_sched_free(lo);
    }
    CHECK(bad_wait == 0 && faster == 0, "%d random schedules, ranks sharing 1 or 2 cores in turns: a compute waits for a "
          "core only while every core of its machine is held (or, the races given to the woken rank, until a rank "
          "its message woke has asked), and no step is shorter than with a core each (%d, %d "
          "wrong)", cases, bad_wait, faster);
    CHECK(bad_whole == 0 && turned > 0, "the same: no compute is faster than its cost, and one that keeps its core to "
          "the end (turn 0) takes exactly its cost (%d wrong; %d computes stretched by turns)", bad_whole, turned);
    CHECK(bad_plain == 0, "the same with a core for every rank: the plain replay, event for event (%d differ)", bad_plain);
    CHECK(bad_one == 0, "the same on one core with no latency: the step is every compute's cost added up (%d differ)", bad_one);

    /* By hand: 1F1B, P = 2, M = 2 on one core, F = 1, B = 2.  At t = 1 rank
     * 0's F1 and rank 1's F0 are both due; rank 0 is first in the queue.
     * In turns of 0.25 they alternate: rank 1 first holds the core at 1.25,
     * rank 0 ends at 2.75 (its fourth turn), rank 1 at 3.  To the end (turn
     * 0): rank 0's F1 holds it from 1 to 2, rank 1's F0 from 2 to 3 (with a
     * handoff of 0.1: 2.1 to 3.1, as it waited for the core).  With the
     * races to the woken rank: rank 0's message woke rank 1, asleep since
     * the start, so rank 1's F0 holds the core from 1 to 2, rank 0's F1 from
     * 2 to 3 (2.1 to 3.1). */
    pp_sched *b = NULL, *lo = NULL;
    pp_check chk = {0};
    pp_sched_build("1f1b", 2, 2, 0, &b, NULL, 0);
    int hand = b && pp_sched_validate(b, &lo, &chk) == PP_OK;
    const double want[5][4] = {{1, 2.75, 1.25, 3}, {1, 2, 2, 3}, {1, 2, 2.1, 3.1}, {2, 3, 1, 2}, {2.1, 3.1, 1, 2}};
    for (int k = 0; hand && k < 5; k++) {
        pp_costs c;
        pp_costs_default(&c);
        int machine[2] = {0, 0}, cores[2] = {1, 0};
        c.tick_s = 1.0, c.machine = machine, c.cores = cores, c.turn = k == 0 ? 0.25 : 0, c.handoff = k % 2 == 0 && k ? 0.1 : 0;
        c.woken_first = k >= 3;
        pp_run *run = NULL;
        hand = pp_simulate(lo, &c, &run) == PP_OK;
        const pp_event *f1 = NULL, *f0 = NULL;
        for (int r = 0; hand && r < 2; r++)
            for (int j = 0; j < run->ranks[r].n; j++) {
                const pp_event *e = &run->ranks[r].ev[j];
                if (e->type == PP_EV_COMPUTE && e->kind == PP_F && r == 0 && e->mb == 1) f1 = e;
                if (e->type == PP_EV_COMPUTE && e->kind == PP_F && r == 1 && e->mb == 0) f0 = e;
            }
        hand = hand && f1 && f0 && fabs(f1->t0 - want[k][0]) < 1e-9 && fabs(f1->t1 - want[k][1]) < 1e-9 &&
               fabs(f0->t0 - want[k][2]) < 1e-9 && fabs(f0->t1 - want[k][3]) < 1e-9;
        if (!hand && f1 && f0)
            printf("# turn %.2f, handoff %.2f: rank 0's F1 %.2f-%.2f, rank 1's F0 %.2f-%.2f\n", c.turn, c.handoff,
                   f1->t0, f1->t1, f0->t0, f0->t1);
        pp_run_free(run);
    }
    CHECK(hand, "1f1b P=2 M=2 on one core, worked out by hand: in turns of 0.25 ticks the two forwards due together "
          "alternate and end at 2.75 and 3; each to its end, the second begins when the first ends, or with a "
          "handoff of 0.1 ticks (the gate's), at 2.1, ending at 3.1; the race given to the woken rank, rank 1's first");
    pp_sched_free(b), pp_sched_free(lo);
}

/* Each rank's compute actions (idle cells left out) equal in a and b? */
static int same_computes(const pp_sched *a, const pp_sched *b)
{
    if (a->nranks != b->nranks) return 0;
    for (int r = 0; r < a->nranks; r++) {
        int i = 0, j = 0;
        for (;;) {
            while (i < a->len[r] && a->acts[r][i].kind == PP_IDLE) i++;
            while (j < b->len[r] && b->acts[r][j].kind == PP_IDLE) j++;
            if (i == a->len[r] || j == b->len[r]) break;
            if (memcmp(&a->acts[r][i], &b->acts[r][j], sizeof(pp_action)) != 0) return 0;
            i++, j++;
        }
        if (i != a->len[r] || j != b->len[r]) return 0;
    }
    return 1;
}

/* An order read in PyTorch's comms form runs as its compute-only form: the
 * same lowered lists, so the same prediction.  1 if so; *note gets the
 * reader's note. */
static int comms_form_alike(const pp_sched *order, char *note, size_t n)
{
    char *text = pt_comms_csv(order), err[300] = "";
    pp_sched *comms = NULL, *lo_a = NULL, *lo_b = NULL;
    pp_check ca = {0}, cb = {0};
    int ok = text && pp_sched_from_csv(text, &comms, err, sizeof err) == PP_OK &&
             pp_sched_validate(order, &lo_a, &ca) == PP_OK && pp_sched_validate(comms, &lo_b, &cb) == PP_OK;
    if (!ok && text) printf("# %s: %s%s\n", order->name, err, comms ? "refused" : "");
    snprintf(note, n, "%s", comms ? comms->note : "");
    ok = ok && same_computes(lo_a, lo_b) && lo_a->nstages == lo_b->nstages && lo_a->nmb == lo_b->nmb;
    pp_costs c;
    pp_costs_default(&c);
    pp_run *ra = NULL, *rb = NULL;
    ok = ok && pp_simulate(lo_a, &c, &ra) == PP_OK && pp_simulate(lo_b, &c, &rb) == PP_OK && ra->makespan == rb->makespan;
    pp_run_free(ra), pp_run_free(rb);
    pp_sched_free(comms), pp_sched_free(lo_a), pp_sched_free(lo_b);
    pp_check_clear(&ca), pp_check_clear(&cb);
    free(text);
    return ok;
}

/* PyTorch's orders and forms, made here as PyTorch makes them
 * (tests/pytorch_orders.h). */
static void test_pytorch_forms(void)
{
    /* 1. The kit's interleaved builder makes PyTorch's interleaved order,
     * wherever PyTorch takes M. */
    int same = 1, cases = 0;
    for (int P = 1; P <= 8; P++)
        for (int v = 2; v <= 4; v++)
            for (int M = 1; M <= 32; M++) {
                pp_sched *pt = pt_interleaved(P, v, M), *kit = NULL;
                if (!pt) continue;
                cases++;
                if (pp_sched_interleaved(P, M, v, &kit) != PP_OK || !same_computes(pt, kit)) {
                    if (same) printf("# interleaved P=%d v=%d M=%d differs from PyTorch's order\n", P, v, M);
                    same = 0;
                }
                pp_sched_free(pt), pp_sched_free(kit);
            }
    CHECK(same, "the interleaved builder makes PyTorch's interleaved 1F1B order, every M PyTorch takes "
          "(P 1..8, v 2..4, M 1..32: %d cases, M = 6, 10, 15 at P = 4 among them)", cases);

    /* 2. Both of PyTorch's forms of one order run alike. */
    char note[640] = "";
    int alike = 1, n = 0;
    static const char *kit[] = {"gpipe", "1f1b", "interleaved", "zbh1", "zbv"};
    for (int b = 0; b < 5; b++)
        for (int P = 2; P <= 4; P++)
            for (int M = 1; M <= 10; M++) {
                pp_sched *o = NULL;
                if (pp_sched_build(kit[b], P, M, 0, &o, NULL, 0) != PP_OK) continue;
                if (!comms_form_alike(o, note, sizeof note)) {
                    if (alike) printf("# %s P=%d M=%d: the comms form runs otherwise\n", kit[b], P, M);
                    alike = 0;
                }
                n++;
                pp_sched_free(o);
            }
    for (int i = 0; i < 200; i++) {
        int P, v, M;
        uint64_t seed;
        random_shape(990001, i, 4, &P, &v, &M, &seed);
        pp_sched *o = random_sched(seed, P, v, M, NULL, 0);
        if (o && !comms_form_alike(o, note, sizeof note)) {
            if (alike) printf("# random %llu: the comms form runs otherwise\n", (unsigned long long)seed);
            alike = 0;
        }
        n += o != NULL;
        pp_sched_free(o);
    }
    pp_sched *bfs = pt_looped_bfs(4, 2, 8), *il = pt_interleaved(4, 2, 10);
    alike = alike && bfs && il && comms_form_alike(il, note, sizeof note) && comms_form_alike(bfs, note, sizeof note);
    CHECK(alike, "PyTorch's comms form (sends, receives, UNSHARD, RESHARD, REDUCE_GRAD) of %d orders (the builders', "
          "random ones, PyTorch's LoopedBFS and interleaved) runs as their compute-only form: the same lowered lists, "
          "the same prediction", n + 2);
    CHECK(strstr(note, "sends and receives left out") && strstr(note, "FSDP cells") && strstr(note, "skipped"),
          "the summary says how a comms file was read: %s", note);
    pp_sched_free(bfs), pp_sched_free(il);

    /* The files in tests/data that say they are PyTorch's orders are what
     * the algorithms above make. */
    pp_sched *o = pt_interleaved(4, 2, 10);
    char *made = o ? pt_comms_csv(o) : NULL, *kept = pp_read_text("tests/data/pytorch_il_p4v2m10_comms.csv", NULL);
    CHECK(made && kept && strcmp(made, kept) == 0,
          "tests/data/pytorch_il_p4v2m10_comms.csv is PyTorch's interleaved order (P=4, v=2, M=10) in its comms form, "
          "as tests/pytorch_orders.h lowers it");
    pp_sched_free(o), free(made), free(kept);
    o = pt_looped_bfs(4, 2, 8);
    made = o ? pp_sched_to_csv(o) : NULL, kept = pp_read_text("tests/data/pytorch_loopedbfs_p4v2m8.csv", NULL);
    CHECK(made && kept && strcmp(made, kept) == 0,
          "tests/data/pytorch_loopedbfs_p4v2m8.csv is PyTorch's LoopedBFS order (P=4, v=2, M=8), compute-only");
    pp_sched_free(o), free(made), free(kept);

    /* 3. Sends and receives without PyTorch's FSDP cells are read in the
     * kit's sense, and the note says so. */
    pp_sched *s = NULL;
    char err[200] = "";
    CHECK(pp_sched_from_csv("0F0,0SEND_F0,0RECV_B0,0B0\n1RECV_F0,1F0,1B0,1SEND_B0\n", &s, err, sizeof err) == PP_OK &&
              s->len[0] == 4 && strstr(s->note, "a RECV is where the rank waits"),
          "explicit sends and receives without FSDP cells: kept, and the note says a RECV is a wait: %s",
          s ? s->note : err);
    pp_sched_free(s);
    s = NULL;

    /* 4. PyTorch's older name for a full backward. */
    CHECK(pp_sched_from_csv("0F0,0F1,0BW1,0BW0\n", &s, err, sizeof err) == PP_OK && s->acts[0][2].kind == PP_B &&
              s->acts[0][3].mb == 0 && strstr(s->note, "2 BW cells run as B"),
          "2BW0 (PyTorch's older notation) reads as a full backward: %s", s ? s->note : err);
    pp_sched_free(s);
}

/* The simulated bubble of schedule s (validated here) with F, I, W costs;
 * B = I + W; each stage's share 1/chunks of a rank's. */
static double bubble_at(const pp_sched *s, double f, double i, double w)
{
    if (!s) return 2;   /* not made: worse than anything */
    pp_costs c;
    pp_costs_default(&c);
    c.tick_s = 1;
    c.ticks[PP_F] = f, c.ticks[PP_I] = i, c.ticks[PP_W] = w, c.ticks[PP_B] = i + w;
    double scale[64];
    for (int k = 0; k < 64; k++) scale[k] = 1.0 / s->chunks;
    c.stage_scale = scale;
    pp_sched *lo = NULL;
    pp_run *r = NULL;
    pp_check chk;
    double b = 2;   /* not valid: worse than anything */
    if (pp_sched_validate(s, &lo, &chk) == PP_OK && pp_simulate(lo, &c, &r) == PP_OK) b = pp_run_bubble_step(r);
    pp_check_clear(&chk);
    pp_run_free(r), pp_sched_free(lo);
    return b;
}

/* Zero-bubble orders under unequal costs: ZB-V built for the costs is never
 * worse than 1F1B nor than PyTorch's ZBV order (tests/pytorch_orders.h),
 * ZB-H1 never worse than 1F1B, over F, I, W each in 0.5..2. */
static void test_zero_bubble_costs(void)
{
    static const double grid[4] = {0.5, 1, 1.5, 2};
    int cases = 0, zbv_vs_1f1b = 0, zbv_vs_pt = 0, h1_vs_1f1b = 0;
    for (int P = 4; P <= 8; P += 4)
        for (int M = 8; M <= 32; M += 8)
            for (int a = 0; a < 64; a++) {
                double f = grid[a / 16], i = grid[a / 4 % 4], w = grid[a % 4];
                pp_costs c;
                pp_costs_default(&c);
                c.ticks[PP_F] = f, c.ticks[PP_I] = i, c.ticks[PP_W] = w, c.ticks[PP_B] = i + w;
                pp_sched *zbv = NULL, *pt = pt_zbv(P, M), *one = NULL, *h1 = NULL;
                pp_sched_zbv_for(P, M, &c, &zbv), pp_sched_1f1b(P, M, &one), pp_sched_zbh1(P, M, &h1);
                double bz = bubble_at(zbv, f, i, w), bp = bubble_at(pt, f, i, w), b1 = bubble_at(one, f, i, w);
                double bh = bubble_at(h1, f, i, w);
                if (bz > b1 + 1e-9 && zbv_vs_1f1b++ < 3)
                    printf("# zbv P=%d M=%d F=%g I=%g W=%g: %.1f %% against 1f1b's %.1f %%\n", P, M, f, i, w, 100 * bz, 100 * b1);
                if (bz > bp + 1e-9 && zbv_vs_pt++ < 3)
                    printf("# zbv P=%d M=%d F=%g I=%g W=%g: %.1f %% against PyTorch's %.1f %%\n", P, M, f, i, w, 100 * bz, 100 * bp);
                if (bh > b1 + 1e-9 && h1_vs_1f1b++ < 3)
                    printf("# zbh1 P=%d M=%d F=%g I=%g W=%g: %.1f %% against 1f1b's %.1f %%\n", P, M, f, i, w, 100 * bh, 100 * b1);
                cases++;
                pp_sched_free(zbv), pp_sched_free(pt), pp_sched_free(one), pp_sched_free(h1);
            }
    /* (The builder's second candidate is the same hand-made V order as
     * PyTorch's, so the second half checks that it keeps the shorter.) */
    CHECK(zbv_vs_1f1b == 0 && zbv_vs_pt == 0, "ZB-V built for the costs, F, I, W each 0.5..2, P 4 and 8, M 8..32 "
          "(%d cases): never worse than 1F1B (%d are) nor than PyTorch's ZBV order (%d are)", cases, zbv_vs_1f1b,
          zbv_vs_pt);
    CHECK(h1_vs_1f1b == 0, "ZB-H1 on the same grid: never worse than 1F1B (%d are)", h1_vs_1f1b);
    /* The figures PyTorch's ZBV order reaches in the kit's simulator. */
    static const struct { int P, M; double f, i, w, at_most; } target[] = {
        {4, 8, 1, 1, 0.5, 0.070}, {4, 8, 1, 2, 1, 0.086}, {8, 16, 1, 2, 1, 0.099},
    };
    for (int k = 0; k < 3; k++) {
        pp_costs c;
        pp_costs_default(&c);
        c.ticks[PP_F] = target[k].f, c.ticks[PP_I] = target[k].i, c.ticks[PP_W] = target[k].w;
        pp_sched *zbv = NULL, *old = NULL;
        pp_sched_zbv_for(target[k].P, target[k].M, &c, &zbv), pp_sched_zbv(target[k].P, target[k].M, &old);
        double b = bubble_at(zbv, target[k].f, target[k].i, target[k].w);
        double equal = bubble_at(old, target[k].f, target[k].i, target[k].w);
        CHECK(b < target[k].at_most + 0.0005, "ZB-V P=%d M=%d at F=%g I=%g W=%g: %.1f %% (at most %.1f %%; the order "
              "built for F = I = W gives %.1f %% there)", target[k].P, target[k].M, target[k].f, target[k].i,
              target[k].w, 100 * b, 100 * target[k].at_most, 100 * equal);
        pp_sched_free(zbv), pp_sched_free(old);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_notation();
    test_builder_names();
    test_builders();
    test_new_builders();
    test_csv();
    test_validator();
    test_simulator();
    test_random(500);
    test_shared_cores(300);
    test_pytorch_forms();
    test_zero_bubble_costs();
    test_one_path();
    test_cli();
    test_partition();
    MPI_Finalize();
    return check_failed ? 1 : 0;
}
