/* json_check.c -- reads a JSON file with a strict parser of its own and says
 * whether it is valid, how many trace events of phase "X" it holds, and on
 * how many tracks (distinct pids of those events).
 *
 *   ./tests/json_check FILE.json      prints "valid X_EVENTS TRACKS", exit 0
 *                                     or "invalid: why at byte N", exit 1
 *
 * A parser written apart from the writer (export.c) is what makes the check
 * worth something: it refuses trailing commas, bad escapes, unquoted keys.
 * Left out on purpose: building a tree; only the counts are kept.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t i, n;
    const char *err;
    long x_events;
    long pids[4096];
    int npids;
} parser;

static void ws(parser *p)
{
    while (p->i < p->n && isspace((unsigned char)p->s[p->i])) p->i++;
}

static int fail(parser *p, const char *why)
{
    if (!p->err) p->err = why;
    return -1;
}

/* A string; its text (without escapes resolved) in out when out is not NULL. */
static int string(parser *p, char *out, size_t cap)
{
    size_t k = 0;
    if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string");
    p->i++;
    while (p->i < p->n && p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c < 0x20) return fail(p, "control character in a string");
        if (c == '\\') {
            if (p->i >= p->n || !strchr("\"\\/bfnrtu", p->s[p->i])) return fail(p, "bad escape");
            if (p->s[p->i] == 'u') {
                for (int d = 1; d <= 4; d++)
                    if (p->i + d >= p->n || !isxdigit((unsigned char)p->s[p->i + d])) return fail(p, "bad \\u escape");
                p->i += 4;
            }
            p->i++;
        }
        if (out && k + 1 < cap) out[k++] = (char)c;
    }
    if (p->i >= p->n) return fail(p, "unterminated string");
    p->i++;
    if (out) out[k] = '\0';
    return 0;
}

static int number(parser *p, double *out)
{
    const char *start = p->s + p->i;
    char *end;
    if (!(isdigit((unsigned char)*start) || *start == '-')) return fail(p, "expected a value");
    double v = strtod(start, &end);
    if (end == start) return fail(p, "bad number");
    p->i += (size_t)(end - start);
    if (out) *out = v;
    return 0;
}

static int value(parser *p, char *str, size_t cap, double *num);

static int object(parser *p)
{
    char ph[8] = "";
    double pid = -1;
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == '}') return p->i++, 0;
    for (;;) {
        char key[64];
        ws(p);
        if (string(p, key, sizeof key) != 0) return -1;
        ws(p);
        if (p->i >= p->n || p->s[p->i++] != ':') return fail(p, "expected ':'");
        ws(p);
        char sv[64] = "";
        double nv = -1;
        if (value(p, sv, sizeof sv, &nv) != 0) return -1;
        if (strcmp(key, "ph") == 0) snprintf(ph, sizeof ph, "%s", sv);
        if (strcmp(key, "pid") == 0) pid = nv;
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') break;
        return fail(p, "expected ',' or '}'");
    }
    p->i++;
    if (strcmp(ph, "X") == 0) {
        p->x_events++;
        int seen = 0;
        for (int k = 0; k < p->npids; k++) seen |= p->pids[k] == (long)pid;
        if (!seen && p->npids < 4096) p->pids[p->npids++] = (long)pid;
    }
    return 0;
}

static int array(parser *p)
{
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ']') return p->i++, 0;
    for (;;) {
        ws(p);
        if (value(p, NULL, 0, NULL) != 0) return -1;
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') return p->i++, 0;
        return fail(p, "expected ',' or ']'");
    }
}

static int value(parser *p, char *str, size_t cap, double *num)
{
    if (p->i >= p->n) return fail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{') return object(p);
    if (c == '[') return array(p);
    if (c == '"') return string(p, str, cap);
    const char *words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++)
        if (strncmp(p->s + p->i, words[k], strlen(words[k])) == 0) return p->i += strlen(words[k]), 0;
    return number(p, num);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.json\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        printf("invalid: cannot open %s\n", argv[1]);
        return 1;
    }
    static parser p;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) buf = realloc(buf, cap = 2 * cap + 65536);
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    p.s = buf;
    p.n = n;
    ws(&p);
    int bad = value(&p, NULL, 0, NULL) != 0;
    ws(&p);
    if (!bad && p.i != p.n) bad = fail(&p, "text after the value") != 0;
    if (bad) printf("invalid: %s at byte %zu\n", p.err, p.i);
    else printf("valid %ld %d\n", p.x_events, p.npids);
    free(buf);
    return bad;
}
