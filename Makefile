# xai.h - build the examples, tools and tests.
#   make                 every example and tool into bin/
#   make test            build and run tests/ (last line: N passed, N failed)
#   make OPENMP=0        without OpenMP        make SIMD=0   portable C only (XAI_NO_SIMD)
CC ?= cc
OPENMP ?= 1
SIMD ?= 1
CFLAGS ?= -O2
WARN = -Wall -Wextra
XCFLAGS = $(CFLAGS) $(WARN) -I.
ifeq ($(SIMD),1)
  XCFLAGS += -march=native
else
  XCFLAGS += -DXAI_NO_SIMD
endif
ifeq ($(OPENMP),1)
  XCFLAGS += -fopenmp
endif
LDLIBS = -lm

EXAMPLES = $(patsubst examples/%.c,bin/%,$(wildcard examples/*.c))
TOOLS = $(patsubst tools/%.c,bin/%,$(wildcard tools/*.c))
TESTS = $(patsubst tests/%.c,bin/%,$(wildcard tests/test_*.c))

all: $(EXAMPLES) $(TOOLS)

bin:
	mkdir -p bin

bin/%: examples/%.c xai.h | bin
	$(CC) $(XCFLAGS) $< -o $@ $(LDLIBS)

bin/%: tools/%.c xai.h | bin
	$(CC) $(XCFLAGS) $< -o $@ $(LDLIBS)

# The examples and tools link the library compiled once (bin/libxai.a, below): -DXAI_IMPLEMENTATION_DONE
# skips the copy their own XAI_IMPLEMENTATION would compile, the same code with the same flags.  Except
# aopc-merge (it calls the private xai__fail) and train (omp.h through the implementation): they
# compile their own.  Each one's printed "Build:" line, one file with everything, is checked by
# tests/build_check.sh.
OWN_IMPL = bin/aopc-merge bin/train
EXAMPLES_LIB = $(filter-out $(OWN_IMPL),$(EXAMPLES))
TOOLS_LIB = $(filter-out $(OWN_IMPL),$(TOOLS))
$(EXAMPLES_LIB): bin/%: examples/%.c xai.h bin/libxai.a | bin
	$(CC) $(XCFLAGS) -DXAI_IMPLEMENTATION_DONE $< -o $@ bin/libxai.a $(LDLIBS)
$(TOOLS_LIB): bin/%: tools/%.c xai.h bin/libxai.a | bin
	$(CC) $(XCFLAGS) -DXAI_IMPLEMENTATION_DONE $< -o $@ bin/libxai.a $(LDLIBS)

# The library is compiled once (tests/libxai.c, the one translation unit with XAI_IMPLEMENTATION)
# into bin/libxai.a, with the tests' flags, and the tests link it.  A few tests compile their own
# implementation: they call private xai__ functions (codec, explain, gemm, kernels, faults), ask which path
# the build has (simd, with its portable twin) or build the library over their own allocator
# (limits, fuzz_regressions) or set a build option (forward_memory: XAI_FORWARD_BLOCK).
TESTS_OWN_IMPL = $(patsubst %,bin/test_%,codec explain gemm kernels simd limits fuzz_regressions faults forward_memory)
NPROC := $(shell nproc 2>/dev/null || echo 2)

bin/libxai.a: tests/libxai.c xai.h | bin
	$(CC) $(XCFLAGS) -c tests/libxai.c -o bin/libxai.o
	rm -f $@ && $(AR) rcs $@ bin/libxai.o

bin/test_%: tests/test_%.c tests/test.h xai.h bin/libxai.a | bin
	$(CC) $(XCFLAGS) $< -o $@ bin/libxai.a $(LDLIBS)

$(TESTS_OWN_IMPL): bin/test_%: tests/test_%.c tests/test.h xai.h | bin
	$(CC) $(XCFLAGS) $(TEST_OPT) $< -o $@ $(LDLIBS)

# these run in a second or less, and compiling the library into them takes 5 s at -O2: -O1 takes half
# (with the default CFLAGS only)
TESTS_O1 = $(patsubst %,bin/test_%,codec explain limits fuzz_regressions faults)
$(TESTS_O1): TEST_OPT = $(if $(filter -O2,$(CFLAGS)),-O1)

bin/test_codec: tests/decoders.h
bin/test_aopc bin/test_complexity: tests/tools.h
bin/test_caffe bin/test_limits: tests/pb_encode.h

# test_simd compares this build with its twin compiled for the portable path (XAI_NO_SIMD)
bin/test_simd: bin/simd_scalar_twin
bin/simd_scalar_twin: tests/test_simd.c tests/test.h xai.h | bin
	$(CC) $(XCFLAGS) -DXAI_NO_SIMD -DXAI_TEST_SIMD_TWIN $< -o $@ $(LDLIBS)

# aopc-merge compiles aopc.c into itself; both draw with plot.h
bin/aopc bin/aopc-merge: examples/plot.h
bin/aopc-merge: examples/aopc.c

# the builds run in parallel (one job a core) even under a plain `make test`; then the checks, the
# longest first (tests/run.sh starts each as soon as a core is free: the scripts run beside the tests)
TESTS_LONGEST = $(patsubst %,bin/test_%,kernels incremental simd gemm forward_memory caffe net faults aopc_guard training complexity aopc codec cli)
TESTS_ORDERED = $(filter $(TESTS),$(TESTS_LONGEST)) $(filter-out $(TESTS_LONGEST),$(TESTS))
test:
	@$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(NPROC)) test-build
	@sh tests/run.sh tests/build_check.sh tests/c99_check.sh $(wordlist 1,4,$(TESTS_ORDERED)) tests/readme_program.sh \
	    $(wordlist 5,1000,$(TESTS_ORDERED))
# the longest compiles first (the library into one program each), the tests that link bin/libxai.a
# last: the two cores stay busy to the end
test-build: bin/libxai.a $(TESTS_OWN_IMPL) bin/simd_scalar_twin $(EXAMPLES) $(TOOLS) $(TESTS)

bin/bench: bench/bench.c xai.h | bin
	$(CC) $(XCFLAGS) $< -o $@ $(LDLIBS)

bench: bin/bench bin/aopc bin/caffe2xai
	bin/bench

clean:
	rm -rf bin

.PHONY: all test test-build clean bench

# caffe2xai (issue 3): the Caffe readers are a header the tool and its test share;
# `make caffenet` downloads the BVLC CaffeNet (~233 MB, needs internet) into models/caffenet.xai
bin/caffe2xai: tools/caffe_pb.h
bin/test_caffe: tools/caffe_pb.h tools/caffe2xai.c
caffenet: bin/caffe2xai
	sh models/get_caffenet.sh

.PHONY: caffenet

# fuzzing and sanitizers (issue 8)
#   make test-sanitize   every test and tool built with -fsanitize=address,undefined into bin/sanitize/,
#                        the tests run from a shadow root whose bin/ is bin/sanitize (so test_aopc
#                        spawns the sanitized aopc); UBSan halts on the first error, LSan is on
#   make fuzz            libFuzzer targets tests/fuzz/fuzz_*.c (clang), FUZZ_SECONDS each (60);
#                        seeded from bin/fuzz/seeds/ (written by bin/fuzz-seeds from the code,
#                        never committed); findings in bin/fuzz/artifacts/, the growing corpus
#                        in bin/fuzz/corpus/; an input running over FUZZ_TIMEOUT s (10) is a hang
SAN_CC ?= $(CC)
SANFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
SAN_TESTS = $(patsubst tests/%.c,bin/sanitize/%,$(wildcard tests/test_*.c))
SAN_TOOLS = $(patsubst examples/%.c,bin/sanitize/%,$(wildcard examples/*.c)) $(patsubst tools/%.c,bin/sanitize/%,$(wildcard tools/*.c))

bin/sanitize:
	mkdir -p bin/sanitize

bin/sanitize/%: examples/%.c xai.h | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) $< -o $@ $(LDLIBS)

bin/sanitize/%: tools/%.c xai.h | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) $< -o $@ $(LDLIBS)

# the sanitized tools link bin/sanitize/libxai.a (the same code under the same sanitizers, compiled
# once: -DXAI_IMPLEMENTATION_DONE skips the copy their XAI_IMPLEMENTATION would compile), except
# aopc-merge (it calls xai__fail) and train (omp.h through the implementation)
SAN_TOOLS_OWN_IMPL = bin/sanitize/aopc-merge bin/sanitize/train
SAN_EXAMPLES_LIB = $(filter-out $(SAN_TOOLS_OWN_IMPL),$(patsubst examples/%.c,bin/sanitize/%,$(wildcard examples/*.c)))
SAN_TOOLS_LIB = $(filter-out $(SAN_TOOLS_OWN_IMPL),$(patsubst tools/%.c,bin/sanitize/%,$(wildcard tools/*.c)))
$(SAN_EXAMPLES_LIB): bin/sanitize/%: examples/%.c xai.h bin/sanitize/libxai.a | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) -DXAI_IMPLEMENTATION_DONE $< -o $@ bin/sanitize/libxai.a $(LDLIBS)
$(SAN_TOOLS_LIB): bin/sanitize/%: tools/%.c xai.h bin/sanitize/libxai.a | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) -DXAI_IMPLEMENTATION_DONE $< -o $@ bin/sanitize/libxai.a $(LDLIBS)

bin/sanitize/libxai.a: tests/libxai.c xai.h | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) -c tests/libxai.c -o bin/sanitize/libxai.o
	rm -f $@ && $(AR) rcs $@ bin/sanitize/libxai.o

bin/sanitize/test_%: tests/test_%.c tests/test.h xai.h bin/sanitize/libxai.a | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) $< -o $@ bin/sanitize/libxai.a $(LDLIBS)

$(patsubst bin/%,bin/sanitize/%,$(TESTS_OWN_IMPL)): bin/sanitize/test_%: tests/test_%.c tests/test.h xai.h | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) $< -o $@ $(LDLIBS)

bin/sanitize/test_codec: tests/decoders.h
bin/sanitize/test_aopc bin/sanitize/test_complexity: tests/tools.h
bin/sanitize/test_caffe bin/sanitize/test_limits: tests/pb_encode.h
bin/sanitize/test_simd: bin/sanitize/simd_scalar_twin
bin/sanitize/simd_scalar_twin: tests/test_simd.c tests/test.h xai.h | bin/sanitize
	$(SAN_CC) $(XCFLAGS) $(SANFLAGS) -DXAI_NO_SIMD -DXAI_TEST_SIMD_TWIN $< -o $@ $(LDLIBS)
bin/sanitize/caffe2xai: tools/caffe_pb.h
bin/sanitize/test_caffe: tools/caffe_pb.h tools/caffe2xai.c
bin/sanitize/test_limits bin/test_limits: tools/caffe_pb.h
bin/sanitize/test_forward_memory bin/test_forward_memory: tools/caffe_pb.h
bin/sanitize/test_faults bin/test_faults: tools/caffe_pb.h
bin/sanitize/test_incremental bin/test_incremental: tools/caffe_pb.h
bin/sanitize/aopc bin/sanitize/aopc-merge: examples/plot.h
bin/sanitize/test_fuzz_regressions bin/test_fuzz_regressions: tests/fuzz/fuzz.h tests/fuzz/caffe_nets.h tools/caffe_pb.h

# the longest under the sanitizers first
SAN_TESTS_LONGEST = $(patsubst %,bin/sanitize/test_%,incremental gemm forward_memory kernels aopc_guard aopc complexity caffe simd net cli faults codec)
SAN_TESTS_ORDERED = $(filter $(SAN_TESTS),$(SAN_TESTS_LONGEST)) $(filter-out $(SAN_TESTS_LONGEST),$(SAN_TESTS))
test-sanitize:
	@$(MAKE) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(NPROC)) test-sanitize-build
	@rm -rf bin/sanitize/root && mkdir -p bin/sanitize/root
	@for f in *; do [ "$$f" = bin ] || ln -s "../../../$$f" "bin/sanitize/root/$$f"; done
	@ln -s .. bin/sanitize/root/bin
	@rm -f bin/sanitize/shared && if [ -d ../shared ]; then ln -s ../../../shared bin/sanitize/shared; fi
	@cd bin/sanitize/root && $(SAN_ENV) sh tests/run.sh $(patsubst bin/sanitize/%,bin/%,$(SAN_TESTS_ORDERED))

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

bin/fuzz:
	mkdir -p bin/fuzz

bin/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/caffe_nets.h xai.h tools/caffe_pb.h | bin/fuzz
	$(FUZZ_CC) $(WARN) -I. $(FUZZFLAGS) $< -o $@ -lm

bin/fuzz-seeds: tests/fuzz/seeds.c tests/fuzz/caffe_nets.h tests/pb_encode.h xai.h | bin
	$(CC) $(CFLAGS) $(WARN) -I. $< -o $@ $(LDLIBS)

fuzz: $(patsubst %,bin/fuzz/%,$(FUZZ_TARGETS)) bin/fuzz-seeds
	@rm -rf bin/fuzz/seeds && bin/fuzz-seeds bin/fuzz/seeds >/dev/null
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZ_TARGETS)

test-sanitize-build: $(SAN_TESTS) $(SAN_TOOLS)

.PHONY: test-sanitize test-sanitize-build fuzz

# the shipped model, the demo and the training curve (issues 7 and 11)
#   make demo            classify, explain and evaluate with models/fashion.xai (30 s on 2 idle cores; see README)
#   make caffenet-demo   the same on the photographs with the real CaffeNet (after `make caffenet`)
#   make model           retrain models/fashion.xai (needs Debian's dataset-fashion-mnist)
#   make training-curve  AOPC and accuracy over a training run's snapshots (the paper's Fig. 7)
#   make squeezenet      downloads the BVLC SqueezeNet v1.0 (~5 MB, needs internet) into models/squeezenet.xai
#   make install         xai.h, the tools (examples as xai-NAME) and xai.pc under PREFIX (/usr/local);
#                        DESTDIR for staging; make uninstall removes them
FASHION_GZ ?= /usr/share/datasets/fashion-mnist
FASHION_FILES = train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
TRAIN_FLAGS ?= --epochs 6 --lr 0.02 --batch 64 --seed 1
fashion-data:
	@mkdir -p data/fashion-mnist
	@for f in $(FASHION_FILES); do \
	    if [ ! -s data/fashion-mnist/$$f ]; then \
	        [ -f $(FASHION_GZ)/$$f.gz ] || { echo "$(FASHION_GZ)/$$f.gz is missing: apt-get install dataset-fashion-mnist"; exit 1; }; \
	        gzip -dc $(FASHION_GZ)/$$f.gz > data/fashion-mnist/$$f.tmp && mv data/fashion-mnist/$$f.tmp data/fashion-mnist/$$f || exit 1; \
	    fi; \
	done
model: bin/train fashion-data
	bin/train --data data/fashion-mnist $(TRAIN_FLAGS) --log models/fashion-train.tsv --out models/fashion.xai
# the programs built in parallel, one job a core (a plain `make demo` would build them one by one)
NPROC := $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
demo:
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@sh examples/demo.sh
caffenet-demo:
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@[ -f models/caffenet.xai ] || { echo "models/caffenet.xai is missing: run make caffenet first (downloads about 250 MB)"; exit 1; }
	@MODEL=models/caffenet.xai OUT=out/caffenet-demo PICTURES="$$(ls examples/images/*.ppm)" EVAL_IMAGES="examples/images/*.ppm" \
	    REGION=9 STEPS=100 REPEATS=3 sh examples/demo.sh
training-curve: bin/train bin/training-curve fashion-data
	@mkdir -p out/training
	bin/train --data data/fashion-mnist $(TRAIN_FLAGS) --snapshot-every 200 --snapshot-dir out/training/snapshots \
	    --log out/training/train.tsv --out out/training/final.xai
	ls examples/images/fashion-test/*.pgm | head -n 100 > out/training/list.txt
	bin/training-curve --snapshots out/training/snapshots --log out/training/train.tsv --list out/training/list.txt \
	    --out out/training --methods lrp-eps:0.01,lrp-ab:2,sensitivity-l2,random --region 2 --steps 30 --repeats 5
.PHONY: fashion-data model demo caffenet-demo training-curve

# the programs share examples/cli.h (--help, --version, strict numbers, output folders);
# test_cli runs them all and reads prototxts with the converter's header
$(EXAMPLES) $(TOOLS) $(SAN_TOOLS): examples/cli.h
bin/test_cli bin/sanitize/test_cli: tests/tools.h tools/caffe_pb.h

squeezenet: bin/caffe2xai
	sh models/get_squeezenet.sh

PREFIX ?= /usr/local
XAI_VERSION := $(shell sed -n 's/^\#define XAI_VERSION_STRING "\(.*\)"$$/\1/p' xai.h)
INSTALL_TOOLS = caffe2xai xai-inspect xai-synth
INSTALL_EXAMPLES = classify explain aopc aopc-merge
install: $(patsubst %,bin/%,$(INSTALL_TOOLS) $(INSTALL_EXAMPLES))
	mkdir -p "$(DESTDIR)$(PREFIX)/include" "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/lib/pkgconfig"
	cp xai.h "$(DESTDIR)$(PREFIX)/include/xai.h"
	for t in $(INSTALL_TOOLS); do cp "bin/$$t" "$(DESTDIR)$(PREFIX)/bin/$$t" || exit 1; done
	for t in $(INSTALL_EXAMPLES); do cp "bin/$$t" "$(DESTDIR)$(PREFIX)/bin/xai-$$t" || exit 1; done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(XAI_VERSION)|' xai.pc.in > "$(DESTDIR)$(PREFIX)/lib/pkgconfig/xai.pc"
uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/include/xai.h" "$(DESTDIR)$(PREFIX)/lib/pkgconfig/xai.pc"
	for t in $(INSTALL_TOOLS); do rm -f "$(DESTDIR)$(PREFIX)/bin/$$t"; done
	for t in $(INSTALL_EXAMPLES); do rm -f "$(DESTDIR)$(PREFIX)/bin/xai-$$t"; done
.PHONY: squeezenet install uninstall

# results that cannot be corrupted (issue 17): the guard test runs bin/aopc and bin/aopc-merge;
#   make test-cluster   the Slurm array script and the GNU parallel script of examples/slurm/ run
#                       for real on a one-node cluster on localhost (installs slurm-wlm, munge and
#                       parallel with apt-get when missing; skips, saying why, when it cannot)
bin/test_aopc_guard bin/sanitize/test_aopc_guard: tests/tools.h
test-cluster: bin/aopc bin/aopc-merge
	@sh tests/test_aopc_cluster.sh
.PHONY: test-cluster
