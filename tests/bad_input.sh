#!/bin/sh
# bad_input.sh -- every kind of bad input ends every rank, within seconds,
# with a non-zero status and one clear message from one rank; good
# hand-written and saved schedules run.  make test leaves out the option
# values that options.sh also checks (PP_TEST_FULL=1, make check: all).
cd "$(dirname "$0")/.." || exit 1
. tests/sample.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# refuse "what" "expected text" command...: expects status 2, one error line
# naming the problem, and an end within 20 seconds.
refuse() {
    what=$1; expect=$2; shift 2
    start=$(date +%s)
    timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    secs=$(( $(date +%s) - start ))
    errors=$(grep -c "error:" "$tmp/err")
    if [ "$rc" -eq 2 ] && [ "$errors" -eq 1 ] && grep -q -- "$expect" "$tmp/err" && [ "$secs" -lt 15 ]; then
        echo "ok - $what: exit 2 in ${secs}s: $(grep 'error:' "$tmp/err")"
    else
        echo "not ok - $what: exit $rc (124 = hung), $errors error lines, ${secs}s; stderr:"
        sed 's/^/#   /' "$tmp/err"
    fi
}



refuse "M = 0" "'0' is not a number of micro-batches" mpiexec -n 4 ./demos/04_bubble_efficiency -m 0
full && refuse "M negative" "'-3' is not a number" mpiexec -n 4 ./demos/04_bubble_efficiency -m -3
full && refuse "M not a number" "'many' is not a number" mpiexec -n 4 ./demos/05_1f1b -m many
full && refuse "M list where one M is run" "is a list" mpiexec -n 4 ./demos/05_1f1b -m 4,8
refuse "unknown schedule" "'zigzag' is not a schedule" mpiexec -n 4 ./demos/04_bubble_efficiency --schedule zigzag
refuse "unknown option" "unknown option '--speed'" mpiexec -n 4 ./demos/05_1f1b --speed 3
refuse "a compute costing 0 ticks" "'F=0': a compute must take some time" mpiexec -n 4 ./demos/11_balance --cost F=0,B=0
refuse "a watchdog shorter than 0.1 s" "--watchdog: '0.0001' is not a time" mpiexec -n 4 ./demos/13_deadlock --watchdog 0.0001
full && refuse "--tty not a terminal" "--tty: '/etc/hostname' is not a terminal" mpiexec -n 4 ./demos/05_1f1b --tty /etc/hostname
refuse "--trace not writable" "--trace: cannot write '/no/such/dir/t.json'" mpiexec -n 4 ./demos/05_1f1b --trace /no/such/dir/t.json
full && refuse "option without its value" "needs a value" mpiexec -n 4 ./demos/04_bubble_efficiency --tick-ms
refuse "option whose value was left out" "option --tp needs a value before --no-tui" \
    mpiexec -n 4 ./demos/06_pp_tp --tp --no-tui
full && refuse "tick of zero" "--tick-ms: '0'" mpiexec -n 4 ./demos/04_bubble_efficiency --tick-ms 0
full && refuse "bad payload" "--payload: '64Q'" mpiexec -n 4 ./demos/04_bubble_efficiency --payload 64Q
refuse "CSV with a bad cell" "line 2, cell 2: '1Q0' is not an action" \
    mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/bad_cell.csv
refuse "CSV rows differ from ranks" "has 3 rows but mpiexec started 4 ranks" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule tests/data/three_rows.csv
refuse "a list of M with a schedule file" "a list of 2 values, but tests/data/reversed_b.csv fixes M" \
    mpiexec -n 1 ./demos/02_microbatches --schedule tests/data/reversed_b.csv -m 2,4
refuse "CSV file missing" "cannot read schedule file 'tests/data/nowhere.csv'" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule tests/data/nowhere.csv
refuse "CSV that deadlocks" "cycle of waits" mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/deadlock.csv
printf '0F0,0B0,0RECV_F0\n' >"$tmp/recv_from_nowhere.csv"   # 16 bytes: once a hang and a heap overflow
refuse "CSV receiving from a stage before stage 0" "0RECV_F0 has no partner: stage -1" \
    mpiexec -n 1 ./demos/04_bubble_efficiency --schedule "$tmp/recv_from_nowhere.csv" --no-tui
