package vm

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestInVMBenchRestoreParts splits a restore of 1,000 services x 10 reals
// (TestInVMBenchRestore's) into its parts, for wlc and mh, each command
// once, in a new namespace and state directory: ipvsadm -R of as many
// lines that each fail in the kernel at once (ipvsadm's own cost per line:
// a socket, the family's lookup, a message); xvsadm -S -n on a loaded,
// empty datapath (process start, opening the pinned maps); xvsadm -R
// --atomic of the file with a bad last line (also reading the
// configuration and parsing every line; nothing is committed); xvsadm -R
// under a CPU profile, written to /out/restore-SCHED.pprof (go tool pprof
// xvsadm FILE). It writes the table to /out/restore-parts.md. TestVM runs
// it only with XVS_VM_BENCH=1.
func TestInVMBenchRestoreParts(t *testing.T) {
	requireVM(t)
	const nsvc, nreal = 1000, 10
	var md strings.Builder
	fmt.Fprintf(&md, "The parts of a restore of %d services x %d reals, each command once, in a new namespace and state directory (one run of the test VM).\n\n", nsvc, nreal)
	fmt.Fprintf(&md, "| scheduler | command | seconds | user | sys |\n|---|---|---:|---:|---:|\n")
	var failing strings.Builder
	for i := range nsvc {
		for r := range nreal {
			fmt.Fprintf(&failing, "-d -t 10.%d.%d.1:80 -r 192.168.%d.%d:80\n", i/256, i%256, i%256, r+1)
		}
	}
	for _, sched := range []string{"wlc", "mh"} {
		in := restoreInput(nsvc, nreal, sched)
		row := func(what string, rt runTime) {
			fmt.Fprintf(&md, "| %s | %s | %.2f | %.2f | %.2f |\n", sched, what, rt.wall.Seconds(), rt.user.Seconds(), rt.sys.Seconds())
		}
		fresh := func(loaded bool) *box {
			b := newBox(t)
			t.Cleanup(func() { os.RemoveAll(b.state) })
			if loaded {
				b.timed("", mirrorOff, "/usr/sbin/xvsadm", "--state", b.state, "-C")
			}
			return b
		}
		done := func(b *box) {
			b.ipvsadm("", "-C")
			if err := os.RemoveAll(b.state); err != nil {
				t.Fatal(err)
			}
		}
		b := fresh(false)
		rt, err := b.timedFail(failing.String(), "/usr/sbin/ipvsadm", "-R")
		if err == nil {
			t.Errorf("ipvsadm -R of failing lines: no error")
		}
		row("ipvsadm -R, every line failing in the kernel (ESRCH)", rt)
		done(b)
		x := func(b *box, env []string, in string, args ...string) runTime {
			return b.timed(in, env, "/usr/sbin/xvsadm", append([]string{"--state", b.state}, args...)...)
		}
		b = fresh(true)
		row("xvsadm -S -n, loaded empty datapath (start, open the pinned maps, mirror on)", x(b, nil, "", "-S", "-n"))
		done(b)
		b = fresh(true)
		rt, err = b.timedFail(in+"-X\n", "/usr/sbin/xvsadm", "--state", b.state, "-R", "--atomic")
		if err == nil {
			t.Errorf("xvsadm -R --atomic with a bad line: no error")
		}
		row("xvsadm -R --atomic, bad last line (start, open, load, parse every line; nothing committed)", rt)
		done(b)
		b = fresh(true)
		row("xvsadm -R, mirror on, under a CPU profile", x(b, []string{"XVS_CPUPROFILE=/out/restore-" + sched + ".pprof"}, in, "-R"))
		done(b)
	}
	t.Log("\n" + md.String())
	if err := os.WriteFile("/out/restore-parts.md", []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
