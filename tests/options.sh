#!/bin/sh
# options.sh -- every option of every demo, as its --help lists them, given
# no value, a malformed value and an out-of-range (or unwritable) one; a
# set of contradictory combinations; and the environment values the kit
# reads (PP_TTY, PP_FAULT, NO_COLOR).  Each bad input must give exit status
# 2, exactly one "error:" line that names the bad value, and no file written.
# PP_OPTIONS_LATE=1 (make check) leaves out the missing and malformed
# values, which the parser refuses before anything is set up (the option
# parser's fuzz target covers that path).  make test checks each option in
# the first demo that takes it (every demo reads it with the same code);
# PP_TEST_FULL=1 (make check) in every demo.
cd "$(dirname "$0")/.." || exit 1
. tests/scratch.sh
. tests/sample.sh
seen=" "

# The bad values of each option: malformed, then out of range (or a path
# that cannot be written).
bad_values() {
    case "$1" in
        -m | --microbatches) echo "x|0" ;;
        --schedule) echo "zigzag|nowhere.csv" ;;
        --chunks) echo "two|17" ;;
        --tick-ms) echo "fast|0" ;;
        --cost) echo "F=x|F=1001" ;;
        --payload) echo "12Q|300M" ;;
        --csv | --save-schedule | --trace | --events | --svg) echo "|/no/such/dir/out.file" ;;
        --tty) echo "|/etc/hostname" ;;
        --depth | --width | --hidden | --batch | --steps | --tp | --dp | --repeat) echo "x|0" ;;
        --seed) echo "x|-1" ;;
        --lr) echo "x|0" ;;
        --partition) echo "middle|" ;;
        --layers) echo "a,b|0,0" ;;
        --dump) echo "|/proc/none/dir" ;;
        --watchdog) echo "soon|-1" ;;
        --fault) echo "explode:1|stall:99" ;;
        --device) echo "tpu|" ;;
        --link) echo "fast|0,5" ;;
        --slow-stage) echo "x|0:0" ;;
        --interval) echo "soon|-1" ;;
        *) echo "" ;;
    esac
}

# Ranks for the checks made once the ranks are set up: two start fastest;
# demo 12's default grid needs 8, demo 13's default fault a rank that is not
# the last.  The options are read before that, so a missing or malformed
# value is refused by a demo started alone (one rank, no mpiexec).
ranks_for() {
    case "$1" in
        12_*) echo 8 ;;
        13_*) echo 4 ;;
        *) echo 2 ;;
    esac
}

# refused WHAT EXPECT COMMAND...: status 2, one error line holding EXPECT
# (fixed string), nothing written in the scratch folder.
refused() {
    what=$1 expect=$2
    shift 2
    (cd "$scratch" && timeout 30 "$@" >"$scratch/../out.$$" 2>&1)
    rc=$?
    errors=$(grep -c "error:" "$scratch/../out.$$")
    written=$(ls "$scratch" | grep -v -e '^demos$' -e '^tests$')
    if [ "$rc" -eq 2 ] && [ "$errors" -eq 1 ] && grep "error:" "$scratch/../out.$$" | grep -qF -- "$expect" &&
        [ -z "$written" ]; then
        echo "ok - $what"
    else
        echo "not ok - $what: exit $rc, $errors error lines, files written: ${written:-none}"
        sed 's/^/#   /' "$scratch/../out.$$" | head -5
        (cd "$scratch" && rm -rf $written)
    fi
    rm -f "$scratch/../out.$$"
}

