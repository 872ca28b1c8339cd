package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// scaleRules is a rule file of n mh services with m direct-routing reals each.
func scaleRules(n, m int) string {
	var b strings.Builder
	for i := range n {
		vip := fmt.Sprintf("10.%d.%d.%d:80", i/65536+1, (i/256)%256, i%256)
		fmt.Fprintf(&b, "-A -t %s -s mh\n", vip)
		for r := range m {
			fmt.Fprintf(&b, "-a -t %s -r 192.168.%d.%d:80 -g -w 1\n", vip, i%256, r+1)
		}
	}
	return b.String()
}

// TestRestoreScaleBPF restores XVS_SCALE_SERVICES (default 1000) services
// x 10 reals into a fresh BPF store in process, and checks -S -n gives the
// rules back. (Timing and memory are measured by scripts/bench-control.sh
// on whole processes.)
func TestRestoreScaleBPF(t *testing.T) {
	requireRoot(t)
	n := 1000
	if v := os.Getenv("XVS_SCALE_SERVICES"); v != "" {
		fmt.Sscan(v, &n)
	}
	dir := tempStateDir(t)
	rules := scaleRules(n, 10)
	for _, args := range [][]string{{"-R"}, {"-C"}, {"-R", "--atomic"}} {
		var out, errb bytes.Buffer
		if rc := run(append([]string{"xvsadm", "--state", dir}, args...), strings.NewReader(rules), &out, &errb); rc != 0 {
			t.Fatalf("%v: exit %d: %s", args, rc, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"xvsadm", "--state", dir, "-S", "-n"}, nil, &out, &errb); rc != 0 {
		t.Fatalf("-S -n: exit %d: %s", rc, errb.String())
	}
	if got, want := strings.Count(out.String(), "\n"), n*11; got != want {
		t.Fatalf("-S -n: %d lines, want %d", got, want)
	}
}
