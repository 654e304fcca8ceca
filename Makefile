# ActionStore: `make run` starts the main job, `make test` runs the tests. Each installs what is missing.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# libjs-chart.js: Chart.js 3.9 for the collector's web view (GET /), served from its installed path.
APT_PACKAGES := liblz4-dev libxxhash-dev libroaring-dev zlib1g-dev pkg-config libjs-chart.js
CHART_JS := /usr/share/javascript/chart.js/chart.min.js
DATA ?= ./data
PORT ?= 8080
EVENTS ?= 1000000
BENCH_DIR ?= ./bench-out

.PHONY: deps build release run demo test webview-test webview-screenshot tsan fuzz bench bench-smoke lint format clean

# Installs the C libraries from Debian when a header is missing (apt-get update once, then install).
deps:
	@if [ ! -f /usr/include/lz4.h ] || [ ! -f /usr/include/xxhash.h ] || [ ! -f /usr/include/roaring/roaring.h ] \
	    || [ ! -f /usr/include/zlib.h ] || [ ! -f $(CHART_JS) ] \
	    || ! command -v pkg-config >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: deps
	swift build

release: deps
	swift build -c release

# The main job: the collector (Moesif's actions API, docs/collector.md) on an embedded store in ./data.
# Send actions with any Moesif client pointed at http://127.0.0.1:$(PORT), or with curl (README);
# open http://127.0.0.1:$(PORT)/ for the web view (docs/webview.md; it needs READ_KEY).
READ_KEY ?=
run: release
	./.build/release/actionstore serve --data $(DATA) --host 127.0.0.1 --port $(PORT) \
	  $(if $(READ_KEY),--read-key $(READ_KEY),)

# A demo without the server: import a generated sample with the CLI and print a group-by.
demo: release
	./.build/release/actionbench generate --events 20000 --seed 1 --out $(DATA)/sample.ndjson
	./.build/release/actionstore import --data $(DATA) --app demo $(DATA)/sample.ndjson
	echo '{"where":{"in":["action_name",["Clicked Sign Up","Signed In"]]},"group_by":[{"time":"week"},"metadata.provider"],"metrics":["count","unique_users"],"order_by":[{"key":"time"},{"metric":"count","desc":true}],"limit":12}' \
	  | ./.build/release/actionstore query --data $(DATA) --app demo --format table -

# Two processes: the engine's synchronous tests block threads of Swift's cooperative pool (two on
# two cores), which would starve the collector's async request handlers in a shared process.
test: deps
	swift build --build-tests
	swift test --skip-build --skip ActionCollectorTests
	swift test --skip-build --filter ActionCollectorTests --skip WebViewBrowserTests

# The web view in headless Chromium (Debian's chromium: installed here when missing; CI runs as root,
# hence --no-sandbox in the test). Reuses the debug test build of `make test`.
webview-test: deps
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	swift build --build-tests
	ACTIONSTORE_BROWSER_TEST=1 swift test --skip-build --filter WebViewBrowserTests

# docs/webview.png: the first browser test's view (two weeks of sign-ups by four providers), 1280×900.
webview-screenshot: deps
	swift build --build-tests
	ACTIONSTORE_BROWSER_TEST=1 ACTIONSTORE_WEBVIEW_SCREENSHOT=$(CURDIR)/docs/webview.png \
	  swift test --skip-build --filter 'WebViewBrowserTests/signUpsPerDayByProvider'

# Concurrency tests under Thread Sanitizer (a separate build folder: TSan objects differ), engine only.
tsan: deps
	ACTIONSTORE_ENGINE_ONLY=1 swift build --build-tests --sanitize=thread --scratch-path .build-tsan
	ACTIONSTORE_ENGINE_ONLY=1 swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
	  --filter 'StoreConcurrencyTests|StoreStressTests|StoreFaultTests|StoreParallelNormalizeTests|JournalWriterTests|SegmentRoundTripTests'

# libFuzzer over the JSON normalizer and the segment reader, FUZZ_SECONDS each (seed corpus from the tests).
# -DFUZZING makes the segment reader accept any stored checksum, so that mutations reach the decoders.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
fuzz: deps
	swift build --build-tests
	ACTIONSTORE_FUZZ_CORPUS=$(CURDIR)/.build-fuzz/corpus swift test --skip-build --filter FuzzCorpusTests
	swift build $(FUZZ_FLAGS) --product FuzzJSON
	swift build $(FUZZ_FLAGS) --product FuzzSegment
	mkdir -p .build-fuzz/artifacts .build-fuzz/work-json .build-fuzz/work-segment
	.build-fuzz/release/FuzzJSON -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=.build-fuzz/artifacts/json- \
	  -print_final_stats=1 .build-fuzz/work-json .build-fuzz/corpus/json
	.build-fuzz/release/FuzzSegment -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=.build-fuzz/artifacts/segment- \
	  -print_final_stats=1 .build-fuzz/work-segment .build-fuzz/corpus/segment

# actionbench at EVENTS actions (release build), then DuckDB and chDB on the same NDJSON with the
# same queries (Benchmarks/peers/run.sh makes its venv). `make bench EVENTS=10000000` for 10M.
bench: deps
	swift build -c release --product actionbench
	./.build/release/actionbench --events $(EVENTS) --data $(BENCH_DIR) --json $(BENCH_DIR)/actionbench-$(EVENTS).json
	Benchmarks/peers/run.sh --actionbench-json $(BENCH_DIR)/actionbench-$(EVENTS).json \
	  --out $(BENCH_DIR)/peers-$(EVENTS).json

# CI-sized: 100,000 actions, every query checked against a brute-force evaluation, no timing
# assertions. Works with the debug build (and reuses it: CI runs it after `make test`).
bench-smoke: deps
	swift run actionbench --events 100000 --data $(BENCH_DIR)/smoke --check --repeats 2 --recovery-mib 16

lint:
	swift format lint --strict -r Package.swift Sources Tests tools Benchmarks Fuzz

format:
	swift format -i -r Package.swift Sources Tests tools Benchmarks

clean:
	rm -rf .build
