# Set-up commands of docs/CONTRACT.md §3. Each installs the Debian packages
# that are missing, configures, builds, and then tests (`make test`) or serves
# (`make run`).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)

DEB_PACKAGES := g++ cmake make pkg-config libcaf-dev libpistache-dev \
  libboost-json1.81-dev libboost1.81-dev libcsv-dev libspdlog-dev libgtest-dev \
  libssl-dev iproute2 libisal-dev libzstd-dev zlib1g-dev libsystemd-dev \
  help2man
# libsystemd-dev: sd_notify for the Type=notify units; help2man: the man
# pages `make install` and `make deb` make from --help (packaging/).

# What the packaging tests (tests/packaging) need on top: dpkg-shlibdeps for
# the .deb's Depends, and systemd-analyze to verify the units (no running
# systemd needed).
PACKAGING_DEB_PACKAGES := dpkg-dev systemd

# What the browser tests (tests/browser) need on top: Debian's Chromium, and
# Node.js with npm unless the machine has them already (any origin: a
# `node` and an `npm` on the PATH will do); the OpenAPI test (tests/openapi)
# needs node and npm too.
BROWSER_DEB_PACKAGES := chromium

# What the metrics tests (tests/e2e/metrics_test.cpp) need on top: Debian's
# Prometheus, for `promtool check metrics` / `check rules` and a real server
# that scrapes ours on loopback (about 20 MB to fetch, 100 MB installed).
# On a machine that runs systemd the package also enables and starts its
# own prometheus.service on port 9090; the tests do not use it. Without its
# recommends (prometheus-node-exporter, another service).
METRICS_DEB_PACKAGES := prometheus

# Only for `make style-check` and `make tidy-check`: the formatter the tree is
# laid out with, and the linter that reads it with .clang-tidy.
STYLE_PACKAGES := clang-format-14 clang-tidy-14

# The builds `make test` makes treat compiler warnings as errors
# (-DPLAYCOUNT_WERROR=ON). On a compiler newer than Debian 12's, whose new
# warnings are not ours yet: `make test WERROR=OFF`.
WERROR ?= ON

# The directories `make tidy-check` reads (every .cpp file there that the
# build compiles, and the headers they include from these directories).
TIDY_DIRS ?= core actors cluster http app

# Only for `make fuzz`: clang with libFuzzer and the sanitizer runtimes.
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

# The sanitizer builds and the fuzz build, each in a directory of its own.
SANITIZE_DIR ?= build-asan
TSAN_DIR ?= build-tsan
FUZZ_SECONDS ?= 120
# 1: each target runs the same inputs everywhere (CI); 0: new ones each time.
FUZZ_SEED ?= 1
FUZZ_TARGETS := csv_ranges multipart fields partial_bytes group_store \
  multipart_stream song_index
SANITIZER_BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps test-deps fuzz-deps style-deps build test test-release \
  test-sanitize test-tsan fuzz style-check tidy-check run clean bench \
  install deb

all: build

# $(call install_missing,LIST[,FLAGS]): apt-get installs the names that LIST
# prints, with apt-get's FLAGS if given.
define install_missing
	@missing=$$($(1)); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing; \
	  else \
	    echo "missing Debian packages; run:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_missing,for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done)

