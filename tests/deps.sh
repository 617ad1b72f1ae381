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
    CURSES= CC=$2 sh tools/deps.sh --check >"$tmp/out" 2>&1   # (-lncurses, what the wrappers hide)
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

# make GPU=1's CUDA (tools/cuda.sh): the nvcc on the PATH may be a script
# that starts the real one from elsewhere, and the libraries are where nvcc
# says it links from, not beside that script.
plain="/usr/bin:/bin"
mkdir -p "$tmp/cuda/lib" "$tmp/nolib/bin" "$tmp/wrap"
: >"$tmp/cuda/lib/libcudart.so"
: >"$tmp/cuda/lib/libcublas.so"
# fake_nvcc DIR LIBDIR: an nvcc in DIR whose dry run links from LIBDIR.
fake_nvcc() {
    cat >"$1/nvcc" <<WRAP
#!/bin/sh
echo '#\$ LIBRARIES=  "-L$2/stubs" "-L$2"' >&2
WRAP
    chmod +x "$1/nvcc"
}
fake_nvcc "$tmp/wrap" "$tmp/cuda/lib"
got=$(PATH="$tmp/wrap:$plain" sh tools/cuda.sh lib)
if [ "$got" = "$(cd "$tmp/cuda/lib" && pwd -P)" ]; then
    echo "ok - cuda.sh finds CUDA's libraries where nvcc's dry run says it links from ($got)"
else
    echo "not ok - cuda.sh lib with an nvcc linking from $tmp/cuda/lib said '$got'"
fi
fake_nvcc "$tmp/nolib/bin" "$tmp/nolib/lib"
# The nvcc named (make GPU=1 NVCC=...) rather than the one on the PATH.
got=$(PATH="$tmp/nolib/bin:$plain" CC=false sh tools/cuda.sh lib "$tmp/wrap/nvcc")
if [ "$got" = "$(cd "$tmp/cuda/lib" && pwd -P)" ]; then
    echo "ok - cuda.sh lib NVCC asks the nvcc it is given, not the one on the PATH"
else
    echo "not ok - cuda.sh lib $tmp/wrap/nvcc, another nvcc on the PATH, said '$got'"
fi
# A distribution's CUDA: the libraries only where the C compiler looks anyway.
mkdir -p "$tmp/sys" "$tmp/cc"
: >"$tmp/sys/libcudart.so"
: >"$tmp/sys/libcublas.so"
printf '#!/bin/sh\necho "%s/libcudart.so"\n' "$tmp/sys" >"$tmp/cc/cc"
chmod +x "$tmp/cc/cc"
got=$(PATH="$tmp/nolib/bin:$plain" CC="$tmp/cc/cc" sh tools/cuda.sh lib)
if [ "$got" = "$(cd "$tmp/sys" && pwd -P)" ]; then
    echo "ok - cuda.sh finds CUDA's libraries where the C compiler searches when nvcc names none"
else
    echo "not ok - cuda.sh lib with the libraries only on the compiler's path said '$got'"
fi
export CC=false   # (no C compiler to search the system's folders either)
if PATH="$tmp/nolib/bin:$plain" sh tools/cuda.sh lib >"$tmp/out" 2>&1; then rc=0; else rc=$?; fi
PATH="$tmp/nolib/bin:$plain" sh tools/gpu.sh test >"$tmp/gpu" 2>&1
grc=$?
PATH="$tmp/nolib/bin:$plain" PP_REQUIRE_GPU=1 sh tools/gpu.sh test >"$tmp/gpu-required" 2>&1
rrc=$?
unset CC
if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ $grc -eq 0 ] && grep -q "^skip - the GPU build: .*no libcudart.so and libcublas.so" "$tmp/gpu" &&
    [ $rrc -eq 1 ] && grep -q "^not ok - the GPU build: .*no libcudart.so" "$tmp/gpu-required"; then
    echo "ok - nvcc without CUDA's libraries: no GPU build, one skip line ($(grep '^skip' "$tmp/gpu")), a failure where the GPU is required"
