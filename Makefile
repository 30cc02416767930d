# Orch: one Makefile for building, the demo, tests and benchmarks.
# `make demo` and `make test` are the two commands a new user needs.

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
export CGO_ENABLED := 0

.PHONY: all build images demo test test-under-load vet bench bench-scheduler bench-placement bench-api bench-agent clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/orch ./cmd/orch
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/orchlet ./cmd/orchlet

# Example app images, built locally FROM scratch (no registry needed).
images:
	./scripts/build-images.sh

# A one-host cluster running the examples: builds, starts `orch dev`,
# applies examples/manifests, shows tasks moving, cleans up.
demo: build images
	./scripts/demo.sh

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted (run gofmt -w)"; exit 1; fi
	$(GO) vet ./...

# Everything a new user can run: unit, integration (embedded etcd,
# in-process cluster), external etcd, and end-to-end with real Docker.
# test-prereqs prints one line per group of tests this machine will skip
# (go test hides skips) with what to install. docs/testing.md: how the
# suite is kept green on a loaded machine.
test: vet build images
	@./scripts/test-prereqs.sh
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./cmd/... ./pkg/... ./internal/...
	ORCH_QUEUE_STORE=etcd CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m ./pkg/queue/
	$(GO) test -count=1 -timeout 30m ./test/...

# make test RUNS times in a row with stress-ng loading every core
# (docs/testing.md).
test-under-load:
	./scripts/test-under-load.sh

bench: bench-scheduler bench-placement bench-api bench-agent bench-services bench-queue

bench-scheduler:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./pkg/scheduler/

bench-placement:
	$(GO) test -run '^$$' -bench BenchmarkPlacement -benchtime 3x -timeout 30m ./test/bench/

bench-api:
	$(GO) test -run '^$$' -bench BenchmarkAPIWrites -benchtime 3x -timeout 10m ./test/bench/

# Agent figures need Docker and the example images.
bench-agent: images
	$(GO) test -run '^$$' -bench 'BenchmarkTaskStartLatency|BenchmarkAgentMemory|BenchmarkHollowAgents' -benchtime 1x -timeout 30m ./test/bench/

clean:
	rm -rf $(BIN)

-include mk/*.mk
