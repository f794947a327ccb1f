# Brisk: an Apache OpenWhisk-compatible serverless platform.
SHELL := /bin/bash
GO ?= go
BIN := bin/brisk
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
LISTEN ?= 127.0.0.1:3233
GOTEST_FLAGS ?= -count=1 -timeout 20m
# Every package's tests run with the race detector (make test RACE= runs
# without it). Measured on the 2-core machine: make test takes 483 s without
# and 509 s with it (+5%): most of the time is spent in the end-to-end tests,
# whose servers are bin/brisk processes (built without it). make
# test-race-server runs the client suites against a server built with it.
RACE ?= -race

.PHONY: help build run test test-unit test-integration test-race-server test-deps bench bench-cluster bench-containerd fuzz lint clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build the brisk binary into bin/brisk
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/brisk

run: build ## start brisk standalone on $(LISTEN) (data in ~/.brisk)
	./$(BIN) standalone --listen $(LISTEN)

test-deps: build ## install what the tests need (npm client, wskdeploy); idempotent
	scripts/test-deps.sh

test: test-deps ## install test dependencies and run every test
	$(GO) vet ./...
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test $(RACE) $(GOTEST_FLAGS) ./...

test-unit: ## unit tests only (no end-to-end)
	$(GO) test $(RACE) $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v -e /wsk-compat -e /tests)

test-integration: test-deps ## end-to-end and system tests only
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test $(RACE) $(GOTEST_FLAGS) ./wsk-compat/... ./tests/...

test-race-server: test-deps ## the client suites (standalone, and on CouchDB) against a brisk built with -race: a race fails the test
	CGO_ENABLED=1 $(GO) build -race -o bin/brisk-race ./cmd/brisk
	BRISK_BIN=$(CURDIR)/bin/brisk-race $(GO) test $(GOTEST_FLAGS) ./wsk-compat/... ./tests/couchdb/

bench: build ## warm invoke latency and throughput: standalone vs. the bare action proxy; concurrency 1 vs. 16 per container
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench 'BenchmarkDirectProxy|BenchmarkStandaloneInvoke' -benchtime 2000x -count 1 ./tests/bench/
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench BenchmarkConcurrency -benchtime 400x -count 1 ./tests/bench/

bench-cluster: build ## 1 controller + 2 invokers on real Kafka vs. standalone vs. a Kafka round trip (needs scripts/kafka.sh install)
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench BenchmarkCluster -benchtime 1000x -count 1 ./tests/bench/

bench-containerd: images ## containerd cold start, prewarm, pause/resume vs. bare runc (root)
	BRISK_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench BenchmarkContainerd -benchtime 20x -count 1 ./tests/bench/

fuzz: ## fuzz the API's request decoding for a while (FUZZTIME, default 60s each)
	$(GO) test -run '^$$' -fuzz FuzzDecodeActionPut -fuzztime $${FUZZTIME:-60s} ./api/
	$(GO) test -run '^$$' -fuzz FuzzCheckName -fuzztime $${FUZZTIME:-60s} ./api/

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean: ## remove build outputs
	rm -rf bin wsk-compat/wskdeploy/bin

.PHONY: images
images: build ## build the runtime images (OCI archives) for --containers containerd into bin/images
	$(GO) run ./actions/images/cmd/brisk-images -brisk $(BIN) -out bin/images

.PHONY: cluster-up cluster-down
CONTROLLERS ?= 1
INVOKERS ?= 2
cluster-up: build ## start Kafka, pouchdb-server, CONTROLLERS controllers (1) as one Raft group and INVOKERS invokers (2); state in ~/.brisk/cluster
	CONTROLLERS=$(CONTROLLERS) INVOKERS=$(INVOKERS) scripts/cluster.sh up
cluster-down: ## stop what cluster-up started (its data stays for the next cluster-up)
	scripts/cluster.sh down
