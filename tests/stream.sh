#!/bin/sh
# stream.sh -- demo 09's headline figures against their formulas (timed and
# --real), and the link model (--link) measured where it acts: every message
# leaves no sooner than the link lets it, and the delay shows up as messages
# in the breakdown; make check also: a slow link costs tensor parallelism far
# more than the pipeline (demo 06), and --real's rate with a core per rank.
# Timed figures get up to three tries on a busy machine.
cd "$(dirname "$0")/.." || exit 1
. tests/sample.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# figure LABEL COLUMN: the number in that column of the line starting LABEL.
figure() { grep -F -- "$1" "$tmp/out" | head -1 | sed 's/x//g' | awk -v c="$2" '{ print $c }'; }

# 1. All requests waiting: the pipelined stream runs P times the one-rank
#    rate (within 10 %), and a request's own latency does not fall.  Ticks
#    of 10 ms: on a loaded machine a compute overruns by a millisecond or
#    two, which 5 ms ticks would make a third of a stage.
tries=0
while :; do
    tries=$((tries + 1))
    mpiexec -n 4 ./demos/09_inference --no-tui --tick-ms 10 >"$tmp/out" 2>&1
    ratio=$(figure "  P stages / one rank (measured)" 7)
    one=$(grep "^  median" "$tmp/out" | head -1 | awk '{print $2}')
    pipe=$(grep "^  median" "$tmp/out" | head -1 | awk '{print $3}')
    lat=$(grep "^  formula: P stages x F" "$tmp/out" | awk '{print $NF}')
    good=$(awk -v r="$ratio" -v a="$one" -v b="$pipe" -v f="$lat" \
        'BEGIN { print (r >= 3.6 && r <= 4.4 && b >= 0.95 * a && b >= 0.95 * f) ? 1 : 0 }')
    [ "$good" = 1 ] || [ $tries -ge 3 ] && break
done
if [ "$good" = 1 ]; then
    echo "ok - 09: P=4 stages serve ${ratio} times the one-rank rate (formula 4, within 10 %); latency in service ${pipe} ms, not below one rank's ${one} ms or the formula's ${lat} ms (5 % for the clock) (try $tries)"
else
    echo "not ok - 09: ratio '$ratio' (want 3.6 to 4.4), latency in service '$pipe' ms against one rank's '$one' ms and the formula's '$lat' ms"
    sed 's/^/#   /' "$tmp/out"
fi

# 2. Requests every 2 ticks: the arrivals set the pace of the pipeline (half
#    its rate) but not of one rank, which is slower still: ratio 2.
tries=0
while :; do
    tries=$((tries + 1))
    mpiexec -n 4 ./demos/09_inference --no-tui --tick-ms 5 --interval 2 >"$tmp/out" 2>&1
    ratio=$(figure "  P stages / one rank (measured)" 7)
    good=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.8 && r <= 2.2) ? 1 : 0 }')
    [ "$good" = 1 ] || [ $tries -ge 3 ] && break
done
if [ "$good" = 1 ]; then echo "ok - 09 --interval 2: ratio $ratio (formula 2, within 10 %)"
else echo "not ok - 09 --interval 2: ratio '$ratio', want 1.8 to 2.2"; sed 's/^/#   /' "$tmp/out"; fi

# 2b. --real: the model's blocks serve the stream; every request's output on
#     2 stages equals the one-rank run's, bit for bit.  (The rate needs a core
#     per rank: make check also asks 2 stages for more than 1.5 times one rank
#     with requests of 16 samples.)
mpiexec -n 2 ./demos/09_inference --real --no-tui >"$tmp/out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^every request's output on P stages equals the one-rank run's bit for bit" "$tmp/out"; then
    echo "ok - 09 --real: 2 stages' outputs equal one rank's bit for bit"
else echo "not ok - 09 --real: exit $rc"; sed 's/^/#   /' "$tmp/out" | tail -8; fi
if full; then
    tries=0
    while :; do
        tries=$((tries + 1))
        mpiexec -n 2 ./demos/09_inference --real --no-tui --batch 256 -m 16 >"$tmp/out" 2>&1
        ratio=$(figure "  P stages / one rank (measured)" 7)
        good=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.5) ? 1 : 0 }')
        [ "$good" = 1 ] || [ $tries -ge 3 ] && break
    done
    if [ "$good" = 1 ]; then echo "ok - 09 --real: 2 stages serve $ratio times one rank's rate (try $tries)"
    else echo "not ok - 09 --real: ratio '$ratio', want 1.5 or more"; sed 's/^/#   /' "$tmp/out" | head -12; fi
fi

# 3. A link of 1 Gb/s and 100 us: a 64 KiB message needs 624.3 us, so no
#    send is seen complete sooner; and the delay is the breakdown's msg part.
mpiexec -n 4 ./demos/04_bubble_efficiency --no-tui -m 8 --tick-ms 2 --link 1,100 --events "$tmp/ev.csv" \
    >"$tmp/out" 2>&1
sends=$(awk -F, '$5 == "send"' "$tmp/ev.csv" | wc -l)
soon=$(awk -F, '$5 == "send" && $10 - $9 < 624.288 { n++ } END { print n + 0 }' "$tmp/ev.csv")
msg=$(grep -A1 "^    M  here %" "$tmp/out" | tail -1 | awk '{ print $8 }')
if [ "$sends" -gt 0 ] && [ "$soon" -eq 0 ] && awk -v m="$msg" 'BEGIN { exit !(m + 0 > 5) }'; then
    echo "ok - --link 1,100: none of $sends sends complete before 624.3 us; the breakdown puts $msg points in messages"
else
    echo "not ok - --link 1,100: $soon of $sends sends complete too soon, msg part '$msg'"; sed 's/^/#   /' "$tmp/out" | tail -12
fi

# 4. Demo 06 on a slow link: the time a rank spends in tensor-parallel sums
#    (measured, modelled link) grows with T: the shape with 4 TP ranks spends
#    over twice what the one with 2 does (its sums cross the link 3 times a
#    step each, 2 x 3 x 30 per rank; its pipeline messages fewer).  Step
#    times alone are too noisy with 8 ranks on 2 cores.
#    (make check only: lesson 06's excerpt runs demo 06 on that link in make test.)
full || exit 0
mpiexec -n 8 ./demos/06_pp_tp --no-tui --steps 2 --link 0.02,500 >"$tmp/out" 2>&1
t4=$(grep -A4 "^=== the two shapes side by side" "$tmp/out" | grep "^  2 x 4 x 1" | awk '{ print $9 }')
t2=$(grep -A4 "^=== the two shapes side by side" "$tmp/out" | grep "^  4 x 2 x 1" | awk '{ print $9 }')
if grep -q "^=== this machine's own links against the modelled link" "$tmp/out" &&
    awk -v a="$t4" -v b="$t2" 'BEGIN { exit !(a + 0 > 2 * (b + 0) && b + 0 > 0) }'; then
    echo "ok - 06 --link 0.02,500: a rank spends $t4 ms in TP sums at T=4, $t2 ms at T=2 (measured)"
else
    echo "not ok - 06 --link: TP ms per rank '$t4' at T=4 against '$t2' at T=2: want over twice"
    sed 's/^/#   /' "$tmp/out" | tail -20
fi
