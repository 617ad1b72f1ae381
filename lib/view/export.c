/* export.c -- a finished run written out for other tools:
 *   --trace FILE.json  Chrome trace events (Perfetto, chrome://tracing): one
 *                      process per rank, times in microseconds, micro-batch
 *                      and bytes in args;
 *   --events FILE.csv  every event, one row each;
 *   --svg FILE.svg     the timeline as a picture, for slides and lessons;
 *   --csv FILE         the demo's own results table, a row at a time.
 * A demo may run several steps (GPipe then 1F1B, a sweep of M): each one is
 * appended, later steps placed after earlier ones in time (JSON) or below
 * them (SVG).  Everything is written to a file without a name (Linux's
 * O_TMPFILE: a rank killed outright leaves nothing behind), or else to
 * FILE.tmp (removed if a signal ends the rank, pp_term_doomed), and named
 * FILE only when the demo ends well, so a file is never left half-written.
 * Left out on purpose: reading these formats back.
 */
#define _GNU_SOURCE   /* O_TMPFILE, linkat */
#include "view.h"
#include "pp_idle.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NFILES = 4 };   /* trace, events, svg, table */
enum { SVG_LABEL = 90, SVG_W = 1000, SVG_ROW = 22, SVG_HEAD = 44, SVG_FOOT = 40 };

struct pp_export {
    char path[NFILES][256]; /* trace, events, svg, table: final names ("" = not asked for) */
    FILE *f[NFILES];      /* the files being written */
    int unnamed[NFILES];  /* 1: f has no name yet (O_TMPFILE); 0: it is FILE.tmp */
    int table_rows;       /* rows written to the table */
    FILE *svg_body;       /* the SVG's runs, before the header that needs the height */
    int runs;
    double t_offset;      /* where the next run starts on the JSON time axis (us) */
    int svg_height;
    int first_event;      /* no comma before the next JSON event */
    int grid;             /* some run had collectives (T x D > 1): the legend names them */
    int shown[6];         /* the SVG's runs hold F, B, I, W, waits, sends: the legend names those */
};

static void tmp_name(char *out, size_t n, const char *path)
{
    snprintf(out, n, "%s.tmp", path);
}

/* Opens the file that will become `path`: one without a name in its folder
 * where the system has them (*unnamed = 1), else FILE.tmp. */
static FILE *open_for(const char *path, int *unnamed)
{
    *unnamed = 0;
#ifdef O_TMPFILE
    char dir[300];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else slash[slash == dir] = '\0';   /* "/x": the root */
    /* named at the end through /proc: without it, FILE.tmp */
    int fd = access("/proc/self/fd", F_OK) == 0 ? open(dir, O_TMPFILE | O_WRONLY, 0666) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        *unnamed = 1;
        return f;
    }
    if (fd >= 0) close(fd);
#endif
    char tmp[300];
    tmp_name(tmp, sizeof tmp, path);
    pp_term_doomed(tmp, 1);
    return fopen(tmp, "w");
}

/* Gives an unnamed file a name of this process's own, tmp (written whole:
 * the caller renames it at once).  0 on success. */
static int name_tmp(FILE *f, const char *tmp)
{
#ifdef O_TMPFILE
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(f));
    pp_term_doomed(tmp, 1);
    return linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
#else
    (void)f, (void)tmp;
    return -1;
#endif
}

