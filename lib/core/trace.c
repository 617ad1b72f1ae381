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
