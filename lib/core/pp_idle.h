/* pp_idle.h -- where the idle time goes: a measured step's bubble taken
 * apart, so that measured = formula + each part, in points of the step.
 *
 * The parts come from replays of the step's own lowered schedule (idle.c),
 * each adding one measured thing to the one before:
 *   schedule   the schedule with flat nominal costs (every stage alike),
 *              against the formula: 0 where the formula's conditions hold;
 *   imbalance  each stage's own cost: a slower stage makes its neighbours wait;
 *   overrun    each compute as long as it really took, against its stage's cost;
 *   late       each rank's first action when it really began;
 *   messages   each message's delivery, from the end of the compute that made
 *              it to when its receiver saw it (a late send counts here);
 *   cores      with more ranks than cores, real computes taking the cores
 *              in turn (exec.c's gate): the time ranks sat idle while no
 *              core was free: each compute's wait for its turn (not a
 *              rank's first: that is a late start), the kit's own time
 *              between actions while every core was computing, and a
 *              message's delivery beyond what those made while a core was
 *              free took, while every core was computing (its receiver could
 *              not run to see it).  At most what the crowding cost: a large
 *              message also waits for its sender's compute to end, with a
 *              core for every rank too;
 *   kit        the rest: the kit's own time between one action's end (or a
 *              message's arrival) and the next action's start (with more
 *              ranks than cores and no turns, as in timed mode, a rank
 *              waiting there for a core too), and a receive's whole time
 *              where its message had come when its rank got there
 *              (pp_event.came).
 * The last replay, with every one of them, gives back the measured step.
 */
#ifndef PP_IDLE_H
#define PP_IDLE_H

#include "pp.h"

typedef enum { PP_PART_SCHEDULE, PP_PART_IMBALANCE, PP_PART_OVERRUN, PP_PART_LATE, PP_PART_MESSAGES,
               PP_PART_CORES, PP_PART_REACTION, PP_NPARTS } pp_part;

typedef struct {
    int ok;              /* 0: no breakdown for this run, `why` says why */
    char why[96];
    int ran_nothing;     /* with ok = 0: because no compute is done yet (so far: the step has just begun) */
    double formula;      /* the formula's bubble (share of the step), or < 0: none */
    double base;         /* the schedule's, simulated with flat nominal costs */
    double measured;     /* pp_run_bubble_step() of the measured run */
    double part[PP_NPARTS];  /* shares of the step: measured = reference + sum of parts,
                                the reference being formula if >= 0, else base */
    double replayed;     /* the last replay's makespan (s): the measured one, rebuilt */
    int hops;            /* messages on the critical path */
    int path;            /* computes on the critical path */
    double path_msg_s;   /* their deliveries, summed (s; each at most its receiver's wait; the
                            part of one counted in cores left out) */
    int messages;        /* messages in the step */
    double delivery_s;   /* their median delivery (s; whole, the part in cores too) */
    double waited_mean_s; /* the mean delivery of those a receive was waiting for before they were
                             made (s), each capped at a few medians (idle.c): what a message costs on
                             the critical path, its tail included but not a rare stall */
} pp_idle;

/* Takes measured run m of lowered schedule lo apart.  `nominal` are the
 * costs the step was meant to have: in timed mode the run's, in real mode
 * the ones measured per stage.  A run that is not one pipeline (T or D > 1),
 * was paused, re-ticked or cut short gets ok = 0 and a reason; PP_ENOMEM only if memory
 * runs out. */
pp_status pp_idle_breakdown(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out);
/* pp_idle_breakdown, marking the critical path: on_path[row][k] is set to
 * 1 for each event k of m's row on it (a compute, or the wait for a message
 * that came later than its rank got there); the caller zeroes it. */
pp_status pp_idle_path(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out,
                       unsigned char **on_path);
/* The same for a step under way (the live view): the actions each rank has
 * done so far, replayed alone, each rank's up to its first receive of a
 * message whose making is not among the actions kept (not come in yet, or
 * past its own rank's cut); formula = -1 and measured =
 * their own bubble, so the parts say what each cause has added so far over
 * the schedule. */
pp_status pp_idle_so_far(const pp_sched *lo, const pp_costs *nominal, const pp_run *m, pp_idle *out);

/* The part's name as the summary prints it ("messages"). */
const char *pp_part_name(pp_part p);
/* Part p in points of the step, for printing with `decimals` places: what
 * would print as -0.00 (float noise) is 0. */
double pp_part_points(const pp_idle *x, pp_part p, int decimals);

/* What this machine adds to a step (probe.c), measured by a short step of
 * its own on every rank of the run. */
typedef struct {
    double overshoot_s;  /* how much longer than its cost a timed compute took, on the mean */
    double delivery_s;   /* mean: a message of `payload` bytes that its receiver was waiting for,
                            from the compute that made it to its receiver seeing it (0 on a grid) */
    long payload;
    double probe_s;      /* how long the probe took */
    int ranks;           /* one pipeline (T = D = 1): its ranks, for the two below; else 0 */
    int *machine;        /* [ranks] the machine each rank runs on (the lowest rank there) */
    int *cores;          /* [ranks] the cores of machine m: those its ranks may run on */
    double turn_s;       /* real compute with more ranks than cores on a machine, without the gate
                            (below): how long a busy
                            rank keeps a core before one waiting for it gets it (median, measured
                            by every rank there computing at once); else 0 */
    int gated;           /* real compute with more ranks than cores takes the cores in turn through
                            the executor's gate, a whole compute each (turn_s 0: not measured) */
} pp_machine;

/* Collective over g->all, with o's payload and ways of waiting (its view,
 * model, device and fault are left out).  *out is written over, not freed:
 * free it with pp_machine_free() before probing into it again. */
pp_status pp_probe_machine(const pp_grid *g, const pp_exec_opts *o, pp_machine *out);
void pp_machine_free(pp_machine *m);   /* its arrays; the struct is zeroed */
/* How many of the pipeline's ranks run on rank r's machine (0: not known),
 * and that machine's cores in *cores. */
int pp_machine_sharing(const pp_machine *m, int r, int *cores);
/* The costs of lowered schedule lo on this machine: nominal, each compute
 * longer by the overshoot (timed mode only: real compute does not sleep) and
 * each message by the delivery; in real mode, the ranks of a machine take
 * its cores in turns (pp_costs.machine, turn; out points into m).
 * pp_simulate() with them predicts the step here. */
void pp_costs_here(const pp_costs *nominal, const pp_machine *m, const pp_sched *lo, int timed, pp_costs *out);

#endif /* PP_IDLE_H */