# Malformed schedule files: one line naming the problem, every rank ends.
# refuse_csv WHAT EXPECT TEXT: a two-rank schedule file holding TEXT (a
# printf format) is refused as refuse() expects.
refuse_csv() {
    printf "$3" >"$tmp/bad.csv"
    refuse "$1" "$2" mpiexec -n 2 ./demos/04_bubble_efficiency --schedule "$tmp/bad.csv"
}
refuse_csv "CSV with an unknown kind" "'0X0' is not an action" '0F0,0X0\n1F0,1B0\n'
refuse_csv "CSV with an action twice" "0F0 appears twice" '0F0,0B0,0F0,0B0\n1F0,1B0,1F0,1B0\n'
refuse_csv "CSV with an action missing" "0B1 is missing" '0F0,0F1,0B0\n1F0,1B0,1F1,1B1\n'
refuse_csv "CSV with a stage on two ranks" "stage 1 runs on rank 0" '0F0,0B0,1F0\n1B0\n'
refuse_csv "CSV with an overlapped pair of another kind" "an overlapped pair of a kind not run here" '0F0,(0F1;1B0)OVERLAP_B_W,0B0,0B1\n1F0,1B0,1F1,1B1\n'
refuse_csv "CSV with a misspelt FSDP action" "'0UNSHARDS' is not an action" '0UNSHARDS,0F0,0B0\n1F0,1B0\n'
refuse_csv "CSV that is empty" "has no rows" ''
head -c 4096 /dev/urandom >"$tmp/junk.csv"
printf '\000' >>"$tmp/junk.csv"
refuse "CSV of binary junk" "junk.csv" mpiexec -n 2 ./demos/04_bubble_efficiency --schedule "$tmp/junk.csv"
head -c 10485760 /dev/zero | tr '\000' 'x' >"$tmp/long_line.csv"
refuse "CSV with a 10 MB line" "is not an action" mpiexec -n 2 ./demos/04_bubble_efficiency --schedule "$tmp/long_line.csv"
awk 'BEGIN { for (i = 0; i < 600000; i++) printf "%s0F%d", i ? "," : "", i; print "" }' >"$tmp/long_row.csv"
refuse "CSV with a row of 600000 actions" "is missing" \
    mpiexec -n 1 ./demos/04_bubble_efficiency --schedule "$tmp/long_row.csv" --no-tui
# PyTorch's comms form: sends and receives left out, FSDP cells skipped, the computes lowered.
if mpiexec -n 4 ./demos/04_bubble_efficiency --schedule tests/data/pytorch_il_p4v2m10_comms.csv --tick-ms 1 >"$tmp/out" 2>&1 &&
    grep -q "280 sends and receives left out" "$tmp/out" && grep -q "24 FSDP cells (UNSHARD," "$tmp/out" &&
    grep -Eq "^ +10 +n/a +13\.0 %" "$tmp/out"; then
    echo "ok - PyTorch's comms form runs as its computes (predicted 13.0 %, as (P-1)/(vM+P-1)), and the output says so"
else
    echo "not ok - PyTorch's comms form"; sed 's/^/#   /' "$tmp/out" | head -20
fi
# PyTorch's compute-only form: B with a W is I, an overlapped pair runs as its two actions.
if mpiexec -n 4 ./demos/04_bubble_efficiency --schedule tests/data/kit_zbv_p4m8_as_pytorch.csv --tick-ms 1 >"$tmp/out" 2>&1 &&
    grep -q "read in PyTorch's form: 64 B cells whose W is also in the file run as I" "$tmp/out" &&
    grep -q "4 overlapped cells (F;B)OVERLAP_F_B run as the F, then the B" "$tmp/out"; then
    echo "ok - a schedule in PyTorch's form runs, and the output says how its cells were read"
