#!/bin/sh
# two_machines.sh -- two machines made on this one, to run the kit across
# machines without having two.
#
#   sh tools/two_machines.sh [--tcp] [--timeout S] COMMAND [ARG...]
#   sh tools/two_machines.sh mpiexec -n 4 ./demos/05_1f1b
#
# Each machine is a network namespace (network interfaces of its own) whose
# processes also get a UTS namespace (a host name of their own): machine
# "a" (10.77.0.1) and machine "b" (10.77.0.2), joined by a virtual cable (a
# veth pair).  COMMAND runs on a, as on the machine you log in to.  mpiexec
# (MPICH's hydra) in it finds the machines, and its way to b, through
# variables it reads instead of options:
#   HYDRA_HOST_FILE       a host file, "a:2" and "b:2": two ranks on each,
#                         ranks 0-1 on a, 2-3 on b (the same as -f FILE)
#   HYDRA_LAUNCHER=ssh and HYDRA_LAUNCHER_EXEC
#                         what to start the proxy on b with: instead of ssh,
#                         a two-line script that calls this one with --ssh,
#                         which enters b's namespaces rather than logging in
# so `mpiexec -n 4 ./demos/05_1f1b` runs as `mpiexec -f hosts -n 4 ...`
# would on two real machines.  Both machines see this machine's files: the
# kit is at the same path on both, as a shared folder would make it.
#
# Where the ranks' messages go.  UCX, the layer MPICH sends through here,
# takes two processes with the same boot id (/proc/sys/kernel/random/boot_id)
# for processes of one machine, and lets them share memory, whatever their
# host names say.  By default both machines keep this kernel's boot id, so
# the messages between a and b go through shared memory, and only mpiexec's
# own traffic crosses the cable.  --tcp gives each machine a boot id of its
# own (a file mounted over it, on that machine only): UCX then sends the
# messages between a and b over the cable with TCP, as between two real
# machines.  With Debian 12's MPICH (4.0) over TCP, MPI_Finalize sometimes
# does not return after a run has printed everything (nearly always after
# demos 01 and 02, whose rank 0 reaches it late): a rank that has closed its
# connections waits in a barrier without serving the others' closing.
# MPICH's pull request 6596 (2023) removed that barrier.  Give --timeout.
#
# At the end it says how many bytes crossed the cable each way, then removes
# the namespaces and ends every process still in them, whatever happened
# (COMMAND failed, Ctrl-C, the time ran out).  Exit status: COMMAND's; 124
# when --timeout S ran out; 77 when two machines cannot be made here (not
# root, no `ip netns`, no unshare), with the reason on stderr; 2 for bad use.
#
# Used by tests/two_machines.sh.  Needs root, iproute2 (ip) and util-linux
# (unshare).

self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

# on MACHINE COMMAND...: runs COMMAND on MACHINE (a or b): in its network
# namespace, with a UTS namespace of its own; --inside then sets the host
# name (and under --tcp the boot id) before it runs COMMAND.  `ip netns
# exec` also puts /etc/netns/NAMESPACE/hosts over /etc/hosts, so that a and
# b are names there.  Needs PP_2M_TAG and PP_2M_DIR (set below).
on() {
    machine=$1
    shift
    exec ip netns exec "$PP_2M_TAG$machine" unshare --uts -- sh "$self" --inside "$machine" "$@"
}

case $1 in
--inside)
    # First thing on a machine: its host name, and (--tcp) its boot id,
    # mounted over the kernel's in this process's own mount namespace (ip
    # netns exec made one), so that nothing outside sees it.
    machine=$2
    shift 2
    hostname "$machine" || exit 1
    if [ -f "$PP_2M_DIR/boot_id.$machine" ]; then
        mount --bind "$PP_2M_DIR/boot_id.$machine" /proc/sys/kernel/random/boot_id || exit 1
    fi
    exec "$@"
    ;;
--ssh)
    # hydra's stand-in for ssh: it is called as ssh would be, "[-x] HOST
    # COMMAND...", and ssh hands the words of COMMAND to a shell on HOST.
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        -*) shift ;;   # ssh's options (hydra gives -x: no X forwarding)
        *) break ;;
        esac
    done
    host=$1
    shift
    # setsid: on its own machine the command would not be in this
    # terminal's process group (sshd starts a session of its own), so Ctrl-C
    # reaches it only through mpiexec, which passes it on.
    case $host in
    a | b) on "$host" setsid -w sh -c "$*" ;;
    *)
        echo "two_machines: ssh to '$host': only a and b are here" >&2
        exit 255
        ;;
    esac
    ;;
esac

# ---- the options ----------------------------------------------------------
tcp=0 limit=""
while [ $# -gt 0 ]; do
    case $1 in
    --tcp) tcp=1 ;;
    --timeout)
        limit=$2
        case $limit in
        '' | *[!0-9]*) echo "two_machines: --timeout takes whole seconds, not '$limit'" >&2; exit 2 ;;
        esac
        shift
        ;;
    --) shift; break ;;
    -*) echo "two_machines: unknown option '$1' (--tcp, --timeout S)" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
