# Ferry: `make run` starts the appliance with its embedded defaults; `make test` passes the suite.
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE ?= $(shell date -u +%Y%m%d)
LDFLAGS    := -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
DATA_DIR   ?= ./var
SSH_ADDR   ?= :7022

.PHONY: build run test test-deps lint bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ferryd ./cmd/ferryd

run: build
	@echo "Ferry: data in $(DATA_DIR); log in with:  ssh -p7022 root@localhost"
	@echo "       initial root password (first boot): $(DATA_DIR)/initial-password"
	@echo "       stop with Ctrl-C"
	./bin/ferryd --data-dir $(DATA_DIR) --ssh-addr $(SSH_ADDR)

# The whole suite, integration tests included, under the race detector.
test: test-deps
	$(GO) test -race -count=1 -timeout 20m ./...

# Installs what the tests drive: OpenSSH client, sshpass (Debian packages).
test-deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build
	./scripts/bench/shell.sh

clean:
	rm -rf bin