else
    echo "not ok - the PyTorch-form schedule"; sed 's/^/#   /' "$tmp/out"
fi
# Saved again, a schedule read in PyTorch's form is written in the kit's own form.
if mpiexec -n 4 ./demos/04_bubble_efficiency --schedule tests/data/kit_zbv_p4m8_as_pytorch.csv --tick-ms 1 \
        --save-schedule "$tmp/back.csv" >/dev/null 2>&1 &&
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule zbv -m 8 --tick-ms 1 --save-schedule "$tmp/kit.csv" >/dev/null 2>&1 &&
    cmp -s "$tmp/back.csv" "$tmp/kit.csv" && ! grep -q "OVERLAP\|B" "$tmp/back.csv"; then
    echo "ok - --save-schedule writes a PyTorch-form schedule in the kit's own form (the same file as zbv's)"
else
    echo "not ok - --save-schedule of a PyTorch-form schedule"; diff "$tmp/back.csv" "$tmp/kit.csv" | head -5 | sed 's/^/#   /'
fi
refuse "-m against a CSV" "disagrees with" mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/hand_2x2.csv -m 8
refuse "anatomy: a schedule file" "'tests/data/hand_2x2.csv' names a file; this demo builds its schedule" \
    mpiexec -n 2 ./demos/00_anatomy --schedule tests/data/hand_2x2.csv
refuse "anatomy: an export" "--trace: this demo prints plain text and writes no file" \
    mpiexec -n 2 ./demos/00_anatomy --trace "$tmp/t.json"
refuse "anatomy: a list of M" "is a list, but this demo runs one M" mpiexec -n 2 ./demos/00_anatomy -m 2,4
refuse "--csv into a missing folder" "--csv: cannot write" mpiexec -n 4 ./demos/04_bubble_efficiency --csv "$tmp/no/such/dir/t.csv"

# A long schedule refused late in a row: the grid shows the marked action and
# fits 80 columns (steps before and after it left out, with "...").
mpiexec -n 4 ./demos/04_bubble_efficiency --schedule 1f1b -m 16 --tick-ms 1 --save-schedule "$tmp/long.csv" >/dev/null 2>&1
awk -F, 'NR == 2 { t = $9; $9 = $12; $12 = t } { print }' OFS=, "$tmp/long.csv" >"$tmp/swapped.csv"
mpiexec -n 4 ./demos/04_bubble_efficiency --schedule "$tmp/swapped.csv" >/dev/null 2>"$tmp/err"
wide=$(grep -v "error:" "$tmp/err" | awk 'length($0) > 80' | head -1)
if grep -q "\[1B" "$tmp/err" && grep -q "^  rank 1 \.\.\. " "$tmp/err" && [ -z "$wide" ]; then
    echo "ok - a schedule refused late in a row: the grid marks the action and fits 80 columns"
else
    echo "not ok - the late refusal's grid: wide line '$wide'"; sed 's/^/#   /' "$tmp/err"
fi
mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/deadlock.csv >/dev/null 2>"$tmp/err"
if grep -q "\[1F1\]" "$tmp/err" && grep -q "\[0B0\]" "$tmp/err"; then
    echo "ok - a deadlocking CSV is shown as a step-by-rank grid marking the waiting actions"
else
    echo "not ok - the deadlock grid does not mark the waiting actions"; sed 's/^/#   /' "$tmp/err"
fi

# Good schedule files run: one written by hand, one saved by a demo and loaded back.
if mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/hand_2x2.csv --tick-ms 2 >"$tmp/out" 2>&1 &&
    grep -q "hand_2x2.csv: P=2" "$tmp/out"; then
    echo "ok - a hand-written CSV schedule with idle cells runs"
else
    echo "not ok - the hand-written CSV schedule did not run"; sed 's/^/#   /' "$tmp/out"
