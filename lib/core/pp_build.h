/* pp_build.h -- schedules made other ways than by name: each builder called
 * by itself, a schedule written action by action, and the orders made for
 * given costs; and the one place a cost becomes seconds.  The demos build by
 * name (pp_sched_build in pp.h); tests and the bench use these.
 */
#ifndef PP_BUILD_H
#define PP_BUILD_H

#include "pp.h"

/* Each builder by itself (sched.c says what each does).  ZB-V's order
 * depends on what F, I and W cost: pp_sched_zbv is for F = I = W,
 * pp_sched_zbv_for for any. */
pp_status pp_sched_naive(int P, int M, pp_sched **out);
pp_status pp_sched_gpipe(int P, int M, pp_sched **out);
pp_status pp_sched_1f1b(int P, int M, pp_sched **out);
pp_status pp_sched_interleaved(int P, int M, int v, pp_sched **out);
pp_status pp_sched_zbh1(int P, int M, pp_sched **out);
pp_status pp_sched_zbv(int P, int M, pp_sched **out);
pp_status pp_sched_zbv_for(int P, int M, const pp_costs *c, pp_sched **out);
/* Inference: M requests through S stages, forwards only, each stage taking
 * them in order; S = P (one stage per rank) or 1 (the whole model on rank 0,
 * the other ranks idle: the comparison). */
pp_status pp_sched_forward(int P, int S, int M, pp_sched **out);
/* pp_sched_build for the costs a run will have (NULL: F = I = W). */
pp_status pp_sched_build_for(const char *name, int P, int M, int v, const pp_costs *c, pp_sched **out, char *err,
                             size_t errlen);

/* By hand: new, push actions (a failure is kept in s->err and later pushes
 * do nothing), finish (sets nstages, nmb and stage_rank; returns s->err). */
pp_status pp_sched_new(int P, pp_sched **out);
void pp_sched_push(pp_sched *s, int rank, pp_action a);
pp_status pp_sched_finish(pp_sched *s);

/* The one place costs become seconds.  Compute kinds: the action's time, of
 * which *sum (may be NULL) is its all-reduce; RECV_F and RECV_B: a message's
 * latency; PP_IDLE: the replicas' gradient sum. */
double pp_cost_s(const pp_costs *c, pp_kind k, int stage, double *sum);

#endif /* PP_BUILD_H */
