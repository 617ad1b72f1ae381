#!/bin/sh
# gpu.sh -- GPU ranks (--device gpu), run as a person runs them.
#
# Without a GPU (a build without CUDA, or no device): --device gpu is refused
# with one line and exit 2, every rank ending; then one "skip" line, and the
# test passes.  With one (a `make GPU=1` build, tools/gpu.sh):
#   - test_gpu on 4 ranks (they share the GPUs there are): every builder,
#     P 1-4, bit-for-bit against one process on the GPU, within a stated
#     tolerance of the CPU; timed mode spinning on the device;
#   - the demos on GPU ranks: 01's bit-for-bit line, 02 and 03 (the memory
#     table says where the bytes are), 05 timed with the three exports, 06
#     and 12 on grids, 13's watchdog catching a stalled GPU rank, and
#     staying quiet on healthy runs with a tight limit;
#   - the live view under tmux, naming which rank computes on which GPU;
#   - a model too big for the GPU refused before anything is allocated.
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d)
trap 'tmux -L ppgpu$$ kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

# expect WHAT STATUS TEXT COMMAND...: exits with STATUS within 120 s, and
# its output (stdout and stderr) holds TEXT (a fixed string).
expect() {
    what=$1 want=$2 text=$3
    shift 3
    timeout 120 "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$tmp/out"; then
        echo "ok - $what: $(grep -F -m 1 -- "$text" "$tmp/out" | cut -c 1-110)"
    else
        echo "not ok - $what: exit $rc (wanted $want; 124 = hung), '$text' $(grep -qF -- "$text" "$tmp/out" || echo not) found:"
        tail -8 "$tmp/out" | sed 's/^/#   /'
    fi
}

# Is there a GPU for the ranks?  Ask the way a student would.  A skip is a
# failure where a GPU must be used: PP_REQUIRE_GPU=1 (tools/gpu_remote.sh),
# or a build with CUDA on a machine whose nvidia-smi lists a GPU.
timeout 60 mpiexec -n 2 ./demos/01_forward_flow --device gpu >"$tmp/probe" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    errors=$(grep -c "error:" "$tmp/probe")
    listed=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
    if [ "${PP_REQUIRE_GPU:-0}" = 1 ] || { [ "${listed:-0}" -gt 0 ] && grep -q "no usable GPU" "$tmp/probe"; }; then
        echo "not ok - GPU tests: a GPU was to be used, but: $(grep 'error:' "$tmp/probe" || tail -1 "$tmp/probe")"
    elif [ $rc -eq 2 ] && [ "$errors" -eq 1 ] && grep -q -e "this build has no CUDA" -e "no usable GPU" "$tmp/probe"; then
        echo "ok - --device gpu where it cannot run: exit 2, one line: $(grep 'error:' "$tmp/probe")"
        echo "skip - GPU tests: $(sed -n 's/.*--device gpu: \([^:]*\).*/\1/p' "$tmp/probe" | head -1)" \
             "(make test-gpu on a machine with an NVIDIA GPU runs them)"
    else
        echo "not ok - --device gpu: exit $rc, $errors error lines:"
        sed 's/^/#   /' "$tmp/probe" | tail -8
    fi
    exit 0
fi

echo "# $(grep -m 1 'GPU ranks' "$tmp/probe" || echo 'GPU ranks: (not said)')"
timeout 900 mpiexec -n 4 ./tests/test_gpu >"$tmp/unit" 2>&1
rc=$?
cat "$tmp/unit"
[ $rc -eq 0 ] || grep -q '^not ok' "$tmp/unit" || echo "not ok - test_gpu exited with status $rc"

expect "01 on GPU ranks equals one process" 0 "equals the single-process output bit for bit" \
    mpiexec -n 4 ./demos/01_forward_flow --device gpu