fi
if mpiexec -n 4 ./demos/04_bubble_efficiency -m 4 --schedule gpipe --save-schedule "$tmp/g.csv" --tick-ms 2 >/dev/null 2>&1 &&
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule "$tmp/g.csv" --tick-ms 2 >"$tmp/out" 2>&1 &&
    [ "$(head -1 "$tmp/g.csv")" = "0F0,0F1,0F2,0F3,0B0,0B1,0B2,0B3" ]; then
    echo "ok - a saved schedule loads back and runs"
else
    echo "not ok - saving and loading a schedule failed"; sed 's/^/#   /' "$tmp/out"
fi
# The --csv table is complete: a header and one row per M, each row with a
# value for every name in the header.
if mpiexec -n 2 ./demos/04_bubble_efficiency -m 1,2,4 --tick-ms 2 --csv "$tmp/t.csv" >/dev/null 2>&1 &&
    [ "$(wc -l <"$tmp/t.csv")" -eq 4 ] && ! [ -e "$tmp/t.csv.tmp" ] &&
    awk -F, 'NR == 1 { nf = NF } NF != nf { bad = 1 } END { exit bad }' "$tmp/t.csv"; then
    echo "ok - --csv writes a header and one row per M"
else
    echo "not ok - --csv table incomplete"; sed 's/^/#   /' "$tmp/t.csv"
fi
# Demo 02's table too: a header and one row per M, a value for every name,
# the measured columns filled.
if mpiexec -n 2 ./demos/02_microbatches -m 1,2 --depth 2 --steps 1 --no-tui --csv "$tmp/t2.csv" >/dev/null 2>&1 &&
    [ "$(wc -l <"$tmp/t2.csv")" -eq 3 ] && ! [ -e "$tmp/t2.csv.tmp" ] &&
    awk -F, 'NR == 1 { nf = NF } NF != nf { bad = 1 } NR > 1 && $3 != NR - 1 { bad = 1 }
             NR > 1 && !($5 > 0 && $9 > 0) { bad = 1 } END { exit bad }' "$tmp/t2.csv"; then
    echo "ok - demo 02 --csv writes a header and one row per M"
else
    echo "not ok - demo 02 --csv table incomplete"; sed 's/^/#   /' "$tmp/t2.csv"
fi
# Over several steps demo 02 shows the step of the median bubble: the parts
# it prints are that step's, so the formula and they add up to its bubble.
if mpiexec -n 2 ./demos/02_microbatches -m 2,4 --depth 2 --steps 4 --no-tui --csv "$tmp/t3.csv" >/dev/null 2>&1 &&
    awk -F, 'NR > 1 { n++; d = $8 + $13 + $14 + $15 + $16 + $17 + $18 - $7; if (d > 1e-5 || d < -1e-5) bad = 1 }
             END { exit bad || n != 2 }' "$tmp/t3.csv"; then
    echo "ok - demo 02 over 4 steps: formula + parts = the measured bubble of the step shown"
else
    echo "not ok - demo 02 over 4 steps: formula + parts differ from the measured bubble (fields 8 + 13..18 against 7)"
    sed 's/^/#   /' "$tmp/t3.csv"
fi
# Demo 02's closing lines come from its table: the weights' agreement from
# the last column, the bubble and GFLOP/s from the smallest and largest M.
if mpiexec -n 2 ./demos/02_microbatches -m 4,1 --steps 2 --no-tui >"$tmp/s2.txt" 2>&1 &&
    grep -q "^The loss and the weights agree across M to float rounding" "$tmp/s2.txt" &&
    grep -Eq "^More micro-batches shrank the measured bubble: [0-9.]+ % at M=1, [0-9.]+ % at M=4" "$tmp/s2.txt" &&
    awk '$1 == 1 && $6 == "%" { b1 = $5 } $1 == 4 && $6 == "%" { b4 = $5 }
         /shrank the measured bubble/ { s = $0 } END { exit !(s ~ (b1 " % at M=1, " b4 " % at M=4")) }' "$tmp/s2.txt"; then
    echo "ok - demo 02's summary: the weights agree, and the bubble shrank as its own table says (M=1 to 4)"
