/* trace.c -- event lists: what one rank did, as {type, kind, stage,
 * micro-batch, t0, t1, bytes} records appended while it runs; the runs the
 * simulator and the executor fill (one list per rank) and what they add up
 * to; and the gather that brings every rank's list to rank 0.
 *
 * A list only grows, so a reader that remembers how many events it has seen
 * can take the new ones while the run goes on (the live view does this).
 * Left out on purpose: any I/O (exports live in their own module).
 */
#include "core.h"

#include <stdlib.h>

pp_status pp_evlist_push(pp_evlist *l, pp_event e)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        pp_event *grown = realloc(l->ev, (size_t)cap * sizeof *grown);
        if (!grown) return PP_ENOMEM;
        l->ev = grown;
        l->cap = cap;
    }
    l->ev[l->n++] = e;
    return PP_OK;
}

void pp_evlist_clear(pp_evlist *l)
{
    free(l->ev);
    l->ev = NULL;
    l->n = l->cap = 0;
}

pp_status pp_run_new(int rows, int M, pp_run **out)
{
    pp_run *r = calloc(1, sizeof *r);
    if (!r) return PP_ENOMEM;
    r->nrows = rows;
    r->M = M;
    r->T = r->D = 1;
    r->refs = 1;
    r->ranks = calloc((size_t)rows, sizeof *r->ranks);
    r->busy = calloc((size_t)rows, sizeof *r->busy);
    r->peak_inflight = calloc((size_t)rows, sizeof *r->peak_inflight);
    r->bytes_sent = calloc((size_t)rows, sizeof *r->bytes_sent);
    if (!r->ranks || !r->busy || !r->peak_inflight || !r->bytes_sent) {
        pp_run_free(r);
        return PP_ENOMEM;
    }
    *out = r;
    return PP_OK;
}

int pp_run_pipe_rank(const pp_run *r, int row)
{
    int p, t, d;
    pp_place(r->nrows / (r->T * r->D), r->T, row, &p, &t, &d);
    return p;
}

pp_run *pp_run_keep(pp_run *r)
{
    if (r) r->refs++;
    return r;
}

void pp_run_free(pp_run *r)
{
    if (!r || --r->refs > 0) return;
    for (int i = 0; r->ranks && i < r->nrows; i++) pp_evlist_clear(&r->ranks[i]);
    free(r->ranks);
    free(r->busy);
    free(r->peak_inflight);
    free(r->bytes_sent);
    free(r);
}

void pp_run_summarize(pp_run *r)
{
    r->makespan = 0.0;
    r->paused = 0;
    for (int p = 0; p < r->nrows; p++) {
        r->busy[p] = 0.0;
        r->peak_inflight[p] = 0;
        r->bytes_sent[p] = 0;
        for (int i = 0; i < r->ranks[p].n; i++) {
            const pp_event *e = &r->ranks[p].ev[i];
            if (e->type == PP_EV_COMPUTE) {
                r->busy[p] += e->t1 - e->t0;
                if (e->t1 > r->makespan) r->makespan = e->t1;
            }
            /* The replicas' gradient sum ends a grid's step. */
            if (e->type == PP_EV_ALLREDUCE && e->t1 > r->makespan) r->makespan = e->t1;
            if (e->type == PP_EV_SEND) r->bytes_sent[p] += e->bytes;
            if (e->type == PP_EV_HOLD) r->paused = 1;
            if (e->inflight > r->peak_inflight[p]) r->peak_inflight[p] = e->inflight;
        }
    }
}

/* Rank 0: the gathered bytes as a run, one row per rank of the whole grid. */
static pp_status run_of(const pp_grid *g, const pp_sched *s, const char *all, const int *counts, const int *displs,
                        pp_run **out)
{
    pp_status st = pp_run_new(g->size, s->nmb, out);
    if (st != PP_OK) return st;
    (*out)->T = g->T, (*out)->D = g->D;
    for (int p = 0; p < g->size; p++) {
        const pp_event *e = (const pp_event *)(all + displs[p]);
        for (int k = 0; k < counts[p] / (int)sizeof *e; k++)
            if ((st = pp_evlist_push(&(*out)->ranks[p], e[k])) != PP_OK) {
                pp_run_free(*out);
                *out = NULL;
                return st;
            }
    }
    pp_run_summarize(*out);
    return PP_OK;
}

pp_status pp_gather_run(const pp_grid *g, const pp_sched *s, const pp_evlist *mine, pp_run **out)
{
    int P = g->size, root = g->rank == 0, n = mine->n * (int)sizeof(pp_event);
    int *counts = NULL, *displs = NULL;
    char *all = NULL;
    size_t total = 0;
    pp_status st = PP_ENOMEM;
    if (root && (!(counts = calloc((size_t)P, sizeof *counts)) || !(displs = calloc((size_t)P, sizeof *displs))))
        goto done;
    st = PP_EMPI;
    if (MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, g->all) != MPI_SUCCESS) goto done;
    for (int p = 0; root && p < P; p++) {
        displs[p] = (int)total;
        total += (size_t)counts[p];
    }
    st = PP_ENOMEM;
    if (root && !(all = malloc(total ? total : 1))) goto done;
    st = PP_EMPI;
    if (MPI_Gatherv(mine->ev, n, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, g->all) != MPI_SUCCESS) goto done;
    st = root ? run_of(g, s, all, counts, displs, out) : PP_OK;
done:
    free(counts);
    free(displs);
    free(all);
    return st;
}
