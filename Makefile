# xvs: build, generate, test, demo, bench.
GO ?= go
BIN := bin/xvsadm

.PHONY: all build deps generate check-generated test test-unit test-vm demo bench vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/xvsadm

deps:
	./scripts/deps.sh

# Rebuild the bpf2go outputs (Go bindings and BPF objects) with clang-19.
generate: deps
	$(GO) generate ./bpf/...

# CI: the committed bpf2go outputs must be what the sources produce.
check-generated: generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf2go outputs are stale: run make generate and commit"; exit 1; }

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Every test: unit, datapath (BPF_PROG_TEST_RUN), end to end in namespaces.
# (tests/vm runs once, in test-vm.)
test: deps check-generated vet test-vm
	$(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v /tests/vm$$)

# Kernel IPVS tests in Debian's kernel under qemu (scripts/vm/run.sh): the
# mirror, import, drift and IPIP. The kernel package is cached in .cache/vm.
test-vm: deps
	$(GO) test -count=1 -timeout 10m -v -run '^TestVM$$' ./tests/vm

# The main job on an embedded default: client, balancer and three reals in
# namespaces, a VIP configured with xvsadm, real HTTP through XDP.
demo: deps build
	$(GO) run ./tests/demo --xvsadm $(BIN)

# ns/packet under BPF_PROG_TEST_RUN and the control plane's timings, each
# written into its marked section of docs/BENCHMARKS.md.
bench: deps build
	XVS_BENCH_OUT=$(CURDIR)/bin/bench-datapath.md $(GO) test -count=1 -run TestWriteBenchmarks -v ./tests/datapath/
	./scripts/replace-section.sh docs/BENCHMARKS.md datapath bin/bench-datapath.md
	XVSADM=$(BIN) ./scripts/bench-control.sh >bin/bench-control.md
	./scripts/replace-section.sh docs/BENCHMARKS.md control bin/bench-control.md

clean:
	rm -rf bin
