#!/bin/sh
# lines.sh -- the line counts lib/README.md shows, counted now (wc -l):
# each layer's files and lines, then the five core files a student reads
# first and their public header.
cd "$(dirname "$0")/.." || exit 1
echo "| layer | files | lines |"
echo "| --- | --- | --- |"
for layer in core model view demo; do
    set -- lib/$layer/*.c lib/$layer/*.h
    [ -f lib/$layer/gpu.cu ] && set -- "$@" lib/$layer/gpu.cu
    printf '| `%s/` | %d | %d |\n' "$layer" "$#" "$(cat "$@" | wc -l)"
done
echo
echo "| the evening's reading | lines |"
echo "| --- | --- |"
for f in pp.h sched.c validate.c sim.c exec.c; do
    printf '| `core/%s` | %d |\n' "$f" "$(wc -l <lib/core/$f)"
done