fuzz-deps: deps
	$(call install_missing,for p in $(FUZZ_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done)

style-deps:
	$(call install_missing,for p in $(STYLE_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done)

test-deps: deps
	$(call install_missing,for p in $(BROWSER_DEB_PACKAGES) $(PACKAGING_DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done; \
	  command -v node >/dev/null || echo nodejs; \
	  command -v npm >/dev/null || echo npm)
	$(call install_missing,for p in $(METRICS_DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done,--no-install-recommends)

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Everything CI runs: the layout of every C/C++ file, clang-tidy on the
# program's sources, the tests in the release build (with the browser tests),
# the tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then
# each fuzz target for FUZZ_SECONDS. Every build here has warnings as errors.
test: style-check tidy-check test-release test-sanitize fuzz

# Every C and C++ file as .clang-format lays it out (the files git tracks;
# in a tree without git, every such file outside the build directories).
C_FILES = $(shell git ls-files '*.c' '*.h' '*.cpp' '*.hpp' 2>/dev/null || \
  find . -path './build*' -prune -o -path '*/node_modules' -prune -o \
    \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -print)
style-check: style-deps
	@clang-format-14 --dry-run --Werror $(C_FILES)
	@echo "style-check: every C/C++ file is laid out as .clang-format says"

# clang-tidy (.clang-tidy: its checks, and why some are off) on the sources in
# TIDY_DIRS, with the compile commands of the release build (configured, not
# built). Any finding fails (WarningsAsErrors); CAF's and the other system
# headers are never reported.
empty :=
TIDY_ALT = $(subst $(empty) $(empty),|,$(strip $(TIDY_DIRS)))
tidy-check: style-deps deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DPLAYCOUNT_WERROR=$(WERROR) >/dev/null
	@run-clang-tidy-14 -p $(BUILD_DIR) -j $(JOBS) -quiet \
	  -header-filter='^$(CURDIR)/($(TIDY_ALT))/[^/]+\.hpp$$' \
	  '^$(CURDIR)/($(TIDY_ALT))/' >$(BUILD_DIR)/tidy.log 2>&1; status=$$?; \
	  grep -v '^clang-tidy-14 \|warnings\? generated\.$$' $(BUILD_DIR)/tidy.log; \
	  exit $$status
	@echo "tidy-check: clang-tidy finds nothing in $(TIDY_DIRS)"

test-release: test-deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DPLAYCOUNT_WERROR=$(WERROR)
	cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Any report ends the test (tests/sanitizers/default_options.cpp), leaks
# included; the few from CAF's headers are suppressed one by one, with their
# reasons, in tests/sanitizers/ubsan.supp. Built with clang: it compiles CAF's
# templates with the sanitizers in about half the CPU time gcc takes, and the
# same tree then holds the libFuzzer targets (make fuzz). The release build
# stays with gcc, so both compilers build every change.
SANITIZER_CMAKE = CC=clang-14 CXX=clang++-14 cmake -S . -B $(SANITIZE_DIR) \
  -DCMAKE_BUILD_TYPE=$(SANITIZER_BUILD_TYPE) \
  -DPLAYCOUNT_SANITIZE=address,undefined -DPLAYCOUNT_FUZZ=ON \
  -DPLAYCOUNT_WERROR=$(WERROR)
test-sanitize: test-deps fuzz-deps
	$(SANITIZER_CMAKE)
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

# libFuzzer targets (tests/fuzz), built in the sanitizer tree (clang), JOBS
# at a time, each run for FUZZ_SECONDS on a copy of its corpus. Their corpora are also replayed in
# every build by the ctest suite fuzz_corpus_tests.
fuzz: fuzz-deps
	$(SANITIZER_CMAKE)
	cmake --build $(SANITIZE_DIR) -j $(JOBS) \
	  --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	FUZZ_SEED=$(FUZZ_SEED) JOBS=$(JOBS) tests/fuzz/run.sh $(SANITIZE_DIR) \
	  $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The HTTP service on 127.0.0.1:8000, data in ./data; options after
# SERVE_ARGS, e.g. make run SERVE_ARGS='--port 9000 --result-ttl 2h'.
SERVE_ARGS ?=
run: build
	$(BUILD_DIR)/bin/playcount serve $(SERVE_ARGS)

# The binary, the systemd units, /etc/default/playcount (PREFIX/etc unless
# PREFIX is /usr; never overwritten) and the man pages under PREFIX, e.g.
# make install PREFIX=/usr DESTDIR=/tmp/stage (docs/operations.md).
PREFIX ?= /usr/local
install: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target playcount
	DESTDIR=$(DESTDIR) cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The Debian package, $(BUILD_DIR)/packages/playcount_VERSION_ARCH.deb:
# dpkg -i it on a Debian 12 machine (apt-get install ./FILE.deb brings
# its libraries too).
deb: deps $(BUILD_DIR)/CMakeCache.txt
	$(call install_missing,dpkg-query -W -f='$${Status}' dpkg-dev 2>/dev/null | \
	  grep -q 'install ok installed' || echo dpkg-dev)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target playcount
	cd $(BUILD_DIR) && cpack -G DEB --config CPackConfig.cmake

# The benchmark against DuckDB (not part of CI): see bench/README.md.
bench: build
	bench/run.sh

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR) $(TSAN_DIR)
