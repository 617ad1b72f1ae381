#!/bin/sh
# cuda.sh -- where CUDA is, for make GPU=1 and tools/gpu.sh.
#
#   sh tools/cuda.sh nvcc         the nvcc to use: the one on the PATH,
#                                 else CUDA's usual /usr/local/cuda/bin/nvcc
#   sh tools/cuda.sh lib [NVCC]   the folder that holds libcudart.so and
#                                 libcublas.so, for -L and the run path, of
#                                 that nvcc's CUDA (make GPU=1 NVCC=... names one)
#
# Each prints one line, or nothing and exits 1 when there is none.
#
# The nvcc on the PATH may be a small script that starts the real one from
# elsewhere (/usr/local/bin/nvcc running /usr/local/cuda-13.0/bin/nvcc), so
# its own folder says nothing about the libraries.  nvcc itself says where
# they are: a dry run prints the -L folders it would link with.  Those are
# tried first, then lib64 and lib beside nvcc's folder, then the folders
# the C compiler searches anyway (a distribution's CUDA, in /usr/lib/...).
what=${1:-lib}

nvcc=${2:-$(command -v nvcc 2>/dev/null)}
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; }
[ -n "$nvcc" ] || exit 1

case "$what" in
    nvcc) echo "$nvcc"; exit 0 ;;
    lib) ;;
    *) echo "cuda.sh: unknown '$what': use nvcc or lib" >&2; exit 2 ;;
esac

# The dry run's line looks like
#   #$ LIBRARIES=  "-L/usr/local/cuda-13.0/bin/../targets/x86_64-linux/lib/stubs" "-L/usr/local/cuda-13.0/bin/../targets/x86_64-linux/lib"
# (the stubs folder has no libcudart, so it is never the answer).
said=$("$nvcc" -dryrun -c -x cu -o /dev/null /dev/null 2>&1 |
    sed -n 's/^#\$ LIBRARIES=//p' | tr ' ' '\n' | sed -n 's/^"\{0,1\}-L\([^"]*\)"\{0,1\}$/\1/p')
top=$(dirname "$(dirname "$nvcc")")
found=$(${CC:-cc} -print-file-name=libcudart.so 2>/dev/null)   # the bare name when not found
case "$found" in */*) searched=$(dirname "$found") ;; *) searched="" ;; esac
for dir in $said "$top/lib64" "$top/lib" $searched; do
    if [ -e "$dir/libcudart.so" ] && [ -e "$dir/libcublas.so" ]; then
        (cd "$dir" && pwd -P)
        exit 0
    fi
done
exit 1
