package vm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// restoreInput is -R input for nsvc services with nreal direct-routing reals each.
func restoreInput(nsvc, nreal int) string {
	var b strings.Builder
	for i := range nsvc {
		vip := fmt.Sprintf("10.%d.%d.1:80", i/256, i%256)
		fmt.Fprintf(&b, "-A -t %s -s mh\n", vip)
		for r := range nreal {
			fmt.Fprintf(&b, "-a -t %s -r 192.168.%d.%d:80 -g -w 1\n", vip, i%256, r+1)
		}
	}
	return b.String()
}

// TestInVMBenchRestore times restoring 1,000 services x 10 reals with
// ipvsadm -R (kernel IPVS) and xvsadm -R (the maps; then the maps plus the
// kernel mirror), each into an empty namespace, and writes the figures to
// /out/restore.md. TestVM runs it only with XVS_VM_BENCH=1.
func TestInVMBenchRestore(t *testing.T) {
	requireVM(t)
	const nsvc, nreal = 1000, 10
	in := restoreInput(nsvc, nreal)
	lines := strings.Count(in, "\n")
	type row struct {
		what string
		d    time.Duration
	}
	var rows []row
	var setup func(b *box) // before the clock starts
	timed := func(what string, want int, f func(b *box)) {
		b := newBox(t)
		if setup != nil {
			setup(b)
		}
		start := time.Now()
		f(b)
		d := time.Since(start)
		rows = append(rows, row{what, d})
		// The restored side holds the whole configuration.
		if n := strings.Count(b.ipvsadm("", "-S", "-n"), "\n") + strings.Count(b.xvsadm("", "-S", "-n"), "\n"); n < want {
			t.Errorf("%s: only %d lines saved, want at least %d", what, n, want)
		}
		// Unpin now: every state directory holds two 1M-entry LRU maps,
		// and the VM's memory holds only a few.
		if err := os.RemoveAll(b.state); err != nil {
			t.Fatal(err)
		}
	}
	timed("ipvsadm -R (kernel IPVS)", lines, func(b *box) { b.ipvsadm(in, "-R") })
	t.Setenv("XVS_IPVS_MIRROR", "off") // restored when the test ends, even on failure
	timed("xvsadm -C on a fresh state directory (load, verify and pin the datapath only; mirror off)", 0, func(b *box) { b.xvsadm("", "-C") })
	timed("xvsadm -R (XDP maps; mirror off)", lines, func(b *box) { b.xvsadm(in, "-R") })
	timed("xvsadm -R --atomic (XDP maps; mirror off)", lines, func(b *box) { b.xvsadm(in, "-R", "--atomic") })
	setup = func(b *box) { b.xvsadm("", "-C") } // the datapath loaded and pinned already
	timed("xvsadm -R into a loaded, empty datapath (XDP maps; mirror off)", lines, func(b *box) { b.xvsadm(in, "-R") })
	setup = nil
	os.Unsetenv("XVS_IPVS_MIRROR")
	timed("xvsadm -R (XDP maps + kernel IPVS mirror)", 2*lines, func(b *box) { b.xvsadm(in, "-R") })
	setup = func(b *box) { b.xvsadm("", "-C") }
	timed("xvsadm -R into a loaded, empty datapath (XDP maps + kernel IPVS mirror)", 2*lines, func(b *box) { b.xvsadm(in, "-R") })
	var md strings.Builder
	fmt.Fprintf(&md, "Restore of %d services x %d reals (%d lines, mh, direct routing), each into an empty network namespace, in one run of the test VM (Debian kernel under qemu TCG, %d vCPUs; TCG makes everything slow: compare only within this table).\n\n", nsvc, nreal, lines, runtime.NumCPU())
	fmt.Fprintf(&md, "| command | seconds | x ipvsadm -R |\n|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %.2f | %.2f |\n", r.what, r.d.Seconds(), rows[0].d.Seconds()/r.d.Seconds())
	}
	t.Log("\n" + md.String())
	if err := os.WriteFile("/out/restore.md", []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
