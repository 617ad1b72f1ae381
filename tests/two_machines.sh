#!/bin/sh
# two_machines.sh -- the kit run across two machines, made on this one by
# tools/two_machines.sh: machines a and b are network namespaces joined by
# a virtual cable, each with a host name of its own, and mpiexec reaches b
# through a stand-in for ssh; the host file puts ranks 0-1 on a, 2-3 on b.
# Every rank says where it runs (a line with its host name, printed by the
# shell that then becomes the demo), so the test sees that the ranks really
# were on both machines.  Its short form (PP_TEST_FULL unset) runs:
#   - mpiexec -n 4 hostname: two ranks on a, two on b;
#   - demo 05 (timed, M=4, 2 ms ticks): GPipe and 1F1B run to the end;
#   - demo 01 (real compute): the output equals one process's bit for bit.
# make check runs it whole (PP_TEST_FULL=1), which adds:
#   - demo 02 (real compute, one rank on each machine): its loss table
#     equals the one the same run prints on one machine, digit for digit;
#   - demo 05 with --tcp: the ranks' messages cross the cable, at least the
#     activations and gradients between ranks 1 (on a) and 2 (on b);
#   - demo 13 with a stalled rank: no watchdog report, because across
#     machines the watchdog is off (README), until the time runs out.
# Where two machines cannot be made (not root, no `ip netns`, no unshare)
# it prints one "ok - ... # skip REASON" line.  Every run has a time limit.
cd "$(dirname "$0")/.." || exit 1
. tests/sample.sh
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# across LIMIT [--tcp] COMMAND...: COMMAND run on the two machines (from a),
# stopped after LIMIT seconds; its output (stdout and stderr, with the
# tool's own lines) in $tmp/out, its status in $rc.  The outer timeout is a
# last resort, should the tool itself stick.
across() {
    limit=$1
    shift
    timeout -k 10 $((limit + 60)) sh tools/two_machines.sh --timeout "$limit" "$@" >"$tmp/out" 2>&1
    rc=$?
    # A sanitizer's report (make check) is passed on, for tools/check.sh to see.
    grep -A12 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$tmp/out" | sed 's/^/# /'
}

# A rank's first words: where it runs.  hydra gives each rank PMI_RANK.
whereami='echo "rank $PMI_RANK runs on $(hostname)"; exec "$@"'

# placed "M0 M1 ...": the ranks' "runs on" lines in $tmp/out say rank 0
# ran on machine M0, rank 1 on M1, and so on; if not, says which rank ran
# where, and fails.
placed() {
    r=0
    for want in $1; do
        got=$(sed -n "s/^rank $r runs on //p" "$tmp/out")
        if [ "$got" != "$want" ]; then
            echo "rank $r ran on '${got:-?}', not on $want"
            return 1
        fi
        r=$((r + 1))
    done
}

# report WHAT OK DETAIL: one ok / not ok line; on failure, the output's end.
report() {
    if [ "$2" -eq 1 ]; then
        echo "ok - $1: $3"
    else
        echo "not ok - $1: $3 (exit $rc; 124 = stopped at the time limit):"
        grep -v '^rank [0-9]* runs on' "$tmp/out" | tail -8 | sed 's/^/#   /'
    fi
}

# ---- can two machines be made here? -----------------------------------------
across 60 mpiexec -n 4 hostname
if [ $rc -eq 77 ]; then
    echo "ok - two simulated machines # skip $(sed -n 's/^two_machines: cannot make two machines here: //p' "$tmp/out" | head -1)"
    exit 0
fi
hosts=$(grep -x '[ab]' "$tmp/out" | sort | tr '\n' ' ')
ok=0
[ $rc -eq 0 ] && [ "$hosts" = "a a b b " ] && ok=1
report "two simulated machines" $ok "mpiexec -n 4 hostname printed: ${hosts:-nothing}(host file a:2, b:2)"

# ---- demo 05, timed -------------------------------------------------------
across 60 mpiexec -n 4 sh -c "$whereami" sh ./demos/05_1f1b --no-tui -m 4 --tick-ms 2
ok=0
why=$(placed "a a b b") && grep -q '^gpipe: P=4 stages on 4 ranks' "$tmp/out" &&
    grep -q '^1f1b: P=4 stages on 4 ranks' "$tmp/out" &&
    grep -q '^GPipe and 1F1B, the same P=4 and M=4:' "$tmp/out" &&
    grep -q '^ranks by machine: 0-1 on a; 2-3 on b (the watchdog is off' "$tmp/out" && [ $rc -eq 0 ] && ok=1