expect "01 says where each rank computes" 0 "GPU ranks: 0" mpiexec -n 4 ./demos/01_forward_flow --device gpu
if [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" -lt 4 ]; then   # four ranks, fewer GPUs: some share one
    expect "01 says that ranks sharing a GPU take turns on it" 0 "(ranks on one GPU take turns on it)" \
        mpiexec -n 4 ./demos/01_forward_flow --device gpu
fi
expect "02 trains on GPU ranks" 0 "GPU ranks: 0" mpiexec -n 4 ./demos/02_microbatches --device gpu -m 1,4 --steps 3 --no-tui
expect "03 counts device memory" 0 "memory allocated on the rank's GPU" \
    mpiexec -n 4 ./demos/03_memory_split --device gpu --no-tui
expect "05 timed on GPU ranks with the exports" 0 "measured" mpiexec -n 4 ./demos/05_1f1b --device gpu --no-tui \
    --tick-ms 2 --trace "$tmp/t.json" --events "$tmp/e.csv" --svg "$tmp/t.svg"
if [ -s "$tmp/t.json" ] && [ -s "$tmp/e.csv" ] && grep -q '<svg' "$tmp/t.svg" && ./tests/json_check "$tmp/t.json" >/dev/null
then echo "ok - 05 on GPU ranks: the trace is valid JSON, the events CSV and the SVG are written"
else echo "not ok - 05 on GPU ranks: exports missing or broken"; fi
expect "06 tensor parallel on GPU ranks" 0 "GPU ranks: 0" mpiexec -n 4 ./demos/06_pp_tp --tp 2 --device gpu --no-tui
expect "12 on a 2 x 2 x 2 grid of GPU ranks" 0 "GPU ranks: 0" mpiexec -n 8 ./demos/12_3d --tp 2 --dp 2 --device gpu --no-tui
expect "07 interleaved, timed on GPU ranks" 0 "GPU ranks: 0" mpiexec -n 4 ./demos/07_interleaved --device gpu --no-tui
expect "08 zero bubble, timed on GPU ranks" 0 "GPU ranks: 0" mpiexec -n 4 ./demos/08_zero_bubble --device gpu --no-tui
expect "13: a stalled GPU rank is caught" 3 "silent" mpiexec -n 4 ./demos/13_deadlock --device gpu --no-tui \
    --fault stall:1 --watchdog 2
# Healthy GPU runs with a tight limit: waiting for the GPU is no progress
# for the watchdog, yet it must stay quiet while the GPU works.
if mpiexec -n 4 ./demos/02_microbatches --device gpu -m 2,8 --steps 2 --no-tui --watchdog 2 >"$tmp/out" 2>&1 &&
    mpiexec -n 4 ./demos/05_1f1b --device gpu --tick-ms 1 --no-tui --watchdog 2 >>"$tmp/out" 2>&1 &&
    ! grep -q watchdog "$tmp/out"; then
    echo "ok - healthy real and timed runs on GPU ranks with --watchdog 2: the watchdog stays quiet"
else
    echo "not ok - a healthy run on GPU ranks tripped the watchdog or failed:"; tail -12 "$tmp/out" | sed 's/^/#   /'
fi
expect "a model too big for the GPU is refused" 2 "on one GPU" \
    mpiexec -n 2 ./demos/02_microbatches --device gpu --no-tui --depth 512 --width 8192 --hidden 32768

# The live view, as a person sees it: 120 x 40, run to the end.  Where it
# fails, what the screen does not show: whether tmux started, whether the
# ranks still run (a hang) and what they wrote to stderr.
tmux -L ppgpu$$ new-session -d -x 120 -y 40 -s gpu \
    "mpiexec -n 4 ./demos/02_microbatches --device gpu -m 4 --steps 2 --exit 2>$tmp/live.err; echo EXITED \$?; sleep 30" \
    2>"$tmp/tmux.err"
tmux_rc=$?
live_why() {
    sed 's/^/#   /' "$tmp/screen" | tail -12
    echo "#   (tmux new-session: status $tmux_rc $(head -c 200 "$tmp/tmux.err"); session $(tmux -L ppgpu$$ has-session -t gpu 2>/dev/null && echo there || echo gone);" \
        "ranks running: $(pgrep -f '^\./demos/02_microbatches --device gpu' 2>/dev/null | wc -l))"
    [ -s "$tmp/live.err" ] && tail -8 "$tmp/live.err" | sed 's/^/#   stderr: /'
}
for i in $(seq 1 120); do
    tmux -L ppgpu$$ capture-pane -p -t gpu >"$tmp/screen" 2>/dev/null
    grep -q "GPU ranks:" "$tmp/screen" && break
    sleep 0.5
done
if grep -q "GPU ranks: 0.* on GPU 0" "$tmp/screen"; then
    echo "ok - the live view names the GPUs: $(grep -m 1 'GPU ranks' "$tmp/screen" | cut -c 1-100)"
else
    echo "not ok - the live view does not say which rank computes on which GPU:"
    live_why
fi
for i in $(seq 1 120); do
    tmux -L ppgpu$$ capture-pane -p -t gpu >"$tmp/screen" 2>/dev/null
    grep -q "EXITED" "$tmp/screen" && break
    sleep 0.5
done
if grep -q "EXITED 0" "$tmp/screen"; then echo "ok - the live view on GPU ranks ran to the end and gave the terminal back"
else echo "not ok - the live view on GPU ranks did not end well:"; live_why; fi
