/* build.c -- the builders by name: the one table of the schedules the kit
 * builds, for the command line (--schedule NAME) and the demos that run
 * every builder in turn.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

/* Every builder, in the order the course meets them.  Only interleaved
 * takes a number of chunks (v); zbv's order depends on the costs. */
enum { NAIVE, GPIPE, ONE_F_ONE_B, INTERLEAVED, ZBH1, ZBV, NBUILDERS };
static const char *const builders[NBUILDERS] = {
    [NAIVE] = "naive", [GPIPE] = "gpipe", [ONE_F_ONE_B] = "1f1b", [INTERLEAVED] = "interleaved", [ZBH1] = "zbh1",
    [ZBV] = "zbv"};

const char *pp_sched_names(void)
{
    static char names[128];
    if (!names[0])
        for (int k = 0; k < NBUILDERS; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", builders[k]);
    return names;
}

static int find(const char *name)
{
    for (int k = 0; k < NBUILDERS; k++)
        if (strcmp(name, builders[k]) == 0) return k;
    return -1;
}

int pp_sched_is_builder(const char *name)
{
    return find(name) >= 0;
}

pp_status pp_sched_build(const char *name, int P, int M, int v, pp_sched **out, char *err, size_t errlen)
{
    return pp_sched_build_for(name, P, M, v, NULL, out, err, errlen);
}

pp_status pp_sched_build_for(const char *name, int P, int M, int v, const pp_costs *c, pp_sched **out, char *err,
                             size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    int k = find(name), chunky = k == INTERLEAVED;
    if (v == 0) v = chunky ? 2 : 1;
    if (k < 0) {
        if (err) snprintf(err, errlen, "'%s' is not a schedule (schedules: %s, or a CSV file)", name, pp_sched_names());
        return PP_EARG;
    }
    if (v != 1 && !chunky) {
        if (err) snprintf(err, errlen, "--chunks %d: only interleaved takes a number of chunks (%s has its own)", v, name);
        return PP_EARG;
    }
    if (v < 1 || v > 16) {
        if (err) snprintf(err, errlen, "--chunks %d: the number of chunks per rank is 1 to 16", v);
        return PP_EARG;
    }
    switch (k) {
    case NAIVE: return pp_sched_naive(P, M, out);
    case GPIPE: return pp_sched_gpipe(P, M, out);
    case ONE_F_ONE_B: return pp_sched_1f1b(P, M, out);
    case INTERLEAVED: return pp_sched_interleaved(P, M, v, out);
    case ZBH1: return pp_sched_zbh1(P, M, out);
    default: return pp_sched_zbv_for(P, M, c, out);
    }
}
