/* cli.c -- the command line every demo shares: -m, --schedule, --tick-ms,
 * --payload, --cost, --csv, --save-schedule, the live view's --no-tui, --tty
 * and --exit, the exports --trace, --events and --svg, and --help; in the
 * demos that compute for real, the model's --depth, --width, --hidden,
 * --batch, --steps, --lr, --seed, --partition, --layers, --dump and the
 * switch --checkpoint; in the
 * grid demos, --tp and --dp; where a step runs, --watchdog, --fault,
 * --link and --no-validate.  P is not an option: it is the number of ranks
 * mpiexec started, divided by T x D.
 *
 * Every rank parses the same argv and so reaches the same verdict without
 * talking: bad input is caught before any rank waits for another.
 * Left out on purpose: option abbreviations; environment variables (PP_TTY,
 * PP_FAULT) are read where they are used.
 */
#include "pp_demo.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_MB = 1024 };

void pp_cli_defaults(pp_opts *o)
{
    memset(o, 0, sizeof *o);
    o->mb[0] = 8;
    o->nmb = 1;
    snprintf(o->schedule, sizeof o->schedule, "1f1b");
    o->tick_ms = 10.0;
    o->tp = o->dp = 1;
    o->payload = 64 * 1024;
    o->ticks[PP_F] = 1;
    o->ticks[PP_B] = 2;
    o->ticks[PP_I] = 1;
    o->ticks[PP_W] = 1;
    o->ar_ticks = 0.5;
    o->watchdog_s = -1;
    o->repeat = 1;
    o->slow_stage = -1;
    o->slow_factor = 1;
    snprintf(o->device, sizeof o->device, "cpu");
    pp_model_cfg_default(&o->model);
    snprintf(o->partition, sizeof o->partition, "front");
}

static pp_status fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return PP_EARG;
}

/* Reads a whole decimal integer in [lo, hi]; 0 on success. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Reads a number in [lo, hi]; 0 on success. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* A model option: its name, the range allowed, and where it goes. */
static pp_status parse_model(int k, const char *v, pp_opts *o, char *err, size_t n)
{
    static const struct {
        const char *name, *what;
        long lo, hi;
    } spec[] = {{"--depth", "a number of blocks", 1, 512},     {"--width", "a width", 1, 8192},
                {"--hidden", "a hidden width", 1, 32768},    {"--batch", "a batch size", 1, 1 << 20},
                {"--steps", "a number of steps", 1, 100000}, {"--seed", "a seed", 0, 2147483647L}};
    pp_model_cfg *c = &o->model;
    long x;
    if (k < 6) {
        if (parse_int(v, spec[k].lo, spec[k].hi, &x) != 0)
            return fail(err, n, "%s: '%s' is not %s: give a whole number from %ld to %ld", spec[k].name, v,
                        spec[k].what, spec[k].lo, spec[k].hi);
        int *dst[6] = {&c->depth, &c->width, &c->hidden, &c->batch, &c->steps, NULL};
        if (k == 5) c->seed = (unsigned long)x;
        else *dst[k] = (int)x;
        return PP_OK;
    }
    double lr;
    if (k == 6) {
        if (parse_num(v, 1e-6, 10, &lr) != 0)
            return fail(err, n, "--lr: '%s' is not a learning rate: give a number from 0.000001 to 10", v);
        c->lr = (float)lr;
    } else if (k == 7) {
        if (strcmp(v, "front") && strcmp(v, "back") && strcmp(v, "balanced"))
            return fail(err, n, "--partition: '%s' is not a partition: use front, back or balanced "
                        "(or --layers with counts like 3,5,4,4)", v);
        snprintf(o->partition, sizeof o->partition, "%s", v);
    } else if (k == 8) {
        if (!v[0] || strspn(v, "0123456789,") != strlen(v) || strlen(v) >= sizeof o->layers)
            return fail(err, n, "--layers: '%s' is not a list of blocks per stage: give counts like 3,5,4,4", v);
        snprintf(o->layers, sizeof o->layers, "%s", v);
    } else {
        if (!v[0] || strlen(v) >= sizeof o->dump) return fail(err, n, "--dump: '%s' is not a usable folder name", v);
        snprintf(o->dump, sizeof o->dump, "%s", v);
    }
    return PP_OK;
}