else
    echo "not ok - demo 02's summary does not follow its table"; sed 's/^/#   /' "$tmp/s2.txt"
fi
# A schedule from a file has no formula: the parts start from the schedule
# replayed with every stage at the same cost (here, stages alike, its
# predicted bubble), and the headings say so.
if mpiexec -n 2 ./demos/04_bubble_efficiency --schedule tests/data/hand_2x2.csv --tick-ms 2 --no-tui \
        --csv "$tmp/f4.csv" >"$tmp/f4.txt" 2>&1 &&
    grep -q '(measured = the schedule$' "$tmp/f4.txt" && ! grep -q 'measured = formula' "$tmp/f4.txt" &&
    awk -F, 'NR > 1 { n++; d = $7 + $17 + $18 + $19 + $20 + $21 + $22 - $8; if ($6 >= 0 || $17 != 0 || d > 1e-5 || d < -1e-5) bad = 1 }
             END { exit bad || n != 1 }' "$tmp/f4.csv" &&
    mpiexec -n 1 ./demos/02_microbatches --schedule tests/data/reversed_b.csv --steps 2 --no-tui >"$tmp/f2.txt" 2>&1 &&
    grep -q 'has no formula) + parts' "$tmp/f2.txt" && ! grep -q 'measured = formula' "$tmp/f2.txt"; then
    echo "ok - a schedule from a file: predicted + parts = measured, and the headings say there is no formula"
else
    echo "not ok - a schedule from a file: the parts' heading or sum is wrong"
    sed 's/^/#   /' "$tmp/f4.txt" "$tmp/f4.csv" "$tmp/f2.txt"
fi
# Demo 08 with a B apart from I + W says the runs do different work; with
# the default costs it says nothing of the kind.
if mpiexec -n 4 ./demos/08_zero_bubble -m 2 --tick-ms 1 --cost B=1,I=1,W=1 --no-tui 2>&1 |
        grep -q "note: B (1 tick) is not I + W (2 ticks): 1F1B's backwards do less work" &&
    ! mpiexec -n 4 ./demos/08_zero_bubble -m 2 --tick-ms 1 --no-tui 2>&1 | grep -q "is not I + W"; then
    echo "ok - demo 08: B apart from I + W (--cost B=1,I=1,W=1) gets a note that the work differs, the default none"
else
    echo "not ok - demo 08: no note for B apart from I + W, or one for the default costs"
fi
# Demo 06 with --tp 1 runs that one shape (it ran its two default shapes,
# as if --tp were not given).
if mpiexec -n 8 ./demos/06_pp_tp --tp 1 --steps 1 --no-tui >"$tmp/tp1.txt" 2>&1 &&
    [ "$(grep -c '^=== 8 ranks as' "$tmp/tp1.txt")" = 1 ] && grep -q '^=== 8 ranks as P=8 stages x T=1 ' "$tmp/tp1.txt"; then
    echo "ok - demo 06 --tp 1: one shape, 8 stages of one rank"
else
    echo "not ok - demo 06 --tp 1 did not run 8 x 1 alone"; grep '^===' "$tmp/tp1.txt" | sed 's/^/#   /'
fi
# Options a demo cannot honour are refused, not ignored.
refuse "--csv in a demo without a table" "this demo prints no table to plot" mpiexec -n 4 ./demos/05_1f1b --csv "$tmp/x.csv"
refuse "--trace in demo 01" "--trace: this demo runs no training step" mpiexec -n 2 ./demos/01_forward_flow --trace "$tmp/x.json"
refuse "--steps in demo 01" "--steps: this demo runs no training step" mpiexec -n 2 ./demos/01_forward_flow --steps 3
refuse "--steps in demo 03" "--steps: this demo counts the memory of one step" mpiexec -n 2 ./demos/03_memory_split --steps 3

