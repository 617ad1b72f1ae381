/* step.h -- one rank's state while it runs its list (exec.c), as the files
 * beside the executor read it: the watchdog (watchdog.c), the device a
 * compute runs on (device.c) and a fault put in on purpose (fault.c).  They
 * read the step and never call back into the executor; the executor calls
 * each through the few functions below.  Internal to the core.
 */
#ifndef PP_STEP_H
#define PP_STEP_H

#include "core.h"

/* A message of the step: its request, its buffer, and its event. */
typedef struct {
    MPI_Request req;
    char *buf;        /* the bytes: owned in timed mode, the model's in real mode */
    size_t bytes;
    int ev;           /* index of its SEND event, or -1 */
    int posted;       /* the send action has run (its bytes may not be ready yet: held) */
    double due;       /* a send: when its link model lets it go (seconds since start; 0: at once) */
    int done;
} pp_msg;

/* The moments of a step that the watchdog is told about (pp_watchdog_at). */
typedef enum {
    PP_AT_BEGIN,     /* the rank's list is known; setting up starts */
    PP_AT_SETUP,     /* one piece of setting up done (a buffer, a warm-up message): progress */
    PP_AT_ACTION,    /* action `index` starts (step->peer: the rank it waits for, or -1) */
    PP_AT_DONE,      /* action `index` is done */
    PP_AT_PASSED,    /* action `index` passed over without being done (a dropped send) */
    PP_AT_HELD,      /* send `index` is held until its bytes are ready, then DONE */
    PP_AT_PAUSED,    /* the live view's pause goes on (1 in `index`), or is over (0) */
    PP_AT_DEVICE,    /* the compute is on the device (1 in `index`), or back (0) */
    PP_AT_CORE,      /* it waits for its turn on a core (1 in `index`), or has it (0) */
    PP_AT_LIST_DONE, /* the list is run; the rank waits for the others */
    PP_AT_END        /* the rank leaves the step */
} pp_moment;

struct pp_step {
    /* What it runs. */
    const pp_sched *lo;     /* the lowered schedule (sends and receives explicit) */
    const pp_exec_opts *o;
    const pp_grid *g;
    MPI_Comm comm;          /* the pipeline */
    int me, len;            /* its pipeline rank, and the length of its list */
    int *order;             /* [len] the order it runs its list in (a swap fault changes it) */
    double start;           /* its clock at the common start */
    /* Its messages. */
    pp_msg *recvs;          /* [len] the receive posted for action i (RECV only) */
    pp_msg *sends;          /* [len] the send made by action i (SEND only) */
    int *on_way;            /* indices of the sends posted and not yet seen complete */
    int n_on_way;
    int *held;              /* indices of the sends whose bytes are not ready yet, or not due */
    int nheld;
    int next_recv;          /* the next receive it will wait for, or len */
    double *not_before;     /* [len] timed mode: the earliest receive i's message can come
                               (seconds since start, pp_step_expect), or NULL: no bound */
    double plan_tick_s;     /* the tick not_before was worked out at (another: not_before dropped) */
    unsigned *posted_by;    /* [len] on a crowded machine: receive i's message is on its way once
                               its sender's count of messages posted here (pp_bell_posted) reaches
                               this; else NULL */
    int receiving;          /* set while it waits in a receive (its sends then wait for its next compute) */
    double last_send;       /* when the latest send was posted (seconds since start) */
    double *link_free;      /* [P] with a link model: when the link to each pipeline rank is free */
    /* What it records. */
    pp_evlist ev;           /* its events so far */
    pp_evlist recorded;     /* collectives real compute ran, to go after its event */
    pp_event open;          /* the action under way (t1 -1), for the view; type -1: none */
    int stored;             /* micro-batches whose activations it stores now */
    /* What the watchdog reads. */
    int waiting;            /* set while it waits for a message, is paused, or waits for a core */
    int for_core;           /* set while it waits for its turn on a core (the view's pause leaves
                               it be: it holds at its next compute) */
    int holds_core;         /* it has a core of a crowded machine, until its compute is done */
    int cores;              /* the cores real computes take in turn with the other ranks' (0: none) */
    int on_device;          /* set while it waits for its device to finish a compute */
    int peer;               /* the rank it waits for, or -1 */
    pp_waiter waiter;       /* how its collectives wait: they ask the watchdog too */
    float *arbuf;           /* timed mode: the payload its all-reduces sum */
    /* Beside the main path. */
    const pp_watch *view;   /* the live view, or NULL */
    pp_watchdog *wd;        /* the watchdog (its table in shared memory), or NULL */
    pp_fault_kind fault;    /* the fault this rank runs, at action fault_at */
    int fault_at;
    int slow_now;           /* the action under way is the one --fault slow stretches */
};

