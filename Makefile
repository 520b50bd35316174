# aftermath: common tasks. `make help` lists them.
GO      ?= go
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/aftermath-dev/aftermath/app.Version=$(VERSION)

.PHONY: help build run test race vet fmt fuzz ci e2e bench-ingest clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/aftermath
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/aftermath ./cmd/aftermath

run: ## serve on embedded Redis with a development signing secret
	PAGERDUTY_WEBHOOK_SECRETS=$${PAGERDUTY_WEBHOOK_SECRETS:-dev-secret} $(GO) run ./cmd/aftermath serve

test: ## the README's test command
	$(GO) test $(PKGS)

race: ## tests with the race detector, as CI runs them
	$(GO) test -race $(PKGS)

vet: ## go vet
	$(GO) vet $(PKGS)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

fuzz: ## each fuzz target for FUZZTIME (default 20s)
	FUZZTIME=$${FUZZTIME:-20s} bash .ci/fuzz

e2e: ## the end-to-end suite: the real binary, 3 replicas, Redis and the simulators under faults (E2E_SEED=N to replay)
	AFTERMATH_TEST_REDIS=required $(GO) test -count=1 -v -timeout 15m ./e2e/

ci: ## what CI runs
	bash .ci/run

bench-ingest: ## ingest benchmark against a same-run baseline (needs Redis on 127.0.0.1:6379 or REDIS_URL)
	$(GO) run ./tools/bench-ingest $(BENCH_FLAGS)

clean: ## remove build output
	rm -rf bin
