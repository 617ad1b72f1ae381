#!/bin/sh
# gpu.sh -- the GPU build (make GPU=1) in build/gpu, leaving the normal
# build as it is, and what runs on it.
#
#   sh tools/gpu.sh test    (make test-gpu) build; the CPU tests in that build
#                           (the C tests and the bad-input tests: the CUDA
#                           backend linked in must change nothing on the CPU);
#                           then tests/gpu.sh, which runs the GPU tests where
#                           there is a GPU and skips them with one line where
#                           not.  Ends on one "N passed, N failed" line.
#   sh tools/gpu.sh bench   (make bench-gpu) build, then bench/gpu.sh
#
# Without nvcc, or without CUDA's runtime and cuBLAS where nvcc links from
# (tools/cuda.sh finds them), there is no GPU build: one "skip" line, and it
# passes.
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
out="$top/build/gpu"
what=${1:-test}
case "$what" in
    test | bench) ;;
    *) echo "gpu.sh: unknown '$what': use test or bench" >&2; exit 2 ;;
esac
log=$(mktemp)
trap 'rm -f "$log" "$log.out"' EXIT

# skip WHY: no GPU build here; a failure where the GPU must be used
# (PP_REQUIRE_GPU=1, tools/gpu_remote.sh).
skip() {
    if [ "${PP_REQUIRE_GPU:-0}" = 1 ]; then
        echo "not ok - the GPU build: $1"
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "skip - the GPU build: $1"
    echo "0 passed, 0 failed"
    exit 0
}
nvcc=$(sh tools/cuda.sh nvcc) || skip "no nvcc here (on the PATH or in /usr/local/cuda/bin)"
sh tools/cuda.sh lib >/dev/null || skip "$nvcc is here, but no libcudart.so and libcublas.so where it links from"
sh tools/copy_tree.sh "$out" || exit 1
echo "== building with GPU=1 ($nvcc) in build/gpu"
if ! make -C "$out" -j"$(nproc 2>/dev/null || echo 2)" GPU=1 all >"$log.out" 2>&1; then
    tail -30 "$log.out"
    echo "not ok - the GPU build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
if grep -q -e 'warning:' "$log.out"; then
    grep 'warning:' "$log.out" | head -10
    echo "not ok - the GPU build has warnings" | tee -a "$log"
else
    echo "ok - the GPU build compiles and links without a warning ($("$nvcc" --version | tail -2 | head -1))" | tee -a "$log"
fi
[ "$what" = bench ] && exec sh "$out/bench/gpu.sh"

# The steps run in build/gpu, on what was built there.
cd "$out" || exit 1
. tests/steps.sh

step ./tests/test_sched
step mpiexec -n 4 ./tests/test_train
step mpiexec -n 8 ./tests/test_grid
step mpiexec -n 4 ./tests/test_mpi 4
step sh tests/bad_input.sh
step sh tests/gpu.sh

tally
