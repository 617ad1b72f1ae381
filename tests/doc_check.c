/* doc_check.c -- compares a lesson's excerpts of output with a fresh run.
 *
 *   tests/doc_check lessons/05-1f1b.md     (run where ./demos is)
 *
 * An excerpt is a fenced block that a line "<!-- output of: COMMAND -->"
 * introduces.  The command is run (output to a pipe, so plain text; no
 * input), and every line of the excerpt must appear in its output, in order.
 * Lines are compared with what depends on timing masked out on both sides:
 * times, measured shares, their differences from the formula, timelines and
 * throughputs.  Everything else (headings, counts, bytes, losses, checksums,
 * formulas, predictions) must match exactly, spaces aside.  A line "..." in
 * an excerpt stands for lines left out.  Prints "ok - ..." or "not ok - ..."
 * per excerpt (tests/run.sh counts them).
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LINE = 1024, MAXLINES = 4000 };

/* What varies from run to run, and what it becomes: POSIX extended regular
 * expressions, with \1..\9 in the replacement. */
static const char *masks[][2] = {
    {"^( *rank [0-9][^|]*)\\|.*\\|$", "\\1|<timeline>|"},           /* a timeline row */
    {"from [0-9]+ to", "from <n> to"},                                /* a timeline band */
    {"[0-9]+(\\.[0-9]+)? (ms|us)", "<n> \\2"},                        /* times */
    {"[0-9]+\\.[0-9]+ s([ ,;)]|$)", "<n> s\\1"},                        /* seconds (the watchdog's report) */
    {"[0-9.]+ % measured", "<n> % measured"},
    {"measured +[0-9.]+ %", "measured <n> %"},
    {"diff [+-][0-9.]+ points", "diff <n> points"},
    {"[0-9.]+ points apart", "<n> points apart"},
    {"so far [0-9.]+ %", "so far <n> %"},
    {"[0-9.]+ (% )?at M=", "<n> \\1at M="},   /* demo 02's summary: a bubble, GFLOP/s */
    /* A difference the lesson says is float rounding: its digits depend on
     * the kernel OpenBLAS picks for this CPU, so any figure below 1e-5, zero
     * included, reads the same.  (Bit-for-bit claims print words that stay
     * exact: "equal one process's bit for bit".) */
    {"(0\\.00e\\+00|[0-9]\\.[0-9]+e-(0[6-9]|[1-9][0-9])) of a largest", "<rounding> of a largest"},
    /* demo 02's losses by M: the last column, |w-w(M=first)|, likewise */
    {"^( +[0-9]+( +[0-9]+\\.[0-9]{6}| +\\.\\.\\.)+ +)(0\\.00e\\+00|[0-9]\\.[0-9]+e-(0[6-9]|[1-9][0-9]))$",
     "\\1<rounding>"},
    /* demo 04's rows: M, formula, predicted, then measured, diff (and makespans) */
    {"^( +[0-9]+) +([0-9.]+ %|n/a) +([0-9.]+ %|n/a) +[0-9.]+ % +([+-][0-9.]+|n/a)( +[0-9.]+ +[0-9.]+)?",
     "\\1 \\2 \\3 <n> % <n> <makespan>"},
    /* demo 02's rows: M, samples, then step time, samples/s, bubble, here; formula; GFLOP/s */
    {"^( +[0-9]+ +[0-9]+) +[0-9.]+ +[0-9]+ +[0-9.]+ % +[0-9.]+ % +([0-9.]+ %|n/a) +[0-9.]+",
     "\\1 <t> <n> <n> % <n> % \\2 <n>"},
    /* the bubble's parts (pp_idle.h): a table row of them (demos 02, 04), each
     * one named in a summary, the critical path, the prediction for this
     * machine, --repeat's spread */
    {"^( *[a-z0-9]* *[0-9]+)( +[0-9]+\\.[0-9]+){0,2}( +[+-][0-9]+\\.[0-9]+){5,}( +[0-9]+)?$", "\\1 <parts>"},
    {"(schedule|imbalance|overrun|late starts|messages|kit) [+-][0-9.]+", "\\1 <n>"},
    {"[0-9]+ computes and [0-9]+ message hops", "<n> computes and <n> message hops"},
    {"predicted here [0-9.]+ %", "predicted here <n> %"},
    {"from [0-9.]+ to [0-9.]+ %", "from <n> to <n> %"},
    {"(spread of|at most) [0-9.]+ points", "\\1 <n> points"},
    /* demo 09's measured rows: throughput, the ratio, latencies, busy shares */
    {"^(throughput, requests/s \\(measured\\)) +[0-9.]+ +[0-9.]+$", "\\1 <n> <n>"},
    {"^(  P stages / one rank \\(measured\\)) +[0-9.]+x", "\\1 <n>x"},
    {"^(  (median|90th percentile|largest)) +[0-9.]+ +[0-9.]+$", "\\1 <n> <n>"},
    {"^(  (one rank|P stages))( +[0-9]+%)+$", "\\1 <shares>"},
    /* the per-rank table: busy and idle */
    {"^( +[0-9]+) +[0-9.]+ % +[0-9.]+ % +([0-9]+ +([0-9]+|n/a) +[0-9]+)$", "\\1 <n> % <n> % \\2"},
    /* demo 01's rows: the time a stage took */
    {"^( +[0-9]+ +[0-9]+-[0-9]+ +[a-z]+ +[+-][0-9.]+ +[0-9]+) +[0-9.]+ ", "\\1 <t> "},
    /* the communication table: time per rank */
    {"^(  [A-Za-z -]+ +[0-9]+ +[0-9]+ [=!] [0-9]+ +[0-9]+ [=!] [0-9]+) +[0-9.]+$", "\\1 <t>"},
    /* demo 07's comparison: bubble measured and makespan (the counts and bytes stay) */
    {"^(  [a-z0-9]+ +[0-9]+) +[0-9.]+ % +(\\( *[0-9.]+ %\\)) +[0-9.]+ +([0-9]+ +\\( *[0-9]+\\) +[0-9]+)$",
     "\\1 <n> % \\2 <t> \\3"},
    /* demo 08's comparison: bubble measured, idle ticks, makespan */
    {"^(  [a-z0-9]+) +[0-9.]+ % +(\\( *[0-9.]+ %\\)) +[0-9.]+ +(\\( *[0-9.]+\\)) +[0-9.]+$", "\\1 <n> % \\2 <n> \\3 <t>"},
    /* demo 10's compute: each rank's CPU and busy times and the share more, the sums' shares, and
     * the formula with this machine's measured block */
    {"^( +[0-9]+)( +<n> ms){2} +-?[0-9.]+ %( +<n> ms){2} +-?[0-9.]+ %$", "\\1 <compute>"},
    {"(CPU|busy) time -?[0-9.]+ % more", "\\1 time <n> % more"},
    {"[0-9.]+ % with this machine's block", "<n> % with this machine's block"},
    /* demo 06 with --link: each shape's step on its own links and the modelled one */
    {"^(  [0-9]+ x [0-9]+ x [0-9]+)( +[0-9.]+){6}$", "\\1 <t>"},
    /* demo 11: part 1's rows (step measured, bubble, imbalance), part 2's rows
     * (all measured but M and the samples), the fitted optimum, the best M */
    /* (with --real, two decimals: every column measured, the split by cost's blocks too) */
    {"^(even|equal|by cost) +[0-9,]+ +[0-9.]+ +[0-9]+\\.[0-9]{2} +[0-9]+\\.[0-9]{2} +[0-9.]+% +([+-][0-9.]+|n/a)$",
     "\\1 <measured row>"},
    {"= [0-9.]+ blocks", "= <n> blocks"},
    {"^((even|equal|by cost) +[0-9,]+ +[0-9.]+ +[0-9.]+) +[0-9.]+ +[0-9.]+% +([+-][0-9.]+|n/a)$", "\\1 <n> <n>% <n>"},
    {"^( +[0-9]+ +[0-9]+) +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+(  <- best)?$", "\\1 <row>"},
    {"a sample: M = [0-9.]+", "a sample: M = <n>"},
    {"measured best M = [0-9]+", "measured best M = <n>"},
    /* demo 06's shapes side by side: step, TP and pipeline times */
    {"^(  [0-9]+ x [0-9]+ x [0-9]+) +[0-9.]+ +([0-9]+) +([0-9]+) +[0-9.]+ +[0-9.]+$", "\\1 <t> \\2 \\3 <t> <t>"},
};
enum { NMASKS = sizeof masks / sizeof masks[0] };
static regex_t compiled[NMASKS];

