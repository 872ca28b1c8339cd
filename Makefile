# xvs: build, generate, test, demo, bench.
GO ?= go
BIN := bin/xvsadm

.PHONY: all build deps check-deps generate check-generated check test test-unit test-vm demo bench vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/xvsadm

# Installs the Debian packages of tests/deps/programs.list, the one list of
# every program demo, test, bench and the test VM run (Go is installed by
# the operator).
deps:
	./scripts/deps.sh

# The guard: every program the code runs is in the list, and each listed
# program here belongs to the package the list names (dpkg -S).
check-deps: deps
	./scripts/check-deps.sh

# Rebuild the bpf2go outputs (Go bindings and BPF objects) with clang-19.
generate: deps
	$(GO) generate ./bpf/...

# CI: the committed bpf2go outputs must be what the sources produce.
check-generated: generate
	@git diff --exit-code --stat -- bpf/ || { echo "bpf2go outputs are stale: run make generate and commit"; exit 1; }

# staticcheck, at a pinned version, fetched and built by the Go toolchain
# (cached after the first run).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# go.mod and go.sum tidy, gofmt, go vet, staticcheck.
vet:
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Unit tests that need nothing but Go: no root, clang or VM (privileged
# tests skip in -short mode; CI is unset so that they skip rather than fail).
UNIT_PKGS := ./maps/... ./loader/... ./cmd/... ./bpf/... ./tests/privileged/... ./tests/deps/...
test-unit:
	CI= $(GO) test -short -count=1 $(UNIT_PKGS)

# The fast check before a commit (under a minute): vet and the unit tests.
check: vet test-unit

# Every test: unit, datapath (BPF_PROG_TEST_RUN), end to end in namespaces.
# (tests/vm runs once, in test-vm.)
test: deps check-deps check-generated vet test-vm
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
