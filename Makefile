# Makefile for the pipeline-parallelism teaching kit.
#
#   make          build lib/libpp.a and every demo
#   make run      build, then run the main demo on 4 ranks
#   make test     build, then run every test (ends on "N passed, N failed")
#   make bench    build, then print the benchmark tables
#   make check    the suite's C tests, demos and bad-input, hang and option
#                 tests again, built with AddressSanitizer and
#                 UndefinedBehaviorSanitizer (in build/check), then a short
#                 run of each fuzz target (tools/fuzz.sh; FUZZ_SECONDS=20)
#   make clean    remove what the build made
#
# MPICH, ncurses and OpenBLAS are installed through apt-get when they are
# missing (tools/deps.sh says what it does first).
#
# lib/ is built by layer (lib/README.md): core, model, view, demo; each
# layer's header sits in its folder, and every folder is on the include path.

CC      = mpicc
LAYERS  = core model view demo
# SANITIZE: extra compile and link flags, for make check (empty otherwise).
SANITIZE =
CFLAGS  = -std=c11 -Wall -Wextra -pedantic -O2 -g -D_POSIX_C_SOURCE=200809L $(LAYERS:%=-Ilib/%) $(SANITIZE)
LDLIBS  = $(SANITIZE) -lncurses -lopenblas -lpthread -lm
MPIEXEC = mpiexec

LIB_SRC = $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c))
LIB_HDR = $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.h))
LIB_OBJ = $(LIB_SRC:.c=.o)
DEMOS   = $(patsubst %.c,%,$(wildcard demos/*.c))
TESTS   = $(patsubst %.c,%,$(wildcard tests/*.c))
BENCHES = $(patsubst %.c,%,$(wildcard bench/*.c))

.PHONY: all deps run test bench check clean

all: deps lib/libpp.a $(DEMOS) $(TESTS) $(BENCHES)

# Checks for MPICH, ncurses and OpenBLAS; installs what is missing.
deps:
	@sh tools/deps.sh

lib/%.o: lib/%.c $(LIB_HDR) | deps
	$(CC) $(CFLAGS) -c -o $@ $<

lib/libpp.a: $(LIB_OBJ)
	ar rcs $@ $^

demos/%: demos/%.c lib/libpp.a
	$(CC) $(CFLAGS) -o $@ $< lib/libpp.a $(LDLIBS)

tests/%: tests/%.c lib/libpp.a
	$(CC) $(CFLAGS) -o $@ $< lib/libpp.a $(LDLIBS)

bench/%: bench/%.c lib/libpp.a
	$(CC) $(CFLAGS) -o $@ $< lib/libpp.a $(LDLIBS)

run: all
	$(MPIEXEC) -n 4 ./demos/05_1f1b

test: all
	@sh tests/run.sh

bench: all
	@sh bench/run.sh

check: deps
	@sh tools/deps.sh --fuzz
	@sh tools/check.sh

clean:
	rm -f lib/*/*.o lib/libpp.a $(DEMOS) $(TESTS) $(BENCHES)
	rm -rf build