# Real compute: model options and partitions.
refuse "layers: too few counts" "2 counts for 4 stages" mpiexec -n 4 ./demos/01_forward_flow --layers 3,5
refuse "layers: wrong sum" "add up to 4 blocks, but the model has 8" mpiexec -n 4 ./demos/02_microbatches --layers 1,1,1,1
refuse "layers: a zero" "bad count at '0'" mpiexec -n 4 ./demos/03_memory_split --layers 0,4,2,2
refuse "layers: not numbers" "not a list of blocks per stage" mpiexec -n 4 ./demos/03_memory_split --layers two,six
refuse "more stages than blocks" "4 stages but only 3 blocks" mpiexec -n 4 ./demos/01_forward_flow --depth 3
refuse "batch does not split into M" "--batch 60 does not split into M=8" mpiexec -n 2 ./demos/02_microbatches --batch 60 -m 4,8
refuse "width 0" "'0' is not a width" mpiexec -n 2 ./demos/01_forward_flow --width 0
refuse "negative learning rate" "'-1' is not a learning rate" mpiexec -n 2 ./demos/02_microbatches --lr -1
refuse "unknown partition" "'middle' is not a partition" mpiexec -n 2 ./demos/03_memory_split --partition middle
# A model far larger than any machine's memory is refused before anything is
# allocated (1 TiB of weights and gradients; on a machine with more, the run
# would start).
refuse "model larger than memory" "GiB free: make the model or the batch smaller" \
    mpiexec -n 2 ./demos/02_microbatches --depth 512 --width 8192 --hidden 32768
refuse "model larger than memory, on a grid" "GiB free: make the model or the batch smaller" \
    mpiexec -n 4 ./demos/12_3d --depth 512 --width 8192 --hidden 32768
touch "$tmp/a_file"
refuse "dump folder under a file" "--dump: cannot make the folder '$tmp/a_file/sub'" \
    mpiexec -n 2 ./demos/02_microbatches --dump "$tmp/a_file/sub"
refuse "tick in a real demo" "this demo computes for real" mpiexec -n 2 ./demos/02_microbatches --tick-ms 5
refuse "model option in a timed demo" "this demo runs timed compute" mpiexec -n 2 ./demos/04_bubble_efficiency --depth 4
refuse "list of M in demo 01" "demo 02 splits it" mpiexec -n 2 ./demos/01_forward_flow -m 4
# --checkpoint is a switch, taken where a demo trains.
refuse "--checkpoint in a timed demo" "--checkpoint: this demo runs timed compute and has no model" \
    mpiexec -n 2 ./demos/04_bubble_efficiency --checkpoint
refuse "--checkpoint with a value" "--checkpoint takes no value ('--checkpoint=yes')" \
    mpiexec -n 2 ./demos/02_microbatches --checkpoint=yes
full && refuse "--checkpoint in demo 01" "--checkpoint: this demo trains nothing" mpiexec -n 2 ./demos/01_forward_flow --checkpoint
full && refuse "--checkpoint in demo 10" "--checkpoint: this demo trains both ways by itself" \
    mpiexec -n 2 ./demos/10_checkpointing --checkpoint
full && refuse "one step in demo 10" "--steps 1: this demo leaves each way's first step out" \
    mpiexec -n 2 ./demos/10_checkpointing --steps 1

# The grid (--tp, --dp): shapes that do not fit the ranks or the model.
refuse "grid: ranks not a multiple of T x D" "8 ranks do not split into stages of T x D = 3 x 1 = 3 ranks (8 / 3 is not whole)" \
    mpiexec -n 8 ./demos/06_pp_tp --tp 3
refuse "grid: T does not divide the hidden width" "the hidden width 512 does not split into 3 equal slices (512 / 3 = 170.67)" \
    mpiexec -n 6 ./demos/06_pp_tp --tp 3
refuse "--chunks for a schedule without chunks" "only interleaved takes a number of chunks" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --schedule zbh1 --chunks 3
# The delays put in on purpose need something to delay.
refuse "--fault late with one rank" "--fault late:0: rank 0 sends nothing of micro-batch 4 (with one pipeline rank there are no messages)" \
    mpiexec -n 1 ./demos/04_bubble_efficiency -m 8 --fault late:0
