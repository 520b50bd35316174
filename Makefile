# aftermath: common tasks. `make help` lists them.
GO      ?= go
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/aftermath-dev/aftermath/app.Version=$(VERSION)
IMAGE   ?= aftermath

.PHONY: help build image deploy-check run test race vet fmt fuzz ci e2e bench bench-e2e bench-ingest specs clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/aftermath: static, -trimpath, VERSION stamped (the Dockerfile runs this too)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/aftermath ./cmd/aftermath

image: ## docker image $(IMAGE):$(VERSION) and $(IMAGE):dev
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) -t $(IMAGE):dev .

deploy-check: ## check deploy/kubernetes: kustomize build, strict decode, PromQL (its own Go module)
	cd deploy/kubernetes && $(GO) test -count=1 ./...

run: ## serve on embedded Redis with a development signing secret
	PAGERDUTY_WEBHOOK_SECRETS=$${PAGERDUTY_WEBHOOK_SECRETS:-dev-secret} $(GO) run ./cmd/aftermath serve

specs: ## fetch the official API specs and webhook samples the tests validate against (pinned in testdata/specs.lock)
	$(GO) run ./tools/specs fetch

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

bench: ## every benchmark, each against a same-run baseline (docs/benchmarks.md; about 6 minutes); exits 1 when a target is NOT MET
	@status=0; \
	$(MAKE) --no-print-directory bench-e2e || status=1; \
	$(MAKE) --no-print-directory bench-ingest || status=1; \
	if [ $$status -ne 0 ]; then echo "make bench: a benchmark failed or a target was NOT MET (see above)"; fi; \
	exit $$status

bench-e2e: ## end-to-end benchmarks of issue 13: 200 incidents at once, lone-incident latency, requests by step, memory; exits 1 on NOT MET
	@log=$$(mktemp); \
	{ $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./e2e/bench 2>&1; echo "exit status $$?" > $$log.rc; } | tee $$log; \
	rc=$$(sed 's/exit status //' $$log.rc); rm -f $$log.rc; \
	if grep -q 'NOT MET' $$log; then rm -f $$log; echo "make bench-e2e: a target was NOT MET (above)"; exit 1; fi; \
	rm -f $$log; exit $$rc

bench-ingest: ## ingest benchmark against a same-run baseline (needs Redis on 127.0.0.1:6379 or REDIS_URL)
	$(GO) run ./tools/bench-ingest $(BENCH_FLAGS)

clean: ## remove build output
	rm -rf bin
