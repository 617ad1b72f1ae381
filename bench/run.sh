#!/bin/sh
# run.sh -- the benchmark tables (make bench).
#
# Bubble fidelity: how far the measured bubble lies above the formula
# (P-1)/(M+P-1), in percentage points, for GPipe and 1F1B at M = 8 and 32,
# 5 ms ticks, 64 KiB messages, on P = 4 and P = 8 ranks; then interleaved
# (v = 2) and ZB-H1 at P = 4 against their prediction.  Each figure is the
# mean and the worst of RUNS runs, each run's figure the median of REPEAT
# steps (demo 04's --repeat, here and at P = 16 and 32: a step slowed by a
# busy moment, a sleep that ended a millisecond late, is the machine's
# noise, not the schedule's bubble).  Target: within 0.5 points at P = 4
# (1.0 for the two with more pieces per step).  Then, for the same runs, where
# the excess goes (the measured bubble taken apart, pp_idle.h) and how far
# the prediction for this machine (a probe before the steps) lies from the
# measured bubble: target 0.5 points at P = 4; the same for real compute
# (demo 02) on P = 2 and 4 ranks, and its bubble taken apart.  Then P = 16
# and 32 (M = 32, 10 ms ticks): within 1 point of the prediction for this
# machine, and at P = 16 within 1 point of the formula.
cd "$(dirname "$0")/.." || exit 1
RUNS=${RUNS:-3}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "Bubble fidelity: measured minus formula, percentage points (mean and worst of $RUNS runs, each the median of $REPEAT steps)"
echo "tick 5 ms, 64 KiB messages, F=1 B=2 ticks; $(nproc) cores on this machine"
printf '%3s  %-6s %4s  %9s %9s  %-19s  %s\n' P schedule M formula measured "diff" "target 0.5"
for P in 4 8; do
    for sched in gpipe 1f1b; do
        for i in $(seq "$RUNS"); do
            mpiexec -n "$P" ./demos/04_bubble_efficiency --schedule "$sched" -m 8,32 --tick-ms 5 \
                --payload 64K --repeat "$REPEAT" --csv "$tmp/$P-$sched-$i.csv" >/dev/null || exit 1
            tail -n +2 "$tmp/$P-$sched-$i.csv"
        done | awk -F, -v P="$P" -v s="$sched" '
            { d = 100 * ($8 - $6); f[$3] = 100 * $6; m[$3] += 100 * $8; sum[$3] += d; n[$3]++
              if (!($3 in w) || d > w[$3]) w[$3] = d }
            END { for (M in n) printf "%3d  %-6s %4d  %7.2f %% %7.2f %%  %+5.2f (worst %+5.2f)  %s\n",
                      P, s, M, f[M], m[M] / n[M], sum[M] / n[M], w[M],
                      (P == 4 ? (sum[M] / n[M] <= 0.5 ? "met" : "missed") : "-") }' | sort -k3n
    done
done
echo "formula: computed; measured: timed runs on this machine, each rank sleeping to absolute deadlines"

# Schedules beyond 1F1B: interleaved (v = 2) and ZB-H1, measured against the
# simulator's prediction of the same schedule (which equals the formula at
# these M).  Interleaved puts twice the messages on the step's chain, ZB-H1
# splits each backward in two: target within 1.0 point at P = 4.
echo
echo "Beyond 1F1B: measured minus predicted (simulator), percentage points (mean and worst of $RUNS runs, each the median of $REPEAT steps)"
printf '%3s  %-11s %4s  %9s %9s  %-19s  %s\n' P schedule M predicted measured "diff" "target 1.0"
for sched in interleaved zbh1; do
    for i in $(seq "$RUNS"); do
        mpiexec -n 4 ./demos/04_bubble_efficiency --schedule "$sched" -m 8,32 --tick-ms 5 \
            --payload 64K --repeat "$REPEAT" --csv "$tmp/x-$sched-$i.csv" >/dev/null || exit 1
        tail -n +2 "$tmp/x-$sched-$i.csv"
    done | awk -F, -v s="$sched" '
        { d = 100 * ($8 - $7); f[$3] = 100 * $7; m[$3] += 100 * $8; sum[$3] += d; n[$3]++
          if (!($3 in w) || d > w[$3]) w[$3] = d }
        END { for (M in n) printf "%3d  %-11s %4d  %7.2f %% %7.2f %%  %+5.2f (worst %+5.2f)  %s\n",
                  4, s, M, f[M], m[M] / n[M], sum[M] / n[M], w[M], (sum[M] / n[M] <= 1.0 ? "met" : "missed") }' | sort -k3n