pp_status pp_export_open(const char *trace, const char *events, const char *svg, const char *table, pp_export **out,
                         char *err, size_t errlen)
{
    pp_export *x = calloc(1, sizeof *x);
    if (!x) return PP_ENOMEM;
    const char *paths[NFILES] = {trace, events, svg, table};
    const char *opt[NFILES] = {"--trace", "--events", "--svg", "--csv"};
    x->first_event = 1;
    for (int k = 0; k < NFILES; k++) {
        if (!paths[k] || !paths[k][0]) continue;
        snprintf(x->path[k], sizeof x->path[k], "%s", paths[k]);
        if (!(x->f[k] = open_for(paths[k], &x->unnamed[k]))) {
            snprintf(err, errlen, "%s: cannot write '%s'", opt[k], paths[k]);
            pp_export_close(x, 0);
            return PP_EIO;
        }
    }
    if (x->f[2] && !(x->svg_body = tmpfile())) {
        pp_export_close(x, 0);
        return PP_EIO;
    }
    if (x->f[0]) fprintf(x->f[0], "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    if (x->f[1]) fprintf(x->f[1], "run,schedule,M,rank,type,kind,stage,mb,t0_us,t1_us,bytes,inflight,critical,core_wait_us,"
                             "msg_had_come\n");
    *out = x;
    return PP_OK;
}

/* "F3", "wait F3", "send B2", "held": what an event was. */
static void event_name(const pp_event *e, char *buf, size_t n)
{
    int fwd = e->kind == PP_RECV_F || e->kind == PP_SEND_F;
    switch (e->type) {
    case PP_EV_COMPUTE: snprintf(buf, n, "%s%d", pp_kind_name((pp_kind)e->kind), e->mb); break;
    case PP_EV_WAIT: snprintf(buf, n, "wait %c%d", fwd ? 'F' : 'B', e->mb); break;
    case PP_EV_SEND: snprintf(buf, n, "send %c%d", fwd ? 'F' : 'B', e->mb); break;
    case PP_EV_ALLREDUCE:
        if (e->mb < 0) snprintf(buf, n, "all-reduce gradients");
        else snprintf(buf, n, "all-reduce %s%d", pp_kind_name((pp_kind)e->kind), e->mb);
        break;
    default: snprintf(buf, n, "held"); break;
    }
}

static const char *TYPE[] = {"compute", "wait", "send", "held", "all-reduce"};

static void json_run(pp_export *x, const pp_run *r, const pp_sched *s)
{
    FILE *f = x->f[0];
    for (int p = 0; p < r->nrows; p++) {
        int pid = x->runs * r->nrows + p;
        fprintf(f, "%s{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"name\": \"%s M=%d: rank %d\"}}",
                x->first_event ? "" : ",\n", pid, s->name, s->nmb, p);
        fprintf(f, ",\n{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": %d, \"args\": {\"sort_index\": %d}}", pid,
                pid);
        x->first_event = 0;
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            char name[32];
            event_name(e, name, sizeof name);
            fprintf(f, ",\n{\"name\": \"%s\", \"cat\": \"%s\", \"ph\": \"X\", \"pid\": %d, \"tid\": 0, "
                       "\"ts\": %.3f, \"dur\": %.3f, \"args\": {\"stage\": %d, \"mb\": %d, \"bytes\": %ld, \"inflight\": %d}}",
                    name, TYPE[e->type], pid, x->t_offset + e->t0 * 1e6, (e->t1 - e->t0) * 1e6, e->stage, e->mb,
                    e->bytes, e->inflight);
        }
    }
    x->t_offset += r->makespan * 1e6 * 1.1;
}

/* Every event, with a column saying whether it lies on the step's critical
 * path (pp_idle.h; 0 everywhere where the step is not taken apart), and for
 * a wait whether its message had come when its rank got there (1, 0; empty
 * where not known). */
static void csv_run(pp_export *x, const pp_run *r, const pp_sched *s, const pp_costs *nominal)
{
    unsigned char **on = calloc((size_t)r->nrows, sizeof *on);
    int ok = on != NULL;
    for (int p = 0; ok && p < r->nrows; p++) ok = (on[p] = calloc((size_t)r->ranks[p].n + 1, 1)) != NULL;
    pp_idle parts;
    if (ok) pp_idle_path(s, nominal, r, &parts, on);
    for (int p = 0; p < r->nrows; p++)
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            char name[32];
            event_name(e, name, sizeof name);
            const char *came = e->type != PP_EV_WAIT ? "" : e->came == PP_CAME_BEFORE ? "1" : e->came == PP_CAME_AFTER ? "0" : "";
            fprintf(x->f[1], "%d,%s,%d,%d,%s,%s,%d,%d,%.3f,%.3f,%ld,%d,%d,%.3f,%s\n", x->runs, s->name, s->nmb, p,
                    TYPE[e->type], name, e->stage, e->mb, e->t0 * 1e6, e->t1 * 1e6, e->bytes, e->inflight,
                    ok && on[p][i], e->core_s * 1e6, came);
        }
    for (int p = 0; on && p < r->nrows; p++) free(on[p]);
    free(on);
}

