/* internal.h -- what the modules of libpp share with each other but not with
 * the demos.  Nothing here is part of the public API (pp.h).
 */
#ifndef PP_INTERNAL_H
#define PP_INTERNAL_H

#include "pp.h"

/* The outcome of replaying a lowered schedule when it cannot finish. */
typedef struct {
    pp_bad_kind kind;   /* PP_BAD_NONE when the replay finished */
    int rank, index;    /* where, in the lowered schedule */
    char msg[256];
    int *blocked;       /* [nranks] for a deadlock: the index each rank is stuck at, or -1 */
} pp_replay_fail;

/* Replays a lowered schedule (sends and receives explicit) rank by rank with
 * the given costs in ticks, the way the executor will run it: a compute
 * starts when the rank is free and its inputs are there; a receive waits for
 * its send (or, when `waits` is 0, completes at once: only the order of each
 * rank's own list is then checked); sends never wait.  Fills `run` (may be
 * NULL) with the predicted events.  Returns PP_OK, or PP_ESCHED with `fail`
 * filled in (the caller frees fail->blocked). */
pp_status pp_replay(const pp_sched *lowered, const pp_costs *c, pp_run *run, int waits,
                    pp_replay_fail *fail);

/* Index of (stage, micro-batch) in per-step arrays of S*M entries. */
static inline int pp_sm(const pp_sched *s, int stage, int mb)
{
    return stage * s->nmb + mb;
}

/* Frees the per-rank index arrays returned by pp_sched_lower(). */
void pp_free_index(int **idx, int nranks);

/* Message tag for one activation (dir 0) or gradient (dir 1) arriving at
 * stage `stage` for micro-batch `mb`: unique per message in a step, so that a
 * receive posted early can only match the message it is for. */
static inline int pp_tag(int stage, int mb, int dir, int M)
{
    return (stage * M + mb) * 2 + dir;
}

/* Reads a whole file into a malloc'd, NUL-terminated text (its length in
 * *len if len is not NULL); NULL if it cannot be read. */
char *pp_read_text(const char *path, long *len);

/* Waits for a request without spinning: test, then sleep poll_s, so that a
 * laptop can run more ranks than it has cores.  Returns PP_OK or PP_EMPI. */
pp_status pp_wait(MPI_Request *req, double poll_s);

#endif /* PP_INTERNAL_H */