static pp_status parse_mb(const char *v, const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    o->nmb = 0;
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        long m;
        if (parse_int(tok, 1, MAX_MB, &m) != 0)
            return fail(err, n, "-m: '%s' is not a number of micro-batches: give a whole number from 1 to %d%s",
                        tok, MAX_MB, spec->mb_list_ok ? " or a list like 1,2,4,8" : "");
        if (o->nmb == PP_MAX_MB_LIST)
            return fail(err, n, "-m: more than %d values in '%s'", PP_MAX_MB_LIST, v);
        o->mb[o->nmb++] = (int)m;
    }
    if (o->nmb > 1 && !spec->mb_list_ok)
        return fail(err, n, "-m: '%s' is a list, but this demo runs one M: give one whole number", v);
    o->m_given = 1;
    return PP_OK;
}

/* "65536", "64K", "64KiB", "1M": bytes. */
static pp_status parse_payload(const char *v, pp_opts *o, char *err, size_t n)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double unit = 1;
    if (*end == 'K' || *end == 'k') unit = 1024, end++;
    else if (*end == 'M' || *end == 'm') unit = 1024 * 1024, end++;
    if (unit > 1 && strcmp(end, "iB") == 0) end += 2;
    x *= unit;
    if (errno || end == v || *end != '\0' || !isfinite(x) || x < 0 || x > 256.0 * 1024 * 1024 || x != floor(x))
        return fail(err, n, "--payload: '%s' is not a message size: give bytes from 0 to 256M, like 4096, 64K or 1M", v);
    o->payload = (size_t)x;
    return PP_OK;
}

/* "F=1,B=2" or "I=1,W=1": ticks per kind. */
static pp_status parse_cost(const char *v, const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        const char *kinds = "FBIW";
        int ar = strncmp(tok, "AR=", 3) == 0;
        const char *k = tok[0] && !ar ? strchr(kinds, tok[0]) : NULL;
        double ticks;
        if ((!k && !ar) || (!ar && tok[1] != '=') || parse_num(tok + (ar ? 3 : 2), 0, 1000, &ticks) != 0)
            return fail(err, n, "--cost: '%s' is not a cost: give KIND=TICKS pairs like F=1,B=2 (kinds F, B, I, W, AR; ticks 0 to 1000)", tok);
        if (!ar && ticks <= 0)   /* a compute that takes no time leaves nothing to measure */
            return fail(err, n, "--cost: '%s': a compute must take some time: give F, B, I and W more than 0 ticks "
                        "(up to 1000; AR may be 0)", tok);
        if (ar && !spec->grid_ok)
            return fail(err, n, "--cost: '%s': an all-reduce cost needs a grid; 05_1f1b takes it with --tp or --dp", tok);
        if (ar) o->ar_ticks = ticks;
        else o->ticks[k - kinds] = ticks;
    }
    return PP_OK;
}

/* Copies v into buf (cap bytes) cut at the first `sep`: *second is what
 * followed it (NULL if v has none).  Returns -1 if v does not fit. */
static int two_parts(const char *v, char sep, char *buf, size_t cap, char **second)
{
    snprintf(buf, cap, "%s", v);
    *second = strchr(buf, sep);
    if (*second) *(*second)++ = '\0';
    return strlen(v) < cap ? 0 : -1;
}

/* "2:1.5": stage 2 costs 1.5 times the others. */
static pp_status parse_slow(const char *v, pp_opts *o, char *err, size_t n)
{
    char buf[64], *colon;
    long s;
    if (two_parts(v, ':', buf, sizeof buf, &colon) != 0 || !colon || parse_int(buf, 0, PP_MAX_STAGES - 1, &s) != 0 ||
        parse_num(colon, 0.01, 100, &o->slow_factor) != 0)
        return fail(err, n, "--slow-stage: '%s' is not a stage and a factor: give S:FACTOR, a stage from 0 to %d "
                    "and a factor from 0.01 to 100, like 2:1.5", v, PP_MAX_STAGES - 1);
    o->slow_stage = (int)s;
    return PP_OK;
}

