#!/bin/sh
# lessons.sh -- runs every command a lesson shows (lines starting "$ mpiexec",
# indented or not), with a short tick, and compares every excerpt of output a
# lesson marks ("<!-- output of: COMMAND -->") with a fresh run of that
# command, timing masked (tests/doc_check.c), so that a lesson cannot drift
# from the code.  The commands run in a scratch folder, so files they write
# are not left in the checkout.  make test runs the commands whose output
# a lesson shows once, in the excerpts' check, and one other command of
# lesson 13 (the hangs); and checks the plain output of demos 00, 04 (also with
# every schedule) and 12 at 80 columns
# (every --help too).  PP_TEST_FULL=1 (make check) runs every command, the
# excerpts' twice, and every demo.
cd "$(dirname "$0")/.." || exit 1
. tests/scratch.sh
. tests/sample.sh
for lesson in lessons/*.md; do
    ran=0
    full || ran=1
    grep '^[[:space:]]*\$ mpiexec' "$lesson" | sed 's/^[[:space:]]*\$ //' | while IFS= read -r cmd; do
        # Timed demos run with a short tick; the real-compute ones (01-03, 06, 10, 12) as written.
        # Demo 13's runs end on purpose: status 3 with the watchdog's report,
        # 2 when the validator refuses the schedule first.
        status=0
        if ! full && grep -qF -- "<!-- output of: $cmd -->" "$lesson"; then continue; fi
        if ! full && [ $ran -ge 1 ] && [ "${lesson#*/}" != 13-when-it-hangs.md ]; then continue; fi
        ran=$((ran + 1))
        case "$cmd" in
            *0[123]_*|*06_*|*10_*|*12_*) extra=""; want="measured" ;;
            *13_deadlock*) extra="--tick-ms 1"; want="^cause: |refused before running|ran to its end"; status=any ;;
            *09_inference*--real*) extra=""; want="bit for bit" ;;
            *09_inference*) extra="--tick-ms 1"; want="throughput" ;;
            *11_balance*--real*) extra=""; want="bit for bit" ;;
            *11_balance*) extra="--tick-ms 1"; want="imbal" ;;
            *) extra="--tick-ms 1"; want="bubble" ;;
        esac
        out=$(cd "$scratch" && timeout 120 sh -c "$cmd $extra" </dev/null 2>&1)
        rc=$?
        if { [ $rc -eq 0 ] || { [ $status = any ] && { [ $rc -eq 3 ] || [ $rc -eq 2 ]; }; }; } &&
            echo "$out" | grep -Eq "$want"; then
            echo "ok - $lesson: $cmd"
        else
            echo "not ok - $lesson: $cmd"
            echo "$out" | tail -5 | sed 's/^/#   /'
        fi
    done