/* Replaces, in line, every match of mask k by its replacement. */
static void apply(char *line, int k)
{
    char out[LINE * 2];
    size_t o = 0;
    const char *p = line;
    regmatch_t m[10];
    int first = 1;
    while (regexec(&compiled[k], p, 10, m, first ? 0 : REG_NOTBOL) == 0 && o < sizeof out - LINE) {
        memcpy(out + o, p, (size_t)m[0].rm_so);
        o += (size_t)m[0].rm_so;
        for (const char *r = masks[k][1]; *r && o < sizeof out - 64; r++) {
            if (r[0] == '\\' && isdigit((unsigned char)r[1])) {
                regmatch_t g = m[r[1] - '0'];
                if (g.rm_so >= 0) {
                    memcpy(out + o, p + g.rm_so, (size_t)(g.rm_eo - g.rm_so));
                    o += (size_t)(g.rm_eo - g.rm_so);
                }
                r++;
            } else {
                out[o++] = *r;
            }
        }
        p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
        first = 0;
        if (m[0].rm_eo == 0) break;
    }
    snprintf(out + o, sizeof out - o, "%s", p);
    out[LINE - 1] = '\0';
    memcpy(line, out, strlen(out) + 1);
}

/* The line as compared: masked, spaces runs folded to one, trimmed. */
static void normalize(char *line)
{
    line[strcspn(line, "\n")] = '\0';
    for (int k = 0; k < NMASKS; k++) apply(line, k);
    char *w = line;
    for (const char *r = line; *r; r++)
        if (!(isspace((unsigned char)*r) && (w == line || w[-1] == ' '))) *w++ = isspace((unsigned char)*r) ? ' ' : *r;
    while (w > line && w[-1] == ' ') w--;
    *w = '\0';
}

