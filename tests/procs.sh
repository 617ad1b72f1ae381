# procs.sh -- sourced by the shell tests: a test's own processes, found by
# the tag (PPTEST_TAG) their environment inherits, so that a second copy of
# the suite running beside this one is never counted or killed, and a rank
# left behind by a dead mpiexec still is.

# tagged TAG PREFIX: the process ids whose command line starts with PREFIX.
tagged() {
    for env in $(grep -las "PPTEST_TAG=$1" /proc/[0-9]*/environ); do
        pid=${env#/proc/}
        pid=${pid%/environ}
        head -c ${#2} "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "$pid"
    done
}

# demo_pids TAG: the demo processes (the ranks, and rank 0's guardian).
demo_pids() {
    tagged "$1" ./demos/
}

# rank_pid TAG RANK: the process of that rank: a child of MPICH's proxy
# (rank 0's guardian, a child of rank 0, has its PMI_RANK too) with PMI_RANK.
rank_pid() {
    for pid in $(demo_pids "$1"); do
        parent=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null)
        grep -qa hydra_pmi_proxy "/proc/$parent/cmdline" 2>/dev/null &&
            tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "PMI_RANK=$2" && echo "$pid"
    done | head -1
}

# launcher_pid TAG: the mpiexec.
launcher_pid() {
    tagged "$1" mpiexec | head -1
}
