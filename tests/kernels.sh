#!/bin/sh
# kernels.sh -- the lessons whose excerpts come from real compute (00-03,
# 06, 12: their figures go through OpenBLAS) checked again under each
# OpenBLAS kernel this processor can run.  OpenBLAS picks its multiply
# kernel by CPU, and each rounds in its own way, so a student's laptop may
# print other rounding digits than the lesson: a lesson's "within rounding"
# must hold for any of them, and its "bit for bit" for every one.  A kernel
# whose instructions this processor lacks is skipped with one line.
#
#   sh tests/kernels.sh [KERNEL...]   (default: Prescott Nehalem Sandybridge
#                                      Haswell Zen SkylakeX Cooperlake)
cd "$(dirname "$0")/.." || exit 1
. tests/scratch.sh
kernels=${*:-Prescott Nehalem Sandybridge Haswell Zen SkylakeX Cooperlake}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
ran=0   # kernels the lessons were checked under
if [ ! -x ./demos/03_memory_split ] || [ ! -x ./tests/doc_check ]; then
    echo "not ok - kernels: the demos are not built (make first)"
    exit 1
fi

# needs KERNEL: the processor flags its instructions need.
needs() {
    case $1 in
        Prescott) echo sse3 ;;   # /proc/cpuinfo calls SSE3 "pni"
        Nehalem) echo ssse3 sse4_2 ;;
        Sandybridge) echo avx ;;
        Haswell|Zen) echo avx2 fma ;;
        SkylakeX) echo avx512f avx512bw avx512dq avx512vl ;;
        Cooperlake) echo avx512f avx512bw avx512_bf16 ;;
        *) echo unknown ;;
    esac
}

for k in $kernels; do
    missing=""
    for f in $(needs "$k"); do
        [ "$f" = sse3 ] && f=pni
        echo "$flags" | grep -qw "$f" || missing="$missing $f"
    done
    if [ -z "$flags" ]; then
        echo "ok - OpenBLAS kernel $k: skipped (no /proc/cpuinfo to tell what this processor runs)"
        continue
    elif [ -n "$missing" ]; then
        echo "ok - OpenBLAS kernel $k: skipped (this processor lacks$missing)"
        continue
    fi
    # OpenBLAS says which kernel it took: it must be the one asked for.
    core=$(OPENBLAS_CORETYPE=$k OPENBLAS_VERBOSE=2 mpiexec -n 1 ./demos/03_memory_split --help 2>&1 |
           sed -n 's/^Core: //p' | head -1)
    if [ "$core" != "$k" ]; then
        echo "ok - OpenBLAS kernel $k: skipped (this OpenBLAS took '${core:-no kernel named}' instead)"
        continue
    fi
    ran=$((ran + 1))
    for lesson in lessons/00-*.md lessons/01-*.md lessons/02-*.md lessons/03-*.md lessons/06-*.md lessons/10-*.md \
                  lessons/11-*.md lessons/12-*.md; do
        (cd "$scratch" && OPENBLAS_CORETYPE=$k "$top/tests/doc_check" "$top/$lesson") |
            sed -e "s|$top/||" -e "s|^\(\(not \)\{0,1\}ok - \)|\1[OpenBLAS $k] |"
    done
done
# An x86-64 processor runs at least Prescott's kernel: none checked means the
# check itself went wrong (an OpenBLAS that does not say which kernel it took).
if [ "$ran" -eq 0 ] && [ "$(uname -m)" = x86_64 ]; then
    echo "not ok - kernels: the lessons were checked under no OpenBLAS kernel"
elif [ "$ran" -gt 0 ]; then
    echo "ok - kernels: the real-compute lessons checked under $ran OpenBLAS kernel(s)"
fi
