#!/bin/sh
# house.sh -- who calls whom in lib/: one line per pair of files, "a.c -> b.c"
# when a.c calls a function (or reads a variable) that b.c defines, from the
# built objects' symbol tables (nm).  Then two checks, each a line of its own:
#   - a circle: files that reach each other through such arrows;
#   - an arrow up: a file calling into a layer above its own (the layers, from
#     the bottom: core, model, view, demo; lib/README.md).
# Exits 1 if it finds either.  Run after make (it reads lib/*/*.o).
cd "$(dirname "$0")/.." || exit 1
for o in lib/*/*.o; do
    [ "$o" = lib/model/gpu.o ] && continue
    nm "$o" | awk -v f="${o%.o}.c" '$1 ~ /^[TDBR]$/ || $2 ~ /^[TDBR]$/ { print "def", f, $NF } $1 == "U" { print "use", f, $2 }'
done | awk '
    function layer(f) { split(f, p, "/"); return p[2] == "core" ? 0 : p[2] == "model" ? 1 : p[2] == "view" ? 2 : 3 }
    $1 == "def" { home[$3] = $2; next }
    { use[++n] = $2 " " $3 }
    END {
        for (k = 1; k <= n; k++) {
            split(use[k], u, " ")
            if (!(u[2] in home) || home[u[2]] == u[1] || (u[1] " " home[u[2]]) in edge) continue
            edge[u[1] " " home[u[2]]] = 1
        }
        for (e in edge) { split(e, ab, " "); files[ab[1]] = files[ab[2]] = 1; print ab[1] " -> " ab[2] | "sort" }
        close("sort")
        for (e in edge) reach[e] = 1
        for (k in files) for (i in files) if ((i " " k) in reach) for (j in files) if ((k " " j) in reach) reach[i " " j] = 1
        bad = 0
        for (e in edge) {
            split(e, ab, " ")
            if ((ab[2] " " ab[1]) in reach && !(ab[1] in said)) { said[ab[1]] = 1; circle = circle " " ab[1] }
            if (layer(ab[2]) > layer(ab[1])) { printf "arrow up: %s -> %s\n", ab[1], ab[2]; bad = 1 }
        }
        if (circle != "") { print "circle among:" circle; bad = 1 }
        if (!bad) print "no circle, no arrow up: " length(files) " files, " length(edge) " arrows"
        exit bad
    }'
