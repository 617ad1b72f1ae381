#!/bin/sh
# deps.sh -- makes sure the kit can be built: checks each dependency the way
# the build uses it (MPICH by compiling, linking and finding mpiexec; ncurses
# and OpenBLAS by compiling and linking a tiny program through mpicc with
# -lncurses and -lopenblas), and tmux for the tests.  A header alone proves
# nothing: the reference BLAS (libblas-dev) ships its own cblas.h, but the
# build links -lopenblas.
#
#   sh tools/deps.sh           check; on Debian or Ubuntu install what is missing
#                              with apt-get (through sudo when not root), saying so first
#   sh tools/deps.sh --check   check only: say what was found and what is missing,
#                              exit 1 if anything is
#   sh tools/deps.sh --fuzz    (with or without --check) also clang with libFuzzer,
#                              for make check's fuzz targets
#
# CC names the compiler the checks use (default mpicc, as the Makefile's),
# CURSES how ncurses is linked (default -lncurses, as the Makefile's).
# Elsewhere than Debian it prints the one line to run.
check_only=0 fuzz=0
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --fuzz) fuzz=1 ;;
        *) echo "deps: unknown option '$arg': use --check, --fuzz or neither" >&2; exit 2 ;;
    esac
done
cc=${CC:-mpicc}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT

# links NAME LIBS CODE: compiles and links CODE (a C file's text) with LIBS.
links() {
    printf '%s\n' "$3" >"$dir/$1.c"
    $cc "$dir/$1.c" -o "$dir/$1" $2 >"$dir/$1.log" 2>&1
}

found="" missing=""
have() { found="$found $1"; }
# lack WHAT PACKAGE NAME: records a missing package, with the build's first complaint.
lack() {
    missing="$missing $2"
    echo "deps: $1 not usable: $(grep -m 1 -i -E 'cannot find|error' "$dir/$3.log" 2>/dev/null)" >&2
}

if command -v "$cc" >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1 &&
    links mpi "" '#include <mpi.h>
int main(int c, char **v) { MPI_Init(&c, &v); MPI_Finalize(); return 0; }'; then
    have MPICH
else
    echo "deps: MPICH not usable ($cc or mpiexec missing, or an MPI program does not build)" >&2
    missing="$missing mpich libmpich-dev"
    command -v "$cc" >/dev/null 2>&1 || cc=cc   # check the rest with the plain compiler
fi
if links ncurses "${CURSES:--lncurses}" '#include <ncurses.h>
int main(void) { return curses_version() == NULL; }'; then have ncurses; else lack ncurses libncurses-dev ncurses; fi
if links openblas -lopenblas '#include <cblas.h>
int main(void) { float a = 1, b = 1, c = 0; cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1); return c != 1.0f; }'; then
    have OpenBLAS
else
    lack "OpenBLAS (cblas.h with -lopenblas)" libopenblas-dev openblas
fi
if command -v tmux >/dev/null 2>&1; then have tmux; else missing="$missing tmux"; fi   # the live view's tests drive a terminal
if [ $fuzz -eq 1 ]; then   # a fuzz target must build: clang, and libFuzzer's runtime (only recommended by clang)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$dir/fuzz.c"
    if command -v clang >/dev/null 2>&1 && clang -fsanitize=fuzzer,address "$dir/fuzz.c" -o "$dir/fuzz" >"$dir/fuzz.log" 2>&1
    then have libFuzzer; else lack "clang with libFuzzer" "clang libclang-rt-dev" fuzz; fi
fi

if [ -z "$missing" ]; then
    echo "deps: found$found"
    exit 0
fi
echo "deps: found${found:- nothing}; missing:$missing"
[ $check_only -eq 1 ] && exit 1

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: on macOS:  brew install mpich ncurses openblas tmux" >&2
    echo "deps: on Fedora: sudo dnf install mpich mpich-devel ncurses-devel openblas-devel tmux && module load mpi/mpich-x86_64" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing$missing with apt-get (needed to build and run the kit)"
$sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q $missing >/dev/null || {
    echo "deps: apt-get install$missing failed; install them by hand and run make again" >&2
    exit 1
}
echo "deps: installed$missing"
if [ $fuzz -eq 1 ]; then exec sh "$0" --check --fuzz; fi
exec sh "$0" --check   # what was installed must now link
