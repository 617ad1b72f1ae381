#!/bin/sh
# lessons.sh -- runs every command a lesson shows (lines starting "$ mpiexec"),
# with a short tick, so that a lesson cannot drift from the code.
cd "$(dirname "$0")/.." || exit 1
for lesson in lessons/*.md; do
    grep '^\$ mpiexec' "$lesson" | sed 's/^\$ //' | while IFS= read -r cmd; do
        if out=$(timeout 120 sh -c "$cmd --tick-ms 1" 2>&1) && echo "$out" | grep -q "bubble"; then
            echo "ok - $lesson: $cmd"
        else
            echo "not ok - $lesson: $cmd"
            echo "$out" | tail -5 | sed 's/^/#   /'
        fi
    done
done
