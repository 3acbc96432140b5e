# Ferry: `make run` starts the appliance with its embedded defaults; `make test` passes the suite.
GO         ?= go
# The release is VERSION's, and the build names its commit (v0.2.0+1a2b3c4).
VERSION    ?= v$(shell cat VERSION)$(shell git rev-parse --short HEAD 2>/dev/null | sed 's/^/+/')
BUILD_DATE ?= $(shell date -u +%Y%m%d)
LDFLAGS    := -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
DATA_DIR   ?= ./var
SSH_ADDR   ?= :7022
SSH_PORT   := $(lastword $(subst :, ,$(SSH_ADDR)))

.PHONY: build run test test-deps lint fuzz bench bench-flood bench-tls bench-ingest bench-spool bench-relay clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ferryd ./cmd/ferryd

ARCHIVE    := $(abspath $(DATA_DIR))/archive

run: build
	@mkdir -p $(DATA_DIR)
	@sed 's|@ARCHIVE@|$(ARCHIVE)|' scripts/dev-bootstrap.ferry > $(DATA_DIR)/.dev-bootstrap.ferry
	@echo "Ferry $(VERSION): data in $(DATA_DIR); log in with:  ssh -p$(SSH_PORT) root@localhost"
	@if [ -f $(DATA_DIR)/initial-password ] || [ ! -f $(DATA_DIR)/confdb.db ]; then \
		echo "       root's initial password: $(DATA_DIR)/initial-password (until root changes it)"; fi
	@echo "       web console: https://localhost:8443/ (certs.exportCa PATH writes its CA; root signs in after its first SSH login)"
	@echo "       send a message:  logger -n 127.0.0.1 -P 5514 -d 'hello from logger'   (then: cat $(ARCHIVE)/dev/*.log)"
	@echo "       (a data dir made before this release keeps its first boot: make run DATA_DIR=./var2 starts afresh)"
	@echo "       stop with Ctrl-C"
	./bin/ferryd --data-dir $(DATA_DIR) --ssh-addr $(SSH_ADDR) --bootstrap $(DATA_DIR)/.dev-bootstrap.ferry

# The whole suite, integration tests included, under the race detector; then
# a short run of every fuzz target (scripts/fuzz-short.sh, FUZZTIME=4s each).
test: test-deps
	$(GO) test -race -count=1 -timeout 20m ./...
	./scripts/fuzz-short.sh

# Installs what the tests drive: OpenSSH client, sshpass, tmux, ssh-audit, keytool, openssl, curl, chromium, snmptrap (Debian packages).
test-deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz:
	FUZZTIME=$${FUZZTIME:-1m} ./scripts/fuzz-short.sh

bench: build
	./scripts/bench/shell.sh

bench-flood: build
	./scripts/bench/flood.sh

# TLS handshake latency: the keystore lookup at handshake time against a static tls.Config.
bench-tls:
	./scripts/bench/tls.sh

# Ingest: a bare receiver (the floor), Ferry UDP -> discard and -> file, rsyslog default and tuned,
# on one load; ARGS=--ceiling looks for the highest loss-free rate (scripts/bench/ingest.sh).
bench-ingest:
	./scripts/bench/ingest.sh $(ARGS)

# The spool: raw disk rate against append per sync policy, a 1 GiB backlog's drain; ARGS=--big adds a 10 GiB start-up.
bench-spool:
	./scripts/bench/spool.sh $(ARGS)

# The relay: edge ferryd -> mutual TLS -> core ferryd -> discard against rsyslog A -> omfwd tcp -> B, on one load,
# and a 1 GiB backlog's drain; ARGS=--ceiling adds the highest loss-free rate (scripts/bench/relay.sh).
bench-relay:
	./scripts/bench/relay.sh $(ARGS)

clean:
	rm -rf bin