static const char *svg_fill(const pp_event *e)
{
    if (e->type == PP_EV_WAIT) return "#e8a9a4";
    if (e->type == PP_EV_SEND) return "#5fb8c9";
    if (e->type == PP_EV_HOLD) return "#e0c050";
    if (e->type == PP_EV_ALLREDUCE) return "#d04040";
    static const char *compute[4] = {"#4caf50", "#3f6fd0", "#d9b500", "#b04fb0"};
    return compute[e->kind];
}

static void svg_run(pp_export *x, const pp_run *r, const pp_sched *s, const pp_exec_opts *o, const char *prog)
{
    FILE *f = x->svg_body;
    int y0 = x->svg_height;
    double scale = r->makespan > 0 ? SVG_W / r->makespan : 1;   /* px per second */
    double formula = pp_theory_bubble_step(s->family, s->nranks, s->nmb, s->chunks);
    fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"15\" font-weight=\"bold\">%s: %s, P=%d, M=%d, tick %g ms</text>\n",
            y0 + 18, prog, s->name, r->nrows, r->M, o->costs.tick_s * 1e3);
    char ftext[64] = "no formula (a schedule from a file)";
    if (formula >= 0) snprintf(ftext, sizeof ftext, "%s %.1f %% formula", pp_theory_bubble_step_text(s->family), 100 * formula);
    fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"12\">bubble %.1f %% measured, %s; makespan %.1f ms measured</text>\n",
            y0 + 36, 100 * pp_run_bubble_step(r), ftext, r->makespan * 1e3);
    for (int p = 0; p < r->nrows; p++) {
        int y = y0 + SVG_HEAD + p * SVG_ROW;
        fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"12\">rank %d</text>\n", y + 15, p);
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            double x0 = SVG_LABEL + e->t0 * scale, w = (e->t1 - e->t0) * scale;
            if (e->type == PP_EV_COMPUTE && e->kind >= PP_F && e->kind <= PP_W) x->shown[e->kind - PP_F] = 1;
            else if (e->type == PP_EV_WAIT) x->shown[4] = 1;
            else if (e->type == PP_EV_SEND) x->shown[5] = 1;
            int top = y + 2, h = SVG_ROW - 4;
            if (e->type == PP_EV_SEND) top = y + SVG_ROW - 5, h = 3;
            else if (e->type != PP_EV_COMPUTE) top = y + 6, h = SVG_ROW - 12;
            fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>\n", x0, top,
                    w > 0.5 ? w : 0.5, h, svg_fill(e));
            if (e->type == PP_EV_COMPUTE && w >= 18)
                fprintf(f, "<text x=\"%.2f\" y=\"%d\" font-size=\"11\" fill=\"white\">%s%d</text>\n", x0 + 2, y + 15,
                        pp_kind_name((pp_kind)e->kind), e->mb);
        }
    }
    /* Time axis: a mark at every multiple of a round step, about ten of them. */
    int ya = y0 + SVG_HEAD + r->nrows * SVG_ROW + 14;
    double ms = r->makespan * 1e3, step = pp_round_step(ms / 10 > 0 ? ms / 10 : 1);
    for (double t = 0; t <= ms * (1 + 1e-9); t += step)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#666\">%g</text>\n", SVG_LABEL + t * scale / 1e3,
                ya, t);
    fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"10\" fill=\"#666\">ms</text>\n", ya);
    x->svg_height = ya + SVG_FOOT - 14;
}

