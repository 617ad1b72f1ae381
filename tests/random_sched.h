/* random_sched.h -- random valid schedules, so that the tests feed the kit
 * orders none of its builders make.
 *
 * A step is a graph of compute actions: F of (s, m) needs F of (s-1, m); B
 * (or I) of (s, m) needs F of (s, m) and the B or I of (s+1, m); W needs its
 * I.  A random topological order of the whole graph (at each point, any
 * action whose inputs are done, picked at random) is a valid sequential run
 * of the step; cut into one list per rank it cannot deadlock, since every
 * message a rank waits for comes from an action earlier in that order and
 * sends never wait.  So every schedule made here must pass the validator.
 *
 * What is random: the stages' places (loop: s mod P, as interleaved; a V,
 * as zbv; or any v stages per rank), B whole, split into I and W, or a mix
 * of both by (stage, micro-batch), idle cells, and the order itself.  The
 * generator draws from its own generator of numbers, so that every rank of
 * a test makes the same schedule from the same seed.
 * Left out on purpose: explicit sends and receives (the lowering adds them).
 */
#ifndef PP_RANDOM_SCHED_H
#define PP_RANDOM_SCHED_H

#include "pp.h"
#include "pp_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* splitmix64: a small generator whose sequence is the same everywhere. */
static inline uint64_t rnd_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A number in 0..n-1. */
static inline int rnd_below(uint64_t *state, int n)
{
    return (int)(rnd_next(state) % (uint64_t)n);
}

enum { RND_F, RND_B, RND_I, RND_W, RND_KINDS };   /* the graph's nodes, by kind */

/* Is node (kind k, stage s, micro-batch m) ready: its inputs done?
 * done[(k * S + s) * M + m]; split[s * M + m] says whether (s, m) runs I and W. */
static inline int rnd_ready(const char *done, const char *split, int S, int M, int k, int s, int m)
{
#define DONE(k_, s_) done[((k_) * S + (s_)) * M + m]
    switch (k) {
    case RND_F: return s == 0 || DONE(RND_F, s - 1);
    case RND_W: return DONE(RND_I, s);
    default:    /* B or I: its forward, and the gradient from the stage above */
        return DONE(RND_F, s) && (s == S - 1 || DONE(split[(s + 1) * M + m] ? RND_I : RND_B, s + 1));
    }
#undef DONE
}

/* A random valid schedule for P ranks, v stages per rank and M micro-batches;
 * `what` (if not NULL) gets a one-line description.  NULL if out of memory. */
static inline pp_sched *random_sched(uint64_t seed, int P, int v, int M, char *what, size_t whatlen)
{
    uint64_t rs = seed;
    int S = P * v, layout = P > 1 ? rnd_below(&rs, 3) : 0, mode = rnd_below(&rs, 3);
    int idle = rnd_below(&rs, 4) == 0;   /* a quarter of them have empty cells */
    int *rank_of = malloc((size_t)S * sizeof *rank_of);
    char *split = malloc((size_t)S * M), *done = calloc((size_t)RND_KINDS * S * M, 1);
    int *ready = malloc((size_t)RND_KINDS * S * M * sizeof *ready);
    pp_sched *o = NULL;
    if (!rank_of || !split || !done || !ready || pp_sched_new(P, &o) != PP_OK) goto out;
    /* 1. Where each stage runs. */
    for (int s = 0; s < S; s++) {
        int c = s / P, p = s % P;
        rank_of[s] = layout == 1 && c % 2 ? P - 1 - p : p;   /* 0: loop, 1: V (every other chunk reversed) */
    }
    for (int s = S - 1; layout == 2 && s > 0; s--) {     /* 2: the loop's places shuffled */
        int j = rnd_below(&rs, s + 1), t = rank_of[s];
        rank_of[s] = rank_of[j], rank_of[j] = t;
    }
    /* 2. B whole (mode 0), split (1), or either by (stage, micro-batch) (2). */
    for (int i = 0; i < S * M; i++) split[i] = mode == 2 ? (char)rnd_below(&rs, 2) : (char)(mode == 1);
    /* 3. A random topological order, each action pushed onto its stage's rank. */
    int left = S * M * 2;
    for (int i = 0; i < S * M; i++) left += split[i];
    for (; left > 0; left--) {
        int n = 0;
        for (int k = 0; k < RND_KINDS; k++)
            for (int s = 0; s < S; s++)
                for (int m = 0; m < M; m++) {
                    int is_split = split[s * M + m], node = (k * S + s) * M + m;
                    if (done[node] || (k == RND_B && is_split) || ((k == RND_I || k == RND_W) && !is_split)) continue;
                    if (rnd_ready(done, split, S, M, k, s, m)) ready[n++] = node;
                }
        int node = ready[rnd_below(&rs, n)], k = node / (S * M), s = node / M % S, m = node % M;
        done[node] = 1;
        static const pp_kind kinds[RND_KINDS] = {PP_F, PP_B, PP_I, PP_W};
        if (idle && rnd_below(&rs, 8) == 0) pp_sched_push(o, rank_of[s], (pp_action){-1, PP_IDLE, -1});
        pp_sched_push(o, rank_of[s], (pp_action){s, kinds[k], m});
    }
    if (pp_sched_finish(o) != PP_OK) {
        pp_sched_free(o);
        o = NULL;
        goto out;
    }
    snprintf(o->name, sizeof o->name, "random-%llu", (unsigned long long)seed);
    static const char *layouts[] = {"loop", "V", "shuffled"}, *modes[] = {"B", "I+W", "B or I+W"};
    if (what)
        snprintf(what, whatlen, "random schedule %llu (P=%d v=%d M=%d, stages %s, %s%s)", (unsigned long long)seed, P,
                 v, M, layouts[layout], modes[mode], idle ? ", idle cells" : "");
out:
    free(rank_of), free(split), free(done), free(ready);
    return o;
}

/* The shape of random case number i of a run: P in 1..maxP, v in 1..3,
 * M in 1..8, and the seed the schedule is made from. */
static inline void random_shape(uint64_t base, int i, int maxP, int *P, int *v, int *M, uint64_t *seed)
{
    uint64_t rs = base + (uint64_t)i * 7919u;
    *P = 1 + rnd_below(&rs, maxP);
    *v = 1 + rnd_below(&rs, 3);
    *M = 1 + rnd_below(&rs, 8);
    *seed = rnd_next(&rs);
}

#endif