for path in demos/[0-9][0-9]_*; do
    [ -x "$path" ] || continue
    demo=${path#demos/}
    n=$(ranks_for "$demo")
    opts=$(mpiexec -n 1 "$path" --help | sed -n 's/^  \(-m, \)\{0,1\}\(--[a-z-]*\) [A-Za-z].*/\2/p' | sort -u)
    for opt in $opts; do
        values=$(bad_values "$opt")
        [ -n "$values" ] || { echo "not ok - $demo $opt: no bad values listed for this option"; continue; }
        malformed=${values%%|*} range=${values#*|}
        case "$seen" in *" $opt "*) full || continue ;; esac
        seen="$seen$opt "
        if [ -z "${PP_OPTIONS_LATE:-}" ]; then
            refused "$demo $opt without its value" "needs a value" "./demos/$demo" "$opt"
            refused "$demo $opt '$malformed' (malformed)" "'$malformed'" "./demos/$demo" "$opt" "$malformed"
        fi
        refused "$demo $opt '$range' (out of range)" "$range" mpiexec -n "$n" "./demos/$demo" "$opt" "$range"
    done
done

# Contradictory or impossible combinations.
refused "a list of M where one M runs" "'4,8' is a list" mpiexec -n 4 ./demos/05_1f1b -m 4,8
refused "--chunks with a schedule that has its own" "only interleaved takes a number of chunks" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule zbv --chunks 2
refused "--layers with a count per stage missing" "--layers" mpiexec -n 2 ./demos/02_microbatches --layers 1,1,1
refused "--tp that does not divide the ranks" "--tp 3" mpiexec -n 8 ./demos/06_pp_tp --tp 3
refused "--no-validate where the demo builds its schedules" "--no-validate: this demo builds its own schedules" \
    mpiexec -n 4 ./demos/05_1f1b --no-validate
refused "--no-validate with real compute" "--no-validate: this demo computes for real" \
    mpiexec -n 2 ./demos/02_microbatches --no-validate
refused "--fault drop on one rank (no messages)" "--fault drop:0" \
    mpiexec -n 1 ./demos/04_bubble_efficiency --fault drop:0
refused "--fault stall on one rank (nobody to notice)" "--fault stall:0" \
    mpiexec -n 1 ./demos/04_bubble_efficiency --fault stall:0
refused "--fault swap on the last rank" "--fault swap:3" mpiexec -n 4 ./demos/13_deadlock --fault swap:3
refused "--fault error past the end of the list" "--fault error:1:9999" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --fault error:1:9999
refused "--watchdog where no step runs" "--watchdog: this demo runs no pipeline step" \
    mpiexec -n 4 ./demos/01_forward_flow --watchdog 5
refused "--csv where there is no table" "--csv: this demo prints no table" mpiexec -n 4 ./demos/05_1f1b --csv t.csv
refused "-m that disagrees with a schedule file" "-m 4 disagrees with tests/data/hand_2x2.csv" \
    mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/hand_2x2.csv -m 4

# The environment.
refused "PP_TTY that is not a terminal" "PP_TTY: '/etc/hostname'" \
    env PP_TTY=/etc/hostname mpiexec -n 4 ./demos/05_1f1b
refused "PP_FAULT malformed" "PP_FAULT: 'explode' is not a fault" env PP_FAULT=explode mpiexec -n 4 ./demos/05_1f1b
refused "PP_FAULT naming a rank not in the job" "PP_FAULT: 'stall:9': rank 9 is not in the job" \
    env PP_FAULT=stall:9 mpiexec -n 4 ./demos/05_1f1b
refused "--fault and PP_FAULT: the option wins, and is checked" "--fault: 'stall:7'" \
    env PP_FAULT=stall:1 mpiexec -n 4 ./demos/05_1f1b --fault stall:7
for env in "PP_TTY=" "PP_FAULT=" "PP_FAULT=none" "NO_COLOR=" "NO_COLOR=1"; do
    if (cd "$scratch" && env "$env" timeout 60 mpiexec -n 4 ./demos/05_1f1b -m 4 --tick-ms 1 >/dev/null 2>&1); then
        echo "ok - $env: taken as unset or as a plain setting, the demo runs"
    else
        echo "not ok - $env: the demo failed"
    fi
done

# --repeat N: every M's step runs N times; the table shows the median run,
# and its --csv row the count and the lowest and highest measured bubble: of
# three runs the median lies strictly between the other two (no two steps
# measure the same bubble to a millionth).
if (cd "$scratch" && timeout 120 mpiexec -n 4 ./demos/04_bubble_efficiency -m 4,8 --tick-ms 2 --repeat 3 --csv r.csv \
        </dev/null >r.out 2>&1) &&
    awk -F, 'NR > 1 { n++; if ($25 != 3 || !($26 < $8 && $8 < $27)) bad++ } END { exit !(n == 2 && !bad) }' \
        "$scratch/r.csv" && grep -q "^--repeat 3: each M shows its median step" "$scratch/r.out"; then
    echo "ok - --repeat 3: each M ran 3 times, the one shown lies strictly between the lowest and the highest, the spread is printed"
else
    echo "not ok - --repeat 3: $(cat "$scratch/r.csv" "$scratch/r.out" 2>/dev/null | tail -5 | tr '\n' '|')"
fi

# --help describes the demo it is asked of: a stream's --cost takes F alone;
# --real's 1 ms tick is there for --interval only; a demo that picks its own
# schedules lists no schedule files.
h09=$(./demos/09_inference --help) h11=$(./demos/11_balance --help) h07=$(./demos/07_interleaved --help)
if printf '%s\n' "$h09" | grep -q -- "--cost F=1 .*ticks per forward" && ! printf '%s\n' "$h09" | grep -q "I and W" &&
    printf '%s\n' "$h09" | grep -q "a tick is then 1" && ! printf '%s\n' "$h11" | grep -q "a tick is then" &&
    printf '%s\n' "$h07" | grep -q "mpiexec starts\.$" && ! printf '%s\n' "$h07" | grep -q "a schedule file"; then
    echo "ok - --help fits its demo: 09's --cost takes F alone, --real's tick only with --interval, 07 lists no schedule files"
else
    echo "not ok - --help does not fit its demo"
fi
