GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/attestor
# TARGETS are the systems attestor builds for, tests included (make cross).
TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

export PATH := $(GOBIN):$(PATH)

.PHONY: build demo test test-short bench compare fuzz vet cross clean release-dry-run

## build: the static attestor binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/attestor

## demo: a local dry-run of the whole pipeline on the demo project (no server needed)
demo: build
	ATTESTOR=$(CURDIR)/$(BIN) bash testdata/demo/pipeline.sh

## test: install what the tests need (.ci/setup: Debian in-toto, time, docker-registry, postgresql; cosign, grafeas-server), then vet and run every test
test:
	bash .ci/setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

## test-short: unit tests only, no external tools
test-short:
	$(GO) test -short -count=1 ./...

## bench: Go benchmarks of the hasher (MB/s; large files as a share of cores x single-core SHA-256) and of the gate
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./attestor/hashing/
	$(GO) test -run '^$$' -bench VerifyChain -benchtime 3x -benchmem ./attestor/gate/

## fuzz: every Go fuzz target for a bounded time (about 5 minutes; FUZZTIME=30s for longer; .ci/fuzz)
fuzz:
	bash .ci/fuzz

## vet: go vet of every package, tests included, for each of TARGETS
vet:
	@set -e; for t in $(TARGETS); do \
		echo "vet $$t" >&2; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) vet ./...; \
	done

## cross: build every package and the binary, and vet them (tests included), for each of TARGETS: a change that breaks one fails CI (.ci/run)
cross:
	@set -e; for t in $(TARGETS); do \
		echo "cross $$t" >&2; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build ./...; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/attestor; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) vet ./...; \
	done

## compare: attestor against in-toto-golang and Python in-toto on a generated tree, then the cache, large-file, 4 GiB and gate figures (.ci/compare.sh; runs .ci/setup and builds in-toto-golang v0.11.0's CLI)
compare: build
	bash .ci/setup
	[ -x $(GOBIN)/in-toto-golang ] || (cd / && GOFLAGS=-buildvcs=false $(GO) install github.com/in-toto/in-toto-golang@v0.11.0)
	ATTESTOR=$(CURDIR)/$(BIN) bash .ci/compare.sh

## release-dry-run: the release workflow's build and attestation (.ci/release) in a temporary directory, signed with a throw-away key and verified (TARGETS="linux/amd64 linux/arm64" for fewer)
release-dry-run:
	VERSION=$(VERSION) bash .ci/release

clean:
	rm -rf bin
