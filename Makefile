# Set-up commands of CONTRACT.md §3. Each installs the Debian packages that are
# missing, configures, builds, and then tests (`make test`) or serves (`make run`).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)

DEB_PACKAGES := g++ cmake make pkg-config libcaf-dev libpistache-dev \
  libboost-json1.81-dev libboost1.81-dev libcsv-dev libspdlog-dev libgtest-dev \
  iproute2

# What the browser tests (tests/browser) need on top: Debian's Chromium, and
# Node.js with npm unless the machine has them already (any origin: a
# `node` and an `npm` on the PATH will do).
BROWSER_DEB_PACKAGES := chromium

.PHONY: all deps test-deps build test run clean bench

all: build

# $(call install_missing,LIST): apt-get installs the names that LIST prints.
define install_missing
	@missing=$$($(1)); \
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
endef

deps:
	$(call install_missing,for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done)

test-deps: deps
	$(call install_missing,for p in $(BROWSER_DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done; \
	  command -v node >/dev/null || echo nodejs; \
	  command -v npm >/dev/null || echo npm)

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: test-deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The HTTP service on 127.0.0.1:8000, data in ./data; options after
# SERVE_ARGS, e.g. make run SERVE_ARGS='--port 9000 --result-ttl 2h'.
SERVE_ARGS ?=
run: build
	$(BUILD_DIR)/bin/playcount serve $(SERVE_ARGS)

# The benchmark against DuckDB (not part of CI): see bench/README.md.
bench: build
	bench/run.sh

clean:
	rm -rf $(BUILD_DIR)