/* "10" or "10,5": a link of 10 Gb/s, with 5 us of latency. */
static pp_status parse_link(const char *v, pp_opts *o, char *err, size_t n)
{
    char buf[64], *comma;
    double us = 0;
    if (two_parts(v, ',', buf, sizeof buf, &comma) != 0 || parse_num(buf, 0.001, 100000, &o->link_gbps) != 0 ||
        (comma && parse_num(comma, 0, 1e6, &us) != 0))
        return fail(err, n, "--link: '%s' is not a link: give GBPS[,LATENCY_US], Gb/s from 0.001 to 100000 and "
                    "microseconds from 0 to 1000000, like 100 or 1,50", v);
    o->link_us = us;
    return PP_OK;
}

static pp_status parse_schedule(const char *v, const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    if (spec->no_schedule && spec->real)   /* short: the demo's name and "error:" come first */
        return fail(err, n, "--schedule: fixed here; demos 02 and 03 take '%s'", v);
    if (spec->no_schedule)
        return fail(err, n, "--schedule: this demo chooses its own schedules; run 04_bubble_efficiency for '%s'", v);
    size_t len = strlen(v);
    int builder = pp_sched_is_builder(v) || (spec->all_ok && strcmp(v, "all") == 0);
    int csv = len > 4 && strcmp(v + len - 4, ".csv") == 0;
    if (!builder && !csv)
        return fail(err, n, "--schedule: '%s' is not a schedule: use one of %s%s, or a file NAME.csv", v,
                    pp_sched_names(), spec->all_ok ? ", all" : "");
    if (len >= sizeof o->schedule) return fail(err, n, "--schedule: the file name is too long");
    memcpy(o->schedule, v, len + 1);
    return PP_OK;
}

static pp_status copy_path(const char *opt, const char *v, char *dst, size_t cap, char *err, size_t n)
{
    if (!v[0] || strlen(v) >= cap) return fail(err, n, "%s: '%s' is not a usable file name", opt, v);
    memcpy(dst, v, strlen(v) + 1);
    return PP_OK;
}

/* Every option that takes a value; the parser's switch follows this order. */
static const char *known[] = {"-m", "--microbatches", "--schedule", "--tick-ms", "--payload",
                              "--cost", "--csv", "--save-schedule", "--tty", "--trace",
                              "--events", "--svg", "--depth", "--width", "--hidden", "--batch",
                              "--steps", "--seed", "--lr", "--partition", "--layers", "--dump",
                              "--tp", "--dp", "--chunks", "--watchdog", "--fault", "--device", "--repeat",
                              "--link", "--interval", "--slow-stage"};
enum { NKNOWN = sizeof known / sizeof known[0] };

/* Is `a` one of the options (a name that takes a value, with or without
 * "=...", or a switch)?  Then it cannot be the value of the one before it. */
static int is_option(const char *a)
{
    static const char *switches[] = {"-h", "--help", "--real", "--no-tui", "--exit", "--checkpoint", "--no-validate"};
    size_t len = strcspn(a, "=");
    for (size_t j = 0; j < sizeof switches / sizeof switches[0]; j++)
        if (strcmp(a, switches[j]) == 0) return 1;
    for (int j = 0; j < NKNOWN; j++)
        if (strlen(known[j]) == len && strncmp(a, known[j], len) == 0) return 1;
    return 0;
}

int pp_cli_given(const pp_opts *o, const char *name)
{
    for (int k = 0; k < NKNOWN; k++)
        if (strcmp(name, known[k]) == 0) return (int)(o->given >> k & 1);
    return 0;
}

/* Is option k (known[k], typed as `name`) one this demo cannot honour?
 * Then err says which demos take it. */
