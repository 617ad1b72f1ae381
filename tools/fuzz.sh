#!/bin/sh
# fuzz.sh [SECONDS [TARGET...]] -- builds the libFuzzer targets of tests/fuzz (the
# action notation, the schedule CSV reader with the validator, the option
# parser) with clang, AddressSanitizer and UndefinedBehaviorSanitizer, in
# build/fuzz, and runs each for SECONDS (default 20), starting from the
# kit's own schedule files and examples (TARGET: action, csv or options;
# default all three).  A crash fails the target and
# leaves its input in build/fuzz (crash-*): replay it with
# build/fuzz/TARGET build/fuzz/crash-....  Prints "ok"/"not ok" per target.
cd "$(dirname "$0")/.." || exit 1
seconds=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-action csv options}
out=build/fuzz
mkdir -p "$out"
if ! command -v clang >/dev/null 2>&1 ||
    ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
    clang -fsanitize=fuzzer -x c - -o "$out/probe" 2>/dev/null; then
    echo "not ok - fuzzing needs clang with libFuzzer (Debian: apt-get install clang libclang-rt-dev)"
    exit 1
fi
# MPICH's include and library flags, as its mpicc would pass them.
mpi_inc=$(mpicc -show | tr ' ' '\n' | grep -e '^-I' | tr '\n' ' ')
mpi_lib=$(mpicc -show | tr ' ' '\n' | grep -e '^-L' -e '^-l' | tr '\n' ' ')
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -g -O1"
inc="-Ilib/core -Ilib/model -Ilib/view -Ilib/demo"
objs=""
for src in lib/*/*.c; do
    obj="$out/$(basename "$src" .c).o"
    clang -std=c11 -D_POSIX_C_SOURCE=200809L $san -fsanitize=fuzzer-no-link $inc $mpi_inc -c "$src" -o "$obj" || {
        echo "not ok - fuzz build: $src does not compile with clang"
        exit 1
    }
    objs="$objs $obj"
done

# Seeds: the kit's own files and a few typed examples.
mkdir -p "$out/seed_csv" "$out/seed_action" "$out/seed_options"
cp tests/data/*.csv "$out/seed_csv/"
for a in 0F0 12B31 3I2 1W0 2SEND_F4 1RECV_B0 "(0F7;7B3)OVERLAP_F_B" 0UNSHARD; do
    printf '%s' "$a" >"$out/seed_action/$(echo "$a" | tr -c 'A-Za-z0-9' _)"
done
printf -- '-m\n1,2,4\n--schedule\nzbv\n--cost\nF=1,B=2,I=1,W=1\n' >"$out/seed_options/a"
printf -- '--fault\nswap:1\n--watchdog\n2\n--no-validate\n--schedule\nx.csv\n' >"$out/seed_options/b"
printf -- '--tp\n2\n--dp=2\n--layers\n3,5,4,4\n--payload\n64K\n--tick-ms=0.5\n' >"$out/seed_options/c"

status=0
for target in $targets; do
    bin="$out/fuzz_$target"
    if ! clang -std=c11 -D_POSIX_C_SOURCE=200809L $san -fsanitize=fuzzer $inc $mpi_inc "tests/fuzz/fuzz_$target.c" $objs \
        $mpi_lib ${CURSES:--lncurses} -lopenblas -lpthread -lm -o "$bin"; then
        echo "not ok - fuzz_$target does not build"
        status=1
        continue
    fi
    mkdir -p "$out/corpus_$target"
    ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/" "$out/corpus_$target" "$out/seed_$target" >"$out/$target.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$out/$target.log")
    if [ $rc -eq 0 ] && [ -n "$runs" ]; then
        echo "ok - fuzz_$target: $runs, no crash, leak or undefined behaviour ($(ls "$out/corpus_$target" | wc -l) inputs in its corpus)"
    else
        echo "not ok - fuzz_$target: status $rc; the input that failed is in $out (crash-*, leak-*, timeout-*)"
        grep -m1 -A12 -e 'ERROR:' -e 'runtime error' "$out/$target.log"
        status=1
    fi
done
exit $status
