#!/bin/sh
# gpu_pack.sh [DIR] -- fetches, on a Debian machine that reaches its package
# registry, the .deb files the kit needs on a GPU machine that may reach
# none and have no MPICH: MPICH (its launcher, library, headers and the
# libraries they load), ncurses' and OpenBLAS's development files, tmux.
# They go into DIR (default .debs, which git ignores); tools/gpu_remote.sh
# unpacks them there into a folder of its own.  Needs apt-get download,
# no root.
cd "$(dirname "$0")/.." || exit 1
dir=${1:-.debs}
mkdir -p "$dir" || exit 1
cd "$dir" || exit 1
apt-get download mpich libmpich12 libmpich-dev libhwloc15 libucx0 libslurm38 libnuma1 libgfortran5 \
    libquadmath0 libopenblas0-pthread libopenblas-pthread-dev libncurses-dev libncurses6 libncursesw6 \
    libtinfo6 tmux libevent-core-2.1-7 libutempter0 libudev1 || exit 1
echo "gpu_pack: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1), in $dir"
