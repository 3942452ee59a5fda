# Tollgate: two commands for newcomers (see README.md).
#   make run    install what is missing, build the server, serve on http://localhost:8787
#   make test   install what is missing, build native + wasm + fuzz, run ctest, Jest, the fuzzers
# Builds are incremental: a second `make test` only runs the tests. A tree is configured once;
# the check is for its build file (build.ninja, or the Makefile of a tree configured before
# Ninja), which CMake writes only when configuring succeeded.

JOBS       ?= 2
BUILD      := build
WASM_BUILD := build-wasm
ASAN_BUILD := build-asan
TSAN_BUILD := build-tsan
FUZZ_BUILD := build-fuzz
# Native trees build with Ninja: it starts a target's sources while the libraries they link are
# still compiling, which Make's per-target order does not. The test-only trees (sanitizers,
# fuzzers) are unity builds: about half the compile time (CMakeLists.txt, TOLLGATE_UNITY).
GENERATOR  := -G Ninja
UNITY      := -DTOLLGATE_UNITY=ON
configured = [ -f $(1)/build.ninja ] || [ -f $(1)/Makefile ]
# Debian's Emscripten optimizer loads the acorn module from here (package node-acorn).
EMSDK_ENV  := NODE_PATH=/usr/share/nodejs

SDK_DIST   := sdk-wasm/dist/index.cjs
SDK_INPUTS := $(WASM_BUILD)/sdk-wasm/tollgate_core.js $(WASM_BUILD)/sdk-wasm/tollgate_core.wasm \
              $(wildcard sdk-wasm/src/*.ts) sdk-wasm/scripts/build.mjs sdk-wasm/package.json \
              sdk-wasm/tsconfig.json sdk-core/include/tollgate/core/error.h

.PHONY: all run test deps native server configure-native asan tsan wasm sdk test-native test-js test-asan test-tsan bench fuzz fuzz-build test-fuzz clean

all: native wasm

deps:
	@bash scripts/install-deps.sh

native: deps configure-native
	@cmake --build $(BUILD) -j$(JOBS)

server: deps configure-native
	@cmake --build $(BUILD) -j$(JOBS) --target tollgate

configure-native:
	@$(call configured,$(BUILD)) || cmake $(GENERATOR) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

# The same native code under AddressSanitizer + UndefinedBehaviorSanitizer, for the tests only.
# vptr checking is off: it misreports Boost.System's constexpr error categories as invalid
# objects ("object has invalid vptr" inside error_category::message).
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer
asan: deps
	@$(call configured,$(ASAN_BUILD)) || cmake $(GENERATOR) -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug $(UNITY) \
	  -DCMAKE_CXX_FLAGS="$(ASAN_FLAGS)" >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# The server binary alone under ThreadSanitizer, for the server-process Jest suites: every
# request path runs on several io_context threads, the ledger writer and the logger, so races
# show up there. Optimised (-O1) to keep the suites' timing close to the other builds.
# -Wno-tsan: GCC warns that TSan does not model the atomic_thread_fence in Asio's handler
# invocation; the scheduler's mutex already orders a handler after its post.
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -O1 -g -Wno-tsan
tsan: deps
	@$(call configured,$(TSAN_BUILD)) || cmake $(GENERATOR) -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=None $(UNITY) \
	  -DCMAKE_CXX_FLAGS="$(TSAN_FLAGS)" -DTOLLGATE_JEMALLOC=OFF >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS) --target tollgate

wasm: deps
	@[ -f $(WASM_BUILD)/Makefile ] || $(EMSDK_ENV) emcmake cmake -S . -B $(WASM_BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(EMSDK_ENV) cmake --build $(WASM_BUILD) -j$(JOBS)
	@$(MAKE) --no-print-directory sdk

sdk: $(SDK_DIST)

$(SDK_DIST): $(SDK_INPUTS)
	@node sdk-wasm/scripts/build.mjs

run: server
	@port=$${TOLLGATE_PORT:-8787}; \
	echo ""; \
	echo "Tollgate is starting on http://localhost:$$port (SQLite in $${TOLLGATE_DATA_DIR:-./data})"; \
	echo "It serves a demo project: calls without a key meter its users (100 credits each)."; \
	echo "Try next:"; \
	echo "  curl http://localhost:$$port/healthz"; \
	echo "  curl -X POST http://localhost:$$port/v1/meter -H 'content-type: application/json' \\"; \
	echo "       -d '{\"userId\":\"alice\",\"event\":\"image_gen\",\"cost\":5}'"; \
	echo "  read docs/metering.md (the demo's secret key is printed below, once; without a"; \
	echo "  terminal it is in $${TOLLGATE_DATA_DIR:-./data}/first-start-secrets.txt instead)"; \
	echo "Run the demo AI feature (demo model, no key needed): mint a session, then invoke it:"; \
	echo "  TOKEN=\$$(curl -s -X POST http://localhost:$$port/v1/runtime/sessions -H 'origin: http://localhost:$$port' \\"; \
	echo "       -H 'content-type: application/json' -d '{\"endUserId\":\"alice\",\"operationIds\":[\"summarize_ticket\"]}' \\"; \
	echo "       | sed 's/.*\"token\":\"//; s/\".*//')"; \
	echo "  curl -s -X POST http://localhost:$$port/v1/runtime/invoke -H \"authorization: Bearer \$$TOKEN\" \\"; \
	echo "       -H 'content-type: application/json' -d '{\"operation\":\"summarize_ticket\",\"input\":{\"ticket\":\"My invoice is wrong\"}}'"; \
	echo "  read docs/features.md"; \
	echo "Stop with Ctrl-C."; \
	echo ""
	@exec $(BUILD)/bin/tollgate serve --demo --allow-private-upstreams

test: native wasm asan tsan fuzz-build
	@$(MAKE) -k --no-print-directory test-native test-js test-asan test-tsan test-fuzz; status=$$?; \
	node scripts/test-summary.mjs $(BUILD)/ctest.xml $(BUILD)/jest.json $(ASAN_BUILD)/ctest-asan.xml \
	  $(ASAN_BUILD)/jest-server-asan.json $(TSAN_BUILD)/jest-server-tsan.json $(FUZZ_BUILD)/fuzz/fuzz.xml; \
	exit $$status

test-native:
	@echo "== ctest: native GoogleTest suites =="
	@rm -f $(BUILD)/ctest.xml
	@ctest --test-dir $(BUILD) -j$(JOBS) --output-on-failure --output-junit ctest.xml

test-js:
	@echo "== jest: wasm SDK, server process, examples =="
	@rm -f $(BUILD)/jest.json
	@npx --no-install jest --ci --json --outputFile=$(BUILD)/jest.json

# GoogleTest suites and the server-process suite again, against the sanitizer build.
test-asan:
	@echo "== ctest: native suites under ASan/UBSan =="
	@rm -f $(ASAN_BUILD)/ctest-asan.xml $(ASAN_BUILD)/jest-server-asan.json
	@ctest --test-dir $(ASAN_BUILD) -j$(JOBS) --output-on-failure --output-junit ctest-asan.xml
	@echo "== jest: server process under ASan/UBSan =="
	@TOLLGATE_BIN=$(ASAN_BUILD)/bin/tollgate npx --no-install jest --ci tests/js/server \
	  --json --outputFile=$(ASAN_BUILD)/jest-server-asan.json

# The server-process suite against the TSan build. Each server process writes any report to
# $(TSAN_BUILD)/tsan/report.<pid> and goes on (halt_on_error would only show up as a failed
# request); afterwards any report fails this target and is printed whole.
TSAN_REPORTS := $(TSAN_BUILD)/tsan
test-tsan:
	@echo "== jest: server process under TSan =="
	@rm -rf $(TSAN_REPORTS) $(TSAN_BUILD)/jest-server-tsan.json && mkdir -p $(TSAN_REPORTS)
	@TOLLGATE_BIN=$(TSAN_BUILD)/bin/tollgate \
	  TSAN_OPTIONS="log_path=$(abspath $(TSAN_REPORTS))/report second_deadlock_stack=1 suppressions=$(abspath tests/tsan.supp)" \
	  npx --no-install jest --ci tests/js/server --json --outputFile=$(TSAN_BUILD)/jest-server-tsan.json; \
	status=$$?; \
	if ls $(TSAN_REPORTS)/report.* >/dev/null 2>&1; then \
	  echo "ThreadSanitizer reported:"; cat $(TSAN_REPORTS)/report.*; exit 1; \
	fi; exit $$status

# Benchmarks, never part of `make test`; each prints one comparison table (see bench/README.md).
# Their binaries are EXCLUDE_FROM_ALL, so they are built here by name. A tree configured before
# bench/ existed does not know those targets yet: configure it again first.
BENCH_TARGETS := tollgate bench_hello_server bench_naive_meter_server bench_relay
bench: deps configure-native
	@bash scripts/install-deps.sh --bench
	@grep -qs bench_relay $(BUILD)/build.ninja $(BUILD)/Makefile || cmake -S . -B $(BUILD) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target $(BENCH_TARGETS)
	@node bench/meter/run.mjs --build $(BUILD)
	@node bench/proxy/run.mjs --build $(BUILD)

# libFuzzer targets (tests/fuzz/), built with clang in their own tree. `make fuzz` runs each for
# FUZZ_SECONDS from its committed seeds (`make fuzz FUZZ_SECONDS=600` for a long run); `make test`
# replays every committed seed once and runs each target for FUZZ_TEST_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 5
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz-build: deps
	@bash scripts/install-deps.sh --fuzz
	@$(call configured,$(FUZZ_BUILD)) || CXX=clang++ cmake $(GENERATOR) -S . -B $(FUZZ_BUILD) -DTOLLGATE_FUZZ=ON $(UNITY) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$(FUZZ_FLAGS)" >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target tollgate_fuzzers

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Every committed seed once (each crash ever found is kept as a seed), then a short run of each.
test-fuzz:
	@echo "== fuzz: every committed seed once, then each target for $(FUZZ_TEST_SECONDS) s =="
	@rm -f $(FUZZ_BUILD)/fuzz/fuzz.xml
	@bash tests/fuzz/run.sh --replay $(FUZZ_BUILD) $(FUZZ_TEST_SECONDS)

clean:
	rm -rf $(BUILD) $(WASM_BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) sdk-wasm/dist sdk-wasm/src/generated
