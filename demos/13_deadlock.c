/* 13_deadlock.c -- a pipeline step that hangs on purpose, and the watchdog
 * that catches it.
 *
 * The idea: an MPI program that hangs prints nothing; every rank waits for
 * a message that will not come, and only an outside timeout ends it.  The
 * kit's executor keeps every rank's state where the others can read it (the
 * action it is on, whom it waits for, when it last made progress), so when
 * no rank has moved for the watchdog's time it can say who waits for whom
 * and why nobody moves: one rank silent, a message never sent, or a cycle
 * of waits.  This demo runs one step of a schedule with a bug put in on
 * purpose (--fault, default swap:1: rank 1 waits for a gradient before it
 * has received the activation that gradient needs), or a schedule file
 * whose order deadlocks, run unchecked (--no-validate).  The step ends with
 * the watchdog's report and exit status 3; with --fault none and a sound
 * schedule it runs to the end.
 *
 *   mpiexec -n 4 ./demos/13_deadlock
 *   mpiexec -n 4 ./demos/13_deadlock --fault stall:2
 *   mpiexec -n 2 ./demos/13_deadlock --fault none --schedule tests/data/deadlock.csv --no-validate
 */
#include "pp_demo.h"

#include <stdlib.h>
#include <string.h>

/* What the bug does, in words, for the heading. */
static const char *bug_text(pp_fault_kind k)
{
    switch (k) {
    case PP_FAULT_STALL: return "stops in its first compute of micro-batch M/2 and never moves again";
    case PP_FAULT_DROP: return "passes over its first send of micro-batch M/2 without making it";
    case PP_FAULT_SWAP: return "waits for micro-batch M/2's gradient before it has received (or sent) its "
                               "activation: receives out of order";
    case PP_FAULT_ERROR: return "fails at one action with an error";
    default: return "";
    }
}

int main(int argc, char **argv)
{
    pp_demo d;
    pp_cli_defaults(&d.opt);
    snprintf(d.opt.fault, sizeof d.opt.fault, "swap:1");
    d.opt.watchdog_s = 2;
    static const pp_demo_spec spec = {.what = "Runs one step with a bug put in on purpose (--fault) or a schedule "
                                              "file whose order deadlocks (--no-validate), and lets the watchdog "
                                              "catch it: who waits for whom, and why nobody moves."};
    pp_demo_start(&d, &spec, &argc, &argv);
    int M = d.opt.mb[0];
    pp_sched *s = pp_demo_schedule(&d, d.opt.schedule, M);
    pp_demo_view_now(&d, s);   /* the heading below then follows the picture, not races it */

    if (d.grid->rank == 0) {
        pp_demo_header(stdout, &d, s, 1);
        const pp_fault *f = &d.exec.fault;
        if (f->kind != PP_FAULT_NONE) {
            char line[300];
            snprintf(line, sizeof line, "the bug (--fault %s): rank %d %s (M/2 = %d)", d.opt.fault[0] ? d.opt.fault
                     : getenv("PP_FAULT"), f->rank, bug_text(f->kind), M / 2);
            pp_report_wrap(stdout, line, "", "  ");
        } else if (d.opt.no_validate) {
            printf("no bug put in (--fault none); the schedule runs unchecked (--no-validate)\n");
        } else {
            printf("no bug put in (--fault none): the step should run to its end\n");
        }
        if (d.exec.watchdog_s > 0)
            printf("the watchdog stops the step when no rank has made progress for %.1f s\n", d.exec.watchdog_s);
        else if (d.exec.watchdog_s == 0)
            printf("the watchdog is off (--watchdog 0): a hang lasts until Ctrl-C\n");
        fflush(stdout);
    }
    pp_run *pred = NULL, *meas = NULL;
    pp_demo_run(&d, s, &pred, &meas);
    if (d.grid->rank == 0 && !d.quit) {   /* it ran to its end: the heading is above */
        printf("measured timeline:\n");
        pp_report_timeline(stdout, meas, d.exec.costs.tick_s / 2, 80);
        pp_report_summary(stdout, meas, pred, s, &d.exec);
        printf("the step ran to its end%s\n",
               d.exec.watchdog_s > 0 ? ": the watchdog had nothing to report" : " (the watchdog was off)");
    }
    pp_sched_free(s);
    pp_run_free(pred);
    pp_run_free(meas);
    return pp_demo_end(&d);
}
