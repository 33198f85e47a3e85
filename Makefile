# aws-org-exporter
#   make          build ./aws-org-exporter (installs missing build packages)
#   make check    the unit tests (ASan+UBSan, then TSan) and the integration
#                 tests: no root, no network, installs nothing (names what is
#                 missing and stops); make unit and make integration: either half
#   make test     make check's tests plus fuzzing, the format check, the container
#                 image and the benchmark's smoke run; installs what is missing
#                 (as root; the image test needs root and Debian's mirror)
#   make golden-update  rewrite tests/data/golden/metrics.txt from this build
#   make demo     the exporter on a demo organization served by the bundled fake AWS
#   make format   clang-format the C sources
#   make mixin    render the dashboard and the rules from mixin/ (make generate)

CC      ?= cc
PKGS    := libmicrohttpd libcurl jansson zlib yaml-0.1 libxcrypt gnutls
VERSION := $(shell cat VERSION)
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# CFLAGS is the user's: optimisation and debugging only (make CFLAGS=-O0).
# What the code needs (C11, the warnings as errors, threads, dependency files,
# the version) is always added after it, in ALL_CFLAGS.
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
REQUIRED_CFLAGS = -std=c11 -I. $(WARN) -pthread -MMD -MP \
                  -DVERSION='"$(VERSION)"' -DREVISION='"$(REVISION)"'