refuse "--fault slow naming a rank not in the job" "--fault: 'slow:9': rank 9 is not in the job" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --fault slow:9
refuse "--repeat in a real demo" "--repeat: this demo computes for real and takes --steps" \
    mpiexec -n 2 ./demos/02_microbatches --repeat 3
full && refuse "--link not a speed" "--link: 'fast' is not a link: give GBPS" mpiexec -n 4 ./demos/04_bubble_efficiency --link fast
full && refuse "--link of zero Gb/s" "--link: '0,5' is not a link" mpiexec -n 4 ./demos/05_1f1b --link 0,5
full && refuse "--link latency negative" "--link: '10,-1' is not a link" mpiexec -n 8 ./demos/06_pp_tp --link 10,-1
full && refuse "--link where no step runs" "--link: this demo sends no messages through a step" \
    mpiexec -n 4 ./demos/01_forward_flow --link 10
full && refuse "--interval negative" "--interval: '-1' is not a time between requests" \
    mpiexec -n 4 ./demos/09_inference --interval -1
full && refuse "--interval without a stream" "--interval: this demo has no stream of requests" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --interval 2
full && refuse "--fault in the stream" "--fault: this demo's first run leaves every rank but 0 idle" \
    mpiexec -n 4 ./demos/09_inference --fault stall:2
full && refuse "--save-schedule of a stream" "--save-schedule: a stream of requests runs forwards only" \
    mpiexec -n 4 ./demos/09_inference --save-schedule s.csv
full && refuse "--real where a demo computes one way" "--real: this demo computes one way only" \
    mpiexec -n 2 ./demos/04_bubble_efficiency --real
refuse "a model option without --real" "--depth: the model's options need --real" \
    mpiexec -n 2 ./demos/09_inference --depth 4
full && refuse "a tick with --real" "--tick-ms: this demo computes for real" \
    mpiexec -n 2 ./demos/09_inference --real --tick-ms 3
full && refuse "--steps in inference" "--steps: inference trains nothing" \
    mpiexec -n 2 ./demos/09_inference --real --steps 3
full && refuse "--checkpoint in inference" "--checkpoint: inference runs no backward" \
    mpiexec -n 2 ./demos/09_inference --real --checkpoint
full && refuse "--link in the stream" "--link: the stream's formula has no link in it" \
    mpiexec -n 4 ./demos/09_inference --link 10
full && refuse "--layers in the stream" "--layers: the one-rank run has one stage" \
    mpiexec -n 2 ./demos/09_inference --real --layers 4,4
full && refuse "a backward's cost in the stream" "--cost: a stream runs forwards only" \
    mpiexec -n 4 ./demos/09_inference --cost B=3
refuse "a stream too short for a steady state" "-m 4: a stream needs at least 2P = 8 requests" \
    mpiexec -n 4 ./demos/09_inference -m 4
full && refuse "--slow-stage without a factor" "--slow-stage: '2' is not a stage and a factor" \
    mpiexec -n 4 ./demos/04_bubble_efficiency --slow-stage 2
full && refuse "--slow-stage factor of zero" "--slow-stage: '1:0' is not a stage and a factor" \
    mpiexec -n 4 ./demos/11_balance --slow-stage 1:0
full && refuse "--slow-stage past the last stage" "--slow-stage 5:2: the schedule has stages 0 to 3" \
    mpiexec -n 4 ./demos/05_1f1b --slow-stage 5:2
refuse "--layers where the demo splits" "--layers: this demo makes its own splits" \
    mpiexec -n 2 ./demos/11_balance --real --layers 8,8
full && refuse "--checkpoint in demo 11" "--checkpoint: this demo compares splits of the same work" \
    mpiexec -n 2 ./demos/11_balance --real --checkpoint
full && refuse "--dump in demo 11" "--dump: this demo trains three models in turn" \
    mpiexec -n 2 ./demos/11_balance --real --dump /tmp/x
