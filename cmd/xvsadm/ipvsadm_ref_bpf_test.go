package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
	"github.com/xvs-lb/xvs/tests/privileged"
)

// requireRoot skips a test that needs BPF when not root (or in -short
// mode), and fails it under CI.
func requireRoot(t testing.TB) {
	t.Helper()
	privileged.Require(t, "BPF maps")
}

// tempStateDir returns a fresh state directory on bpffs, removed (pins and
// all) at the end of the test.
func tempStateDir(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/bpf", "xvs-test-"+hex.EncodeToString(b[:]))
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove state dir: %v", err)
		}
	})
	return dir
}

// refBPFKnown are the steps the BPF store cannot match in a replay, and
// why: -L -c lists the datapath's connection table (bpf/conn.h), whose
// entries the reference's traffic made, with their time left on the kernel's
// clock; a test could write such entries but not make their expiry read the
// same seconds without sleeping. The hooks do write the counters and the
// per-real connection counts (ActiveConn, InActConn, PersistConn).
var refBPFKnown = map[int]string{
	68:  "-L -c: connection entries made by the reference's traffic",
	69:  "-L -c: connection entries made by the reference's traffic",
	306: "-L -c: connection entries made by the reference's traffic",
	307: "-L -c: connection entries made by the reference's traffic",
	308: "-L -c: connection entries made by the reference's traffic",
}

// bpfBackend is a fresh pinned datapath (loader.Store) in its own state
// directory; the traffic hooks write its counter maps.
type bpfBackend struct {
	dir string
}

func (b *bpfBackend) open(t *testing.T) maps.Store {
	st, err := loader.OpenStore(b.dir, loader.Options{ConnSize: 4096})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

// writeStats sets the per-CPU counters of slot id to s (on the first CPU).
func (b *bpfBackend) writeStats(t *testing.T, pin string, id uint32, s maps.Stats) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(b.dir, pin), nil)
	if err != nil {
		t.Fatalf("open %s: %v", pin, err)
	}
	defer m.Close()
	per := make([]bpf.Stats, ebpf.MustPossibleCPU())
	per[0] = bpf.Stats{Conns: s.Conns, Inpkts: s.InPkts, Outpkts: s.OutPkts, Inbytes: s.InBytes, Outbytes: s.OutBytes}
	if err := m.Put(id, per); err != nil {
		t.Fatalf("write %s[%d]: %v", pin, id, err)
	}
}

// loadLocked opens the store and loads its configuration; the caller closes the store.
func (b *bpfBackend) loadLocked(t *testing.T) (maps.Store, *maps.Config) {
	st := b.open(t)
	cfg, err := st.Load()
	if err != nil {
		st.Close()
		t.Fatalf("load: %v", err)
	}
	return st, cfg
}

func sub(a, b maps.Stats) maps.Stats {
	return maps.Stats{Conns: a.Conns - b.Conns, InPkts: a.InPkts - b.InPkts, OutPkts: a.OutPkts - b.OutPkts,
		InBytes: a.InBytes - b.InBytes, OutBytes: a.OutBytes - b.OutBytes}
}

func add(a, b maps.Stats) maps.Stats {
	return maps.Stats{Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes}
}

// setSvc makes the service's total s: its own slot holds s less its reals'.
func (b *bpfBackend) setSvc(t *testing.T, name string, s maps.Stats) {
	st, cfg := b.loadLocked(t)
	defer st.Close()
	e := findSvc(t, cfg, name)
	own := s
	for _, d := range e.Dests {
		own = sub(own, d.Stats)
	}
	b.writeStats(t, bpf.XvsMapXvsSvcStats, e.ID, own)
}

// setDest sets a real's counters, keeping its service's total.
func (b *bpfBackend) setDest(t *testing.T, svc, dest string, s maps.Stats, active, inact, persist uint32) {
	st, cfg := b.loadLocked(t)
	defer st.Close()
	e := findSvc(t, cfg, svc)
	d := findDest(t, cfg, svc, dest)
	own := e.Stats
	for _, x := range e.Dests {
		own = sub(own, x.Stats)
	}
	b.writeStats(t, bpf.XvsMapXvsRealStats, d.ID, s)
	b.writeStats(t, bpf.XvsMapXvsSvcStats, e.ID, sub(add(own, d.Stats), s))
	// The counts the datapath keeps per real (bpf/conn.h).
	m, err := ebpf.LoadPinnedMap(filepath.Join(b.dir, bpf.XvsMapXvsRealConns), nil)
	if err != nil {
		t.Fatalf("open %s: %v", bpf.XvsMapXvsRealConns, err)
	}
	defer m.Close()
	n := bpf.RealConns{Gen: d.Gen, Active: int32(active), Total: int32(active + inact), Persist: int32(persist)}
	if err := m.Put(d.ID, &n); err != nil {
		t.Fatalf("write connection counts: %v", err)
	}
}

func (b *bpfBackend) setConns(t *testing.T, conns []maps.Conn) {} // see refBPFKnown

func (b *bpfBackend) tick(t *testing.T) {}

// TestIpvsadmReferenceBPF replays the reference against the real store:
// the pinned BPF maps of a fresh datapath per block.
func TestIpvsadmReferenceBPF(t *testing.T) {
	requireRoot(t)
	replayReference(t, func(t *testing.T) refBackend { return &bpfBackend{dir: tempStateDir(t)} }, refBPFKnown)
}
