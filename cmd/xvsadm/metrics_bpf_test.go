package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/loader/metrics"
)

// metricsStateDir is a fresh state directory of this test's own prefix.
func metricsStateDir(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/bpf", "xm-"+hex.EncodeToString(b[:]))
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove state dir: %v", err)
		}
	})
	return dir
}

// putCounters writes n packets (n connections, 100n bytes in, n/2 out) in
// slot id of the pinned per-CPU counter map name, on the first CPU (the
// others zero: the sum does not depend on the machine's CPUs).
func putCounters(t *testing.T, dir, name string, id uint32, n uint64) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v := make([]bpf.Stats, ebpf.MustPossibleCPU())
	v[0] = bpf.Stats{Conns: n, Inpkts: n, Outpkts: n / 2, Inbytes: 100 * n, Outbytes: 50 * n}
	if err := m.Put(id, v); err != nil {
		t.Fatalf("write %s[%d]: %v", name, id, err)
	}
}

// TestMetricsTextfileBPF: xvsadm metrics --textfile on a state directory
// with a known configuration and known counters writes the golden file
// (every family, node_ipvs_* and xvs_*); after -D of a service the
// node_ipvs_* totals keep what it counted; a directory with no datapath is
// an error that creates nothing.
func TestMetricsTextfileBPF(t *testing.T) {
	requireRoot(t)
	if ipvs.Present() {
		t.Skip("kernel IPVS is loaded here: the golden file is the output of a host without it")
	}
	dir := metricsStateDir(t)
	xvsadm := func(stdin string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if rc := run(append([]string{"xvsadm", "--state", dir}, args...), strings.NewReader(stdin), &out, &errb); rc != 0 {
			t.Fatalf("xvsadm %s: exit %d: %s", strings.Join(args, " "), rc, errb.String())
		}
		return out.String()
	}
	xvsadm("-A -t 203.0.113.1:80 -s wlc\n"+
		"-a -t 203.0.113.1:80 -r 198.51.100.1:80 -m -w 3\n"+
		"-a -t 203.0.113.1:80 -r 198.51.100.2:80 -m -w 0\n"+
		"-A -u [2001:db8::1]:53 -s rr\n"+
		"-a -u [2001:db8::1]:53 -r [2001:db8:1::5]:53 -m -w 1\n"+
		"-A -f 7 -s rr\n"+
		"-a -f 7 -r 198.51.100.7:0 -m -w 2\n", "-R")

	// Known counters on the reals (by the IDs the store gave them) and on
	// two verdicts.
	st, err := loader.OpenStore(dir, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := st.Load()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(10)
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			putCounters(t, dir, bpf.XvsMapXvsRealStats, d.ID, n)
			n += 10
		}
	}
	vm, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.XvsMapXvsVerdicts), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range map[uint32]uint64{uint32(bpf.XvsXvsVerdictXVS_V_PASS_NO_VIP): 5, uint32(bpf.XvsXvsVerdictXVS_V_PASS_NO_NEIGH): 2} {
		v := make([]uint64, ebpf.MustPossibleCPU())
		v[0] = c
		if err := vm.Put(i, v); err != nil {
			t.Fatal(err)
		}
	}
	vm.Close()

	out := t.TempDir()
	xvsadm("", "metrics", "--textfile", out)
	got, err := os.ReadFile(filepath.Join(out, metrics.TextfileName))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "metrics_textfile", withoutFamily(string(got), "xvs_nexthop_neighbour_state"))
	if stdout := xvsadm("", "metrics"); stdout != string(got) {
		t.Errorf("xvsadm metrics (standard output) differs from the text file:\n%s", stdout)
	}

	// -D of the TCP service: its counters leave the xvs_* families but
	// stay in the node_ipvs_* totals.
	totals := func(text string) string {
		var b strings.Builder
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "node_ipvs_") && strings.Contains(l, "_total ") {
				b.WriteString(l + "\n")
			}
		}
		return b.String()
	}
	xvsadm("", "-D", "-t", "203.0.113.1:80")
	xvsadm("", "metrics", "--textfile", out)
	after, err := os.ReadFile(filepath.Join(out, metrics.TextfileName))
	if err != nil {
		t.Fatal(err)
	}
	if totals(string(after)) != totals(string(got)) {
		t.Errorf("node_ipvs_* totals changed with -D:\nbefore:\n%safter:\n%s", totals(string(got)), totals(string(after)))
	}
	if strings.Contains(string(after), `local_address="203.0.113.1"`) {
		t.Errorf("the removed service is still reported:\n%s", after)
	}

	missing := metricsStateDir(t)
	var o, e bytes.Buffer
	rc := run([]string{"xvsadm", "--state", missing, "metrics", "--textfile", out}, strings.NewReader(""), &o, &e)
	if rc == 0 || !strings.Contains(e.String(), "no xvs datapath pinned there") {
		t.Errorf("metrics on an empty state dir: exit %d, stderr %q; want an error naming it", rc, e.String())
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("metrics created the state dir %s (%v)", missing, err)
	}
}

// withoutFamily drops a family's lines from a text exposition: the next
// hops of this test's reals are this machine's default gateway, if any
// (the e2e test checks them on a known topology).
func withoutFamily(text, name string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (strings.HasPrefix(f[0], name+"{") || f[0] == name || (f[0] == "#" && len(f) > 2 && f[2] == name)) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
