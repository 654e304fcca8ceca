# ActionStore: `make run` starts the main job, `make test` runs the tests. Each installs what is missing.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := liblz4-dev libxxhash-dev libroaring-dev zlib1g-dev pkg-config
DATA ?= ./data
PORT ?= 8080
EVENTS ?= 1000000

.PHONY: deps build release run test tsan fuzz bench lint format clean

# Installs the C libraries from Debian when a header is missing (apt-get update once, then install).
deps:
	@if [ ! -f /usr/include/lz4.h ] || [ ! -f /usr/include/xxhash.h ] || [ ! -f /usr/include/roaring/roaring.h ] \
	    || [ ! -f /usr/include/zlib.h ] \
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
	  --filter 'StoreConcurrencyTests|StoreParallelNormalizeTests|JournalWriterTests|SegmentRoundTripTests'

# libFuzzer over the JSON normalizer and the segment reader, FUZZ_SECONDS each (seed corpus from the tests).
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

lint:
	swift format lint --strict -r Package.swift Sources Tests tools Benchmarks

format:
	swift format -i -r Package.swift Sources Tests tools Benchmarks

clean:
	rm -rf .build