else
    echo "not ok - nvcc without CUDA's libraries: cuda.sh exit $rc, gpu.sh exit $grc, with PP_REQUIRE_GPU=1 exit $rrc:"
    sed 's/^/#   /' "$tmp/out" "$tmp/gpu" "$tmp/gpu-required"
fi
real_nvcc=$(sh tools/cuda.sh nvcc)
if [ -z "$real_nvcc" ]; then
    echo "skip - make GPU=1 with nvcc started by a script: no nvcc here"
else
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$real_nvcc" >"$tmp/wrap/nvcc"
    wrapped=$(PATH="$tmp/wrap:$plain" sh tools/cuda.sh lib)
    if [ -z "$wrapped" ]; then
        echo "skip - make GPU=1 with nvcc started by a script: $real_nvcc is here, but not CUDA's runtime and cuBLAS"
    else
        PATH="$tmp/wrap:$PATH" make -n GPU=1 demos/00_anatomy >"$tmp/out" 2>&1
        make -n GPU=1 NVCC="$tmp/wrap/nvcc" demos/00_anatomy >"$tmp/named" 2>&1
        if [ -e "$wrapped/libcudart.so" ] && [ -e "$wrapped/libcublas.so" ] &&
            grep -q -- "-L$wrapped .*-lcublas" "$tmp/out" && grep -q -- "-L$wrapped .*-lcublas" "$tmp/named"; then
            echo "ok - make GPU=1 links CUDA's runtime and cuBLAS from $wrapped when nvcc is a script in another folder (on the PATH, or NVCC=)"
        else
            echo "not ok - make GPU=1 with nvcc started by a script from $tmp/wrap: cuda.sh said '$wrapped', and make links:"
            grep -h -- "-lcublas" "$tmp/out" "$tmp/named" | sed 's/^/#   /'
        fi
    fi
fi

# tools/gpu_remote.sh's ncurses on a GPU machine, asked of a stand-in
# ldconfig: the machine's own only as a whole set (libtinfo with libncurses,
# or with libncursesw, then linked wide); else all of the unpacked ones.  (Our
# libncurses beside another build's libtinfo crashed the live view.)
mkdir -p "$tmp/ld"
curses_on() {   # curses_on LIBS...: gpu_remote's answer on a machine with those libraries
    { printf '#!/bin/sh\ncat <<LIST\n'; for l in "$@"; do printf '\t%s (libc6,x86-64) => /lib/%s\n' "$l" "$l"; done
      printf 'LIST\n'; } >"$tmp/ld/ldconfig"
    chmod +x "$tmp/ld/ldconfig"
    PATH="$tmp/ld:$PATH" CURSES=-lfrom-the-caller sh tools/gpu_remote.sh --curses   # (its own choice, whatever the caller's)
}
a=$(curses_on libtinfo.so.6 libncurses.so.6 libncursesw.so.6)
b=$(curses_on libtinfo.so.6 libncursesw.so.6)
c=$(curses_on libncursesw.so.6)
d=$(curses_on libtinfo.so.6 libncurses.so.6.4)
e=$(curses_on libncurses.so.6 libncursesw.so.6)
if [ "$a" = "ncurses: own, linked with -lncurses" ] && [ "$b" = "ncurses: own, linked with -lncursesw" ] &&
    [ "$c" = "ncurses: ours, linked with -lncurses" ] && [ "$d" = "ncurses: ours, linked with -lncurses" ] && [ "$e" = "$d" ]; then
    echo "ok - gpu_remote.sh takes a GPU machine's ncurses only as a whole set (libtinfo with libncurses, or with libncursesw, linked wide), else the unpacked ones"
else
    echo "not ok - gpu_remote.sh's ncurses: all three: '$a'; libtinfo and libncursesw: '$b'; libncursesw alone: '$c'; libncurses.so.6.4 only: '$d'; libncurses and libncursesw, no libtinfo: '$e'"
fi
