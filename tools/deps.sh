#!/bin/sh
# deps.sh -- makes sure MPICH, ncurses and OpenBLAS (with its CBLAS header),
# and tmux for the tests, are here; on Debian or Ubuntu installs what is missing with apt-get (through
# sudo when not root), saying so first.  Elsewhere it prints the one line to run.
missing=""
command -v mpicc >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1 || missing="$missing mpich libmpich-dev"
has_header() { printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
has_header ncurses.h || missing="$missing libncurses-dev"
has_header cblas.h || missing="$missing libopenblas-dev"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"   # the live view's tests drive a terminal
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: missing:$missing" >&2
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
