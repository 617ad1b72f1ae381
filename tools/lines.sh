#!/bin/sh
# lines.sh -- the line counts lib/README.md shows, counted now (wc -l):
# each layer's files and lines, then the five core files a student reads
# first and their public header.  With --write, puts them into
# lib/README.md in place of the old ones (make test checks they match).
cd "$(dirname "$0")/.." || exit 1
if [ "$1" = --write ]; then
    new=$(sh tools/lines.sh) || exit 1
    NEW="$new" awk '
        /^<!-- output of: sh tools\/lines.sh -->$/ { print; skip = 1; next }
        skip == 1 && /^```$/ { print; print ENVIRON["NEW"]; skip = 2; next }
        skip == 2 { if (/^```$/) { print; skip = 0 } next }
        { print }' lib/README.md >lib/README.md.new && mv lib/README.md.new lib/README.md
    exit
fi
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