static int not_here(const pp_demo_spec *spec, int k, const char *name, char *err, size_t n)
{
    /* Timed options in a real demo, model options in a timed one. */
    if (spec->real && (k == 3 || k == 4 || k == 5))
        return fail(err, n, "%s: this demo computes for real, so it has no ticks or payload; "
                    "the timed demos (04, 05) take %s", name, name) != PP_OK;
    if (k == 24 && spec->no_schedule)
        return fail(err, n, "--chunks: this demo chooses its own schedules and chunks; 04_bubble_efficiency and "
                    "02_microbatches take --schedule interleaved --chunks v") != PP_OK;
    if (k == 28 && (spec->real || spec->no_steps || spec->plain))
        return fail(err, n, "--repeat: this demo %s; the timed demos (04, 05, 07, 08) take --repeat N",
                    spec->real ? "computes for real and takes --steps" : "runs no timed step to repeat") != PP_OK;
    if (k == 31 && (spec->real || spec->no_steps || spec->plain || spec->stream))
        return fail(err, n, "--slow-stage: this demo %s; the timed demos (04, 05, 07, 08, 11, 13) take --slow-stage",
                    spec->real     ? "computes for real: its stages cost what their blocks do"
                    : spec->stream ? "gives every stage F ticks a request by design"
                                   : "has no stages to slow") != PP_OK;
    if (k == 26 && spec->stream)
        return fail(err, n, "--fault: this demo's first run leaves every rank but 0 idle, so a fault has no "
                    "action to strike there; demos 04, 05 and 13 take --fault") != PP_OK;
    if (k == 7 && spec->stream)
        return fail(err, n, "--save-schedule: a stream of requests runs forwards only, which the CSV form "
                    "cannot load back; 04_bubble_efficiency saves training schedules") != PP_OK;
    if (k == 30 && !spec->stream)
        return fail(err, n, "--interval: this demo has no stream of requests; 09_inference takes --interval") != PP_OK;
    if (k == 29 && (spec->no_steps || spec->plain))
        return fail(err, n, "--link: this demo sends no messages through a step; demos 02 to 08 and 10 to 13 take "
                    "--link") != PP_OK;
    if (k == 29 && spec->stream)
        return fail(err, n, "--link: the stream's formula has no link in it; demos 04 to 06 show a link's cost") != PP_OK;
    if (k == 27 && spec->plain)
        return fail(err, n, "--device: this demo calls the core on the CPU only; demos 01 to 13 take --device gpu") != PP_OK;
    if (k >= 25 && k <= 26 && (spec->no_steps || spec->plain))
        return fail(err, n, "%s: this demo runs no pipeline step, so there is nothing to watch or break; "
                    "demos 02 to 13 take %s", name, name) != PP_OK;
    if (k >= 22 && k <= 23 && !spec->grid_ok)
        return fail(err, n, "%s: this demo runs one pipeline (P = the number of ranks); "
                    "05_1f1b, 06_pp_tp and 12_3d take --tp and --dp", name) != PP_OK;
    if (k == 6 && !spec->csv_ok)
        return fail(err, n, "--csv: this demo prints no table to plot; 02_microbatches and "
                    "04_bubble_efficiency take --csv") != PP_OK;
    if (spec->no_steps && ((k >= 7 && k <= 11) || k == 16 || k == 18)) {
        const char *what = k == 16 || k == 18 ? "steps or learning rate"
                           : k == 7           ? "schedule to save"
                           : k == 8           ? "live view"
                                              : "timeline to write";
        return fail(err, n, "%s: this demo runs no training step, so it has no %s; %s take %s", name, what,
                    k == 16 || k == 18 ? "02_microbatches, 06_pp_tp and 12_3d" : "demos 02 to 12", name) != PP_OK;
    }
    if (spec->plain && k >= 7 && k <= 11)
        return fail(err, n, "%s: this demo prints plain text and writes no file; 04_bubble_efficiency and 05_1f1b "
                    "take %s", name, name) != PP_OK;
    if (k == 21 && spec->no_dump) return fail(err, n, "--dump: %s", spec->no_dump) != PP_OK;
    if ((k == 19 || k == 20) && spec->no_partition) return fail(err, n, "%s: %s", name, spec->no_partition) != PP_OK;
    if (!spec->real && spec->either && k >= 12 && k < 22)
        return fail(err, n, "%s: the model's options need --real (this demo is timed without it)", name) != PP_OK;
    if (!spec->real && k >= 12 && k < 22)
        return fail(err, n, "%s: this demo runs timed compute and has no model; "
                    "the real-compute demos (01, 02, 03) take %s", name, name) != PP_OK;
    return 0;
}

