/* fuzz_action.c -- libFuzzer target: the action notation ("2F0", "1SEND_B3",
 * "(0F7;7B3)OVERLAP_F_B" is the CSV reader's), parsed and written back.
 * What parses must print, and print to what parses to the same action.
 * Built and run by tools/fuzz.sh. */
#include "pp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256], back[64];
    if (size >= sizeof text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    pp_action a, b;
    if (pp_action_parse(text, &a) != PP_OK) return 0;
    if (pp_action_str(a, back, sizeof back) <= 0) abort();
    if (pp_action_parse(back, &b) != PP_OK || a.kind != b.kind || a.stage != b.stage || a.mb != b.mb) abort();
    return 0;
}
