# Accord's two entry points are `make run` and `make test`; both install
# what they need (npm packages, Go modules, wabt) by themselves.

GO        ?= go
NPM       ?= npm
GOFLAGS   ?=
TESTFLAGS ?= -race -shuffle=on -timeout 9m
# Against Apache CouchDB, samples/fruit also runs TestClusterContention:
# 15 trials on a 3-node cluster it starts, 4 to 8 minutes under -race.
COUCHDB_TESTFLAGS ?= -race -shuffle=on -timeout 20m

# npm ci runs when package-lock.json is newer than the installed tree.
NODE_STAMP := node_modules/.package-lock.json

COUCHDB_DIST ?= ../shared/couchdb

.PHONY: all test test-couchdb run loadgen deps tools vet fmt-check lint plugins check-plugins bench bench-couchdb bench-all clean

all: test

$(NODE_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

## deps: install the npm packages (pouchdb-server) and Go modules.
deps: $(NODE_STAMP)
	$(GO) mod download

## tools: make sure wat2wasm (Debian's wabt) is there to rebuild test modules.
tools:
	@command -v wat2wasm >/dev/null 2>&1 || ./scripts/install-wabt.sh

## vet, fmt-check, lint: the static checks CI runs.
vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint:
	$(GO) tool staticcheck ./...

## plugins: rebuild every committed .wasm from its source (the
## AssemblyScript ones with the compiler npm ci installs).
plugins: tools $(NODE_STAMP)
	$(GO) run ./tools/wasmbuild

## check-plugins: fail if a fresh build differs from the committed bytes.
check-plugins: tools $(NODE_STAMP)
	$(GO) run ./tools/wasmbuild -check

## test: everything CI runs.
test: deps tools vet fmt-check lint check-plugins
	$(GO) test $(TESTFLAGS) ./...

## test-couchdb: the whole test suite again against Apache CouchDB: the
## server at COUCHDB_URL if set, else one started from COUCHDB_DIST
## (default ../shared/couchdb) for the run.
test-couchdb: deps tools
	COUCHDB_DIST=$(COUCHDB_DIST) ./scripts/with-couchdb.sh $(GO) test $(COUCHDB_TESTFLAGS) ./...

## bench: issue 14's table of figures, each as a ratio to its baseline
## measured in the same run (tools/benchreport over the engine's and
## the service's benchmarks and a loadgen run with -baseline-couch), on
## pouchdb-server, or on the server at COUCHDB_URL. A few minutes.
## BENCH_OUT=dir keeps the raw outputs; see scripts/bench.sh.
bench: deps
	./scripts/bench.sh

## bench-couchdb: the same on Apache CouchDB: the server at COUCHDB_URL
## if set, else one started from COUCHDB_DIST for the run.
bench-couchdb: deps
	COUCHDB_DIST=$(COUCHDB_DIST) ./scripts/with-couchdb.sh ./scripts/bench.sh

## bench-all: every benchmark, five runs each, for benchstat.
bench-all: deps
	$(GO) test -run '^$$' -bench . -count 5 ./...

## run: start pouchdb-server on disk, install the sample database and run
## the backoff sample service on :8445. Ctrl-C stops everything.
run: deps
	./scripts/run.sh

## loadgen: the seed's conflict recipe (25 workers, 10 fruit, 20% GET,
## 80% tastings and PUTs, 15 s) against the service `make run` started.
## LOADGEN_FLAGS adds flags, e.g. -baseline-couch=http://127.0.0.1:5984/accord_sample
## for a same-session GET baseline against the raw server.
LOADGEN_SERVICE ?= http://127.0.0.1:8445
LOADGEN_FLAGS ?=
loadgen:
	$(GO) run ./tools/loadgen -service $(LOADGEN_SERVICE) -number-fruit 10 -concurrency 25 \
		-percent-get 20 -percent-taste 40 -percent-put 40 -percent-post 0 -percent-delete 0 -duration 15s $(LOADGEN_FLAGS)

clean:
	rm -rf .data bin
