#!/bin/sh
# hang.sh -- a run that stops moving is caught and explained, never left
# hanging: each fault (--fault stall, drop, swap; a schedule file whose order
# deadlocks, run with --no-validate; a device that never finishes a compute
# or never copies a message out) ends every rank within the watchdog's limit
# plus a few seconds, with exit status 3 and the wait-for report naming the
# right ranks and cause; healthy runs with a tight limit never trip it, 8
# ranks on this machine's cores and 16 MiB messages on a loaded machine
# included; with the watchdog off, SIGTERM and
# Ctrl-C (SIGINT) still end a hung job within 5 s.  The live view's side
# of it is in tui.sh.  make test runs a sample (a stall, a lost message, a
# deadlock by swap and by file, a device that never finishes, 8 healthy
# ranks, SIGTERM, SIGKILL); PP_TEST_FULL=1 (make check) runs them all.
cd "$(dirname "$0")/.." || exit 1
. tests/sample.sh
tmp=$(mktemp -d)
tag="pphang$$"
trap 'rm -rf "$tmp"' EXIT
export PPTEST_TAG="$tag"

ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; }

# leftovers: demo processes of this test still alive (found by the tag).
. tests/procs.sh
leftovers() {
    demo_pids "$tag"
    tagged "$tag" ./tests/
}

# caught WHAT LIMIT PATTERN... -- COMMAND: runs COMMAND; expects status 3
# within LIMIT + 4 s, every PATTERN (grep -E) in its output, no rank left.
caught() {
    what=$1 limit=$2
    shift 2
    n=0
    while [ "$1" != "--" ]; do
        eval "pat$n=\$1"
        n=$((n + 1))
        shift
    done
    shift
    start=$(date +%s.%N)
    timeout 60 "$@" >"$tmp/out" 2>&1
    rc=$?
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    sleep 0.2
    miss=""
    i=0
    while [ $i -lt $n ]; do
        eval "p=\$pat$i"
        grep -Eq -- "$p" "$tmp/out" || miss="$miss '$p'"
        i=$((i + 1))
    done
    left=$(leftovers)
    if [ "$rc" -eq 3 ] && [ -z "$miss" ] && [ -z "$left" ] && [ "$(echo "$secs < $limit + 4" | bc)" -eq 1 ]; then
        ok "$what: caught in $(printf '%.1f' "$secs") s (limit $limit s), exit 3, every rank ended, report as expected"
    else
        bad "$what: exit $rc after $secs s (limit $limit s); missing:$miss; ranks left: ${left:-none}"
        sed 's/^/#   /' "$tmp/out"
        [ -n "$left" ] && kill -9 $left 2>/dev/null
    fi
}

caught "stall:2 (a stopped rank)" 1 \
    "^13_deadlock: watchdog: the step is stuck: no rank moved for 1\.[0-9] s$" \
    "^  rank 2 has been in 2F4 for" \
    "^  rank 3 waits [0-9.]+ s for the activation of micro-batch 4 from rank 2 \(3RECV_F4\)$" \
    "^  rank 1 waits [0-9.]+ s for the gradient of micro-batch [0-9] from rank 2" \
    "^cause: rank 2 is silent: it waits for no one" \
    -- mpiexec -n 4 ./demos/13_deadlock --fault stall:2 --watchdog 1
caught "drop:1 (a lost message)" 1 \
    "^  rank 2 waits [0-9.]+ s for the activation of micro-batch 4 from rank 1 \(2RECV_F4\)$" \
    "^cause: a lost message: rank 2 waits for the activation of micro-batch 4, and$" \
    "^    rank 1 passed its send of it \(1SEND_F4\) without making it" \
    -- mpiexec -n 4 ./demos/13_deadlock --fault drop:1 --watchdog 1
