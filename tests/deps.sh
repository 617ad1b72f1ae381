#!/bin/sh
# deps.sh -- tools/deps.sh's detection, against compilers that hide one
# library each: a library whose header compiles but which does not link (the
# reference BLAS's cblas.h without OpenBLAS) must be reported missing, by its
# package, and --check must install nothing.
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
real=$(command -v mpicc)

# hiding NAME FLAG: a compiler wrapper that links like mpicc except that FLAG
# fails the way ld fails for a library that is not installed.
hiding() {
    cat >"$tmp/$1" <<WRAP
#!/bin/sh
for a in "\$@"; do
    [ "\$a" = "$2" ] && { echo "/usr/bin/ld: cannot find $2: No such file or directory" >&2; exit 1; }
done
exec "$real" "\$@"
WRAP
    chmod +x "$tmp/$1"
}

# expect WHAT CC PACKAGE: deps.sh --check with CC reports PACKAGE missing, exit 1.
expect() {
    CC=$2 sh tools/deps.sh --check >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "missing:.* $3" "$tmp/out" && ! grep -q "installing" "$tmp/out"; then
        echo "ok - deps.sh reports $3 missing when $1 ($(grep 'missing:' "$tmp/out"))"
    else
        echo "not ok - deps.sh with $1: exit $rc, expected 1 and '$3' missing:"; sed 's/^/#   /' "$tmp/out"
    fi
}

hiding no-openblas -lopenblas
hiding no-ncurses -lncurses
expect "cblas.h compiles but -lopenblas does not link" "$tmp/no-openblas" libopenblas-dev
expect "-lncurses does not link" "$tmp/no-ncurses" libncurses-dev
expect "the MPI compiler is not there" "$tmp/nowhere/mpicc" libmpich-dev

if sh tools/deps.sh --check >"$tmp/out" 2>&1 && grep -q "found MPICH ncurses OpenBLAS tmux" "$tmp/out"; then
    echo "ok - deps.sh --check finds everything on this machine: $(cat "$tmp/out")"
else
    echo "not ok - deps.sh --check on this machine:"; sed 's/^/#   /' "$tmp/out"
fi

# make check's fuzz targets: clang without libFuzzer's runtime (which clang
# only recommends) must be reported, by its package.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/clang" <<'WRAP'
#!/bin/sh
echo "/usr/bin/ld: cannot find libclang_rt.fuzzer-x86_64.a: No such file or directory" >&2
exit 1
WRAP
chmod +x "$tmp/bin/clang"
if PATH="$tmp/bin:$PATH" sh tools/deps.sh --check --fuzz >"$tmp/out" 2>&1; then rc=0; else rc=$?; fi
if [ $rc -eq 1 ] && grep -q "missing:.* libclang-rt-dev" "$tmp/out"; then
    echo "ok - deps.sh --fuzz reports clang's libFuzzer missing ($(grep 'missing:' "$tmp/out"))"
else
    echo "not ok - deps.sh --fuzz with a clang that cannot link a fuzz target: exit $rc:"; sed 's/^/#   /' "$tmp/out"
fi
