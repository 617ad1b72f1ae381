/* fuzz_csv.c -- libFuzzer target: a schedule file, in the kit's form or
 * PyTorch's, read, validated (with its replay), lowered unchecked as
 * --no-validate does, and simulated when valid.  Nothing may crash, read or
 * write out of bounds, or leak.  Built and run by tools/fuzz.sh. */
#include "pp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 20)) return 0;
    char *text = malloc(size + 1), err[400];
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    pp_sched *s = NULL, *lo = NULL, *raw = NULL;
    if (pp_sched_from_csv(text, &s, err, sizeof err) == PP_OK) {
        pp_check c;
        if (pp_sched_validate(s, &lo, &c) == PP_OK) {
            pp_costs costs;
            pp_costs_default(&costs);
            pp_run *run = NULL;
            if (pp_simulate(lo, &costs, &run) != PP_OK) abort();   /* valid means it replays */
            pp_run_free(run);
        }
        pp_check_clear(&c);
        pp_check c2;
        pp_sched_lower_unchecked(s, &raw, &c2);
        pp_check_clear(&c2);
    }
    pp_sched_free(s);
    pp_sched_free(lo);
    pp_sched_free(raw);
    free(text);
    return 0;
}
