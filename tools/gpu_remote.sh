#!/bin/sh
# gpu_remote.sh [DEBS] -- the GPU checks, on a machine with an NVIDIA GPU
# and CUDA's compiler that may have no MPICH and reach no package registry.
# Unpacks the .deb files tools/gpu_pack.sh fetched (DEBS, default .debs)
# into a folder of its own with dpkg -x (nothing is installed: the
# machine's own files are left alone), puts it first on PATH and the
# compiler's and loader's paths, then runs make test-gpu and make
# bench-gpu.  With OUT set, the logs go there too.
#   sh tools/gpu_remote.sh --curses   only says which ncurses it would use
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
# The machine's own terminal and device libraries, where it has them, stay
# its own: an older copy first on the loader's path could shadow them.  But
# ncurses' libraries (libncurses, libncursesw, libtinfo) share their inner
# structures, so the kit's must come from one build with the libtinfo that
# gets loaded.  A machine with libtinfo and libncursesw but no libncurses
# (ours beside its libtinfo crashed as the live view closed) links its own
# wide library (CURSES, Makefile); one without libtinfo takes all of ours.
has() { ldconfig -p | grep -q "^[[:space:]]*$1 (.*x86-64"; }   # (the packages are amd64)
curses=ours CURSES=-lncurses
if has libtinfo.so.6 && has libncurses.so.6; then curses=own
elif has libtinfo.so.6 && has libncursesw.so.6; then curses=own CURSES=-lncursesw
fi
export CURSES
if [ "$1" = --curses ]; then
    echo "ncurses: $curses, linked with $CURSES"
    exit 0
fi
debs=${1:-.debs}
root=${PP_ROOT:-/tmp/pp-root}
ls "$debs"/*.deb >/dev/null 2>&1 || { echo "gpu_remote: no .deb files in $debs (run tools/gpu_pack.sh first)" >&2; exit 2; }
mkdir -p "$root/bin"
# unpack DEB: dpkg -x, or where there is no dpkg, its data member through ar and tar.
unpack() {
    if command -v dpkg >/dev/null 2>&1; then dpkg -x "$1" "$root"; return; fi
    member=$(ar t "$1" | grep '^data\.tar')
    case "$member" in
        *.xz) ar p "$1" "$member" | tar -xJ -C "$root" ;;
        *.zst) ar p "$1" "$member" | zstd -dc | tar -x -C "$root" ;;
        *) ar p "$1" "$member" | tar -xz -C "$root" ;;
    esac
}
for f in "$debs"/*.deb; do
    case $(basename "$f") in
        libtinfo6_* | libncurses6_* | libncursesw6_*) [ $curses = own ] && continue ;;
        libudev1_*) has libudev.so.1 && continue ;;
    esac
    unpack "$f" || { echo "gpu_remote: could not unpack $f" >&2; exit 1; }
done
echo "gpu_remote: ncurses: $([ $curses = own ] && echo "this machine's own" || echo 'unpacked'), linked with $CURSES"
# What the packages' installers would have made: mpicc (its paths moved
# into the folder) and mpiexec, with the proxy it starts beside it.
sed -e "s|^prefix=/usr|prefix=$root/usr|" -e "s|^exec_prefix=/usr|exec_prefix=$root/usr|" \
    -e "s|^includedir=/usr|includedir=$root/usr|" -e "s|^libdir=/usr|libdir=$root/usr|" \
    -e "s|^sysconfdir=/etc|sysconfdir=$root/etc|" "$root/usr/bin/mpicc.mpich" >"$root/bin/mpicc"
chmod +x "$root/bin/mpicc"
ln -sf "$root/usr/bin/mpiexec.hydra" "$root/bin/mpiexec"
ln -sf "$root/usr/bin/hydra_pmi_proxy" "$root/bin/hydra_pmi_proxy"   # mpiexec starts it from its own folder
# Links that name a file by its absolute path (libtinfo.so -> /lib/...)
# point into the folder where the file is there.
find "$root" -type l | while read -r link; do
    to=$(readlink "$link")
    case "$to" in /*) [ -e "$root$to" ] && ln -sf "$root$to" "$link" ;; esac
done
lib="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"   # (ncurses' libraries unpack into /lib)
blas=$root/usr/lib/x86_64-linux-gnu/openblas-pthread
export PATH="$root/bin:$root/usr/bin:$PATH"
export CPATH="$root/usr/include:$root/usr/include/x86_64-linux-gnu/openblas-pthread${CPATH:+:$CPATH}"
export LIBRARY_PATH="$lib:$blas${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$lib:$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HYDRA_LAUNCHER=fork   # one machine: ranks started directly, no ssh
export PP_REQUIRE_GPU=1      # here a skipped GPU test is a failure
echo "gpu_remote: MPICH from $root: $(mpiexec --version | grep -m 1 Version)"
nvidia-smi -L 2>&1 | sed 's/^/gpu_remote: /'
log=${OUT:-/tmp}
make test-gpu >"$log/test-gpu.log" 2>&1
rc=$?
grep -v '^ok' "$log/test-gpu.log"   # the whole log is in $log/test-gpu.log
make bench-gpu >"$log/bench-gpu.log" 2>&1
cat "$log/bench-gpu.log"
[ $rc -eq 0 ]
