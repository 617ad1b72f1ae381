# Makefile for the pipeline-parallelism teaching kit.
#
#   make          build lib/libpp.a and every demo
#   make run      build, then run the main demo on 4 ranks
#   make test     build, then run every test (ends on "N passed, N failed")
#   make bench    build, then print the benchmark tables
#   make GPU=1    also the CUDA backend (lib/model/gpu.cu, built by nvcc), so
#                 the demos take --device gpu; the default build needs no CUDA
#   make test-gpu the GPU build in build/gpu, its CPU tests, then the GPU tests
#                 (tests/gpu.sh; they skip with one line where there is no GPU)
#   make bench-gpu  the same build, then the GPU benchmark (bench/gpu.sh)
#   make check    the suite's C tests, demos and bad-input, hang and option
#                 tests again, built with AddressSanitizer and
#                 UndefinedBehaviorSanitizer (in build/check), then a short
#                 run of each fuzz target (tools/fuzz.sh; FUZZ_SECONDS=20)
#   make clean    remove what the build made
#
# MPICH, ncurses and OpenBLAS are installed through apt-get when they are
# missing (tools/deps.sh says what it does first).
#
# lib/ is built by layer (lib/README.md): core, model, view, demo, each
# on the ones before it.  A layer's files see only their own folder and
# those below on the include path, so a layer that reaches up does not
# compile; demos, tests and benches see every folder.

CC      = mpicc
LAYERS  = core model view demo
# SANITIZE: extra compile and link flags, for make check (empty otherwise).
SANITIZE =
CFLAGS  = -std=c11 -Wall -Wextra -pedantic -O2 -g -D_POSIX_C_SOURCE=200809L $(LAYERS:%=-Ilib/%) $(SANITIZE)
# The include path of a layer's own files: its folder and those below.
BELOW_core  = core
BELOW_model = core model
BELOW_view  = core model view
BELOW_demo  = core model view demo
LIB_CFLAGS  = $(filter-out $(LAYERS:%=-Ilib/%),$(CFLAGS)) $(BELOW_$(1):%=-Ilib/%)
# CURSES: how ncurses is linked; -lncursesw where a machine has only the
# wide library beside its libtinfo (tools/gpu_remote.sh says so).
CURSES  ?= -lncurses
LDLIBS  = $(SANITIZE) $(CURSES) -lopenblas -lpthread -lm
MPIEXEC = mpiexec

# GPU=1: the CUDA backend too.  nvcc from the PATH, else CUDA's usual
# folder, and the libraries where nvcc says they are (tools/cuda.sh); code
# for Turing and later (PTX), and ready-made for Ampere and Hopper.
GPU      =
GPU_ARCH = -gencode arch=compute_75,code=compute_75 -gencode arch=compute_80,code=sm_80 \
           -gencode arch=compute_90,code=sm_90
ifeq ($(GPU),1)
NVCC     := $(shell sh tools/cuda.sh nvcc)
CUDA_LIB := $(shell sh tools/cuda.sh lib $(NVCC))
CFLAGS  += -DPP_GPU
LDLIBS  += -L$(CUDA_LIB) -Wl,-rpath,$(CUDA_LIB) -lcublas -lcudart -lstdc++
GPU_OBJ  = lib/model/gpu.o
endif

ifeq ($(CURSES),-lncursesw)
CFLAGS  += -DNCURSES_WIDECHAR=1   # the wide library's own layout of ncurses' structures
endif

LIB_SRC = $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c))
LIB_HDR = $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.h))
LIB_OBJ = $(LIB_SRC:.c=.o) $(GPU_OBJ)
DEMOS   = $(patsubst %.c,%,$(wildcard demos/*.c))
TESTS   = $(patsubst %.c,%,$(wildcard tests/*.c))
BENCHES = $(patsubst %.c,%,$(wildcard bench/*.c))

.PHONY: all deps run test bench check clean test-gpu bench-gpu FORCE

all: deps lib/libpp.a $(DEMOS) $(TESTS) $(BENCHES)

# Checks for MPICH, ncurses and OpenBLAS; installs what is missing.
deps:
	@sh tools/deps.sh

# The flags the objects were built with: a build with other ones (GPU=1,
# SANITIZE) rebuilds everything rather than mix the two.
lib/build-flags: FORCE
	@echo '$(CFLAGS) $(GPU)' | cmp -s - $@ || echo '$(CFLAGS) $(GPU)' >$@

lib/%.o: lib/%.c $(LIB_HDR) lib/build-flags | deps
	$(CC) $(call LIB_CFLAGS,$(firstword $(subst /, ,$*))) -c -o $@ $<

lib/model/gpu.o: lib/model/gpu.cu lib/model/gpu.h lib/build-flags
	@test -n "$(NVCC)" || { echo "make GPU=1: nvcc not found (on the PATH or in /usr/local/cuda/bin): install CUDA, or build without GPU=1" >&2; exit 1; }
	@test -n "$(CUDA_LIB)" || { echo "make GPU=1: no libcudart.so and libcublas.so where $(NVCC) links from: install cuBLAS, or build without GPU=1" >&2; exit 1; }
	$(NVCC) -std=c++17 -O2 $(GPU_ARCH) -Xcompiler -Wall -c -o $@ $<

# make flags-LAYER: the compile flags of that layer's files (tests/layers.sh).
flags-%:
	@echo '$(call LIB_CFLAGS,$*)'

lib/libpp.a: $(LIB_OBJ)
	rm -f $@
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

check: all
	@sh tools/deps.sh --fuzz
	@sh tools/check.sh

test-gpu: deps
	@sh tools/gpu.sh test

bench-gpu: deps
	@sh tools/gpu.sh bench

clean:
	rm -f lib/*/*.o lib/libpp.a lib/build-flags $(DEMOS) $(TESTS) $(BENCHES)
	rm -rf build