ALL_CFLAGS = $(CFLAGS) $(REQUIRED_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  = $(PKG_LIBS) -lm -pthread

# lib/ is linked into everything; NOMAIN_SRC is the daemon without main() (the
# unit tests, the fuzzers and the probe bring their own).
LIB_SRC      := $(wildcard lib/*.c)
EXPORTER_SRC := $(wildcard exporter/*.c) $(LIB_SRC)
NOMAIN_SRC   := $(filter-out exporter/main.c,$(EXPORTER_SRC))
COLLECT_SRC  := $(wildcard collectors/*.c collectors/aws/*.c)

BUILD := build
OBJ   = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

.PRECIOUS: $(BUILD)/test/%.o $(BUILD)/fuzzobj/%.o $(BUILD)/release/%.o $(BUILD)/tsan/%.o \
           $(BUILD)/tsan-release/%.o

.PHONY: all deps deps-test deps-node deps-check check test test-asan unit integration golden-update \
        demo format format-check clean fuzz bench bench-smoke image-test mixin generate

all: deps aws-org-exporter

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

# npm packages of the deployment checks (tests/deploy/validate-k8s.mjs and
# validate-cfn.mjs, validate-grafana.mjs), at the versions of
# tests/deploy/package-lock.json, into tests/deploy/node_modules: installed
# again only when package.json or the lock file changes.
NODE_DEPS := tests/deploy/node_modules/.installed
$(NODE_DEPS): tests/deploy/package.json tests/deploy/package-lock.json | deps-test
	cd tests/deploy && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@
deps-node: $(NODE_DEPS)

# make check, unit, integration: never install, name what is missing.
deps-check:
	@scripts/deps.sh --no-install check

# main.c carries the revision: rebuild it when HEAD moves.
REVSTAMP := $(BUILD)/revision-$(REVISION)
$(REVSTAMP):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/revision-* && touch $@
$(BUILD)/release/exporter/main.o $(BUILD)/test/exporter/main.o $(BUILD)/tsan/exporter/main.o: $(REVSTAMP)

# Objects are rebuilt when the compiler or CFLAGS change (make CFLAGS=-O0 after
# make): $(BUILD)/cflags holds the last ones, rewritten only when they differ.
CFLAGS_STAMP := $(BUILD)/cflags
ifneq ($(file <$(CFLAGS_STAMP)),$(strip $(CC) $(CFLAGS)))
$(shell mkdir -p $(BUILD))
$(file >$(CFLAGS_STAMP),$(strip $(CC) $(CFLAGS)))
endif
$(CFLAGS_STAMP): ;

# --- the exporter ------------------------------------------------------------
$(BUILD)/release/%.o: %.c $(CFLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

aws-org-exporter: $(call OBJ,release,$(EXPORTER_SRC) $(COLLECT_SRC))
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# --- test builds: sanitizers on, testing collector in ------------------------
SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TEST_CFLAGS = $(ALL_CFLAGS) $(SAN) -DEXPORTER_TESTING

$(BUILD)/test/%.o: %.c $(CFLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

TESTING_SRC := tests/support/testing_collector.c
$(BUILD)/aws-org-exporter-testing: $(call OBJ,test,$(EXPORTER_SRC) $(COLLECT_SRC) $(TESTING_SRC))
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/aws-probe: $(call OBJ,test,tests/support/aws_probe.c $(NOMAIN_SRC) $(COLLECT_SRC) $(TESTING_SRC))
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# ThreadSanitizer builds: the unit tests and the HTTP tests' exporter run again
# under TSan (races between the HTTP threads, the collectors and the auth thread).
# The -release flavour has no testing collector (only the table differs).
TSAN_CFLAGS = $(ALL_CFLAGS) -O1 -g -fsanitize=thread -DEXPORTER_TESTING
$(BUILD)/tsan/%.o: %.c $(CFLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/tsan-release/%.o: %.c $(CFLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DEXPORTER_TESTING,$(TSAN_CFLAGS)) $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/aws-org-exporter-tsan: $(call OBJ,tsan,$(EXPORTER_SRC) $(COLLECT_SRC) $(TESTING_SRC))
	$(CC) $(TSAN_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)
$(BUILD)/aws-org-exporter-tsan-release: $(call OBJ,tsan,$(EXPORTER_SRC) $(filter-out collectors/table.c,$(COLLECT_SRC))) $(BUILD)/tsan-release/collectors/table.o
	$(CC) $(TSAN_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
$(BUILD)/unit/%: $(BUILD)/test/tests/unit/%.o $(call OBJ,test,$(NOMAIN_SRC) $(COLLECT_SRC) $(TESTING_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) $(UNIT_LIBS_$*) -lcmocka

# test_sigv4 checks the signer (GnuTLS) against OpenSSL's HMAC: a second,
# independent implementation, for the test only (the exporter does not link it).
UNIT_LIBS_test_sigv4 := -lcrypto

TSAN_UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tsan-unit/%,$(UNIT_SRC))
$(BUILD)/tsan-unit/%: $(BUILD)/tsan/tests/unit/%.o $(call OBJ,tsan,$(NOMAIN_SRC) $(COLLECT_SRC) $(TESTING_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) $(UNIT_LIBS_$*) -lcmocka

# --- the developer loop: no root, no network, nothing installed ----------------
# Each checks the packages first (a sub-make then builds), so a missing one
# is named before any compiler error it would cause.
INTEGRATION_BUILDS := aws-org-exporter $(BUILD)/aws-org-exporter-testing $(BUILD)/aws-probe
TSAN_EXPORTERS := $(BUILD)/aws-org-exporter-tsan $(BUILD)/aws-org-exporter-tsan-release

unit: deps-check
	@$(MAKE) --no-print-directory $(UNIT_BINS) $(TSAN_UNIT_BINS)
	@tests/run --unit-only $(UNIT_BINS) $(TSAN_UNIT_BINS)

integration: deps-check
	@$(MAKE) --no-print-directory $(INTEGRATION_BUILDS)
	@tests/run

# The unit tests, the integration tests, and the HTTP tests again against the
# ThreadSanitizer exporter: make test's tests/run line.
check: deps-check
	@$(MAKE) --no-print-directory $(UNIT_BINS) $(TSAN_UNIT_BINS) $(INTEGRATION_BUILDS) $(TSAN_EXPORTERS)
	@tests/run --tsan-exporter $(BUILD)/aws-org-exporter-tsan $(UNIT_BINS) $(TSAN_UNIT_BINS)

# The golden /metrics body (tests/integration/test_golden.py), rewritten from
# this build of the exporter; review the diff, then commit it.
golden-update: deps-check
	@$(MAKE) --no-print-directory aws-org-exporter
	@GOLDEN_UPDATE=1 /usr/bin/python3 tests/integration/run.py test_golden.py

# --- fuzzing (clang's libFuzzer) ------------------------------------------------
# make fuzz FUZZ_SECONDS=600 runs each target longer; make test runs them briefly.
FUZZ_SECONDS ?= 10
# make test fuzzes from a fixed seed, so a run is repeatable and a finding
# is the change's, not the dice's; make fuzz draws a new seed each time.
FUZZ_SEED ?= 1
FUZZ_CFLAGS = -std=c11 -I. -g -O1 -MMD -MP -fsanitize=fuzzer-no-link,address,undefined -DVERSION='"fuzz"' -pthread
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/%: $(BUILD)/fuzzobj/tests/fuzz/%.o $(call OBJ,fuzzobj,$(NOMAIN_SRC) $(COLLECT_SRC))
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz: deps-test $(FUZZ_BINS)
	@tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BINS)

# --- every test: fuzzers briefly, the benchmark's smoke run, the image, then
# make check's unit and integration tests -------------------------------------
test: deps-test deps-node format-check $(UNIT_BINS) $(TSAN_UNIT_BINS) $(INTEGRATION_BUILDS) $(TSAN_EXPORTERS) $(FUZZ_BINS)
	@FUZZ_SEED=$(FUZZ_SEED) tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BINS)
	@tests/bench/run --smoke
	@tests/bench/detect --smoke
	@tests/image/run
	@tests/run --tsan-exporter $(BUILD)/aws-org-exporter-tsan $(UNIT_BINS) $(TSAN_UNIT_BINS)

# The unit tests and the integration tests' exporter (build/aws-org-exporter-testing)
# are always built with ASan and UBSan: test-asan is make test by another name.
test-asan: test

# --- the container image, built and run without a Docker engine (root; podman,
# buildah, a debootstrapped base): tests/image/README.md
image-test: deps-test
	@tests/image/run

# --- benchmark (issue 10): about 8 minutes at 1,000 and 10,000 accounts; needs wrk.
# make test runs its smoke mode (seconds, a small organization, no timing asserted).
# tests/bench/detect (issue 17): time to detect on the EventBridge fast path.
bench: deps-test aws-org-exporter
	@tests/bench/run
	@tests/bench/detect
bench-smoke: deps-test aws-org-exporter
	@tests/bench/run --smoke
	@tests/bench/detect --smoke

# --- running -----------------------------------------------------------------
demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory aws-org-exporter
	@scripts/demo.sh

# The monitoring mixin (mixin/, Debian's jsonnet) renders the shipped dashboard,
# Grafana alert rules, Prometheus rules and PrometheusRule; tests/integration/
# test_mixin.py fails when a committed one differs from a fresh render.
mixin generate:
	@scripts/mixin.sh

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h') && echo "format: clean"


clean:
	rm -rf $(BUILD) aws-org-exporter

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
