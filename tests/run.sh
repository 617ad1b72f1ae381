#!/bin/sh
# run.sh -- runs every test and ends on one "N passed, N failed" line.
# Each test prints "ok - ..." or "not ok - ..." lines; a test program that
# dies without saying so counts as one failure.
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

. tests/steps.sh

step ./tests/test_sched
step ./tests/test_idle
step mpiexec -n 4 ./tests/test_train
step mpiexec -n 4 ./tests/test_random 200
step mpiexec -n 8 ./tests/test_grid sample
for P in 2 3 4 8; do step mpiexec -n $P ./tests/test_mpi 4; done
step mpiexec -n 4 ./tests/test_mpi 4 skew
# one core for two ranks, whatever the machine: the bells (a crowded machine;
# taskset is Linux's, and so are the bells)
if command -v taskset >/dev/null 2>&1; then step taskset -c 0 mpiexec -n 2 ./tests/test_mpi 4 bells
else echo "skip - the bells (a crowded machine): no taskset here (Linux's util-linux has it)"; fi
step sh tests/deps.sh
step sh tests/layers.sh
step sh tests/bad_input.sh
step sh tests/stream.sh
step sh tests/balance.sh
step sh tests/predict.sh
step sh tests/hang.sh
step sh tests/options.sh
step sh tests/lessons.sh
step sh tests/tui.sh
step sh tests/gpu.sh

tally