if [ $# -eq 0 ]; then
    echo "usage: sh tools/two_machines.sh [--tcp] [--timeout S] COMMAND [ARG...]" >&2
    exit 2
fi

# ---- can two machines be made here? ----------------------------------------
# cannot WHY: the one line that says so, and the status for "skip".
cannot() {
    echo "two_machines: cannot make two machines here: $*" >&2
    exit 77
}
[ "$(id -u)" -eq 0 ] || cannot "not root (network namespaces need it)"
for tool in ip unshare hostname mount setsid; do
    command -v "$tool" >/dev/null 2>&1 || cannot "no '$tool' command (ip: iproute2; unshare, mount: util-linux)"
done

# ---- make them ------------------------------------------------------------
# Names with this process's id, so that two runs at once do not meet:
# namespaces pp<pid>a and pp<pid>b, and the cable's two ends with the same
# names (an interface name has 15 characters at most).
PP_2M_TAG=pp$$
PP_2M_DIR=$(mktemp -d) || exit 1
export PP_2M_TAG PP_2M_DIR

# cleanup: ends what is left on either machine, then removes the machines.
# Runs once, on any exit.  A namespace ends with its last process; the
# cable's ends go with their namespaces.
cleanup() {
    trap - EXIT INT TERM HUP
    for m in a b; do
        pids=$(ip netns pids "$PP_2M_TAG$m" 2>/dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
        ip netns delete "$PP_2M_TAG$m" 2>/dev/null
        rm -rf "/etc/netns/$PP_2M_TAG$m"
    done
    ip link delete "${PP_2M_TAG}a" 2>/dev/null   # a cable made but not yet moved
    rmdir /etc/netns 2>/dev/null   # only if no other run uses it
    rm -rf "$PP_2M_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT   # the EXIT trap then cleans up
trap 'exit 143' TERM
trap 'exit 129' HUP

# The two namespaces, each with its loopback up and /etc/hosts naming both.
for m in a b; do
    err=$(ip netns add "$PP_2M_TAG$m" 2>&1) || cannot "ip netns add: $err"
    ip -n "$PP_2M_TAG$m" link set lo up || cannot "no loopback in a namespace"
    mkdir -p "/etc/netns/$PP_2M_TAG$m"
    printf '127.0.0.1 localhost\n10.77.0.1 a\n10.77.0.2 b\n' >"/etc/netns/$PP_2M_TAG$m/hosts"
done
# The cable: a veth pair, made here, one end moved into each machine.
err=$(ip link add "${PP_2M_TAG}a" type veth peer name "${PP_2M_TAG}b" 2>&1) || cannot "ip link add (veth): $err"
for m in a b; do
    ip link set "$PP_2M_TAG$m" netns "$PP_2M_TAG$m" || cannot "cannot move the cable's end into machine $m"
done
ip -n "${PP_2M_TAG}a" addr add 10.77.0.1/24 dev "${PP_2M_TAG}a" &&
    ip -n "${PP_2M_TAG}b" addr add 10.77.0.2/24 dev "${PP_2M_TAG}b" &&
    ip -n "${PP_2M_TAG}a" link set "${PP_2M_TAG}a" up &&
    ip -n "${PP_2M_TAG}b" link set "${PP_2M_TAG}b" up || cannot "cannot give the cable its addresses"
# Can a name its own host name in its namespaces?  (A container may refuse
# unshare or mount even to root.)
err=$(ip netns exec "${PP_2M_TAG}a" unshare --uts -- hostname a 2>&1) || cannot "unshare --uts: $err"

# --tcp: a boot id of its own for each machine (the format the kernel's
# has), and a first try at mounting one (a container may refuse that too).
if [ $tcp -eq 1 ]; then
    for m in a b; do
        cat /proc/sys/kernel/random/uuid >"$PP_2M_DIR/boot_id.$m"
    done
    err=$(ip netns exec "${PP_2M_TAG}a" mount --bind "$PP_2M_DIR/boot_id.a" /proc/sys/kernel/random/boot_id 2>&1) ||
        cannot "--tcp: cannot mount a boot id of its own on a machine: $err"
fi

# hydra's host file and its ssh stand-in (an executable file: hydra runs it
# directly, so it cannot be "sh this-script --ssh").
printf 'a:2\nb:2\n' >"$PP_2M_DIR/hosts"
printf '#!/bin/sh\nexec sh "%s" --ssh "$@"\n' "$self" >"$PP_2M_DIR/ssh"
chmod +x "$PP_2M_DIR/ssh"
export HYDRA_HOST_FILE="$PP_2M_DIR/hosts" HYDRA_LAUNCHER=ssh HYDRA_LAUNCHER_EXEC="$PP_2M_DIR/ssh"

# ---- run COMMAND on a -----------------------------------------------------
# In a subshell, because `on` ends in exec.  Under --timeout, `timeout
# --foreground` leaves COMMAND in the terminal's foreground (keys and
# Ctrl-C still reach it); when the time runs out it stops COMMAND with
# SIGTERM, and with SIGKILL 5 s later; the cleanup then ends the rest.
if [ -n "$limit" ]; then
    (on a timeout --foreground -k 5 "$limit" "$@")
else
    (on a "$@")
fi
rc=$?
[ -n "$limit" ] && [ $rc -eq 124 ] && echo "two_machines: '$*' did not end within $limit s; stopped" >&2

# What crossed the cable (the counters of a's end).
sent=$(ip netns exec "${PP_2M_TAG}a" cat "/sys/class/net/${PP_2M_TAG}a/statistics/tx_bytes" 2>/dev/null)
got=$(ip netns exec "${PP_2M_TAG}a" cat "/sys/class/net/${PP_2M_TAG}a/statistics/rx_bytes" 2>/dev/null)
echo "two_machines: the cable carried ${sent:-?} bytes from a to b and ${got:-?} from b to a" \
     "($([ $tcp -eq 1 ] && echo 'MPI messages over TCP' || echo 'MPI messages between a and b through shared memory; --tcp sends them over the cable'))" >&2
exit $rc