done
# make test runs a command that several files show once (doc_check's cache);
# make check runs it for each.
full || { mkdir -p "$scratch/doc_cache" && PP_DOC_CACHE="$scratch/doc_cache" && export PP_DOC_CACHE; }
for lesson in lessons/*.md README.md; do
    (cd "$scratch" && "$top/tests/doc_check" "$top/$lesson") | sed "s|$top/||"
done
# lib/README's line counts, run here: a file's length changed and the counts
# did not (sh tools/lines.sh --write puts the new ones in).
"$top/tests/doc_check" lib/README.md | sed '/^not ok/s|$| (if only counts differ: sh tools/lines.sh --write)|'
# Every demo's plain-text output at its default options, and its --help, fits
# 80 columns (a classroom terminal), so nothing wraps.
for demo in 00_anatomy:4 01_forward_flow:4 02_microbatches:2 03_memory_split:4 04_bubble_efficiency:4 \
            05_1f1b:4 06_pp_tp:8 07_interleaved:4 08_zero_bubble:4 09_inference:4 10_checkpointing:4 11_balance:4 12_3d:8 13_deadlock:4; do
    name=${demo%:*} n=${demo#*:}
    for opt in "" --help; do
        if [ -z "$opt" ] && ! full; then case "$name" in 00_* | 04_* | 12_*) ;; *) continue ;; esac; fi
        # --help is printed before the ranks meet: one process started alone shows it
        # and a run a lesson's excerpt already made is read back from doc_check's cache
        cmd="mpiexec -n $n ./demos/$name"
        cached="${PP_DOC_CACHE:-/nonexistent}/$(echo "$cmd" | sed 's/[^A-Za-z0-9]/_/g')"
        if [ "$opt" = --help ]; then out=$(cd "$scratch" && timeout 120 ./demos/"$name" --help </dev/null 2>&1)
        elif [ -s "$cached" ]; then out=$(cat "$cached")
        else out=$(cd "$scratch" && timeout 120 $cmd </dev/null 2>&1); fi
        rc=$?
        # Demo 13 ends on purpose with status 3, and MPICH's own line about the abort.
        want=0
        [ "$name" = 13_deadlock ] && [ -z "$opt" ] && want=3
        wide=$(echo "$out" | grep -v '^Abort(' | awk 'length($0) > 80 { print length($0) ": " $0; exit }')
        if [ $rc -eq $want ] && [ -n "$out" ] && [ -z "$wide" ]; then
            echo "ok - $name ${opt:-(default options)}: every line of its output fits 80 columns"
        else
            echo "not ok - $name ${opt:-(default options)}: status $rc, a line wider than 80 columns: ${wide:-none}"
        fi
    done
done
# Every schedule at once (lesson 08's exercise) adds a name column to both tables.
out=$(cd "$scratch" && timeout 120 mpiexec -n 4 ./demos/04_bubble_efficiency --schedule all -m 8,32 --tick-ms 1 </dev/null 2>&1)
rc=$?
wide=$(echo "$out" | awk 'length($0) > 80 { print length($0) ": " $0; exit }')
if [ $rc -eq 0 ] && echo "$out" | grep -q '^schedule .*hops$' && [ -z "$wide" ]; then
    echo "ok - 04_bubble_efficiency --schedule all: every line of its output fits 80 columns, the parts table too"
else
    echo "not ok - 04_bubble_efficiency --schedule all: status $rc, a line wider than 80 columns: ${wide:-none}"
fi
# The check itself: a copy of lesson 04 with one formula figure changed must fail.
sed 's/^    4     42.9 %/    4     42.8 %/' lessons/04-bubble-efficiency.md >"$scratch/doctored.md"
if cmp -s lessons/04-bubble-efficiency.md "$scratch/doctored.md"; then
    echo "not ok - doc_check self-test: the line to doctor is no longer in lesson 04"
elif (cd "$scratch" && "$top/tests/doc_check" "$scratch/doctored.md") | grep -q '^not ok'; then
    echo "ok - doc_check self-test: an excerpt with a wrong formula figure fails"
else
    echo "not ok - doc_check self-test: an excerpt with a wrong formula figure passed"
fi
# And a figure far above rounding in place of a rounding one must fail too:
# the rounding mask accepts only figures below 1e-5 (zero included).
sed 's/^\(   16  0\.757231.*\)   [0-9]\.[0-9][0-9]e-[0-9][0-9]$/\1   2.50e-02/' lessons/02-microbatches.md >"$scratch/doctored.md"
if cmp -s lessons/02-microbatches.md "$scratch/doctored.md"; then
    echo "not ok - doc_check self-test: the row to doctor is no longer in lesson 02"
elif (cd "$scratch" && "$top/tests/doc_check" "$scratch/doctored.md") | grep -q '^not ok'; then
    echo "ok - doc_check self-test: a weight difference of 2.50e-02 where the lesson shows rounding fails"
else
    echo "not ok - doc_check self-test: a weight difference of 2.50e-02 passed as rounding"
fi
