#!/bin/sh
# mutants.sh -- does the random-schedule test (tests/test_random.c) catch a
# trainer that adds the weight gradients wrong?  A copy of the kit in
# build/mutant is built once; then for each mutant one line of
# lib/model/train.c is changed, test_random rebuilt (only train.o and the
# test are made again) and run on 4 ranks.  The unchanged copy must pass it
# and every mutant must fail it.  Run by make check (tools/check.sh).
#
#   sh tests/mutants.sh [CASES]       (default 120 random schedules each)
cd "$(dirname "$0")/.." || exit 1
cases=${1:-120}
out=build/mutant
sh tools/copy_tree.sh "$out" || exit 1
cp "$out/lib/model/train.c" "$out/train.c.orig"
if ! make -C "$out" -j2 tests/test_random >"$out/build.log" 2>&1; then
    tail -20 "$out/build.log"
    echo "not ok - mutants: the copy in $out does not build"
    exit 1
fi

# try NAME WANT SED: train.c changed by SED (nothing when SED is empty),
# test_random rebuilt and run; WANT is pass or fail.
try() {
    name=$1 want=$2 expr=$3
    cp "$out/train.c.orig" "$out/lib/model/train.c"
    if [ -n "$expr" ]; then
        sed -i "$expr" "$out/lib/model/train.c"
        if cmp -s "$out/train.c.orig" "$out/lib/model/train.c"; then
            echo "not ok - mutant '$name': its line is no longer in lib/model/train.c (update tests/mutants.sh)"
            return
        fi
    fi
    touch "$out/lib/model/train.c"
    if ! make -C "$out" tests/test_random >"$out/build.log" 2>&1; then
        tail -5 "$out/build.log"
        echo "not ok - mutant '$name' does not build"
        return
    fi
    (cd "$out" && mpiexec -n 4 ./tests/test_random "$cases") >"$out/run.log" 2>&1
    rc=$?
    failed=$(grep -c '^not ok' "$out/run.log")
    if [ "$want" = pass ]; then
        if [ $rc -eq 0 ]; then echo "ok - $name: test_random passes ($cases random schedules)"
        else grep '^not ok' "$out/run.log" | head -3; echo "not ok - $name: test_random fails (status $rc)"; fi
    elif [ $rc -ne 0 ] && [ "$failed" -gt 0 ]; then
        echo "ok - mutant '$name' is caught: $(grep -m1 '^not ok' "$out/run.log" | cut -c1-160)"
    elif [ $rc -ne 0 ]; then
        echo "ok - mutant '$name' is caught: test_random ended with status $rc"
    else
        echo "not ok - mutant '$name' is not caught by test_random ($cases cases, status $rc)"
    fi
}

try "the trainer as it is" pass ""
# The bug test_random was written for: a full backward in its turn does not
# add the weight gradients that out-of-order backwards queued behind it.
try "a queued W dropped after an in-turn B" fail \
    's|if ((st = backward_fused(tr, a.stage, a.mb)) == PP_OK) weights_due(tr, a.stage);|st = backward_fused(tr, a.stage, a.mb);|'
try "one W added twice (micro-batch 1)" fail \
    's|^        pp_block_backward_weight(&tr->grad\[l\], k->x, k->a, k->dy, k->dh);|        for (int twice = 0; twice < 1 + (m == 1); twice++) pp_block_backward_weight(\&tr->grad[l], k->x, k->a, k->dy, k->dh);|'
try "W's added in the schedule's order, not the micro-batches'" fail \
    's|^    weights_due(tr, s);$|    backward_weight(tr, s, m), tr->w_next[s]++;|'
cp "$out/train.c.orig" "$out/lib/model/train.c"