full && caught "drop:3 (the last rank's lost gradient)" 1 \
    "^  rank 3 has run its whole list" \
    "^cause: a lost message: rank 2 waits for the gradient of micro-batch 4, and rank" \
    "3 passed its send of it \(3SEND_B4\)" \
    -- mpiexec -n 4 ./demos/05_1f1b --no-tui --tick-ms 5 --fault drop:3 --watchdog 1
caught "swap:1 (receives out of order: a deadlock)" 1 \
    "^  rank 1 waits [0-9.]+ s for the gradient of micro-batch 4 from rank 2 \(1RECV_B4\)$" \
    "^  rank 2 waits [0-9.]+ s for the activation of micro-batch 4 from rank 1 \(2RECV_F4\)$" \
    "^cause: a cycle of waits, a deadlock: rank 1 -> rank 2 -> rank 1: each waits for$" \
    -- mpiexec -n 4 ./demos/13_deadlock --fault swap:1 --watchdog 1
full && caught "swap:0 under zbv (two chunks a rank)" 1 \
    "^cause: a cycle of waits, a deadlock: rank 0 -> rank 1 -> rank 0" \
    -- mpiexec -n 4 ./demos/13_deadlock --schedule zbv --fault swap:0 --watchdog 1
full && caught "PP_FAULT=stall:1 from the environment" 1 "^cause: rank 1 is silent" \
    -- env PP_FAULT=stall:1 mpiexec -n 3 ./demos/04_bubble_efficiency -m 4 --tick-ms 5 --no-tui --watchdog 1
caught "a schedule file that deadlocks, run with --no-validate" 1 \
    "^  rank 0 waits [0-9.]+ s for the gradient of micro-batch 0 from rank 1 \(0RECV_B0\)$" \
    "^  rank 1 waits [0-9.]+ s for the activation of micro-batch 1 from rank 0 \(1RECV_F1\)$" \
    "^cause: a cycle of waits, a deadlock: rank 0 -> rank 1 -> rank 0" \
    -- mpiexec -n 2 ./demos/13_deadlock --fault none --schedule tests/data/deadlock.csv --no-validate --watchdog 1
full && caught "stall:1 in a tensor-parallel pair: its partner waits in the all-reduce" 1 \
    "^  rank 0 waits [0-9.]+ s in a collective of its group" "^cause: rank 1 is silent" \
    -- mpiexec -n 4 ./demos/05_1f1b --no-tui --tick-ms 5 --tp 2 --fault stall:1 --watchdog 1
full && caught "stall:3 with --tp 2: the stopped rank is named, not its partner" 1 "^cause: rank 3 is silent" \
    -- mpiexec -n 4 ./demos/05_1f1b --no-tui --tick-ms 5 --tp 2 --fault stall:3 --watchdog 1
full && caught "stall:1 with --dp 2: the other replica waits in the gradient sum" 1 "^cause: rank 1 is silent" \
    -- mpiexec -n 2 ./demos/05_1f1b --no-tui --tick-ms 5 --dp 2 --fault stall:1 --watchdog 1
full && caught "a stall in real compute (demo 02)" 2 "^cause: rank 1 is silent" \
    -- mpiexec -n 2 ./demos/02_microbatches --no-tui -m 4 --steps 1 --fault stall:1 --watchdog 2
full && caught "the default limit (5 s plus twice the slowest action)" 6 \
    "no rank moved for 5\.[0-9] s" "^cause: rank 1 is silent" \
    -- mpiexec -n 2 ./demos/05_1f1b --no-tui --tick-ms 1 --fault stall:1
# A GPU rank's compute that never ends: the rank polls its device and moves
# messages, which is no progress (tests/test_mpi.c's stand-in device never
# finishes the last rank's third compute).
caught "a device that never finishes a compute" 1 \
    "^  rank 3 has waited [0-9.]+ s for its device to finish 3F1$" \
    "^  rank 2 waits [0-9.]+ s for the gradient of micro-batch 1 from rank 3 \(2RECV_B1\)$" \
    "^cause: rank 3's device has not finished 3F1 in [0-9.]+ s: the rank handed the$" \
    -- mpiexec -n 4 ./tests/test_mpi 4 device-hang
