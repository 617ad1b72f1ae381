/* trace.c -- event lists: what one rank did, as {type, kind, stage,
 * micro-batch, t0, t1, bytes} records appended while it runs.
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