/* Runs cmd; its output's lines, normalized, into lines (count returned). */
/* Runs cmd and reads its output.  With PP_DOC_CACHE set to a folder, a
 * command another file's excerpt already ran there is read back instead of
 * run again (tests/lessons.sh: one run per command in make test). */
static int run(const char *cmd, char (*lines)[LINE])
{
    char full[2 * LINE + 64], saved[LINE + 256] = "";
    const char *cache = getenv("PP_DOC_CACHE");
    if (cache && cache[0]) {
        size_t k = (size_t)snprintf(saved, sizeof saved, "%s/", cache);
        for (const char *c = cmd; *c && k + 1 < sizeof saved; c++) saved[k++] = isalnum((unsigned char)*c) ? *c : '_';
        saved[k] = '\0';
    }
    FILE *f = saved[0] ? fopen(saved, "r") : NULL;
    if (!f && saved[0]) snprintf(full, sizeof full, "%s </dev/null 2>&1 | tee '%s'", cmd, saved);
    else if (!f) snprintf(full, sizeof full, "%s </dev/null 2>&1", cmd);
    int from_cache = f != NULL;
    if (!f) f = popen(full, "r");
    int n = 0;
    while (f && n < MAXLINES && fgets(lines[n], LINE, f)) normalize(lines[n++]);
    if (f && from_cache) fclose(f);
    else if (f) pclose(f);
    return n;
}

/* Checks one excerpt against a fresh run of cmd. */
static int check(const char *lesson, const char *cmd, char (*want)[LINE], int nwant, char (*got)[LINE])
{
    int ngot = run(cmd, got), at = 0;
    for (int i = 0; i < nwant; i++) {
        if (!want[i][0] || strcmp(want[i], "...") == 0) continue;
        int found = -1;
        for (int j = at; j < ngot && found < 0; j++)
            if (strcmp(want[i], got[j]) == 0) found = j;
        if (found < 0) {
            printf("not ok - %s: '%s': the excerpt's line %d is not in the output (from line %d on)\n", lesson, cmd,
                   i + 1, at + 1);
            printf("#   lesson: %s\n", want[i]);
            for (int j = at; j < ngot && j < at + 40; j++) printf("#   output: %s\n", got[j]);
            return 1;
        }
        at = found + 1;
    }
    printf("ok - %s: '%s': its excerpt matches a fresh run (%d lines, timing masked)\n", lesson, cmd, nwant);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: doc_check LESSON.md   (or --normalize: stdin's lines as compared)\n");
        return 2;
    }
    for (int k = 0; k < NMASKS; k++)
        if (regcomp(&compiled[k], masks[k][0], REG_EXTENDED) != 0) {
            fprintf(stderr, "doc_check: bad mask %d\n", k);
            return 2;
        }
    if (strcmp(argv[1], "--normalize") == 0) {
        char line[LINE];
        while (fgets(line, sizeof line, stdin)) normalize(line), printf("%s\n", line);
        return 0;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        printf("not ok - %s: cannot read it\n", argv[1]);
        return 1;
    }
    static char want[MAXLINES][LINE], got[MAXLINES][LINE];
    char line[LINE], cmd[LINE] = "";
    int failed = 0, checked = 0, nwant = 0, in_block = 0;
    while (fgets(line, sizeof line, f)) {
        const char *mark = strstr(line, "<!-- output of: ");
        if (mark && !in_block) {
            snprintf(cmd, sizeof cmd, "%s", mark + strlen("<!-- output of: "));
            char *end = strstr(cmd, " -->");
            if (end) *end = '\0';
            continue;
        }
        int fence = strncmp(line + strspn(line, " "), "```", 3) == 0;   /* in a list item too */
        if (fence && cmd[0] && !in_block) {
            in_block = 1, nwant = 0;
        } else if (fence && in_block) {
            failed += check(argv[1], cmd, want, nwant, got);
            checked++;
            in_block = 0, cmd[0] = '\0';
        } else if (in_block && nwant < MAXLINES) {
            snprintf(want[nwant], LINE, "%s", line);
            normalize(want[nwant++]);
        }
    }
    fclose(f);
    return failed ? 1 : 0;
}
