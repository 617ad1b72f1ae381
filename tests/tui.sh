#!/bin/sh
# tui.sh -- drives the live view in a real terminal (tmux), as a student
# would: what the screen shows at 80x24 and 160x48, pause and one step, q,
# Ctrl-C, an error in one rank, a rank killed with SIGKILL, a terminal too
# small, monochrome, a redirected output; and the exports.  After every run
# the terminal's settings (stty -g) must be what they were before, and the
# job must end within 5 seconds of being told to.  make test runs a sample
# (80x24; pause, one step, q; Ctrl-C, errors and kills; a small terminal,
# monochrome, redirected); PP_TEST_FULL=1 (make check) runs every session.
cd "$(dirname "$0")/.." || exit 1
. tests/sample.sh
top=$(pwd)
tmp=$(mktemp -d)
sess="pptest$$"
# A tmux server of this test's own (-L): a second copy of the suite running
# beside this one has its own, and neither stops the other's.
tm() { tmux -L "$sess" "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

if ! command -v tmux >/dev/null 2>&1; then
    echo "not ok - tmux is not installed (tools/deps.sh installs it)"
    exit 1
fi
# A session that lives as long as the test keeps the server up: a server
# whose last session is killed exits, and a new session started meanwhile fails.
tm new-session -d -s keep "sleep 100000"

ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; }
screen() { tm capture-pane -p -t "$sess"; }

# start W H COMMAND [SETTLE]: a fresh terminal of W x H running COMMAND
# between two stty -g.  SETTLE (seconds) is for runs where rank 0 is killed
# by mpiexec with SIGKILL: its guardian process restores the terminal when it
# sees rank 0 gone, which may be a few milliseconds after mpiexec returns.
start() {
    tm kill-session -t "$sess" 2>/dev/null
    rm -f "$tmp/before" "$tmp/after" "$tmp/rc"
    tm new-session -d -s "$sess" -x "$1" -y "$2" "sh"
    tm send-keys -t "$sess" "cd '$top' && export PPTEST_TAG=$sess && stty -g > $tmp/before; $3; echo \$? > $tmp/rc; sleep ${4:-0}; stty -g > $tmp/after" Enter
}

# ranks: this test's demo processes (ranks, and rank 0's guardian), by the
# tag their environment inherits from start().
. tests/procs.sh
ranks() {
    demo_pids "$sess"
}

