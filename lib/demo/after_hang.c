/* after_hang.c -- what a demo does once the watchdog has stopped a step: the
 * report the finding rank wrote is read from the board the ranks of one
 * machine share (core/watchdog.c), rank 0 says it will print it, and if it
 * does not (it is the stopped rank) the finder ends it first, so that the
 * terminal's guardian prints the report before the job ends.
 */
#include "pp_demo.h"
#include "core.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* How long the finder may still be writing the report, and how long rank 0's
 * guardian needs to restore the terminal and print once rank 0 is ended. */
static const double REPORT_WRITE_S = 2.0, GUARDIAN_S = 0.5;

const char *pp_hang_report(const pp_grid *g)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 0);
    if (!b || !atomic_load(&b->fired)) return "";
    for (double end = pp_now() + REPORT_WRITE_S; !atomic_load(&b->ready) && pp_now() < end;)
        pp_sleep_until(pp_now() + 0.001);
    return b->report;
}

int pp_hang_tell(const pp_grid *g, const char *line)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 1);
    int expected = 0;
    if (!b || atomic_load(&b->fired) || !atomic_compare_exchange_strong(&b->told, &expected, 1)) return 0;
    snprintf(b->report, sizeof b->report, "%s", line);
    return 1;
}

const char *pp_hang_text(const pp_grid *g)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 1);
    return b ? b->report : NULL;
}

int pp_hang_found_here(const pp_grid *g)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 0);
    return b && atomic_load(&b->fired) == 1 + g->rank;
}

void pp_hang_answer(const pp_grid *g)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 0);
    if (b) atomic_store(&b->answered, 1);
}

int pp_hang_answered(const pp_grid *g, double wait_s)
{
    pp_watchdog_board *b = pp_watchdog_board_of(g->wd, 1);
    if (!b) return 0;
    for (double end = pp_now() + wait_s; !atomic_load(&b->answered) && pp_now() < end;)
        pp_sleep_until(pp_now() + 0.01);
    return atomic_load(&b->answered);
}

void pp_hang_end_rank0(const pp_grid *g)
{
    int pid0 = pp_watchdog_pid(g->wd, 0);
    if (pid0 <= 0) return;
    kill((pid_t)pid0, SIGKILL);   /* the same machine (the board is shared): its pid is one here */
    pp_sleep_until(pp_now() + GUARDIAN_S);
}