/* Option k (known[k], typed as `name`) with its value v. */
static pp_status parse_value(int k, const char *name, const char *v, const pp_demo_spec *spec, pp_opts *o, char *err,
                             size_t n)
{
    double ms;
    switch (k) {
    case 0:
    case 1: return parse_mb(v, spec, o, err, n);
    case 2: return parse_schedule(v, spec, o, err, n);
    case 3:
        if (parse_num(v, 0.1, 10000, &ms) != 0)
            return fail(err, n, "--tick-ms: '%s' is not a tick length: give milliseconds from 0.1 to 10000", v);
        o->tick_ms = ms;
        break;
    case 4: return parse_payload(v, o, err, n);
    case 5: return parse_cost(v, spec, o, err, n);
    case 6: return copy_path("--csv", v, o->csv, sizeof o->csv, err, n);
    case 7: return copy_path("--save-schedule", v, o->save, sizeof o->save, err, n);
    case 8: return copy_path("--tty", v, o->tty, sizeof o->tty, err, n);
    case 9: return copy_path("--trace", v, o->trace, sizeof o->trace, err, n);
    case 10: return copy_path("--events", v, o->events, sizeof o->events, err, n);
    case 11: return copy_path("--svg", v, o->svg, sizeof o->svg, err, n);
    case 22:
    case 23: {
        long x;
        if (parse_int(v, 1, 4096, &x) != 0)
            return fail(err, n, "%s: '%s' is not a number of ranks: give a whole number from 1 to 4096", name, v);
        *(k == 22 ? &o->tp : &o->dp) = (int)x;
        break;
    }
    case 24: {
        long x;
        if (parse_int(v, 1, 16, &x) != 0)
            return fail(err, n, "--chunks: '%s' is not a number of chunks per rank: give 1 to 16", v);
        o->chunks = (int)x;
        break;
    }
    case 25:
        if (parse_num(v, 0, 3600, &o->watchdog_s) != 0 || (o->watchdog_s > 0 && o->watchdog_s < 0.1))
            return fail(err, n, "--watchdog: '%s' is not a time: give 0 (off) or seconds from 0.1 to 3600 (a "
                        "rank's longest pause between two actions must fit in it)", v);
        break;
    case 26: {
        pp_fault f;
        char why[200];
        if (pp_fault_parse(v, 0, &f, why, sizeof why) != PP_OK) return fail(err, n, "--fault: %s", why);
        snprintf(o->fault, sizeof o->fault, "%s", v);
        break;
    }
    case 28: {
        long x;
        if (parse_int(v, 1, 1000, &x) != 0)
            return fail(err, n, "--repeat: '%s' is not a number of steps: give a whole number from 1 to 1000", v);
        o->repeat = (int)x;
        break;
    }
    case 29: return parse_link(v, o, err, n);
    case 31: return parse_slow(v, o, err, n);
    case 30:
        if (parse_num(v, 0, 100000, &o->interval) != 0)
            return fail(err, n, "--interval: '%s' is not a time between requests: give ticks from 0 (all waiting "
                        "at the start) to 100000", v);
        break;
    case 27:
        if (strcmp(v, "cpu") != 0 && strcmp(v, "gpu") != 0)
            return fail(err, n, "--device: '%s' is not a device: use cpu or gpu", v);
        snprintf(o->device, sizeof o->device, "%s", v);
        break;
    default: return parse_model(k - 12, v, o, err, n);
    }
    return PP_OK;
}

/* --checkpoint (a = what was typed), where a demo trains and does not
 * choose it itself. */
static pp_status checkpoint(const char *a, const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    if (a[strlen("--checkpoint")] == '=')
        return fail(err, n, "--checkpoint takes no value ('%s'): give --checkpoint alone to turn it on", a);
    if (spec->no_checkpoint) return fail(err, n, "--checkpoint: %s", spec->no_checkpoint);
    if (!spec->real || spec->no_steps)
        return fail(err, n, "--checkpoint: this demo %s; demos 02, 03, 06 and 12 train and take --checkpoint",
                    spec->real ? "trains nothing, so it keeps no activations" : "runs timed compute and has no model");
    o->model.checkpoint = 1;
    return PP_OK;
}