/* The pipeline rank at the other end of a send or receive, and the tag of
 * its message (it names the receiving stage, so a receive posted early
 * matches only the message it is for). */
static inline int pp_partner(const pp_sched *lo, pp_action a)
{
    return lo->stage_rank[pp_peer_stage(a)];
}

/* The same rank in the whole job (g->all): the watchdog's slots and the
 * bells are numbered so. */
static inline int pp_peer_rank(const pp_step *step, pp_action a)
{
    const pp_grid *g = step->g;
    return pp_place_rank(g->P, g->T, pp_partner(step->lo, a), g->tp_rank, g->dp_rank);
}

static inline int pp_tag_of(const pp_sched *lo, pp_action a)
{
    int to = pp_is_send(a.kind) ? pp_peer_stage(a) : a.stage, gradient = a.kind == PP_SEND_B || a.kind == PP_RECV_B;
    return pp_tag(to, a.mb, gradient, lo->nmb);
}

/* The costs at the tick in force: the live view's keys may have changed it. */
static inline pp_costs pp_step_costs(const pp_step *step)
{
    pp_costs c = step->o->costs;
    if (step->view) c.tick_s = step->view->tick(step->view->ctx);
    return c;
}

/* ---- the watchdog's side of a step (watchdog.c) ---- */

/* Tells the watchdog of a moment of the step (action `index` where one is meant). */
void pp_watchdog_at(pp_step *step, pp_moment m, int index);
/* At every test of progress: a rank that computes beats; a rank that waits
 * asks whether the step is stuck (PP_EHANG). */
pp_status pp_watchdog_poll(pp_step *step);

/* Doorbells, for the ranks of a crowded machine (more ranks than cores;
 * the watchdog's table): can this rank's be rung; ring `rank`'s (a rank of
 * g->all: a message to it has just been posted, and is counted); how many
 * messages rank `from` has posted to this one so far; forget the rings so
 * far (before a wait: its message is then told by the count); sleep until
 * the bell rings or pp_now() reaches `until` (returns 1 if it rang).
 * Without bells a wait just sleeps, and nothing is counted. */
int pp_bell_ready(const pp_watchdog *w);
void pp_bell_ring(pp_watchdog *w, int rank);
unsigned pp_bell_posted(const pp_watchdog *w, int from);
void pp_bell_hush(pp_watchdog *w);
int pp_bell_wait(pp_watchdog *w, double until);

/* ---- before the step (setup.c) ---- */

/* One message each way with every peer; a warmed buffer for every message
 * and every receive posted; then the common start (step->start). */
pp_status pp_step_warm_up(pp_step *step);
pp_status pp_step_prepare(pp_step *step);
pp_status pp_step_start_together(pp_step *step);
/* Timed mode: step->not_before, from the schedule replayed with its costs.
 * On a crowded machine, every mode: step->posted_by, from the senders' lists. */
pp_status pp_step_expect(pp_step *step);

/* ---- a fault's side (fault.c) ---- */

/* The order this rank runs its list in (step->order, len entries): as
 * written, unless it runs a fault (o->fault): then where it strikes
 * (step->fault, fault_at), and for a swap the receive moved ahead. */
void pp_fault_plan(pp_step *step);

#endif /* PP_STEP_H */
