# Set-up commands of CONTRACT.md §3. Each installs the Debian packages that are
# missing, configures, builds, and then tests (`make test`) or serves (`make run`).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)

DEB_PACKAGES := g++ cmake make pkg-config libcaf-dev libpistache-dev \
  libboost-json1.81-dev libboost1.81-dev libcsv-dev libspdlog-dev libgtest-dev
# Only for `make fuzz`: clang with libFuzzer and the sanitizer runtimes.
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

# The sanitizer builds and the fuzz build, each in a directory of its own.
SANITIZE_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 40
FUZZ_TARGETS := csv_ranges multipart fields partial_bytes
SANITIZER_BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps fuzz-deps build test test-release test-sanitize test-tsan \
  fuzz run clean bench

all: build

deps: PACKAGES = $(DEB_PACKAGES)
fuzz-deps: PACKAGES = $(DEB_PACKAGES) $(FUZZ_PACKAGES)
deps fuzz-deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages; run:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Everything CI runs: the tests in the release build, the tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then each fuzz target for
# FUZZ_SECONDS.
test: test-release test-sanitize fuzz

test-release: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Any report ends the test (tests/sanitizers/default_options.cpp), leaks
# included; the few from CAF's headers are suppressed one by one, with their
# reasons, in tests/sanitizers/ubsan.supp.
test-sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=$(SANITIZER_BUILD_TYPE) \
	  -DPLAYCOUNT_SANITIZE=address,undefined
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer on the tests with threads: the actors, the job registry, the
# server. Not part of `make test`: see tests/sanitizers/TSAN.md.
TSAN_TESTS := actors_tests job_registry_tests server_tests
test-tsan: deps
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=$(SANITIZER_BUILD_TYPE) \
	  -DPLAYCOUNT_SANITIZE=thread
	cmake --build $(TSAN_DIR) -j $(JOBS) --target playcount $(TSAN_TESTS)
	cd $(TSAN_DIR) && ctest --output-on-failure -j $(JOBS) \
	  -R '^(cluster_fixture|many/workers_and_ranges|job_registry_test|job_store|server_test)\.'

# libFuzzer targets (tests/fuzz), built with clang, each run for
# FUZZ_SECONDS on a copy of its corpus. Their corpora are also replayed in
# every build by the ctest suite fuzz_corpus_tests.
fuzz: fuzz-deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) \
	  -DCMAKE_BUILD_TYPE=$(SANITIZER_BUILD_TYPE) -DPLAYCOUNT_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) \
	  --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The HTTP service on 127.0.0.1:8000, data in ./data; options after
# SERVE_ARGS, e.g. make run SERVE_ARGS='--port 9000 --result-ttl 2h'.
SERVE_ARGS ?=
run: build
	$(BUILD_DIR)/bin/playcount serve $(SERVE_ARGS)

# The benchmark against DuckDB (not part of CI): see bench/README.md.
bench: build
	bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR) $(TSAN_DIR) $(FUZZ_DIR)