/* --no-validate, where a demo can honour it. */
static pp_status no_validate(const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    if (spec->no_schedule || spec->no_steps || spec->plain)
        return fail(err, n, "--no-validate: this demo builds its own schedules, which are valid; "
                    "04_bubble_efficiency and 13_deadlock take --no-validate with --schedule FILE.csv");
    if (spec->real)
        return fail(err, n, "--no-validate: this demo computes for real, and an action out of order would "
                    "compute from data not there yet; the timed demos 04 and 13 take --no-validate");
    o->no_validate = 1;
    return PP_OK;
}

pp_status pp_cli_parse(int argc, char **argv, const pp_demo_spec *spec, pp_opts *o, char *err, size_t n)
{
    pp_demo_spec either;   /* a demo that runs either way: with --real, judged as a real one */
    for (int i = 1; spec->either && i < argc; i++) o->real |= strcmp(argv[i], "--real") == 0;
    if (o->real) either = *spec, either.real = 1, spec = &either;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--real") == 0) {
            if (!spec->either)
                return fail(err, n, "--real: this demo computes one way only; 09_inference takes --real");
            continue;
        }
        if (strcmp(a, "--no-tui") == 0 || strcmp(a, "--exit") == 0) {
            *(a[2] == 'n' ? &o->no_tui : &o->exit_at_end) = 1;
            continue;
        }
        size_t ck = strlen("--checkpoint");   /* a switch: "--checkpoint=..." is refused by name */
        if (strncmp(a, "--checkpoint", ck) == 0 && (a[ck] == '\0' || a[ck] == '=')) {
            if (checkpoint(a, spec, o, err, n) != PP_OK) return PP_EARG;
            continue;
        }
        if (strcmp(a, "--no-validate") == 0) {
            if (no_validate(spec, o, err, n) != PP_OK) return PP_EARG;
            continue;
        }
        /* The name, and its value: "--tick-ms=5" or "--tick-ms 5". */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nlen = eq && a[0] == '-' && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        snprintf(name, sizeof name, "%.*s", (int)(nlen < sizeof name ? nlen : sizeof name - 1), a);
        int k = -1;
        for (int j = 0; j < NKNOWN; j++)
            if (strcmp(name, known[j]) == 0) k = j;
        if (k < 0) {
            if (a[0] == '-') return fail(err, n, "unknown option '%s' (try --help)", a);
            return fail(err, n, "unexpected argument '%s' (try --help)", a);
        }
        if (not_here(spec, k, name, err, n)) return PP_EARG;
        const char *v = eq && nlen == strlen(name) && a[1] == '-' ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) return fail(err, n, "option %s needs a value (try --help)", name);
            if (is_option(argv[i + 1]))   /* "--tp --no-tui": the value was left out */
                return fail(err, n, "option %s needs a value before %s (try --help)", name, argv[i + 1]);
            v = argv[++i];
        }
        o->given |= 1UL << k;
        pp_status st = parse_value(k, name, v, spec, o, err, n);
        if (st != PP_OK) return st;
    }
    return PP_OK;
}

/* One option of the usage text: its name in a column of 22, what it does
 * wrapped beside it within 79 columns. */
