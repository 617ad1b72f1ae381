/* fuzz_options.c -- libFuzzer target: a demo's command line (the input,
 * split at newlines into at most 24 words), parsed as each kind of demo
 * parses it (timed, real, grid, a demo that picks its own schedules, one
 * that runs no step), with --fault read as the demos read it.  A refusal
 * must say why in one line.  Built and run by tools/fuzz.sh. */
#include "pp_demo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pp_demo_spec specs[] = {
        {.what = "timed", .mb_list_ok = 1, .csv_ok = 1, .all_ok = 1},
        {.what = "real", .real = 1, .mb_list_ok = 1, .csv_ok = 1},
        {.what = "grid", .real = 1, .grid_ok = 1, .no_dump = "no"},
        {.what = "builds its own", .no_schedule = 1, .grid_ok = 1},
        {.what = "no step", .real = 1, .no_steps = 1, .plain = 1},
    };
    if (size > 4096) return 0;
    char *text = malloc(size + 1), *argv[26] = {"demo"};
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int argc = 1;
    for (char *word = text, *next; word && argc < 25; word = next) {
        next = strchr(word, '\n');
        if (next) *next++ = '\0';
        argv[argc++] = word;
    }
    argv[argc] = NULL;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        pp_opts o;
        char err[512] = "";
        pp_cli_defaults(&o);
        if (pp_cli_parse(argc, argv, &specs[k], &o, err, sizeof err) != PP_OK) {
            if (!err[0] || strchr(err, '\n')) abort();   /* one line, never empty */
            continue;
        }
        pp_fault f;
        if (o.fault[0] && pp_fault_parse(o.fault, 4, &f, err, sizeof err) != PP_OK && !err[0]) abort();
    }
    free(text);
    return 0;
}