pp_status pp_export_run(pp_export *x, const pp_run *r, const pp_sched *s, const pp_exec_opts *o, const char *prog)
{
    if (!x) return PP_OK;
    if (x->f[0]) json_run(x, r, s);
    if (x->f[1]) csv_run(x, r, s, &o->costs);
    if (x->f[2]) svg_run(x, r, s, o, prog);
    x->grid |= r->T * r->D > 1;
    x->runs++;
    return PP_OK;
}

static void svg_finish(pp_export *x)
{
    FILE *f = x->f[2];
    int legend = x->svg_height;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n",
            SVG_LABEL + SVG_W + 20, legend + 30 + (x->grid ? 18 : 0));
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    rewind(x->svg_body);
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, x->svg_body)) > 0;) fwrite(buf, 1, n, f);
    const char *names[] = {"forward F", "backward B", "backward for input I", "backward for weights W",
                           "waiting for a message", "message on its way"};
    pp_event samples[6] = {{.type = PP_EV_COMPUTE, .kind = PP_F}, {.type = PP_EV_COMPUTE, .kind = PP_B},
                           {.type = PP_EV_COMPUTE, .kind = PP_I}, {.type = PP_EV_COMPUTE, .kind = PP_W},
                           {.type = PP_EV_WAIT, .kind = PP_RECV_F}, {.type = PP_EV_SEND, .kind = PP_SEND_F}};
    for (int k = 0, lx = 8; k < 6; k++) {
        if (!x->shown[k]) continue;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", lx, legend + 4,
                svg_fill(&samples[k]));
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>\n", lx + 18, legend + 14, names[k]);
        lx += 175;
    }
    if (x->grid) {   /* a second line: the grid's collectives */
        pp_event ar = {.type = PP_EV_ALLREDUCE, .kind = PP_F};
        fprintf(f, "<rect x=\"8\" y=\"%d\" width=\"14\" height=\"12\" fill=\"%s\"/>\n", legend + 22, svg_fill(&ar));
        fprintf(f, "<text x=\"26\" y=\"%d\" font-size=\"11\">all-reduce or all-gather (tensor-parallel group, "
                   "or the replicas' gradient sum)</text>\n", legend + 32);
    }
    fprintf(f, "</svg>\n");
}

void pp_export_table_row(pp_export *x, const char *header, const char *fmt, va_list ap)
{
    FILE *f = x ? x->f[3] : NULL;
    if (!f) return;
    if (x->table_rows++ == 0) fprintf(f, "%s\n", header);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
}

pp_status pp_export_close(pp_export *x, int keep)
{
    if (!x) return PP_OK;
    pp_status st = PP_OK;
    if (keep && x->f[0]) fprintf(x->f[0], "\n]}\n");
    if (keep && x->f[2]) svg_finish(x);
    for (int k = 0; k < NFILES; k++) {
        if (!x->f[k]) continue;
        char tmp[300];
        if (x->unnamed[k])   /* its own name: another's FILE.tmp is left alone */
            snprintf(tmp, sizeof tmp, "%s.%ld.tmp", x->path[k], (long)getpid());
        else
            tmp_name(tmp, sizeof tmp, x->path[k]);
        int bad = fflush(x->f[k]) != 0 || ferror(x->f[k]);
        int named = !x->unnamed[k];
        if (keep && !bad && !named) bad = name_tmp(x->f[k], tmp) != 0, named = !bad;
        bad |= fclose(x->f[k]) != 0;
        if (keep && !bad && rename(tmp, x->path[k]) == 0) {
            pp_term_doomed(tmp, 0);
            continue;
        }
        if (named) unlink(tmp);
        pp_term_doomed(tmp, 0);
        if (keep) st = PP_EIO;
    }
    if (x->svg_body) fclose(x->svg_body);
    free(x);
    return st;
}
