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

bin/test_%: tests/test_%.c tests/test.h xai.h | bin
	$(CC) $(XCFLAGS) $< -o $@ $(LDLIBS)

bin/test_codec: tests/decoders.h

test: $(TESTS) all
	@sh tests/run.sh tests/build_check.sh $(TESTS)

bin/bench: bench/bench.c xai.h | bin
	$(CC) $(XCFLAGS) $< -o $@ $(LDLIBS)

bench: bin/bench
	bin/bench

clean:
	rm -rf bin

.PHONY: all test clean bench

# caffe2xai (issue 3): the Caffe readers are a header the tool and its test share;
# `make caffenet` downloads the BVLC CaffeNet (~233 MB, needs internet) into models/caffenet.xai
bin/caffe2xai: tools/caffe_pb.h
bin/test_caffe: tools/caffe_pb.h tools/caffe2xai.c
caffenet: bin/caffe2xai
	sh models/get_caffenet.sh

.PHONY: caffenet