done
echo "predicted: the simulator replaying the schedule with its ticks; measured: timed runs on this machine"

# Every run above, taken apart: the mean of each part over the runs (points
# of the step; measured = formula + parts), the messages on the critical
# path and the median delivery, then the bubble predicted for this machine
# against the measured one.  The machine's floor is the delivery: a message
# waited for arrives that long after the compute that made it.
echo
echo "Where the excess goes, points of the step (mean of $RUNS runs, each the median of $REPEAT steps; measured = formula + parts):"
printf '%3s  %-11s %4s  %6s %6s %6s %6s %6s %6s  %4s  %s\n' P schedule M sched imbal over late msg kit hops "delivery"
cat "$tmp"/[0-9x]*.csv | grep -v '^schedule' | awk -F, '
    { k = $2 " " $1 " " $3; n[k]++; for (c = 17; c <= 24; c++) v[k, c] += $c }
    END { for (k in n) { split(k, a, " ")
              printf "%3d  %-11s %4d ", a[1], a[2], a[3]
              for (c = 17; c <= 22; c++) printf " %+6.2f", 100 * v[k, c] / n[k]
              printf "  %4.0f  %.0f us\n", v[k, 23] / n[k], v[k, 24] / n[k] } }' | sort -k1n -k2 -k3n
echo "sched: the schedule replayed with nominal costs, against the formula; imbal: stages' own costs;"
echo "over: computes past their cost; late: ranks starting late; msg: deliveries on the critical path;"
echo "kit: the kit's own time between actions; hops: messages on the critical path;"
echo "delivery: the median delivery of a message (the machine's floor)"
echo
echo "Prediction for this machine (a probe before the steps) against measured (mean and worst of $RUNS runs, each the median of $REPEAT steps):"
printf '%3s  %-11s %4s  %9s %9s %9s  %-19s  %s\n' P schedule M formula "this mach" measured "diff" "target 0.5"
cat "$tmp"/[0-9x]*.csv | grep -v '^schedule' | awk -F, '
    { k = $2 " " $1 " " $3; d = 100 * ($8 - $16); n[k]++; f[k] = 100 * $6; h[k] += 100 * $16; m[k] += 100 * $8
      s[k] += d; if (!(k in w) || (d < 0 ? -d : d) > (w[k] < 0 ? -w[k] : w[k])) w[k] = d }
    END { for (k in n) { split(k, a, " "); mean = s[k] / n[k]
              printf "%3d  %-11s %4d  %7.2f %% %7.2f %% %7.2f %%  %+5.2f (worst %+5.2f)  %s\n", a[1], a[2], a[3], f[k],
                     h[k] / n[k], m[k] / n[k], mean, w[k], a[1] == 4 ? ((mean <= 0.5 && mean >= -0.5) ? "met" : "missed") : "-" } }' |
    sort -k1n -k2 -k3n
echo "this machine: the simulator with the probe's compute overshoot and message delivery added; diff = measured - it"

# Real compute (demo 02 training its model) on P = 2 ranks, one per core
# here, and P = 4: the prediction for this machine, made before each step
# from how long each compute and each message waited for took in the step
# before (a message that had come: the mean of those, or less); where ranks
# outnumber cores they take the cores in turn, a whole compute each (the
# executor's gate), and the prediction replays those turns, a compute that
# waited for its core starting as long after the core's release as such
# computes did in the step before, on the mean, a message that had come
# taking at most as long as those made while a core was free (a message
# made while every core computes is seen late, but its compute would wait
# for a core then anyway), and the races for a core between a rank and the
# rank its message woke replayed both ways, weighed by the share the woken
# rank won in the step before (lib/core/sim.c).
# There the batch is 2048: a compute of 64 rows (M = 32, two blocks) then
# takes about 2 ms, long beside that handoff (tens to hundreds of
# microseconds, changing from step to step), which at batch 256 is a tenth
# to a third of a compute.  8 steps: the median of steps 2 to 8 measured
# (the first warms the caches) and of the predictions for steps 3 to 8
# (those made from a warm step), as demo 02 prints them.
# Target: within 0.5 points of the measured bubble.
echo
echo "Real compute: prediction for this machine against measured (mean and worst of $RUNS runs)"
echo "demo 02: width 256, hidden 1024, 8 blocks, batch 256 (2048 with more ranks than cores); the median of"
echo "steps 2 to 8 (predicted: 3 to 8); $(nproc) cores"
printf '%3s  %-11s %4s  %9s %9s %9s %7s %8s %6s  %-19s  %s\n' P schedule M formula "this mach" measured spread delivery \
    cores "diff" "target 0.5"
