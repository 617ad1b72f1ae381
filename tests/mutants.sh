#!/bin/sh
# mutants.sh -- do the tests catch a kit that is wrong in the ways that
# matter most?  The random-schedule test (tests/test_random.c) must catch a
# trainer that adds the weight gradients wrong, and the breakdown's test
# (tests/test_idle.c) a breakdown that leaves a measured thing out or puts
# it in the wrong part, the executor's test (tests/test_mpi.c) a waiting
# rank that sleeps past its message, the simulator's test
# (tests/test_sched.c) a replay that leaves out the times computes took
# in a step before, tests/predict.sh a prediction of demo 02's steps
# that leaves out how the step before went, and demos 02 and 12 themselves
# weights trained wrong.  A
# copy of the kit in build/mutant is built once; then for each mutant one line of the file is
# changed, the test rebuilt (only that object and the test are made again)
# and run.  The unchanged copy must pass it and every mutant must fail it.
# Run by make check (tools/check.sh).
#
#   sh tests/mutants.sh [CASES]       (default 120 random schedules each)
cd "$(dirname "$0")/.." || exit 1
cases=${1:-120}
out=build/mutant
sh tools/copy_tree.sh "$out" || exit 1
cp "$out/lib/model/train.c" "$out/train.c.orig"
cp "$out/lib/core/idle.c" "$out/idle.c.orig"
if ! make -C "$out" -j2 tests/test_random tests/test_idle tests/test_mpi tests/test_sched >"$out/build.log" 2>&1; then
    tail -20 "$out/build.log"
    echo "not ok - mutants: the copy in $out does not build"
    exit 1
fi