static void opt(FILE *f, const char *name, const char *fmt, ...)
{
    char text[600], first[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(first, sizeof first, "  %-22s", name);
    pp_report_wrap(f, text, first, "                        ");
}

void pp_cli_usage(FILE *f, const char *prog, const pp_demo_spec *spec, const pp_opts *d)
{
    char mb[128] = "";
    size_t k = 0;
    for (int i = 0; i < d->nmb && k < sizeof mb - 8; i++)
        k += (size_t)snprintf(mb + k, sizeof mb - k, "%s%d", i ? "," : "", d->mb[i]);
    fprintf(f, "usage: mpiexec -n N %s [options]\n", prog);
    pp_report_wrap(f, spec->what, "", "");
    fprintf(f, "\n");
    if (spec->grid_ok) {
        fprintf(f, "The N ranks form P pipeline stages x T tensor-parallel ranks x D replicas:\n"
                   "P = N / (T x D).  Rank k has t = k mod T, stage p = (k / T) mod P,\n"
                   "replica d = k / (T x P).\n\n");
        opt(f, "--tp T", "tensor-parallel ranks per stage (default %d)", d->tp);
        opt(f, "--dp D", "data-parallel replicas of the pipeline (default %d)", d->dp);
    } else {
        if (spec->no_schedule)   /* the demo's own schedules say how many stages a rank runs */
            fprintf(f, "P, the number of pipeline ranks, is the number of ranks mpiexec starts.\n\n");
        else
            fprintf(f, "P, the number of pipeline ranks, is the number of ranks mpiexec starts; a\n"
                       "rank runs one stage, or several (interleaved, zbv, a schedule file).\n\n");
    }
    if (spec->stream) {
        opt(f, "-m, --microbatches M", "requests in the stream, each a micro-batch (default %s)", mb);
        opt(f, "--interval TICKS", "ticks between two requests' arrivals: the arrival rate is 1/TICKS; 0: all "
            "waiting at the start (default %g)", d->interval);
    } else
        opt(f, "-m, --microbatches M", "micro-batches per step%s (default %s)",
            spec->mb_list_ok ? "; a list like 1,2,4 sweeps them" : "", mb);
    if (!spec->no_schedule) {
        if (spec->plain)   /* demo 00 builds its schedule: no file */
            opt(f, "--schedule NAME", "%s (default %s)", pp_sched_names(), d->schedule);
        else
            opt(f, "--schedule NAME", "%s%s, or a CSV file (one row per rank; PyTorch's compute-only and comms forms "
                "too) (default %s)", pp_sched_names(), spec->all_ok ? ", all (every builder in turn)" : "", d->schedule);
        opt(f, "--chunks v", "chunks (stages) per rank for --schedule interleaved; any M (below P the "
            "formula no longer holds) (default 2)");
    }
    if (spec->either)
        opt(f, "--real", "compute for real: the model below (%s) instead of timed ticks%s",
            spec->real ? "its options listed" : "--real --help lists its options",
            spec->stream ? "; a tick is then 1 ms (for --interval)" : "");
    if (spec->real) {
        const pp_model_cfg *c = &d->model;
        fprintf(f, "the model: --depth blocks y = x + gelu(x W1 + b1) W2 + b2, trained with SGD\n"
                   "to imitate y = tanh(x A):\n");
        opt(f, "--depth L", "blocks in the model (default %d)", c->depth);
        opt(f, "--width D", "width of x and y (default %d)", c->width);
        opt(f, "--hidden F", "width inside a block (default %d)", c->hidden);
        opt(f, "--batch B", "samples per step, split into M micro-batches (default %d)", c->batch);
        if (!spec->no_steps) {
            opt(f, "--steps N", "training steps (default %d)", c->steps);
            opt(f, "--lr X", "SGD learning rate (default %g)", c->lr);
            if (!spec->no_checkpoint)
                opt(f, "--checkpoint", "activation checkpointing: a forward keeps only its stage's input, and the "
                    "backward runs that forward again first (less memory, more compute)");
        }
        opt(f, "--seed S", "seed of the inputs, the teacher and the first weights (default %lu)", c->seed);
        if (!spec->no_partition) {
            opt(f, "--partition HOW", "front or back (equal shares, the remainder to the first or last stages), "
                "balanced (by the cost of each block, measured) (default %s)", d->partition);
            opt(f, "--layers 3,5,4,4", "blocks per stage, one count per stage (instead of --partition)");
        }
        if (!spec->no_dump) opt(f, "--dump DIR", "write weights, inputs, targets and outputs as NumPy .npy files (the folder is made)");
    } else {
        if (spec->plain)
            opt(f, "--tick-ms MS", "length of one tick in milliseconds (default %g)", d->tick_ms);
        else
            opt(f, "--tick-ms MS", "length of one tick in milliseconds (default %g; in the live view, a tick that "
                "makes the longest step last about %g s)", d->tick_ms, PP_LIVE_STEP_S);
        if (spec->stream)
            opt(f, "--cost F=1", "ticks per forward: a stream runs forwards only (default F=%g)", d->ticks[PP_F]);
        else
            opt(f, "--cost F=1,B=2", "ticks per forward, backward, I and W (default F=%g,B=%g,I=%g,W=%g)%s",
                d->ticks[PP_F], d->ticks[PP_B], d->ticks[PP_I], d->ticks[PP_W],
                spec->grid_ok ? "; and AR, ticks of one all-reduce (default AR=0.5): with --tp, every F, B and I "
                                "ends with one; with --dp, the step ends with the replicas' sum" : "");
        opt(f, "--payload SIZE", "bytes per activation or gradient message, like 4096, 64K, 1M (default %zuK)",
            d->payload / 1024);
        if (!spec->no_steps && !spec->plain && !spec->stream)
            opt(f, "--slow-stage S:F", "stage S costs F times what the others do (a slower device, or more "
                "layers): the slowest stage sets the pace");
        if (!spec->no_steps && !spec->plain)
            opt(f, "--repeat N", "run each step N times and show the one with the median measured bubble, with the "
                "spread (steady figures on a busy machine) (default %d)", d->repeat);
    }
    if (spec->csv_ok) opt(f, "--csv FILE", "also write the results table as CSV, for plotting");
    if (!spec->plain)
        opt(f, "--device D", "where every rank computes: cpu, or gpu (a build made with make GPU=1: each rank takes "
            "a GPU of its machine in turn, sharing them when there are more ranks) (default %s)", d->device);
    if (spec->no_steps || spec->plain) {   /* no schedule to save, view or timeline */
        opt(f, "-h, --help", "this text");
        return;
    }
    if (!spec->stream)   /* a stream's forwards-only schedule cannot be loaded back */
        opt(f, "--save-schedule FILE", "write the schedule as CSV (one row per rank), to edit and load back; where "
            "the demo runs several, the last one");
    opt(f, "--no-tui", "plain text, even on a terminal (also when the output is redirected)");
    opt(f, "--tty PATH", "the terminal to draw the live view on, the output of `tty` (or set PP_TTY); on Linux it is "
        "found without it");
    opt(f, "--exit", "leave as soon as the run ends, without waiting for a key");
    char wd[64];
    if (d->watchdog_s >= 0) snprintf(wd, sizeof wd, "%g s", d->watchdog_s);
    else snprintf(wd, sizeof wd, "%s", pp_watchdog_limit_text());
    opt(f, "--watchdog SECONDS", "stop a step in which no rank makes progress for this long, and show where each "
        "rank is stuck; 0 switches it off (default: %s)", wd);
    if (!spec->stream)   /* a stream's first run leaves all ranks but 0 idle: nothing to strike */
        opt(f, "--fault KIND:RANK", "run a bug on purpose (or set PP_FAULT): stall (the rank stops), drop (it skips "
            "a send), swap (it waits for a gradient before the activation: a deadlock), late (it holds a send for 3 "
            "times the compute before it), slow (a compute takes 3 times as long), at micro-batch M/2; "
            "error:RANK:ACTION (an error at that action of its list); none (default %s)",
            d->fault[0] ? d->fault : "none");
    if (!spec->no_schedule && !spec->real)
        opt(f, "--no-validate", "run a schedule file even if its order would deadlock (the other checks stay)");
    if (!spec->stream)
        opt(f, "--link GBPS[,US]", "model a link of GBPS Gb/s and US microseconds of latency between ranks: "
            "each message leaves US + bytes x 8 / GBPS e9 seconds after its send begins, one after another per "
            "pair of ranks; a tensor-parallel sum waits as long for each piece it sends (default: no model, this "
            "machine's own delivery)");
    opt(f, "--trace FILE.json", "write every event as a Chrome trace (open in ui.perfetto.dev)");
    opt(f, "--events FILE.csv", "write every event as CSV");
    opt(f, "--svg FILE.svg", "write the timeline as an SVG picture");
    opt(f, "-h, --help", "this text");
    fprintf(f, "keys in the live view: space pause/resume, n one step while paused,\n"
               "+ faster, - slower, left/right scroll, f follow, q quit\n");
}