for P in 2 4; do
    batch=256
    [ "$P" -gt "$(nproc)" ] && batch=2048
    for sched in gpipe 1f1b interleaved zbh1; do
        for i in $(seq "$RUNS"); do
            mpiexec -n "$P" ./demos/02_microbatches --no-tui --schedule "$sched" -m 8,32 --batch "$batch" --width 256 \
                --hidden 1024 --steps 8 --csv "$tmp/r-$P-$sched-$i.csv" >/dev/null || exit 1
            tail -n +2 "$tmp/r-$P-$sched-$i.csv"
        done | awk -F, '
            { k = $3; d = 100 * ($7 - $12); n[k]++; f[k] = 100 * $8; h[k] += 100 * $12; m[k] += 100 * $7; s[k] += d
              if (!(k in w) || (d < 0 ? -d : d) > (w[k] < 0 ? -w[k] : w[k])) w[k] = d; name = $1; P = $2
              if (!(k in lo) || 100 * $7 < lo[k]) lo[k] = 100 * $7
              if (!(k in hi) || 100 * $7 > hi[k]) hi[k] = 100 * $7
              if ($20 > 0) { dl[k] += $20; nd[k]++ }
              c[k] += 100 * $21 }
            END { for (k in n) { mean = s[k] / n[k]
                      printf "%3d  %-11s %4d  %7.2f %% %7.2f %% %7.2f %% %7.2f %8s %+6.2f  %+5.2f (worst %+5.2f)  %s\n", P, name,
                             k, f[k], h[k] / n[k], m[k] / n[k], hi[k] - lo[k],
                             nd[k] ? sprintf("%.0f us", dl[k] / nd[k]) : "-", c[k] / n[k], mean, w[k],
                             (mean <= 0.5 && mean >= -0.5) ? "met" : "missed" } }' |
                sort -k3n
    done
done
echo "measured: the median step's bubble (with more ranks than cores, a rank waiting for its turn on a core"
echo "counts as idle); this machine: the median of the predictions made before each step by the simulator,"
echo "with each compute and each message waited for as long as it took in the step before, and a message"
echo "that had come as long as the ones waited for took on the mean, or less if it came sooner (with more"
echo "ranks than cores: the cores taken in turn, a compute that waited for one starting the step before's"
echo "mean handoff after the core's release, a message that had come at most the median of those made"
echo "while a core was free, and a race for a core between a rank and the rank its message woke replayed"
echo "both ways, weighed by how often the woken rank won in the step before); spread: the largest measured"
echo "bubble of the runs minus the smallest, in points (the run-to-run noise the target sits in); delivery:"
echo "the median delivery of a message (the machine's floor); cores: the measured bubble's part that ranks"
echo "spent waiting for a core (points of the step, 0 with a core for every rank)"

# The same real-compute runs taken apart, as the timed ones above: the
# median step's parts (demo 02's CSV), the mean over the runs.
echo
echo "Real compute, where the measured bubble goes, points of the step (mean of $RUNS runs; measured = formula + parts):"
printf '%3s  %-11s %4s  %9s %9s  %6s %6s %6s %6s %6s %6s %6s  %4s  %s\n' P schedule M formula measured sched imbal over \
    late msg cores kit hops delivery
cat "$tmp"/r-*.csv | grep -v '^schedule' | awk -F, '
    { k = $2 " " $1 " " $3; n[k]++; f[k] = 100 * $8; m[k] += 100 * $7; hops[k] += $19
      split("13 14 15 16 17 21 18", col, " "); for (j = 1; j <= 7; j++) v[k, j] += 100 * $col[j]
      if ($20 > 0) { dl[k] += $20; nd[k]++ } }
    END { for (k in n) { split(k, a, " ")
              printf "%3d  %-11s %4d  %7.2f %% %7.2f %% ", a[1], a[2], a[3], f[k], m[k] / n[k]
              for (j = 1; j <= 7; j++) printf " %+6.2f", v[k, j] / n[k]
              printf "  %4.0f  %s\n", hops[k] / n[k], nd[k] ? sprintf("%.0f us", dl[k] / nd[k]) : "-" } }' |
    sort -k1n -k2 -k3n
echo "sched: the schedule with every stage at the mean of its blocks' measured cost, against the formula; imbal:"
echo "stages' own costs; over: computes past their stage's cost; late: ranks starting late; msg: deliveries on"
echo "the critical path; cores: waits for a core; kit: the kit's own time between actions; hops: messages on"
echo "the critical path; delivery: the median delivery of a message"

