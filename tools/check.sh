#!/bin/sh
# check.sh -- make check: the kit built again with AddressSanitizer and
# UndefinedBehaviorSanitizer, in build/check (the normal build is left as it
# is), and run: the C tests, every demo at its defaults, the bad-input, hang,
# two-machine (tests/two_machines.sh: ranks on two simulated machines, where
# the watchdog, without shared memory, is off) and option tests; then the
# whole form of the checks make test samples
# (tests/sample.sh: options, hangs, live-view sessions, lesson commands).  A step fails if it fails as in make test, or if a
# sanitizer reports anything (a leak included: LeakSanitizer, with MPICH's,
# hwloc's and ncurses' own allocations left out by tools/lsan.supp).  Then
# each fuzz target runs for FUZZ_SECONDS (tools/fuzz.sh).  Ends on one
# "N passed, N failed" line.
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
out="$top/build/check"
log=$(mktemp)
trap 'rm -f "$log" "$log.out"' EXIT

sh tools/copy_tree.sh "$out" || exit 1

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
echo "== building with $san in build/check"
if ! make -C "$out" -j2 SANITIZE="$san" all >"$log.out" 2>&1; then
    cat "$log.out"
    echo "not ok - the sanitized build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=40"
export LSAN_OPTIONS="suppressions=$top/tools/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

. tests/steps.sh   # tally; the step below replaces its step

# step WHAT COMMAND...: as run.sh's, and any sanitizer report fails it.
step() {
    what=$1
    shift
    echo "== $what"
    (cd "$out" && "$@") >"$log.out" 2>&1
    rc=$?
    grep '^\(not \)\{0,1\}ok' "$log.out"
    grep '^\(not \)\{0,1\}ok' "$log.out" >>"$log"
    reports=$(grep -c -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$log.out")
    if [ "$reports" -gt 0 ]; then
        echo "not ok - $what: $reports sanitizer report(s):" | tee -a "$log"
        grep -A12 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$log.out" | head -40
    elif [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$log.out"; then
        echo "not ok - $what: exited with status $rc" | tee -a "$log"
        tail -5 "$log.out"
    elif ! grep -q '^\(not \)\{0,1\}ok' "$log.out"; then
        echo "ok - $what: ran clean under the sanitizers" | tee -a "$log"
    fi
}

step "test_sched" ./tests/test_sched
step "test_train" mpiexec -n 4 ./tests/test_train
step "test_grid" mpiexec -n 8 ./tests/test_grid
step "test_random, other seeds" mpiexec -n 4 ./tests/test_random 200 4242
step "test_mpi, 4 ranks" mpiexec -n 4 ./tests/test_mpi 4
for demo in 00_anatomy:4 01_forward_flow:4 02_microbatches:2 03_memory_split:4 04_bubble_efficiency:4 \
            05_1f1b:4 06_pp_tp:8 07_interleaved:4 08_zero_bubble:4 09_inference:4 10_checkpointing:4 \
            11_balance:4 12_3d:8; do
    step "demo ${demo%:*}" mpiexec -n "${demo#*:}" "./demos/${demo%:*}" --no-tui
done
step "demo 13_deadlock, no fault" mpiexec -n 4 ./demos/13_deadlock --no-tui --fault none
step "demo 11_balance --real (the end layers)" mpiexec -n 2 ./demos/11_balance --no-tui --real --steps 2
step "bad input" sh tests/bad_input.sh
step "hangs, every scenario" env PP_TEST_FULL=1 sh tests/hang.sh
step "two simulated machines (ranks on a and b), every check" env PP_TEST_FULL=1 sh tests/two_machines.sh
step "options (those refused once the ranks are set up), in every demo" env PP_OPTIONS_LATE=1 PP_TEST_FULL=1 sh tests/options.sh
step "every option of every demo (the normal build)" env PP_TEST_FULL=1 sh "$top/tests/options.sh"
step "demos 09 and 06 against their formulas, and the link model, every check (the normal build)" env PP_TEST_FULL=1 sh "$top/tests/stream.sh"
step "demo 11 against its predictions, every check (the normal build)" env PP_TEST_FULL=1 sh "$top/tests/balance.sh"
step "every live-view session (the normal build)" env PP_TEST_FULL=1 sh "$top/tests/tui.sh"
step "every lesson command, and every demo at 80 columns (the normal build)" env PP_TEST_FULL=1 sh "$top/tests/lessons.sh"
step "lessons under other OpenBLAS kernels" sh "$top/tests/kernels.sh"
step "mutants of the trainer, caught by test_random" sh "$top/tests/mutants.sh"
step "fuzz targets, ${FUZZ_SECONDS:-20} s each" sh tools/fuzz.sh "${FUZZ_SECONDS:-20}"

tally