full && caught "a device that never finishes, on a rank alone" 1 \
    "^cause: rank 0's device has not finished 0F1 in [0-9.]+ s" \
    -- mpiexec -n 1 ./tests/test_mpi 4 device-hang
# A rank stuck inside a real compute on a crowded machine, holding the one
# core: the other rank waits for its turn on it, and the stuck rank is named.
# Rank 1 takes the core for its F1 just as rank 0's B0 can begin (rank 1
# has just sent what that B0 needs): whichever of the two the system runs
# first asks first, so rank 0 waits to compute B0, or has computed it and
# waits to compute F2.
if command -v taskset >/dev/null 2>&1; then
    caught "a rank stuck inside a compute, holding the one core the other waits for" 1 \
        "^  rank 0 waits [0-9.]+ s for its turn on a core, to compute 0(B0|F2) " "^cause: rank 1 is silent" \
        -- taskset -c 0 mpiexec -n 2 ./tests/test_mpi 4 core-hang
fi
# A message its device never copies out to host memory: the send is held
# for its bytes, and the rank that needs it waits (not a cycle of waits).
full && caught "a message its device never copies out" 1 \
    "^  rank 3 waits [0-9.]+ s for its device to copy out the gradient of micro-batch 3$" \
    "^cause: rank 2 waits for the gradient of micro-batch 3, and rank 3's device has$" \
    -- mpiexec -n 4 ./tests/test_mpi 4 copy-hang
# The same held message, but its sender stopped (and so never posts it,
# ready or not): the sender is silent, not its device.
full && caught "a held message whose sender stopped" 1 \
    "^  rank 3 has been in 3F2 for" "^cause: rank 3 is silent" \
    -- mpiexec -n 4 ./tests/test_mpi 4 copy-stall

# Healthy runs with a tight limit: the watchdog stays quiet.
if mpiexec -n 8 ./demos/04_bubble_efficiency -m 1,8,32 --tick-ms 1 --no-tui --watchdog 0.5 >"$tmp/out" 2>&1 &&
    ! grep -q watchdog "$tmp/out" && [ "$(grep -c '^ *[0-9]* .* % ' "$tmp/out")" -ge 6 ]; then
    ok "8 ranks on $(nproc) cores, M = 1, 8, 32, --watchdog 0.5: the watchdog never fires on a healthy run"
else
    bad "a healthy 8-rank run tripped the watchdog or failed"; sed 's/^/#   /' "$tmp/out"
fi
if ! full; then
    :
elif mpiexec -n 4 ./demos/08_zero_bubble -m 8 --tick-ms 1 --no-tui --watchdog 0.5 >"$tmp/out" 2>&1 &&
    mpiexec -n 4 ./demos/02_microbatches -m 2,8 --steps 2 --no-tui --watchdog 1 >>"$tmp/out" 2>&1 &&
    ! grep -q watchdog "$tmp/out"; then
    ok "healthy zero-bubble and real-compute runs with a tight limit: the watchdog stays quiet"
else
    bad "a healthy run tripped the watchdog"; sed 's/^/#   /' "$tmp/out"
fi
# Setting up a step is not a hang: 16 MiB messages (every buffer made and
# moved once before the step) on a machine loaded by three busy loops
# beside the four ranks, with a 1 s limit.
loads=""
full && for i in 1 2 3; do timeout 30 sh -c 'while :; do :; done' & loads="$loads $!"; done
if ! full; then
    :
elif mpiexec -n 4 ./demos/04_bubble_efficiency -m 8 --payload 16M --tick-ms 5 --no-tui --watchdog 1 >"$tmp/out" 2>&1 &&
    ! grep -q watchdog "$tmp/out"; then
    ok "16 MiB messages on a loaded machine, --watchdog 1: setting up the step does not trip the watchdog"