# Many ranks on few cores: P = 16 and 32, M = 32, 10 ms ticks, 1F1B.
echo
echo "Scale: 1f1b, M=32, tick 10 ms, 64 KiB; $(nproc) cores (mean of $RUNS runs, each the median of $REPEAT steps; points of the step)"
printf '%3s  %9s %9s %9s  %8s %8s  %6s %6s %6s %6s %6s %6s  %4s %8s  %s\n' P formula "this mach" measured "-formula" "-this" sched \
    imbal over late msg kit hops delivery "targets 1.0"
for P in 16 32; do
    for i in $(seq "$RUNS"); do
        mpiexec -n "$P" ./demos/04_bubble_efficiency --schedule 1f1b -m 32 --tick-ms 10 --payload 64K \
            --repeat "$REPEAT" --csv "$tmp/s$P-$i.csv" >/dev/null || exit 1
        tail -n +2 "$tmp/s$P-$i.csv"
    done | awk -F, -v P="$P" '
        { n++; f = 100 * $6; h += 100 * $16; m += 100 * $8; for (c = 17; c <= 22; c++) v[c] += 100 * $c
          hops += $23; dl += $24 }
        END { h /= n; m /= n; df = m - f; dh = m - h
              ok = (dh <= 1 && dh >= -1) && (P != 16 || df <= 1)
              printf "%3d  %7.2f %% %7.2f %% %7.2f %%  %+8.2f %+8.2f  %+6.2f %+6.2f %+6.2f %+6.2f %+6.2f %+6.2f  %4.0f %5.0f us  %s\n", P,
                     f, h, m, df, dh, v[17] / n, v[18] / n, v[19] / n, v[20] / n, v[21] / n, v[22] / n, hops / n, dl / n,
                     ok ? "met" : "missed" }'
done
echo "sched to kit: the parts, as in the tables above; hops: messages on the critical path; delivery: the median delivery of a message (the machine's floor)"
echo "targets: within 1 point of this machine's prediction; at P=16 also within 1 point of the formula"

# The live view's cost: the same step with the view drawing (in a detached
# tmux terminal) and without it.  Target: makespans within 2 %.
if command -v tmux >/dev/null 2>&1; then
    echo
    echo "Live view cost: 1f1b, P=4, M=8 and 32, tick 5 ms; makespan measured with the view on and off (mean of $RUNS runs)"
    for i in $(seq "$RUNS"); do
        mpiexec -n 4 ./demos/04_bubble_efficiency -m 8,32 --tick-ms 5 --no-tui --csv "$tmp/off-$i.csv" >/dev/null || exit 1
        sess="ppbench$$"
        tmux new-session -d -s "$sess" -x 120 -y 40 \
            "mpiexec -n 4 ./demos/04_bubble_efficiency -m 8,32 --tick-ms 5 --exit --csv $tmp/on-$i.csv > /dev/null; tmux wait-for -S $sess-done"
        tmux wait-for "$sess-done"
    done
    for M in 8 32; do
        off=$(cat "$tmp"/off-*.csv | awk -F, -v M="$M" '$3 == M { s += $13; n++ } END { if (n) printf "%.1f", s / n }')
        on=$(cat "$tmp"/on-*.csv | awk -F, -v M="$M" '$3 == M { s += $13; n++ } END { if (n) printf "%.1f", s / n }')
        awk -v M="$M" -v a="$off" -v b="$on" 'BEGIN { d = 100 * (b - a) / a;
            printf "  M=%-3d view off %7.1f ms   view on %7.1f ms   %+5.2f %%  (target 2 %%: %s)\n", M, a, b, d, (d <= 2 && d >= -2) ? "met" : "missed" }'
    done
fi

# Real compute on 2 ranks: speedup of P=2 over P=1 against 2M/(M+1), and
# matrix-multiply throughput inside a stage against bare sgemm (bench/real.c).
echo
echo "Real compute, 2 ranks:"
mpiexec -n 2 ./bench/real || exit 1

# Throughput against micro-batch size: demo 02's sweep on 2 ranks.
echo
echo "Throughput against micro-batch size (demo 02, 2 ranks, batch 256, width 256, hidden 1024):"
mpiexec -n 2 ./demos/02_microbatches --no-tui --batch 256 --width 256 --hidden 1024 -m 1,2,4,8,16,32,64,128 --steps 4 || exit 1

# GPU ranks (bench/gpu.c): a stage's multiplies against the same called bare, and P=2
# over P=1 on one GPU and on two.  It needs a GPU and a `make GPU=1` build
# (make bench-gpu makes one); otherwise one line says which is missing.
echo
echo "GPU ranks:"
sh bench/gpu.sh || exit 1