full && refuse "--slow-stage with --real" "--slow-stage: this demo computes for real" \
    mpiexec -n 2 ./demos/11_balance --real --slow-stage 1:2
full && refuse "--slow-stage in a real demo" "--slow-stage: this demo computes for real" \
    mpiexec -n 2 ./demos/02_microbatches --slow-stage 1:2
# Costs that break the zero-bubble formulas: demo 08's table marks those
# rows and says the prediction is the reference.
if mpiexec -n 4 ./demos/08_zero_bubble -m 8 --cost B=1.5,I=1,W=0.5 --tick-ms 1 --no-tui >"$tmp/out" 2>&1 &&
    [ "$(grep -c '^  zb[hv1]* .* !$' "$tmp/out")" -eq 2 ] && ! grep -q '^  1f1b .* !$' "$tmp/out" &&
    grep -q "^! the formula assumes what this run does not (F, I and W do not cost the same)" "$tmp/out"; then
    echo "ok - demo 08 with W cheaper than I: the zbh1 and zbv rows are marked ! and the note names the broken condition"
else
    echo "not ok - demo 08 with broken costs: rows or note missing"; sed 's/^/#   /' "$tmp/out" | tail -25
fi
refuse "grid: batch not a multiple of D x M" "--batch 60 does not split into D=2 replicas x M=8 micro-batches" \
    mpiexec -n 4 ./demos/06_pp_tp --dp 2 --batch 60
refuse "grid: all-reduce cost of a word" "--cost: 'AR=x' is not a cost" mpiexec -n 4 ./demos/05_1f1b --tp 2 --cost AR=x
refuse "grid: all-reduce cost in demo 04" "an all-reduce cost needs a grid" mpiexec -n 4 ./demos/04_bubble_efficiency --cost AR=1
refuse "grid: T of zero" "--tp: '0' is not a number of ranks" mpiexec -n 4 ./demos/06_pp_tp --tp 0
refuse "grid: --tp in a one-pipeline demo" "this demo runs one pipeline" mpiexec -n 4 ./demos/02_microbatches --tp 2
refuse "grid: --dp in demo 04" "this demo runs one pipeline" mpiexec -n 4 ./demos/04_bubble_efficiency --dp 2

# --dump makes its folder (and parents), writes every .npy file whole (NumPy
# 1.0 header with the shape), and leaves no .tmp.
f="$tmp/npy/a/b/block0_W1.npy"
if mpiexec -n 2 ./demos/02_microbatches --no-tui -m 4 --depth 3 --steps 2 --dump "$tmp/npy/a/b" >/dev/null 2>&1 &&
    [ "$(ls "$tmp/npy/a/b" | wc -l)" -eq 15 ] && ! ls "$tmp/npy/a/b" | grep -q tmp &&
    head -c 6 "$f" | grep -q NUMPY && head -c 128 "$f" | grep -a -q "'shape': (128, 512)" &&
    [ "$(wc -c <"$f")" -eq $((128 + 128 * 512 * 4)) ]; then
    echo "ok - --dump makes its folder and parents, and writes 12 weight files, input, target and output as .npy"
else
    echo "not ok - --dump files missing or malformed: $(ls "$tmp/npy/a/b" 2>&1 | tr '\n' ' ')"
fi

# The dumped files alone give the output: tests/npy_forward runs the forward
# pass from them (W2 as hidden x width) in plain loops.  A tiny learning rate
# keeps the last update, made after that output, below its tolerance.
mkdir "$tmp/fwd"
if mpiexec -n 2 ./demos/02_microbatches --no-tui -m 2 --depth 3 --steps 2 --lr 0.000001 --dump "$tmp/fwd" >/dev/null 2>&1 &&
    said=$(./tests/npy_forward "$tmp/fwd" 3); then
    echo "ok - --dump: the forward pass run from the .npy files alone gives the output file ($said)"
else
    echo "not ok - --dump: the .npy files do not give the output: ${said:-the demo failed}"
fi
