/* pp_fault.h -- bugs a rank runs on purpose, and the watchdog's limit: for
 * the lessons that show a hang being caught (13) or a delay explained, and
 * for the tests.
 * The executor's options carry them (pp_exec_opts: fault, watchdog_s).
 */
#ifndef PP_FAULT_H
#define PP_FAULT_H

/* pp.h includes this header where its options need it: include pp.h. */

/* A bug a rank runs on purpose, so that a student (or a test) can watch the
 * watchdog catch it.  It strikes at micro-batch M/2:
 *   stall  the rank stops in its first compute of that micro-batch and never
 *          moves again, as a process stopped by a debugger or a signal;
 *   drop   the rank passes its first send of that micro-batch without making it;
 *   swap   the rank waits for that micro-batch's gradient before it has
 *          received (or sent) its activation: receives out of order, a deadlock;
 *   error  the rank fails at lowered action `action` (an ordinary error);
 *   late   the rank holds its first send of that micro-batch for three times
 *          the compute before it, then sends it (a slow link, once);
 *   slow   the rank's first compute of that micro-batch takes three times
 *          as long (a compute that overran, once). */
typedef enum { PP_FAULT_NONE, PP_FAULT_STALL, PP_FAULT_DROP, PP_FAULT_SWAP, PP_FAULT_ERROR, PP_FAULT_LATE,
               PP_FAULT_SLOW } pp_fault_kind;
typedef struct {
    pp_fault_kind kind;
    int rank;     /* the rank of the job that runs it */
    int action;   /* error: the index in its lowered list */
} pp_fault;
/* Reads "stall:1", "drop:0", "swap:2", "late:1", "slow:1" or "error:1:5" ("1:5" too) for a job of
 * `nranks` ranks (0: not known yet, any rank from 0 will do); "none" or an
 * empty text is no fault.  PP_EPARSE with a reason. */
pp_status pp_fault_parse(const char *text, int nranks, pp_fault *f, char *err, size_t errlen);
/* Can the fault strike in this lowered schedule?  (A rank with no send
 * cannot drop one.)  PP_EARG with a reason naming what would do. */
pp_status pp_fault_check(const pp_fault *f, const pp_grid *g, const pp_sched *lowered, char *err, size_t errlen);
/* The default watchdog time for a step, and how it is worked out in words
 * (the one place: the help and the README quote it). */
const char *pp_watchdog_limit_text(void);
double pp_watchdog_limit(const pp_sched *lowered, const pp_costs *c);

#endif /* PP_FAULT_H */
