# edgeplane: `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# go.mod pins the toolchain; let the go command fetch it even where GOTOOLCHAIN=local.
export GOTOOLCHAIN := auto
GOBIN := $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)
export PATH := $(GOBIN):$(PATH)

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO_BUILD := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'

IMAGE_PREFIX ?= edgeplane/
IMAGE_TAG ?= $(VERSION)

TEST_FLAGS ?= -count=1 -timeout 40m
TEST_PKGS ?= ./...
BENCH ?= .
BENCH_PKGS ?= ./...
BENCH_FLAGS ?= -benchmem
FUZZTIME ?= 1m

SOAK_DURATION ?= 10m
SOAK_RETENTION ?= 2m
SOAK_ARGS ?=

.PHONY: help deps deps-apt tools build generate lint test fuzz bench soak run images clean chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: deps-apt tools ## install what tests need: Debian packages and pinned Go tools (idempotent)

deps-apt:
	@.ci/deps-apt.sh

tools:
	@.ci/tools.sh

build: ## static bin/edgeplane-control, bin/edgeplane-agent and the bin/edgeplane CLI
	$(GO_BUILD) -o bin/edgeplane-control ./controlplane
	$(GO_BUILD) -o bin/edgeplane-agent ./agent
	$(GO_BUILD) -o bin/edgeplane ./controlplane/cli

generate: tools ## regenerate gen/ from proto/ with buf
	buf generate

lint: tools ## gofmt, go vet, staticcheck, buf lint, generated code up to date
	@unformatted="$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	staticcheck ./...
	buf lint
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	buf generate -o "$$tmp"; \
	if ! diff -r gen "$$tmp/gen"; then echo "gen/ is out of date: run make generate"; exit 1; fi

test: deps lint ## lint, then every test (real redis-server, Docker, grpcurl)
	go test $(TEST_FLAGS) $(TEST_PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 1m); `make test` runs their seed corpora
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for target in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzzing $$target in $$dir for $(FUZZTIME)"; \
	    go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$dir || exit 1; \
	  done; \
	done

bench: ## Go benchmarks (-benchmem), then bench/run.sh: the control plane, the agent programs, the proxy vs nginx/HAProxy/Caddy (bench/peers), and one table of issue 12's rows, now vs goal, from that run
	go test -run '^$$' -bench '$(BENCH)' $(BENCH_FLAGS) $(BENCH_PKGS)
	bench/run.sh

chaos: ## the chaos suite: every fault (replica kill, 30 s agent partition, Redis failover, AOF restart, disk full, replica cut from Redis, clock 5 min off, faults together, wipe) against 3 replicas, Sentinel, 3 agents, each host in its own network namespace (as root); prints a fault x invariant table (< 15 min)
	@table="$$(mktemp)"; trap 'rm -f "$$table"' EXIT; \
	EDGEPLANE_CHAOS=full EDGEPLANE_CHAOS_TABLE="$$table" go test -count=1 -timeout 15m -run '^TestChaos_' ./internal/e2e; rc=$$?; \
	cat "$$table"; exit $$rc

soak: ## minutes of max load through a traced agent; Redis memory must level off (SOAK_DURATION=10m SOAK_RETENTION=2m)
	go run ./bench/cmd/soak -duration $(SOAK_DURATION) -retention $(SOAK_RETENTION) $(SOAK_ARGS)

run: build ## control plane (--dev, in-memory store), one agent, a demo backend and an example route; Ctrl-C stops them
	$(GO_BUILD) -o bin/demo-backend ./deploy/demo-backend
	@deploy/dev.sh

images: build ## Docker images from deploy/Dockerfile.* (FROM scratch, no registry needed)
	@ctx="$$(mktemp -d)"; trap 'rm -rf "$$ctx"' EXIT; \
	cp bin/edgeplane-control bin/edgeplane-agent "$$ctx/"; mkdir "$$ctx/cache"; \
	for c in control agent; do \
	  docker build -q -f deploy/Dockerfile.$$c -t $(IMAGE_PREFIX)$$c:$(IMAGE_TAG) -t $(IMAGE_PREFIX)$$c:latest "$$ctx"; \
	  echo "built $(IMAGE_PREFIX)$$c:$(IMAGE_TAG) (and :latest)"; \
	done

clean: ## remove build output and the dev agent's cache
	rm -rf bin/ tmp/dev/ tmp/dev-agent-cache/
