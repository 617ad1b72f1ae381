#!/bin/sh
# gpu.sh -- the GPU benchmark (the end of make bench; make bench-gpu runs it
# from the GPU build that tools/gpu.sh makes): bench/gpu on two ranks
# sharing one GPU, then, where the machine has two or more, on two GPUs.
# Without a GPU, or in a build without CUDA: one skip line.
cd "$(dirname "$0")/.." || exit 1
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "${gpus:-0}" -lt 1 ]; then
    echo "skip - GPU benchmark: nvidia-smi lists no GPU here"
    exit 0
fi
echo "GPUs on this machine (nvidia-smi -L):"
nvidia-smi -L | sed 's/^/  /'
echo
echo "== two ranks on one GPU"
CUDA_VISIBLE_DEVICES=0 mpiexec -n 2 ./bench/gpu || exit 1
if [ "$gpus" -ge 2 ]; then
    echo
    echo "== two ranks on two GPUs"
    CUDA_VISIBLE_DEVICES=0,1 mpiexec -n 2 ./bench/gpu || exit 1
fi
