package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// atomicRules is a valid 1,000-line rule file: -C, then 111 mh services of
// 8 reals each.
func atomicRules() []string {
	lines := []string{"-C"}
	for i := range 111 {
		vip := fmt.Sprintf("10.9.%d.%d:80", i/200, i%200+1)
		lines = append(lines, "-A -t "+vip+" -s mh")
		for r := range 8 {
			lines = append(lines, fmt.Sprintf("-a -t %s -r 192.168.%d.%d:80 -g -w %d", vip, i%250, r+1, r+1))
		}
	}
	return lines
}

// atomicErrors are the kinds of bad line put in turn at every line: a
// failed change, a bad value, a bad option, a command an atomic restore
// refuses.
var atomicErrors = []string{
	"-a -t 203.0.113.1:80 -r 10.0.0.1",
	"-A -t 10.9.9.9:80 -p x",
	"-Q",
	"-L -n",
}

// svcTableID is the id of the service table the datapath uses (slot 0 of xvs_svcs).
func svcTableID(t *testing.T, dir string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.XvsMapXvsSvcs), nil)
	if err != nil {
		t.Fatalf("open xvs_svcs: %v", err)
	}
	defer m.Close()
	var id ebpf.MapID
	if err := m.Lookup(uint32(0), &id); err != nil {
		t.Fatalf("read xvs_svcs[0]: %v", err)
	}
	return id
}

// TestAtomicRestoreEveryLineBPF puts an error at every line of a 1,000-line
// rule file in turn and checks that -R --atomic names that line and leaves
// the BPF store as it was: the same -S -n and the same service table (no
// swap happened). The file without the error then restores, with one swap.
func TestAtomicRestoreEveryLineBPF(t *testing.T) {
	requireRoot(t)
	dir := tempStateDir(t)
	xvsadm := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		rc := run(append([]string{"xvsadm", "--state", dir}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String(), errb.String(), rc
	}
	var base strings.Builder
	for i := range 20 {
		fmt.Fprintf(&base, "-A -u 172.16.0.%d:53 -s rr\n-a -u 172.16.0.%d:53 -r 10.2.0.%d:53 -m\n", i+1, i+1, i+1)
	}
	if _, errs, rc := xvsadm(base.String(), "-R"); rc != 0 {
		t.Fatalf("base restore: exit %d: %s", rc, errs)
	}
	before, _, _ := xvsadm("", "-S", "-n")
	table := svcTableID(t, dir)
	lines := atomicRules()
	if len(lines) != 1000 {
		t.Fatalf("%d lines, want 1000", len(lines))
	}
	for i := range lines {
		bad := append([]string(nil), lines...)
		bad[i] = atomicErrors[i%len(atomicErrors)]
		_, errs, rc := xvsadm(strings.Join(bad, "\n")+"\n", "-R", "--atomic")
		want := fmt.Sprintf("restore: line %d: ", i+1)
		if rc == 0 || !strings.HasPrefix(errs, want) || !strings.HasSuffix(errs, "nothing changed\n") {
			t.Fatalf("error at line %d (%q): exit %d, stderr %q; want non-zero, %q ... nothing changed", i+1, bad[i], rc, errs, want)
		}
		if after, _, _ := xvsadm("", "-S", "-n"); after != before {
			t.Fatalf("error at line %d changed the configuration:\n%s", i+1, lineDiff(before, after))
		}
		if id := svcTableID(t, dir); id != table {
			t.Fatalf("error at line %d: service table %d swapped for %d", i+1, table, id)
		}
	}
	if _, errs, rc := xvsadm(strings.Join(lines, "\n")+"\n", "-R", "--atomic"); rc != 0 {
		t.Fatalf("valid file: exit %d: %s", rc, errs)
	}
	after, _, _ := xvsadm("", "-S", "-n")
	if got := strings.Count(after, "\n"); got != 999 {
		t.Fatalf("after the valid file: %d rules, want 999", got)
	}
	if id := svcTableID(t, dir); id == table {
		t.Fatalf("the valid atomic restore kept service table %d: want one swap", id)
	}
}

// TestAtomicCopyOnWriteBPF changes a live service in an atomic restore: it
// is copied to new slots (so nothing live is written in place), keeps its
// counters, and an unchanged service keeps its slot.
func TestAtomicCopyOnWriteBPF(t *testing.T) {
	requireRoot(t)
	be := &bpfBackend{dir: tempStateDir(t)}
	xvsadm := func(stdin string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if rc := run(append([]string{"xvsadm", "--state", be.dir}, args...), strings.NewReader(stdin), &out, &errb); rc != 0 {
			t.Fatalf("%v: exit %d: %s", args, rc, errb.String())
		}
		return out.String()
	}
	xvsadm("-A -t 10.0.0.1:80 -s mh\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -g\n-a -t 10.0.0.1:80 -r 10.1.0.2:80 -g\n"+
		"-A -t 10.0.0.2:80 -s mh\n-a -t 10.0.0.2:80 -r 10.1.0.3:80 -g\n", "-R")
	be.setDest(t, "TCP 10.0.0.1:80", "10.1.0.1:80", maps.Stats{Conns: 3, InPkts: 30, InBytes: 3000}, 0, 0, 0)
	be.setDest(t, "TCP 10.0.0.1:80", "10.1.0.2:80", maps.Stats{Conns: 2, InPkts: 20, InBytes: 2000}, 0, 0, 0)
	ids := func() (uint32, uint32, uint32) {
		st, cfg := be.loadLocked(t)
		defer st.Close()
		return findSvc(t, cfg, "TCP 10.0.0.1:80").ID, findDest(t, cfg, "TCP 10.0.0.1:80", "10.1.0.1:80").ID, findSvc(t, cfg, "TCP 10.0.0.2:80").ID
	}
	a, ra, b := ids()
	stats := xvsadm("", "-L", "-n", "--stats")
	// Drop the second real (its counters stay with the service) and reweight the first.
	xvsadm("-d -t 10.0.0.1:80 -r 10.1.0.2\n-e -t 10.0.0.1:80 -r 10.1.0.1 -g -w 5\n", "-R", "--atomic")
	a2, ra2, b2 := ids()
	if a2 == a || ra2 == ra {
		t.Errorf("changed service kept its slots (service %d -> %d, real %d -> %d): written in place", a, a2, ra, ra2)
	}
	if b2 != b {
		t.Errorf("unchanged service moved from slot %d to %d", b, b2)
	}
	want := strings.Replace(stats, "  -> 10.1.0.2:80                         2       20        0     2000        0\n", "", 1)
	if got := xvsadm("", "-L", "-n", "--stats"); got != want {
		t.Errorf("counters after the swap:\n%s", lineDiff(want, got))
	}
}
