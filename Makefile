# Thin wrapper over CMake. `make demo` and `make test` install what is missing first (Debian
# packages with apt, quietly; .ci/install-deps.sh): the demo only what compiling needs, the tests
# also their oracles (Python with torch/onnx, Node.js with ONNX Runtime, Chromium, clang's fuzzer).
#   make            build (build/)
#   make test       build + run every test, plain and under ASan+UBSan (build-asan/), then install
#                   into build/install-prefix and build + run examples/ against the installed package;
#                   with CI=true also a ~60 s libFuzzer run of every fuzz target (make test-fuzz)
#   make demo       quantize the bundled model, inspect the result
#   make clean
# cmake --build runs make underneath: without this, each of its sub-makes adds "Entering
# directory" / "Leaving directory" lines around every target.
MAKEFLAGS  += --no-print-directory
BUILD      ?= build
ASAN_BUILD ?= build-asan
WERROR     ?= OFF
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps deps-build build build-asan test test-plain test-asan test-fuzz install-check demo clean

all: build

# deps-build: what compiling needs (make, make demo); deps: also the test oracles and tools
deps-build:
	@bash .ci/install-deps.sh build

deps:
	@bash .ci/install-deps.sh all

build: deps-build
	cmake -S . -B $(BUILD) -DQF_WERROR=$(WERROR) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps-build
	cmake -S . -B $(ASAN_BUILD) -DQF_WERROR=$(WERROR) -DQF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test-plain: deps build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

test-asan: deps build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest $(CTEST_ARGS) -j $(JOBS) -LE slow

install-check: build
	bash .ci/install-check.sh $(BUILD)

# libFuzzer smoke run (every target ~60 s, clang; tests/fuzz/run_smoke.sh): part of `make test` in CI only
test-fuzz: deps
	JOBS=$(JOBS) bash tests/fuzz/run_smoke.sh

test: test-plain test-asan install-check $(if $(filter true,$(CI)),test-fuzz)

demo: build
	@bash .ci/demo.sh $(BUILD)/qforge

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
