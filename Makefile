# Testimony — see README.md. Every target runs on a fresh Debian machine
# after .ci/run has installed what the tests need.

SHELL     := /bin/bash
GO        ?= go
FUZZTIME  ?= 30s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...

.PHONY: all build test bench fuzz lint demo clean test-security test-crash test-plaintext ci-long

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/testimonyd ./cmd/testimony

test:
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Writes BENCHMARKS.md: every hot path against its baseline, in one run.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 40m $(PKGS) | tee bench.out
	$(GO) run ./tools/benchreport -o BENCHMARKS.md < bench.out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./cmd/testimonyd/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags e2e ./cmd/testimonyd/

# The suites of issue 8 run the real testimonyd binary on loopback. They
# live in cmd/testimonyd/e2e_*_test.go behind the e2e build tag, so that
# make test stays short; CI runs them through ci-long.
ROUNDS ?= 50
test-security:
	$(GO) test -tags e2e -count=1 -timeout 30m -run '^TestSecurity' -v ./cmd/testimonyd/

test-crash:
	TESTIMONY_CRASH_ROUNDS=$(ROUNDS) $(GO) test -tags e2e -count=1 -timeout 120m -run '^TestCrash' -v ./cmd/testimonyd/

test-plaintext:
	$(GO) test -tags e2e -count=1 -timeout 30m -run '^TestPlaintext' -v ./cmd/testimonyd/

# What CI runs after make test: the attack battery, the plaintext search and
# a short crash loop (ROUNDS=50 by hand; see README).
ci-long:
	$(MAKE) test-security
	$(MAKE) test-plaintext
	$(MAKE) test-crash ROUNDS=$(CI_ROUNDS)
CI_ROUNDS ?= 5

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin/ demo/ bench.out

# A Debian package (plain dpkg-deb) in $(DIST)/: the two binaries, the
# systemd unit, the sample config as a conffile and the torrc. It creates
# the testimony user and starts nothing. See deploy/README.md.
DIST ?= dist
.PHONY: deb
deb:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/bin/ ./cmd/testimonyd ./cmd/testimony
	./scripts/mkdeb.sh $(DIST)/bin $(DIST) $(VERSION)
