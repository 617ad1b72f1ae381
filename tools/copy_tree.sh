#!/bin/sh
# copy_tree.sh DIR -- a fresh copy of the kit's sources, without what a
# build made, in DIR (emptied first): git's list of files when there is
# one.  make check and the GPU build (tools/check.sh, tools/gpu.sh) build
# there, leaving the normal build as it is.
cd "$(dirname "$0")/.." || exit 1
out=$1
[ -n "$out" ] || { echo "copy_tree: give the folder to copy into" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard | grep -v '^build/'
else
    find . -path ./build -prune -o -type f \( -name '*.[ch]' -o -name '*.cu' -o -name '*.sh' -o -name '*.md' \
        -o -name '*.csv' -o -name Makefile -o -name '*.supp' \) -print
fi | tar cf - -T - | (cd "$out" && tar xf -)