# wait_for PATTERN SECONDS: until the screen shows PATTERN; 0 if it did.
wait_for() {
    i=0
    while [ "$i" -lt $(($2 * 10)) ]; do
        screen | grep -q -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# shows WHAT PATTERN: ok if the screen shows PATTERN within 2 s; if not,
# not ok and the screen.
shows() {
    if wait_for "$2" 2; then ok "$1"; else bad "$1: not on the screen"; screen | sed 's/^/#   /'; fi
}

# ended SECONDS: until the command line has finished; 0 if it did.
ended() {
    i=0
    while [ "$i" -lt $(($1 * 10)) ]; do
        [ -s "$tmp/after" ] && [ -z "$(ranks)" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

restored() {
    alt=$(tm display -p -t "$sess" '#{alternate_on}')
    if [ -s "$tmp/before" ] && [ -s "$tmp/after" ] && cmp -s "$tmp/before" "$tmp/after" && [ "$alt" = 0 ]; then
        ok "$1: terminal settings restored (stty -g before = after), on the normal screen"
    else
        bad "$1: terminal settings differ after the run, or it is left on the alternate screen (alternate_on '$alt')"
    fi
}

# pause_run WAIT BEFORE AFTER: once the run shows RUNNING (within WAIT
# seconds) and BEFORE more seconds pass, pauses it with space; then AFTER
# seconds for the ranks to settle where they hold.
pause_run() {
    wait_for "RUNNING" "$1" && sleep "$2"
    tm send-keys -t "$sess" " "
    wait_for "PAUSED" 5 && sleep "$3"
}
done_at() { screen | sed -n 's/.*compute actions done: \([0-9]*\) of.*/\1/p'; }
# step_once SETTLE: n, then the compute actions done SETTLE seconds later.
step_once() { tm send-keys -t "$sess" n; sleep "$1"; done_at; }

figure() { sed -n 's/.*bubble[a-z ]* \([0-9.][0-9.]*\) % measured.*/\1/p' | head -1; }

# ---- the picture at two sizes, and the final bubble against plain text ----
sizes="80x24"
full && sizes="80x24 160x48"
for size in $sizes; do
    size=$(echo "$size" | tr x ' ')
    set -- $size
    w=$1 h=$2
    start "$w" "$h" "mpiexec -n 4 ./demos/04_bubble_efficiency -m 8 --tick-ms 20"
    if wait_for "RUNNING" 20; then ok "${w}x${h}: the view starts"; else bad "${w}x${h}: no RUNNING on screen"; screen; fi
    if wait_for "press any key" 20; then ok "${w}x${h}: the final picture waits for a key"; else bad "${w}x${h}: no final prompt"; fi
    screen >"$tmp/final"
    rows=$(grep -c '^r[0-9] *s[0-9] ' "$tmp/final")
    [ "$rows" -eq 4 ] && ok "${w}x${h}: one row per rank (4)" || bad "${w}x${h}: $rows rank rows, expected 4"
    grep -q 'F0' "$tmp/final" && grep -q 'B0' "$tmp/final" && ok "${w}x${h}: F and B blocks labelled" ||
        bad "${w}x${h}: no F0/B0 labels"
    grep -q 'forward' "$tmp/final" && grep -q 'wait msg' "$tmp/final" && ok "${w}x${h}: legend shown" || bad "${w}x${h}: no legend"
    grep -q 'formula (P-1)/(M+P-1) 27.3 %' "$tmp/final" && grep -q 'predicted 27.3 %' "$tmp/final" &&
        ok "${w}x${h}: formula and predicted figures shown" || bad "${w}x${h}: figures missing"
    # The panel's line of parts (pp_idle.h), whole at the end: every part
    # named, each a signed figure.
    if grep -Eq '^over the formula, pts: sched [+-][0-9.]+ imb [+-][0-9.]+ ovr [+-][0-9.]+ late [+-][0-9.]+ msg [+-][0-9.]+ kit [+-][0-9.]+' "$tmp/final"; then
        ok "${w}x${h}: the bubble's parts shown: $(grep '^over the formula' "$tmp/final")"
    else
        bad "${w}x${h}: no line of the bubble's parts"; grep -i 'over the\|parts' "$tmp/final" | sed 's/^/#   /'
    fi
    widest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$tmp/final")
    [ "$widest" -gt $((w - 12)) ] && [ "$widest" -le "$w" ] && ok "${w}x${h}: uses the width ($widest of $w columns)" ||
        bad "${w}x${h}: widest line $widest of $w columns"
    live=$(figure <"$tmp/final")
    # At the final prompt the arrows scroll the picture; they do not leave.
    axis0=$(screen | sed -n 2p)
    tm send-keys -t "$sess" Right; sleep 0.5
    axis1=$(screen | sed -n 2p)
    tm send-keys -t "$sess" Home; sleep 0.5
    if [ "$axis1" != "$axis0" ] && [ "$(screen | sed -n 2p)" = "$axis0" ] && screen | grep -q "press any key"; then
        ok "${w}x${h}: at the final prompt the arrows scroll the picture (Right, then Home back) and do not leave"
    else
        bad "${w}x${h}: the arrows at the final prompt: axis '$axis0', after Right '$axis1'"; screen | sed 's/^/#   /'
    fi
    tm send-keys -t "$sess" x
    if ended 5; then ok "${w}x${h}: a key ends the run"; else bad "${w}x${h}: still running 5 s after the key"; fi
    restored "${w}x${h}"
    # The final picture is left once: the view's closing repaint does not
    # clear the screen (a terminal keeps what a clear wipes in its scrollback).
    n=$(tm capture-pane -p -S -300 -t "$sess" | grep -c '^DONE ')
    [ "$n" = 1 ] && ok "${w}x${h}: the final picture stays once in the scrollback" ||
        bad "${w}x${h}: the final picture is $n times in the scrollback"
    [ "$(cat "$tmp/rc")" = 0 ] && ok "${w}x${h}: exit status 0" || bad "${w}x${h}: exit status $(cat "$tmp/rc")"
    plain=$(mpiexec -n 4 ./demos/04_bubble_efficiency -m 8 --tick-ms 20 </dev/null | awk '$1 == 8 { print $6; exit }')
    if [ -n "$live" ] && [ -n "$plain" ] && awk -v a="$live" -v b="$plain" 'BEGIN { d = a - b; exit !(d < 3 && d > -3) }'; then
        ok "${w}x${h}: final bubble $live % on screen, $plain % in plain text (within 3 points)"
    else
        bad "${w}x${h}: final bubble '$live' on screen vs '$plain' in plain text"
    fi
done
tm capture-pane -p -S -200 -t "$sess" | grep -q "formula and predicted: computed" &&
    ok "the text report is printed below the picture when the view closes" || bad "no text report after the view"

# ---- resizing, and a terminal named with --tty -------------------------------
if full; then
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 60 --tty \$(tty)"
widest() { screen | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }'; }
if wait_for "RUNNING" 20; then
    ok "--tty \$(tty): the view draws on the named terminal"
    w0=$(widest)
    tm resize-window -t "$sess" -x 160 -y 48 && sleep 1
    w1=$(widest); h1=$(screen | wc -l)
    tm resize-window -t "$sess" -x 60 -y 20 && sleep 1
    small=$(screen | grep -c "terminal too small: 60x20")
    tm resize-window -t "$sess" -x 100 -y 30 && sleep 1
    back=$(screen | grep -c "^r3 s3 ")
    if [ "$w1" -gt 100 ] && [ "$w1" -gt "$w0" ] && [ "$h1" -ge 48 ] && [ "$small" -eq 1 ] && [ "$back" -eq 1 ]; then
        ok "resize: 80x24 -> 160x48 uses the new width ($w0 -> $w1 columns), 60x20 says too small, 100x30 draws again"
    else
        bad "resize: widths $w0 -> $w1, rows $h1, 'too small' shown $small, rows back $back"; screen | sed 's/^/#   /'
    fi
else
    bad "--tty \$(tty): no view"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" q
if ended 5; then ok "resize: q ends every rank"; else bad "resize: still running after q"; fi
restored "resize"
fi

# ---- a paused step is flagged ------------------------------------------------
if full; then
start 120 40 "mpiexec -n 4 ./demos/05_1f1b -m 4 --tick-ms 60"
pause_run 20 0.3 0.5
tm send-keys -t "$sess" " "
if wait_for "press any key" 20 && screen | grep -Eq "PAUSED: [0-9.]+ s held, left out"; then
    ok "a step paused with space is flagged on the final picture (the held seconds left out of it)"
else
    bad "paused step not flagged"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" q
ended 5 || bad "flag test: still running after q"
fi

# ---- q mid-step: flagged like a pause, and the status says the run was cut short ----
if full; then
start 120 40 "mpiexec -n 4 ./demos/04_bubble_efficiency -m 8 --tick-ms 150 --csv $tmp/quit.csv"
wait_for "RUNNING" 20 && sleep 1.5
tm send-keys -t "$sess" q
if ended 10 && [ "$(cat "$tmp/rc")" = 1 ] && screen | grep -q "QUIT: the rest ran without its ticks" &&
    screen | grep -q "stopped (q): nothing was exported" && ! [ -e "$tmp/quit.csv" ]; then
    ok "q mid-step: the final picture is flagged QUIT, --csv is not written (and the run says so), status 1"
else
    bad "q mid-step: status '$(cat "$tmp/rc")', or no QUIT flag"; screen | sed 's/^/#   /'
fi
restored "q mid-step"
fi

# ---- q at the final prompt leaves like any key: the run is complete ----------
if full; then
start 100 30 "mpiexec -n 4 ./demos/04_bubble_efficiency -m 4 --tick-ms 5 --csv $tmp/final.csv"
wait_for "press any key" 20
tm send-keys -t "$sess" q
if ended 5 && [ "$(cat "$tmp/rc")" = 0 ] && [ -s "$tmp/final.csv" ] && ! screen | grep -q "stopped (q)"; then
    ok "q at the final prompt: exit 0 and the --csv table written, as with any other key"
else
    bad "q at the final prompt: exit status '$(cat "$tmp/rc")', csv $(ls "$tmp/final.csv" 2>&1)"; screen | sed 's/^/#   /'
fi
restored "q at the end"
fi

# ---- pause, one step, q -------------------------------------------------
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 100"
pause_run 20 1.5 1
# Paused, every rank's row ends on what it is doing now: held ('|') or
# waiting for a message ('.'), drawn up to the present.
held=$(screen | grep -c '^r[0-9] *s[0-9] .*[|.] *$')
[ "$held" -eq 4 ] && ok "paused: every rank's row shows its current state (held or waiting), drawn up to now" ||
    { bad "paused: $held of 4 rank rows end on their current state"; screen | sed 's/^/#   /'; }
# Still, the picture stands still: the title's clock and the panel's bubble
# are the same a second later.
clock() { screen | head -1 | sed -n 's/.* \([0-9.]*\) ms  tick .*/\1/p'; }
t1=$(clock) f1=$(screen | figure)
sleep 1
t2=$(clock) f2=$(screen | figure)
if [ -n "$t1" ] && [ "$t1" = "$t2" ] && [ "$f1" = "$f2" ]; then
    ok "paused: the clock ($t1 ms) and the bubble so far ($f1 %) stand still"
else
    bad "paused: clock '$t1' then '$t2', bubble '$f1' then '$f2'"; screen | sed 's/^/#   /'
fi
# Before the pause the panel worked out the bubble's parts so far (every
# quarter second), over the schedule's own replay of what was done.
if screen | grep -Eq '^over the schedule so far, pts: imb [+-][0-9.]+ ovr [+-][0-9.]+ late [+-][0-9.]+ msg [+-][0-9.]+ kit [+-][0-9.]+'; then
    ok "running: the panel shows the bubble's parts so far: $(screen | grep '^over the schedule so far')"
else
    bad "running: no line of the bubble's parts so far"; screen | sed 's/^/#   /'
fi
# The key line names the action n runs next; after n it is on its rank's row.
next=$(screen | sed -n 's/.*n runs \([0-9]*\)\([FBIW][0-9]*\) on rank \([0-9]*\) next.*/\2 \3/p')
a=$(done_at)
b=$(step_once 1.2)
set -- $next
if [ -n "$1" ] && screen | grep "^r$2 " | grep -q "$1[ |.]*$"; then
    ok "paused: the key line named $1 on rank $2 as next; after n it is drawn at the end of that row"
else
    bad "paused: next '$next' is not the newest block of its row"; screen | sed 's/^/#   /'
fi
c=$(step_once 1.2)
if [ -n "$a" ] && [ "$b" = $((a + 1)) ] && [ "$c" = $((a + 2)) ]; then
    ok "space pauses; each n runs exactly one action ($a, $b, $c)"
else
    bad "pause and step: actions done '$a' then '$b' then '$c'"
fi
sleep 1
[ "$(done_at)" = "$c" ] && ok "paused ranks hold: nothing runs without n" || bad "actions ran while paused"
tm send-keys -t "$sess" q
if ended 5; then ok "q ends every rank within 5 s"; else bad "q: still running after 5 s"; fi
restored "q"

# ---- one step on a grid: the whole tensor-parallel group moves ------------------
if full; then
start 120 40 "mpiexec -n 8 ./demos/05_1f1b --tp 2 -m 8 --tick-ms 100"
pause_run 30 1.5 1.5
a=$(done_at)
b=$(step_once 1.5)
if [ -n "$a" ] && [ "$b" = $((a + 2)) ]; then
    ok "grid: n runs one action on both ranks of a tensor-parallel pair ($a, $b)"
else
    bad "grid: n moved actions done from '$a' to '$b' (want +2)"
fi
tm send-keys -t "$sess" q
if ended 5; then ok "grid: q ends every rank within 5 s"; else bad "grid: still running after q"; fi
restored "grid step"
fi

# ---- Ctrl-C, an error in one rank, a rank killed --------------------------
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 100"
wait_for "RUNNING" 20 && sleep 1
title=$(screen | head -1)
keys=$(screen | tail -1)
case "$title" in
    "RUNNING  05_1f1b: gpipe  P=4 M=8  "*" ms  tick 100 ms  F=1 B=2 ticks")
        ok "80x24: the whole title fits: $title" ;;
    *) bad "80x24: title cut: '$title'" ;;
esac
[ "$keys" = " space pause  n step  + faster  - slower  <- -> scroll  f follow  q quit" ] &&
    ok "80x24: the whole key line fits" || bad "80x24: key line '$keys'"
tm send-keys -t "$sess" C-c
if ended 5; then ok "Ctrl-C ends every rank within 5 s"; else bad "Ctrl-C: still running after 5 s"; fi
restored "Ctrl-C"
# The last frame is whole: its panel reads as the demo wrote it (the ranks
# finished the step, every action counted), not mixed with another frame.
if screen | grep -q '^compute actions done: 64 of 64   QUIT: the rest ran without its ticks$' &&
    screen | grep -Eq '^bubble [0-9.]+ % measured  formula \(P-1\)/\(M\+P-1\) 27\.3 %  predicted 27\.3 %$' &&
    [ "$(screen | grep -c '^r[0-9] s[0-9]   ')" -eq 4 ]; then
    ok "Ctrl-C: the last frame is whole (the step finished: 64 of 64 actions, flagged QUIT; panel lines intact)"
else
    bad "Ctrl-C: the last frame is not whole"; screen | sed 's/^/#   /'
fi
if [ "$(cat "$tmp/rc")" = 130 ] && ! screen | grep -q "BAD TERMINATION" && screen | grep -q "stopped (Ctrl-C): the run was cut short"; then
    ok "Ctrl-C: every rank ends cleanly (status 130, says so, no abnormal-termination banner from mpiexec)"
else
    bad "Ctrl-C: status $(cat "$tmp/rc"), screen:"; screen | sed 's/^/#   /'
fi

start 80 24 "PP_FAULT=2:12 mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 50" 0.5
if ended 20; then ok "an error in rank 2 ends every rank"; else bad "an error in rank 2: still running"; fi
restored "error in rank 2"
[ "$(cat "$tmp/rc" 2>/dev/null)" != 0 ] && ok "error in rank 2: non-zero exit status" || bad "error in rank 2: exit status 0"
# The failing rank's line is not printed into the picture: rank 0's guardian
# prints it once the terminal is restored.
shows "error in rank 2: its one-line reason is printed once the terminal is restored" \
    "^05_1f1b: lib/demo/demo.c:[0-9]*: pp_exec_step"

start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 100" 0.5
wait_for "RUNNING" 20 && sleep 1
kill -9 "$(rank_pid "$sess" 3)"
if ended 5; then ok "a rank killed with SIGKILL: every rank ends within 5 s"; else bad "SIGKILL: still running after 5 s"; fi
restored "SIGKILL of one rank"

# SIGKILL of rank 0, the rank drawing: its guardian restores the terminal
# and says why in one line.
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 100" 0.5
wait_for "RUNNING" 20 && sleep 1
kill -9 "$(rank_pid "$sess" 0)"
if ended 5; then ok "rank 0 killed with SIGKILL: every rank ends within 5 s"; else bad "SIGKILL of rank 0: still running after 5 s"; fi
restored "SIGKILL of rank 0"
shows "SIGKILL of rank 0: the kit says why in one line (its guardian), the terminal restored" \
    "05_1f1b: rank 0 ended without saying goodbye"

# SIGTERM to mpiexec: every rank ends, the terminal restored, and rank 0
# says which signal it was.
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 8 --tick-ms 100" 0.5
wait_for "RUNNING" 20 && sleep 1
kill -TERM "$(launcher_pid "$sess")"
if ended 5; then ok "SIGTERM to mpiexec: every rank ends within 5 s"; else bad "SIGTERM: still running after 5 s"; fi
restored "SIGTERM to mpiexec"
shows "SIGTERM: the kit says so in one line" "05_1f1b: ended by SIGTERM"

# ---- hangs: the watchdog's report in the view, and every way a hang ends ---
if full; then
start 80 24 "mpiexec -n 4 ./demos/13_deadlock --watchdog 1 --tick-ms 20" 0.5
if wait_for "^STUCK  13_deadlock: 1f1b" 20 && wait_for "^cause: a cycle of waits, a deadlock: rank 1 -> rank 2 -> rank 1" 2 &&
    wait_for "the watchdog stopped the step: press any key to end" 2; then
    ok "a deadlock in the live view: the title says STUCK and the panel's place holds the wait-for report"
else
    bad "a deadlock in the live view: no report on the screen"; screen | sed 's/^/#   /'
fi
c1=$(screen | head -1)
sleep 1
[ "$c1" = "$(screen | head -1)" ] && ok "stuck: the title's clock has stopped" || bad "stuck: the clock still runs"
tm send-keys -t "$sess" x
if ended 5; then ok "stuck: a key ends every rank"; else bad "stuck: a key did not end the run"; fi
restored "watchdog in the live view"
[ "$(cat "$tmp/rc" 2>/dev/null)" = 3 ] && ok "stuck: exit status 3" || bad "stuck: exit status $(cat "$tmp/rc" 2>/dev/null)"
screen | grep -q "^13_deadlock: watchdog: the step is stuck" && ok "stuck: the report is printed below the picture" ||
    bad "stuck: no report below the picture"

# Rank 0 itself stopped: it cannot show the report; the rank that found
# the hang ends it, and rank 0's guardian restores the terminal and prints it.
start 80 24 "mpiexec -n 4 ./demos/13_deadlock --fault stall:0 --watchdog 1 --tick-ms 20" 0.5
if ended 10 && [ "$(cat "$tmp/rc" 2>/dev/null)" -ne 0 ]; then
    ok "rank 0 stopped (stall:0) in the live view: every rank ends, status $(cat "$tmp/rc")"
else
    bad "stall:0: still running after 10 s, or status 0"
fi
restored "stall:0 in the live view"
if screen | grep -q "^13_deadlock: watchdog: the step is stuck" && screen | grep -q "^cause: rank 0 is silent"; then
    ok "stall:0: the report is printed on the terminal once it is restored"
else
    bad "stall:0: no report"; screen | sed 's/^/#   /'
fi

# The watchdog off and a rank stopped: Ctrl-C still ends the job within 5 s
# (a step that does not move for a second after Ctrl-C is reported stuck).
start 80 24 "mpiexec -n 4 ./demos/13_deadlock --fault stall:1 --watchdog 0 --tick-ms 20 --exit" 0.5
wait_for "RUNNING" 20 && sleep 2
tm send-keys -t "$sess" C-c
if ended 5; then ok "watchdog off, a rank stopped: Ctrl-C ends every rank within 5 s"; else bad "Ctrl-C on a hang: still running after 5 s"; fi
restored "Ctrl-C on a hang"
screen | grep -q "^13_deadlock: Ctrl-C: the step was stuck" && screen | grep -q "^cause: rank 1 is silent" &&
    ok "Ctrl-C on a hang: the report says so, and where it was stuck" ||
    { bad "Ctrl-C on a hang: no report"; screen | sed 's/^/#   /'; }
fi

# ---- small terminal, monochrome, redirected output ------------------------
start 60 20 "mpiexec -n 4 ./demos/05_1f1b -m 4 --tick-ms 20"
if wait_for "terminal too small: 60x20" 20; then ok "60x20: says the terminal is too small"; else bad "60x20: no size message"; fi
tm send-keys -t "$sess" q
ended 10 && ok "60x20: q leaves" || bad "60x20: q did not end the run"
restored "60x20"

start 80 24 "NO_COLOR=1 mpiexec -n 4 ./demos/04_bubble_efficiency -m 4 --tick-ms 20"
wait_for "press any key" 20
if screen | grep '^r0' | grep -q '>' && screen | grep '^r0' | grep -q '<'; then
    ok "NO_COLOR: forward and backward drawn with distinct glyphs (> <)"
else
    bad "NO_COLOR: no glyphs"
fi
tm send-keys -t "$sess" x
ended 5 || bad "NO_COLOR: a key did not end the run"
restored "NO_COLOR"

start 80 24 "mpiexec -n 4 ./demos/04_bubble_efficiency -m 4 --tick-ms 5 > $tmp/redirected.txt"
ended 30
if grep -q "formula and predicted" "$tmp/redirected.txt" && ! grep -q "$(printf '\033')" "$tmp/redirected.txt"; then
    ok "output redirected by the user: plain text, no escape sequences"
else
    bad "redirected output is not plain text"
fi

# ---- the zero-bubble demo: I and W drawn as their own kinds ------------------
if full; then
start 80 24 "mpiexec -n 4 ./demos/08_zero_bubble -m 4 --tick-ms 5"
wait_for "1f1b done" 20 && tm send-keys -t "$sess" x
if wait_for "zbh1 done" 20 && screen | grep -q "B input" && screen | grep -q "B weight" &&
    [ "$(screen | grep -c '^r[0-9] s[0-9] .*I[0-9].*W[0-9]')" -ge 3 ] &&
    screen | head -1 | grep -q "F=1 I=1 W=1 ticks"; then
    ok "08: ZB-H1's rows hold I and W blocks with their numbers, the legend names both, the title their costs"
else
    bad "08: I and W not drawn as their own kinds"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" x
if wait_for "zbv done\|press any key to leave" 20 && screen | grep -q "^r0 s0,7 " && screen | grep -q "^   0    0,7 "; then
    ok "08: ZB-V's rows and panel name both stages a rank runs (r0 s0,7)"
else
    bad "08: ZB-V's stages not named"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" q
ended 5 || bad "08: still running after q"
fi

# ---- --repeat: the title says which run of the step is drawn ---------------
if full; then
start 80 24 "mpiexec -n 4 ./demos/05_1f1b -m 4 --tick-ms 60 --repeat 2"
if wait_for "M=4 run 1/2" 20 && wait_for "M=4 run 2/2" 20; then
    ok "--repeat 2: the title says run 1/2, then run 2/2"
else
    bad "--repeat 2: no run k/2 in the title"; screen | head -1 | sed 's/^/#   /'
fi
# Then the picture shows the run the text reports, the median.
if wait_for "M=4 median of 2" 20 && screen | grep -q "gpipe done: press any key"; then
    ok "--repeat 2: once both ran, the picture shows the median run (the one the text reports)"
else
    bad "--repeat 2: the title does not say median of 2 at the prompt"; screen | head -1 | sed 's/^/#   /'
fi
# The next schedule's runs are numbered again, not called the median.
tm send-keys -t "$sess" x
if wait_for "1f1b  P=4 M=4 run 1/2" 20 && ! screen | head -1 | grep -q "median"; then
    ok "--repeat 2: the next schedule's runs say run k/2 again"
else
    bad "--repeat 2: the next schedule's title"; screen | head -1 | sed 's/^/#   /'
fi
tm send-keys -t "$sess" q
ended 10 || bad "--repeat 2: still running after q"
fi

# ---- exports ---------------------------------------------------------------
if full; then
mpiexec -n 4 ./demos/04_bubble_efficiency -m 4 --tick-ms 2 --trace "$tmp/t.json" --events "$tmp/e.csv" \
    --svg "$tmp/t.svg" </dev/null >/dev/null
set -- $(./tests/json_check "$tmp/t.json")
rows=$(($(wc -l <"$tmp/e.csv") - 1))
if [ "$1" = valid ] && [ "$3" = 4 ] && [ "$2" = "$rows" ]; then
    ok "--trace: valid JSON, one track per rank (4), $2 events = $rows rows of --events"
else
    bad "--trace: json_check says '$*', --events has $rows rows"
fi
# The critical path (column 13): it ends at the compute that ends
# last, holds a compute on every rank (1F1B goes down and back up), and its
# waits are for messages.
crit=$(awk -F, 'NR > 1 { if ($5 == "compute" && $10 > last) { last = $10; lastcrit = $13 }
                         if ($13 == 1) { n++; if ($5 == "compute") ranks[$4] = 1; else if ($5 != "wait") odd++ } }
                END { k = 0; for (r in ranks) k++; print n + 0, k, odd + 0, lastcrit + 0 }' "$tmp/e.csv")
set -- $crit
if [ "$1" -gt 0 ] && [ "$2" = 4 ] && [ "$3" = 0 ] && [ "$4" = 1 ]; then
    ok "--events: $1 events marked on the critical path, computes on all 4 ranks, the last compute among them"
else
    bad "--events: the critical path column is wrong (marked, ranks with a compute on it, others, last on it: $crit)"
fi
# The last column: for every wait, whether its message had come (1 or 0);
# empty for the rest.
came=$(awk -F, 'NR > 1 { if ($5 == "wait") { if ($15 == "1") b++; else if ($15 == "0") a++; else odd++ }
                         else if ($15 != "") odd++ } END { print b + 0, a + 0, odd + 0 }' "$tmp/e.csv")
set -- $came
if [ "$2" -gt 0 ] && [ "$3" = 0 ]; then
    ok "--events: every wait says whether its message had come when its rank got there ($1 had, $2 had not)"
else
    bad "--events: the msg_had_come column is wrong (had, had not, others: $came)"
fi
head -1 "$tmp/t.svg" | grep -q '^<svg' && tail -1 "$tmp/t.svg" | grep -q '^</svg>' &&
    [ "$(grep -c '<rect' "$tmp/t.svg")" -gt "$rows" ] && ok "--svg: a whole picture with a shape per event" ||
    bad "--svg: not a complete picture"
# Its legend names what its runs hold (F, B, waits, sends: no I or W in 1F1B);
# its axis labels are round numbers of ms, evenly spaced from 0.
legend=$(grep -o 'font-size="11">[a-z][^<]*' "$tmp/t.svg" | sed 's/.*>//' | tr '\n' ',')
axis=$(grep 'fill="#666">[0-9]' "$tmp/t.svg" | sed 's/.*">//; s/<.*//' | head -4 | tr '\n' ' ')
if [ "$legend" = "forward F,backward B,waiting for a message,message on its way," ] &&
    echo "$axis" | grep -Eq '^0 ([125]0*) ([0-9]+) ([0-9]+) $' &&
    [ "$(echo "$axis" | awk '{ print ($3 == 2 * $2 && $4 == 3 * $2) }')" = 1 ]; then
    ok "--svg: the legend names only what the runs hold; the axis is at round ms ($axis)"
else
    bad "--svg: legend '$legend', axis '$axis'"
fi
ls "$tmp"/*.tmp >/dev/null 2>&1 && bad "exports left .tmp files" || ok "exports: no .tmp files left"
fi

# ---- the live stream is the step's record -----------------------------------
if full; then
# With the view on, rank 0 keeps the events the ranks streamed to it and
# gathers nothing again: the same events, each once and complete, as a run
# without the view gathers.
start 100 30 "mpiexec -n 4 ./demos/04_bubble_efficiency -m 2,4 --tick-ms 5 --exit --events $tmp/live.csv"
ended 30
mpiexec -n 4 ./demos/04_bubble_efficiency -m 2,4 --tick-ms 5 --events "$tmp/plain.csv" </dev/null >/dev/null
count() { awk -F, 'NR > 1 { n[$1 " " $4 " " $5]++ } END { for (k in n) print k, n[k] }' "$1" | sort; }
if [ -s "$tmp/live.csv" ] && [ "$(count "$tmp/live.csv")" = "$(count "$tmp/plain.csv")" ] &&
    awk -F, 'NR > 1 && $10 < $9 { bad = 1 } END { exit bad }' "$tmp/live.csv"; then
    ok "live view: the streamed events are the step's record ($(($(wc -l <"$tmp/live.csv") - 1)) events, per run, rank and type as a gathered run's; every send has its end)"
else
    bad "live view: streamed events differ from a gathered run's (run, rank, type, count: live, then gathered)"
    count "$tmp/live.csv" | sed 's/^/#   live /'; count "$tmp/plain.csv" | sed 's/^/#   gathered /' 
fi
fi

# ---- real compute in the live view -------------------------------------------
if full; then
start 120 40 "mpiexec -n 2 ./demos/02_microbatches -m 2,4 --steps 2"
if wait_for "next M: press any key" 30 && screen | grep -q "real compute: F=" &&
    screen | grep -q "M=2 step 2 of 2: loss [0-9.]*, [0-9]* samples/s (measured)"; then
    ok "real mode: the view shows measured costs, the loss and samples/s, and waits between M"
else
    bad "real mode: view lacks the real-compute header or the loss line"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" x
wait_for "done: press any key" 30 && tm send-keys -t "$sess" x
ended 20 && [ "$(cat "$tmp/rc")" = 0 ] && screen | grep -q "The loss and the weights agree" &&
    ok "real mode: ends on a key, exit 0, the text table follows the picture" || bad "real mode: did not end cleanly"
restored "real mode"
# The panel takes a real step's bubble apart as it runs too (a step of a
# batch of 2048 in 32 micro-batches runs for a good part of a second; the
# line is worked out every quarter second).
start 120 40 "mpiexec -n 2 ./demos/02_microbatches -m 32 --batch 2048 --steps 2 --exit"
if wait_for "^over the schedule so far, pts: imb\|^pts over sched so far: imb" 60; then
    ok "real mode: the panel takes the bubble so far apart as the step runs: $(screen | grep 'so far, pts\|pts over sched so far')"
else
    bad "real mode: no line of the bubble's parts so far during the run"; screen | sed 's/^/#   /'
fi
ended 60 || bad "real mode: the run with --exit did not end"
# Between the M the view scrolls no part of the screen: tmux keeps a line a
# scroll region pushes off, and the first M's panel lines piled up above.
start 120 40 "mpiexec -n 2 ./demos/02_microbatches -m 2,4 --steps 3 --exit"
wait_for "next M: press any key" 30 && tm send-keys -t "$sess" x
ended 30
n=$(tm capture-pane -p -S -300 -t "$sess" | grep -c "^over the formula")
[ "$n" = 1 ] && ok "real mode: one panel in the scrollback (the final picture's)" ||
    bad "real mode: $n panels' parts lines in the scrollback, not 1"
# Over three steps or more, the picture ends on the step the table reports
# (the median bubble of steps 2 on), its bubble the table's.
start 120 40 "mpiexec -n 2 ./demos/02_microbatches -m 4 --steps 3"
if wait_for "done: press any key" 30 && screen | grep -q "M=4 median of 2" &&
    screen | grep -q "M=4: the step of the median bubble (step [23] of 3), as in the table"; then
    live=$(screen | figure)
    tm send-keys -t "$sess" x
    ended 20
    table=$(tm capture-pane -p -S -200 -t "$sess" | awk '$1 == 4 && $6 == "%" { print $5; exit }')
    [ -n "$live" ] && [ "$live" = "$table" ] &&
        ok "real mode, 3 steps: the picture ends on the table's step (bubble $live % on both)" ||
        bad "real mode, 3 steps: picture's bubble '$live', table's '$table'"
else
    bad "real mode, 3 steps: the picture does not name the median step"; screen | sed 's/^/#   /'
fi
restored "real mode, 3 steps"
fi

# ---- a grid (P x T x D) in the live view at 80x24 ----------------------------
if full; then
start 80 24 "mpiexec -n 8 ./demos/12_3d --steps 2"
if wait_for "done: press any key" 60 && screen | grep -q "P=2 x T=2 x D=2" && screen | grep -q "^d0s0 t0" &&
    screen | grep -q "^d1s1 t0" && screen | grep -q "^     t1 " && screen | grep -q "all-reduce" && screen | grep -q "compute actions done: 128 of 128"; then
    ok "grid: one row per rank grouped by replica, stage and TP group, the all-reduce legend, every pipeline's actions counted"
else
    bad "grid: the view lacks the grid header, grouped rows or the all-reduce legend"; screen | sed 's/^/#   /'
fi
tm send-keys -t "$sess" x
ended 20 && [ "$(cat "$tmp/rc")" = 0 ] && ok "grid: ends on a key, exit 0" || bad "grid: did not end cleanly"
restored "grid"
fi
