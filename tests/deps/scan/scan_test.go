package scan_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/tests/deps"
	"github.com/xvs-lb/xvs/tests/deps/scan"
)

// TestEveryProgramListed: the repository runs no program (and includes no
// system header) that tests/deps/programs.list does not name, and its Go
// code runs programs only through deps.Command.
func TestEveryProgramListed(t *testing.T) {
	list, err := deps.List()
	if err != nil {
		t.Fatal(err)
	}
	r, err := scan.Scan("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Violations {
		t.Errorf("%s: %s", v.Where, v.What)
	}
	for _, u := range r.Unlisted(list) {
		t.Error(u)
	}
	// The scan sees what it must: a program of each kind of source.
	for _, want := range []string{"iperf3", "nsenter", "clang-19", "llvm-strip-19", "qemu-system-x86_64", "/usr/bin/time", "busybox", "/usr/include/bpf/bpf_helpers.h"} {
		if !slices.ContainsFunc(r.Uses, func(u scan.Use) bool { return u.Program == want }) {
			t.Errorf("the scan did not find %s", want)
		}
	}
}

// writeTree makes a repository of files (path -> content) under a new
// directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The scan finds programs run in every way it knows, and refuses exec
// outside the helper.
func TestScanFinds(t *testing.T) {
	for _, tc := range []struct {
		name, path, src string
		uses            []string // programs found
		violation       string   // part of the one violation expected, or ""
	}{
		{"exec.Command", "tests/e2e/x_test.go", "package e2e\nimport \"os/exec\"\nfunc f() { exec.Command(\"curl\", \"-s\").Run() }\n", nil, "exec.Command runs a program outside deps.Command"},
		{"renamed exec import", "cmd/x/x.go", "package x\nimport ex \"os/exec\"\nfunc f(p string) { ex.CommandContext(nil, p).Run() }\n", nil, "ex.CommandContext"},
		{"exec.Cmd literal", "tests/x/x.go", "package x\nimport \"os/exec\"\nvar c = &exec.Cmd{Path: \"/usr/bin/curl\"}\n", []string{"/usr/bin/curl"}, "exec.Cmd literal"},
		{"os.StartProcess", "maps/x.go", "package maps\nimport \"os\"\nfunc f() { os.StartProcess(\"/bin/true\", nil, nil) }\n", nil, "os.StartProcess"},
		{"syscall.Exec", "loader/x.go", "package loader\nimport \"syscall\"\nfunc f() { syscall.Exec(\"/bin/true\", nil, nil) }\n", nil, "syscall.Exec"},
		{"the helper", "tests/x/x.go", "package x\nimport \"github.com/xvs-lb/xvs/tests/deps\"\nfunc f() { deps.Command(nil, \"socat\", \"-\") }\n", []string{"socat"}, ""},
		{"a namespace wrapper", "tests/x/x_test.go", "package x\nfunc f(n N) { n.NS.Run(ctx, \"hping3\", \"-S\"); n.Command(ctx, \"tcpdump\") }\n", []string{"hping3", "tcpdump"}, ""},
		{"a subtest is no run", "tests/x/x_test.go", "package x\nfunc f(t T) { t.Run(\"IPv4\", func(t T) {}); t.Run(name, func(t T) {}) }\n", nil, ""},
		{"a path in a VM test", "tests/vm/x_test.go", "package vm\nfunc f(b B) { b.run(\"\", \"/usr/sbin/conntrack\", \"-L\") }\n", []string{"/usr/sbin/conntrack"}, ""},
		{"go:generate", "bpf/gen.go", "package bpf\n//go:generate go tool bpf2go -cc clang-20 X x.c\n", []string{"go", "clang-20", "llvm-strip-20"}, ""},
		{"script", "scripts/x.sh", "#!/usr/bin/env bash\nset -e\nf() { :; }\nf\nx=$(tcpdump -c1 | grep -q y)\ntimeout -s KILL 5 socat - TCP:x\ncommand -v qemu-img\n[ -x /usr/sbin/arping ]\ncat <<'EOF'\nnotacommand --here\nEOF\n", []string{"/usr/bin/env", "bash", "tcpdump", "grep", "timeout", "socat", "/usr/sbin/arping", "cat"}, ""},
		{"script: dynamic command", "scripts/x.sh", "#!/bin/sh\n\"$TOOL\" -x\n", []string{"/bin/sh"}, "not a literal name"},
		{"Makefile", "Makefile", "GO ?= go\nall:\n\t@$(GO) vet ./... && strace -f true\n\tXVS=$(CURDIR) ./scripts/x.sh | awk '{print $$1}'\n", []string{"go", "strace", "./scripts/x.sh", "awk"}, ""},
		{"C header", "bpf/x.c", "#include <linux/bpf.h>\n#include \"local.h\"\n", []string{"/usr/include/linux/bpf.h"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := scan.Scan(writeTree(t, map[string]string{tc.path: tc.src}))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range r.Uses {
				if !slices.Contains(got, u.Program) {
					got = append(got, u.Program)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tc.uses)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("uses %q, want %q", got, want)
			}
			switch {
			case tc.violation == "" && len(r.Violations) > 0:
				t.Errorf("violations %v, want none", r.Violations)
			case tc.violation != "" && (len(r.Violations) != 1 || !strings.Contains(r.Violations[0].What, tc.violation)):
				t.Errorf("violations %v, want one saying %q", r.Violations, tc.violation)
			}
		})
	}
}

// A program the list lacks is reported with every place that runs it.
func TestUnlistedNamesProgramAndPlaces(t *testing.T) {
	root := writeTree(t, map[string]string{
		"tests/topo/iperf.go": "package topo\nfunc f(n N) {\n\tn.Command(ctx, \"iperf3\", \"-s\")\n\tn.Run(ctx, \"iperf3\", \"-c\")\n}\n",
	})
	r, err := scan.Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	list, err := deps.Parse("go =operator\nnsenter util-linux\n")
	if err != nil {
		t.Fatal(err)
	}
	u := r.Unlisted(list)
	if len(u) != 1 || u[0].Program != "iperf3" || len(u[0].Where) != 2 {
		t.Fatalf("unlisted %v, want iperf3 at 2 places", u)
	}
	if s := u[0].String(); !strings.Contains(s, "iperf3: run by tests/topo/iperf.go:3, tests/topo/iperf.go:4, but not in") {
		t.Errorf("message %q", s)
	}
	list = append(list, deps.Program{Name: "iperf3", Package: "iperf3"})
	if u := r.Unlisted(list); len(u) != 0 {
		t.Errorf("unlisted %v with iperf3 listed", u)
	}
}
