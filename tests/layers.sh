#!/bin/sh
# layers.sh -- the house rules of lib/ (lib/README.md), checked on the build:
# no two files call each other, directly or round a circle, and no file
# calls into a layer above its own (tools/house.sh, from the objects'
# symbols); and a layer's file that includes a header of a layer above it
# does not compile with that layer's include path (the Makefile's).
cd "$(dirname "$0")/.." || exit 1
. tests/scratch.sh

if out=$(sh tools/house.sh); then
    echo "ok - lib/ $(echo "$out" | tail -1)"
else
    echo "not ok - lib/ breaks the house rules:"
    echo "$out" | grep -e '^arrow up' -e '^circle' | sed 's/^/#   /'
fi

# reaches LAYER HEADER: a file of LAYER including HEADER must not compile.
reaches() {
    layer=$1 header=$2
    printf '#include "%s"\nint pp_reach_check;\n' "$header" >"$scratch/reach.c"
    flags=$(make -s "flags-$layer" | grep -o -- ' -I[^ ]*' | tr -d '\n')
    if [ -z "$flags" ]; then
        echo "not ok - the include path of lib/$layer could not be read from the Makefile"
    elif mpicc -std=c11 $flags -c -o "$scratch/reach.o" "$scratch/reach.c" 2>/dev/null; then
        echo "not ok - a file of lib/$layer that includes $header compiles (include path:$flags)"
    else
        echo "ok - a file of lib/$layer cannot include $header (a layer above): include path$flags"
    fi
}
reaches core pp_model.h
reaches core view.h
reaches model pp_report.h
reaches view pp_demo.h
