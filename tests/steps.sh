# steps.sh -- what the test runners share, sourced by tests/run.sh,
# tools/gpu.sh and tools/check.sh.  Each sets $log, the file that collects
# its "ok" and "not ok" lines.

# step COMMAND...: runs COMMAND here, shows its output and the seconds it
# took, and keeps its lines; a command that fails without saying "not ok"
# counts as one failure.
step() {
    echo "== $*"
    t0=$(date +%s)
    "$@" >"$log.out" 2>&1
    rc=$?
    cat "$log.out"
    echo "   ($(($(date +%s) - t0)) s)"
    cat "$log.out" >>"$log"
    if [ $rc -ne 0 ] && ! grep -q '^not ok' "$log.out"; then
        echo "not ok - '$*' exited with status $rc" | tee -a "$log"
    fi
    rm -f "$log.out"
}

# tally: the closing "N passed, N failed" line; it fails if any check did.
tally() {
    passed=$(grep -c '^ok' "$log")
    failed=$(grep -c '^not ok' "$log")
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
