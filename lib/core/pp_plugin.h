/* pp_plugin.h -- how real compute and a compute device plug into the
 * executor (pp_exec_opts.work and .device): the model (lib/model) is one
 * such plug-in, a GPU another.  A program that only builds, checks,
 * predicts and runs schedules in timed mode never needs this header.
 */
#ifndef PP_PLUGIN_H
#define PP_PLUGIN_H

#include "pp.h"

typedef struct pp_step pp_step;
typedef struct pp_work pp_work;
typedef struct pp_device pp_device;

/* The step under way on this rank (pp_step), as real compute sees it: */
/* lets MPI move this rank's messages now, in the middle of a compute; */
pp_status pp_step_progress(pp_step *st);
/* records a collective the compute ran (t0, t1 on pp_now()'s clock). */
pp_status pp_step_record(pp_step *st, pp_event e);

/* Real compute.  In timed mode it is absent and an action sleeps its ticks. */
struct pp_work {
    void *ctx;
    /* The buffer a SEND or RECV action's message travels in, and its bytes. */
    void *(*buffer)(void *ctx, pp_action a, size_t *bytes);
    /* Runs F, B, I or W: reads its input from the buffer its receive filled,
     * writes what it sends into the buffer of its send. */
    pp_status (*compute)(void *ctx, pp_step *st, pp_action a);
    /* Optional: after this rank's last action (the replicas' gradient sum). */
    pp_status (*finish)(void *ctx, pp_step *st);
    /* Optional: are a SEND's bytes in its buffer yet?  A GPU copies a
     * message out to host memory beside the next compute; the executor
     * posts the send once this says 1, and goes on meanwhile. */
    int (*ready)(void *ctx, pp_action a);
};

/* A compute device other than the host's cores (a GPU), as the executor
 * sees it.  Its computes run on its own clock, so their times come from it;
 * in timed mode it is kept busy for an action's ticks. */
struct pp_device {
    void *ctx;
    void (*step)(void *ctx);                    /* a step starts: ties the device's clock to pp_now() */
    void (*begin)(void *ctx);                   /* a compute starts */
    void (*occupy)(void *ctx, double seconds);  /* timed mode: the device busy this long */
    /* The compute has been handed over: 1 while the device still runs it,
     * then 0 with its start and end on pp_now()'s clock; -1 if it failed. */
    int (*end)(void *ctx, double *t0, double *t1);
};

#endif /* PP_PLUGIN_H */