# try NAME WANT SED: the file ($file, a copy kept as $orig) changed by SED
# (nothing when SED is empty), $test (or the program $target) rebuilt and
# $run run; WANT is pass or fail.
file=lib/model/train.c orig=train.c.orig test=test_random run="mpiexec -n 4 ./tests/test_random $cases"
try() {
    name=$1 want=$2 expr=$3
    cp "$out/$orig" "$out/$file"
    if [ -n "$expr" ]; then
        sed -i "$expr" "$out/$file"
        if cmp -s "$out/$orig" "$out/$file"; then
            echo "not ok - mutant '$name': its line is no longer in $file (update tests/mutants.sh)"
            return
        fi
    fi
    touch "$out/$file"
    if ! make -C "$out" "${target:-tests/$test}" >"$out/build.log" 2>&1; then
        tail -5 "$out/build.log"
        echo "not ok - mutant '$name' does not build"
        return
    fi
    (cd "$out" && $run) >"$out/run.log" 2>&1
    rc=$?
    failed=$(grep -c '^not ok' "$out/run.log")
    if [ "$want" = pass ]; then
        if [ $rc -eq 0 ]; then echo "ok - $name: $test passes"
        else grep '^not ok' "$out/run.log" | head -3; echo "not ok - $name: $test fails (status $rc)"; fi
    elif [ $rc -ne 0 ] && [ "$failed" -gt 0 ]; then
        echo "ok - mutant '$name' is caught: $(grep -m1 '^not ok' "$out/run.log" | cut -c1-160)"
    elif [ $rc -ne 0 ]; then
        echo "ok - mutant '$name' is caught: $test ended with status $rc"
    else
        echo "not ok - mutant '$name' is not caught by $test (status $rc)"
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
# The end layers (every other random case has them).
try "the input layer's gradient left out of a W that waited its turn" fail \
    's|^    input_layer_weight(tr, s, m, sv(tr, tr->part.first\[s\], m)->in_dy);$|    ;|'
try "micro-batch 0's output-layer gradient dropped in a backward in its turn" fail \
    's|^    if (st == PP_OK) output_layer_weight(tr, s, m);$|    if (st == PP_OK \&\& m > 0) output_layer_weight(tr, s, m);|'
# Demo 02 itself: weights that differ across M by more than rounding are
# reported and end the run with status 1 (it said they agreed, whatever
# they were).
test="demo 02" target=demos/02_microbatches run="mpiexec -n 2 ./demos/02_microbatches -m 1,2 --steps 2 --no-tui"
try "demo 02 with the trainer as it is" pass ""
try "demo 02: a fused backward adds micro-batch 1's weight gradient twice" fail \
    's|^        pp_block_backward_weight(&tr->grad\[l\], k->x, k->a, dy, dh);|        for (int twice = 0; twice < 1 + (m == 1); twice++) pp_block_backward_weight(\&tr->grad[l], k->x, k->a, dy, dh);|'
# Demo 12 likewise: replicas whose weights differ, or differ from one
# process's, end the run with status 1.
test="demo 12" target=demos/12_3d run="mpiexec -n 4 ./demos/12_3d --tp 1 --dp 2 --no-tui"
try "demo 12 with the trainer as it is" pass ""
try "demo 12: the replicas' bias gradients (b2) not summed" fail \
    's|for (int k = 0; k < 4 \&\& st == PP_OK; k++) st = sum_over_replicas(tr, g\[k\]);|for (int k = 0; k < 3 \&\& st == PP_OK; k++) st = sum_over_replicas(tr, g[k]);|'
target=
cp "$out/train.c.orig" "$out/lib/model/train.c"

# The breakdown of idle time (lib/core/idle.c), caught by test_idle.
file=lib/core/idle.c orig=idle.c.orig test=test_idle run=./tests/test_idle
try "the breakdown as it is" pass ""
try "messages replayed at their nominal latency, never as measured" fail \
    's|msg = from + (use \& USE_DELAY ? x->delay + core : |msg = from + (0 ? x->delay + core : |'
try "every rank replayed from the common start" fail \
    's|t\[r\] = use \& USE_START ? tr->start\[r\] : 0;|t[r] = 0;|'
try "the kit's own gaps left out of the last replay" fail \
    's|double gap = use \& USE_GAP ? x->gap : use \& USE_CORE ? x->core : 0,|double gap = use \& USE_CORE ? x->core : 0,|'
try "the waits for a core left out of the cores' replay" fail \
    's|use \& USE_CORE ? x->core : 0,|0,|'
try "a message seen late for want of a core counted whole as delivery" fail \
    's|x->core_delay = full_within(tr, made + free_median, x->end), x->delay -= x->core_delay;|;|'
try "a message's wait for a core counted from its making, not from a free core's delivery" fail \
    's|full_within(tr, made + free_median, x->end)|full_within(tr, made, x->end)|'
try "a rank's first compute's wait for a core counted in cores as well as in its late start" fail \
    's|                x->core = 0;|                ;|'
try "the kit's own time while every core computes left in kit" fail \
    's|x->core += tr->cores > 0 ? full_within(tr, x->from, until) : 0;|x->core += 0;|'
try "the stages' own costs in the schedule's replay" fail \
    's|static const int steps\[PP_NPARTS\] = {0, USE_STAGE,|static const int steps[PP_NPARTS] = {USE_STAGE, USE_STAGE,|'
try "the kit's own gaps counted with the messages" fail \
    's|USE_STAGE \| USE_DUR \| USE_START \| USE_DELAY,$|USE_STAGE \| USE_DUR \| USE_START \| USE_DELAY \| USE_GAP,|'
try "a receive that found its message there: its time not the kit's" fail \
    's|                    x->gap += x->end - x->begin;|                    ;|'
try "whether a receive's message had come (pp_event.came) ignored: only the times tell" fail \
    's|int waited = x->came ? x->came == PP_CAME_AFTER : x->end|int waited = x->end|;s|if (waited \&\& (x->came \|\| x->begin|if (waited \&\& (0 \|\| x->begin|'
try "the probe's mean delivery with a rare stall counted whole" fail \
    's|sum += tr->delays\[k\] < cap ? tr->delays\[k\] : cap;|sum += tr->delays[k];|'
try "a step under way not taken apart while a rank's events lag the others'" fail \
    's|    if (ok \&\& so_far) trim_so_far(\&tr);|    ;|'
try "the critical path never crosses to a sender" fail \
    's|if (pp_is_recv(a.kind) \&\& full->by_msg\[r\]\[i\]) {|if (0) {|'
cp "$out/idle.c.orig" "$out/lib/core/idle.c"

# What each compute and message of a step took, and how often a woken rank
# won the race for a core, for the next step's prediction (lib/core/costs.c,
# pp_run_took, pp_run_woken_share), caught by test_idle.
cp "$out/lib/core/costs.c" "$out/costs.c.orig"
file=lib/core/costs.c orig=costs.c.orig
try "the replay's costs from a step as they are" pass ""
try "a message waited for given the usual delivery, not the time it took" fail \
    's|if (e->came == PP_CAME_AFTER) took_msg\[k\] = e->t1 - sent\[k\];|if (e->came == PP_CAME_AFTER) took_msg[k] = typical;|'
try "a message that had come given the usual delivery, even where it came sooner" fail \
    's|took_msg\[k\] = had < 0 ? 0 : had < typical ? had : typical;|took_msg[k] = typical;|'
try "a race for a core counted where the waker first waited for a message" fail \
    's|else if (y->type == PP_EV_WAIT \&\& y->came == PP_CAME_AFTER \&\& y->t1 > ready) ready = y->t1;|else if (0) ready = y->t1;|'
try "a race for a core counted with a core to spare for each" fail \
    's|x->t0) < cores\[machine\[a\]\] - 1)|x->t0) < 0)|'
cp "$out/costs.c.orig" "$out/lib/core/costs.c"

# A waiting rank sleeps until shortly before its message can come (the
# bound in lib/core/sim.c, the wait in lib/core/exec.c), caught by test_mpi.
cp "$out/lib/core/sim.c" "$out/sim.c.orig"
cp "$out/lib/core/exec.c" "$out/exec.c.orig"
file=lib/core/sim.c orig=sim.c.orig test=test_mpi run="mpiexec -n 4 ./tests/test_mpi 4"
try "the executor as it is" pass ""
try "a message's earliest time put a tick late" fail \
    's|pp_sm(lo, e->stage, e->mb)\] = e->t0;$|pp_sm(lo, e->stage, e->mb)] = e->t0 + c->tick_s;|'
# Ranks taking a machine's cores in turns (real compute, more ranks than
# cores), caught by test_sched.
test=test_sched run=./tests/test_sched
try "a compute that keeps its core though a rank waits for one" fail \
    's|if (state\[r\] == RUNNING \&\& turn > 0 \&\& waiting\[c->machine\[r\]\] > 0 \&\& turn_end\[r\] < at) at = turn_end\[r\];|;|'
try "every compute gets a core at once, however many there are" fail \
    's|^            if (running\[m\] >= c->cores\[m\]) {|            if (0) {|'
try "a compute queued for its first core counted as begun" fail \
    's|state\[first\] = QUEUED, queue\[nq++\] = first, waiting\[c->machine\[first\]\]++;|state[first] = QUEUED, queue[nq++] = first, waiting[c->machine[first]]++, began[first] = start[first];|'
# A compute of a step measured before replayed as long as it took there
# (pp_costs.took), by each rank alone and by ranks sharing cores.
try "a compute that took a measured time replayed at its cost" fail \
    's|double done = end >= 0 ? end : t0 + pp_cost_took_s(c, s, a);|double done = end >= 0 ? end : t0 + pp_cost_s(c, a.kind, a.stage, NULL);|'
try "the same where ranks take cores in turns" fail \
    's|left\[r\] = pp_cost_took_s(c, s, a);|left[r] = pp_cost_s(c, a.kind, a.stage, NULL);|'
# With the cores taken whole, a rank woken by a message runs and asks first.
try "a woken rank that asks for a core after its waker" fail \
    's|? from : -1;|? -1 : -1;|'
try "a race for a core given to the woken rank with a core to spare for each" fail \
    's|wk->running\[m\] >= c->cores\[m\] - 1|1|'
try "a waker that asks for its core as soon as the rank it woke, not after" fail \
    's|start\[w\] = nextafter(start\[r\], INFINITY);|start[w] = start[w];|'
cp "$out/sim.c.orig" "$out/lib/core/sim.c"
file=lib/core/exec.c orig=exec.c.orig test=test_mpi run="mpiexec -n 4 ./tests/test_mpi 4"
try "a waiting rank asleep until 3 ms after its message can come" fail \
    's|PP_QUIET_MARGIN_S = 2e-3;|PP_QUIET_MARGIN_S = -3e-3;|'
run="taskset -c 0 mpiexec -n 2 ./tests/test_mpi 4 bells"   # a crowded machine, whatever this one has
command -v taskset >/dev/null 2>&1 || echo "skip - the bells' mutants: no taskset here"
command -v taskset >/dev/null 2>&1 && {
try "a sender that does not ring its receiver's bell" fail \
    's|^    pp_bell_ring(step->wd, pp_peer_rank(step, a));|    ;|'
try "a waiting rank that sleeps on its bell with its message on its way" fail \
    's|(int)(pp_bell_posted(step->wd, step->peer) - step->posted_by\[i\]) < 0)|1)|'
try "a waiting rank that looks every 20 us instead of sleeping on its bell" fail \
    's|^    int bell = i >= 0 \&\& step->posted_by;|    int bell = 0;|'
try "real computes that do not take the cores in turn" fail \
    's|return step->o->cores_in_turn \&\& !step->o->device|return 0 \&\& !step->o->device|'
}
cp "$out/exec.c.orig" "$out/lib/core/exec.c"
cp "$out/lib/core/watchdog.c" "$out/watchdog.c.orig"
file=lib/core/watchdog.c orig=watchdog.c.orig
command -v taskset >/dev/null 2>&1 &&
try "a core given back without waking the rank next in line (it finds it at its next look)" fail \
    's|^        sem_post(\&w->slot\[atomic_load(\&w->asker\[next % (unsigned)w->size\])\].core);|        ;|'
cp "$out/watchdog.c.orig" "$out/lib/core/watchdog.c"

# The prediction for this machine made before each of demo 02's steps, from
# the step before (lib/demo/demo.c), caught by tests/predict.sh.
cp "$out/lib/demo/demo.c" "$out/demo.c.orig"
file=lib/demo/demo.c orig=demo.c.orig test=predict.sh target=demos/02_microbatches run="sh tests/predict.sh"
try "the prediction as it is" pass ""
try "every step predicted from the blocks' costs alone" fail \
    's|in->here_step = here_from(d, s, in->took, in->took_delivery);|in->here_step = here_from(d, s, NULL, -1);|'
cp "$out/demo.c.orig" "$out/lib/demo/demo.c"
target=
