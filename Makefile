# Testimony — see README.md. Every target runs on a fresh Debian machine
# after .ci/run has installed what the tests need.

SHELL     := /bin/bash
GO        ?= go
FUZZTIME  ?= 30s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...

.PHONY: all build test bench fuzz lint demo clean test-security test-crash test-plaintext test-nats-failover ci-long

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/testimonyd ./cmd/testimony

test:
	$(GO) test -race -count=1 -timeout 14m $(PKGS)

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time);
# FUZZ_LONG=1 gives each 10 minutes (issue 8's acceptance run: the total is
# printed first). A failure does not stop the others; the input that failed
# is kept under the package's testdata/fuzz/FuzzX/, so that make test
# replays it. Minimising a new input is capped at FUZZMINIMIZE (go's 60 s
# default ate most of a 30 s run on targets with kilobyte inputs), and one
# worker (FUZZPARALLEL) keeps a shared machine usable.
FUZZ_LONG     ?=
FUZZMINIMIZE  ?= 5s
FUZZPARALLEL  ?= 1
ifeq ($(FUZZ_LONG),1)
FUZZTIME := 10m
endif
fuzz:
	@targets=(); for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do targets+=("$$pkg $$t"); done; \
	done; \
	echo "fuzz: $${#targets[@]} targets × $(FUZZTIME)"; \
	failed=(); for pt in "$${targets[@]}"; do \
	  set -- $$pt; echo "== $$1 $$2 ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$2$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) \
	    -parallel $(FUZZPARALLEL) $$1 || failed+=("$$1 $$2"); \
	done; \
	if [ $${#failed[@]} -gt 0 ]; then printf 'fuzz: FAILED %s\n' "$${failed[@]}"; exit 1; fi; \
	echo "fuzz: all $${#targets[@]} targets ran $(FUZZTIME) without a failure"

# Writes BENCHMARKS.md: every hot path against its baseline, with the
# 1 GiB bundle of issue 7 and the load figures of the real server
# (cmd/testimonyd/bench_load_test.go). The whole suite runs BENCHCOUNT
# rounds (go test -count would run a baseline N times and then ours N
# times; rounds keep each pair close in time), and the report takes the
# medians. About 90 s a round on 2 cores. BENCHNOTE is printed at the top
# of the report (say "provisional: machine busy" when it was). The report
# is written even when a benchmark fails (it says "no benchmark" for it);
# make still fails then.
BENCHCOUNT ?= 5
BENCHNOTE  ?=
bench:
	@set -o pipefail; st=0; : > bench.out; \
	for i in $$(seq $(BENCHCOUNT)); do \
	  echo "== bench round $$i of $(BENCHCOUNT)"; \
	  skip=; [ $$i -gt 1 ] && skip='-skip=^BenchmarkOpen30k$$'; \
	  TESTIMONY_BENCH_ITEMS=1024 $(GO) test -run '^$$' -bench . $$skip -benchmem -count 1 -timeout 30m $(PKGS) | tee -a bench.out || st=1; \
	done; \
	$(GO) run ./tools/benchreport -o BENCHMARKS.md -note "$(BENCHNOTE)" < bench.out || st=1; \
	exit $$st

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
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

# The replicated store's failure tests: three nats-server processes, one
# SIGKILLed during commits and then the leader; two of three down. About
# 50 s, so make test skips them.
test-nats-failover:
	TESTIMONY_NATS_FAILOVER=1 $(GO) test -race -count=1 -timeout 10m -run '^(TestKillNodesDuringCommits|TestNoQuorum)$$' -v ./store/jsstore/

# What CI runs after make test: the attack battery, the plaintext search and
# a short crash loop (ROUNDS=50 by hand; see README).
ci-long:
	$(MAKE) test-security
	$(MAKE) test-plaintext
	$(MAKE) test-nats-failover
	$(MAKE) test-crash ROUNDS=$(CI_ROUNDS)
CI_ROUNDS ?= 5

# Both sites on loopback with a demo investigator (scripts/demo.sh says
# what it keeps across runs). Other ports: make demo
# WITNESS_ADDR=127.0.0.1:9080 INVESTIGATOR_ADDR=127.0.0.1:9081 (make hands
# variables given on its command line to the script's environment).
demo: build
	./scripts/demo.sh

clean:
	rm -rf bin/ demo/ bench.out

# A Debian package (plain dpkg-deb) in $(DIST)/: the two binaries, the
# systemd unit, the sample config as a conffile and the torrc. It creates
# the testimony user and starts nothing. See deploy/README.md. Beside it,
# a CycloneDX SBOM of each binary. The same commit gives the same bytes
# (scripts/mkdeb.sh says how): -trimpath leaves out the build directory,
# go's VCS stamp (the commit, and whether the tree was modified) is the
# same for the same checkout, and the times are the last commit's unless
# SOURCE_DATE_EPOCH says otherwise.
DIST ?= dist
.PHONY: deb
deb:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/bin/ ./cmd/testimonyd ./cmd/testimony
	GO='$(GO)' ./scripts/mkdeb.sh $(DIST)/bin $(DIST) $(VERSION)