report "demo 05 across two machines (ranks 0-1 on a, 2-3 on b)" $ok \
    "${why:-$(grep -m 1 'bubble, share of the step: gpipe' "$tmp/out" | sed 's/^ *//')}"
echo "# $(grep '^two_machines: the cable carried' "$tmp/out" | cut -c 15-)"

# ---- demo 01, real compute --------------------------------------------------
across 120 mpiexec -n 4 sh -c "$whereami" sh ./demos/01_forward_flow --no-tui
ok=0
why=$(placed "a a b b") && grep -q "^the pipeline's output equals the single-process output bit for bit" "$tmp/out" &&
    [ $rc -eq 0 ] && ok=1
report "demo 01 across two machines, real compute" $ok \
    "${why:-$(grep -A1 "^the pipeline's output equals" "$tmp/out" | tr '\n' ' ')}"

full || exit 0

# ---- demo 02 on two machines and on one: the same losses and weights --------
run02="./demos/02_microbatches --no-tui -m 1,4 --steps 2"
# table: the loss table's rows (M, the loss of each step, the weights'
# difference from M=1) in $tmp/out.
table() {
    sed -n '/^loss per step/,/^$/p' "$tmp/out" | grep '^ *[0-9][0-9]*  '
}
timeout 120 mpiexec -n 2 $run02 >"$tmp/out" 2>&1
table >"$tmp/one"
across 120 mpiexec -ppn 1 -n 2 sh -c "$whereami" sh $run02
table >"$tmp/two"
ok=0
why=$(placed "a b") && [ -s "$tmp/one" ] && cmp -s "$tmp/one" "$tmp/two" && [ $rc -eq 0 ] && ok=1
[ $ok -eq 1 ] || [ -n "$why" ] || why="${why:-the loss tables differ: one machine $(tr -s ' ' <"$tmp/one" | tr '\n' '|'), two $(tr -s ' ' <"$tmp/two" | tr '\n' '|')}"
report "demo 02 with rank 0 on a and rank 1 on b" $ok \
    "${why:-its $(wc -l <"$tmp/two") loss-table rows equal those of the same run on one machine, digit for digit}"

# ---- demo 05 with its messages over TCP -------------------------------------
# Ranks 1 (on a) and 2 (on b) exchange M = 4 activations and 4 gradients of
# 64 KiB a step, in two steps (GPipe, 1F1B): at least 512 KiB each way.
# MPICH 4.0 over TCP sometimes does not return from MPI_Finalize once all
# is printed (tools/two_machines.sh says why): a run stopped at the time
# limit passes if it printed everything; the runs above, which must end,
# catch a kit that hangs at its end.
across 15 --tcp mpiexec -n 4 sh -c "$whereami" sh ./demos/05_1f1b --no-tui -m 4 --tick-ms 2
if [ $rc -eq 77 ]; then
    echo "ok - demo 05 with its messages over TCP # skip $(sed -n 's/^two_machines: cannot make two machines here: //p' "$tmp/out" | head -1)"
else
    cable=$(sed -n 's/^two_machines: the cable carried \([0-9]*\) bytes from a to b and \([0-9]*\) from b to a.*/\1 \2/p' "$tmp/out")
    ab=${cable% *} ba=${cable#* }
    ok=0
    why=$(placed "a a b b") && grep -q '^GPipe and 1F1B, the same P=4 and M=4:' "$tmp/out" &&
        [ "${ab:-0}" -ge 524288 ] && [ "${ba:-0}" -ge 524288 ] && { [ $rc -eq 0 ] || [ $rc -eq 124 ]; } && ok=1
    note=""
    [ $rc -eq 124 ] && note="; MPI_Finalize did not return after the output (MPICH 4.0 over TCP), stopped at 15 s"
    report "demo 05 with its messages over TCP (--tcp)" $ok \
        "${why:-the cable carried ${ab:-?} bytes a to b and ${ba:-?} b to a (ranks 1 and 2 alone exchange 512 KiB each way)$note}"
fi

# ---- the watchdog across machines -------------------------------------------
# On one machine this stall is reported within about a second (tests/hang.sh);
# across machines the ranks share no memory, the watchdog is off, and the
# step waits until the tool stops it.
across 6 mpiexec -n 4 ./demos/13_deadlock --no-tui --fault stall:2 --watchdog 1
ok=0
[ $rc -eq 124 ] && grep -q 'rank 2 stops in its first compute' "$tmp/out" && ! grep -q 'the step is stuck' "$tmp/out" && ok=1
report "the watchdog across two machines" $ok \
    "a stalled rank (--fault stall:2, --watchdog 1) went unreported for 6 s: the watchdog is off there"
exit 0
