# Panoptes: `make` lists the targets.
GO        ?= go
BIN       := bin/panoptes
STATICCHECK_VERSION := v0.8.2
SAMPLE    ?= testdata/http_ipv6.pcap
DEMO_CAPTURES ?= testdata/get.pcap testdata/icmp.pcap testdata/dns.pcap testdata/q-in-q.pcap testdata/http_ipv6.pcap
FUZZTIME  ?= 30s
MANDIR    ?= bin/man
# What --version and panoptes_build_info report where the Go toolchain's build info lacks
# it (GOFLAGS=-buildvcs=false, a tree without .git): packaging/version.sh's version, the
# commit hash.
VERSION   ?= $(shell packaging/version.sh)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X panoptes/internal/buildinfo.version=$(VERSION) -X panoptes/internal/buildinfo.revision=$(REVISION)

.PHONY: help build man run run-import test test-short bench fuzz lint generate deb clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

build: ## build bin/panoptes
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/panoptes

man: build ## man pages into MANDIR (bin/man): panoptes(1), panoptes-COMMAND(1), panoptes-filter(7)
	$(BIN) __man $(MANDIR)

run: build ## the main job: live XDP capture on a demo veth pair, replaying sample captures, printing flows (root)
	@command -v tcpreplay >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null; }
	scripts/veth-demo.sh ./$(BIN) $(DEMO_CAPTURES)

run-import: build ## import a sample capture file and print its flows (no root needed)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  ./$(BIN) import -r $(SAMPLE) -w $$tmp/sample.pnp && \
	  ./$(BIN) read -r $$tmp/sample.pnp -s stime,dur,proto,saddr,sport,dir,daddr,dport,spkts,dpkts,sbytes,dbytes,state,tcprtt && \
	  echo && echo "clustered by 5-tuple:" && \
	  ./$(BIN) cluster -r $$tmp/sample.pnp

# The stand-in for client_golang (go.mod's replace) is a module of its own: ./... leaves it out.
SHIM      := github.com/prometheus/client_golang/prometheus

test: ## run every test (the Argus comparison needs argus; .ci/run installs it)
	$(GO) test -count=1 ./... $(SHIM)

test-short: ## quick tests only
	$(GO) test -short -count=1 ./... $(SHIM)

bench: ## Go benchmarks (feed the output to benchstat); whole-system runs: bench/README.md
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench/go-bench.txt

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg || exit 1; \
	  done; done

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./... $(SHIM)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./... $(SHIM)

generate: ## regenerate the bpf2go output in xdp/ (needs clang, llvm, libbpf-dev)
	$(GO) generate ./...

deb: ## build the Debian package into dist/ (binary, man pages, completions, systemd unit, /etc/panoptes/sensor.conf)
	VERSION='$(VERSION)' packaging/build-deb.sh

clean:
	rm -rf bin dist