else
    bad "16 MiB messages on a loaded machine tripped the watchdog"; sed 's/^/#   /' "$tmp/out" | head -12
fi
[ -n "$loads" ] && kill $loads 2>/dev/null && wait $loads 2>/dev/null

# With the watchdog off a hang is the student's to end: SIGTERM to mpiexec
# ends every rank within 5 s, with a non-zero status or the kit's line that
# says why (Ctrl-C, sent from a terminal, is in tui.sh), and the trace being
# written is not left behind half-written (nor its .tmp).
for sig in TERM; do
    rm -f "$tmp/cut.json" "$tmp/cut.json.tmp"
    mpiexec -n 4 ./demos/13_deadlock --fault stall:1 --watchdog 0 --trace "$tmp/cut.json" >"$tmp/out" 2>&1 &
    job=$!
    # Once the ranks run (the kit has said the watchdog is off), and a
    # second into the step: a signal to an mpiexec still starting them ends
    # it with status 0 (MPICH's launcher), which was seen on a loaded machine.
    i=0
    while ! grep -q "a hang lasts until" "$tmp/out" && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 1
    kill -s $sig $job
    i=0
    while kill -0 $job 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    wait $job
    rc=$?
    sleep 0.2
    left=$(leftovers)
    # Each rank dies of the signal; mpiexec's own status is MPICH's: 15 or
    # 9 mostly, but 0 in 2 runs of 20 here, the kit's line said each time.
    said=0
    grep -q "ended by SIG$sig" "$tmp/out" && said=1
    if [ $i -lt 50 ] && { [ "$rc" -ne 0 ] || [ $said = 1 ]; } && [ -z "$left" ] && ! ls "$tmp"/cut.json* >/dev/null 2>&1; then
        ok "watchdog off, one rank stopped: SIG$sig to mpiexec ends every rank in $((i / 10)).$((i % 10)) s (status $rc$([ $said = 1 ] && echo ", the kit says so")), no trace file left"
    else
        bad "SIG$sig: still running after 5 s, or status $rc, ranks left: ${left:-none}, files: $(ls "$tmp"/cut.json* 2>/dev/null)"
        tail -6 "$tmp/out" | sed 's/^/#   /'
        [ -n "$left" ] && kill -9 $left 2>/dev/null
    fi
done

# SIGKILL of rank 0 without the live view: the job ends, rank 0's guardian
# says why in one line, and the trace it was writing leaves nothing behind
# (a file without a name until the end, where the system has them).
rm -f "$tmp/killed.json" "$tmp/killed.json.tmp"
mpiexec -n 4 ./demos/05_1f1b -m 32 --tick-ms 20 --no-tui --trace "$tmp/killed.json" >"$tmp/out" 2>&1 &
job=$!
sleep 2
kill -9 "$(rank_pid "$tag" 0)"
i=0
while kill -0 $job 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
wait $job
sleep 0.3
left_files=$(ls "$tmp"/killed.json* 2>/dev/null)
case $(stat -f -c %T "$tmp" 2>/dev/null) in   # file systems with unnamed files (O_TMPFILE)
    ext2/ext3|tmpfs|xfs|btrfs) [ -d /proc/self/fd ] || left_files=$(ls "$tmp"/killed.json 2>/dev/null) ;;
    *) left_files=$(ls "$tmp"/killed.json 2>/dev/null) ;;   # FILE.tmp there: a killed rank cannot remove it
esac
if [ $i -lt 50 ] && [ -z "$(leftovers)" ] && [ -z "$left_files" ] &&
    grep -q "^05_1f1b: rank 0 ended without saying goodbye (it was killed" "$tmp/out"; then
    ok "SIGKILL of rank 0 (no live view): every rank ends within 5 s, the kit says why in one line, no trace file left"
else
    bad "SIGKILL of rank 0: ended after $i/10 s, ranks left: $(leftovers), files left: ${left_files:-none}"
    sed 's/^/#   /' "$tmp/out"
fi
