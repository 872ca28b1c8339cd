package loader

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// TestCommitRetiresCounters: what a removed service counted (its own slot,
// where its removed reals were folded, and its reals) moves to the retired
// slot, so the datapath's totals never go down; a service an atomic
// restore copies to new slots carries its counters and retires nothing;
// zeroing everything zeroes the retired counters too.
func TestCommitRetiresCounters(t *testing.T) {
	m := storeMaps(t, 0)
	s := &Store{BPFStore: maps.NewBPFStore(m)}
	svc := func(vip string) maps.Service {
		ap := netip.MustParseAddrPort(vip)
		return maps.Service{Proto: 6, Addr: ap.Addr(), Port: ap.Port(), Sched: "wlc", Netmask: 0xffffffff}
	}
	dest := func(rip string, w int32) maps.Dest {
		rp := netip.MustParseAddrPort(rip)
		return maps.Dest{Addr: rp.Addr(), Port: rp.Port(), Fwd: bpf.FwdMasq, Weight: w}
	}
	load := func() *maps.Config {
		t.Helper()
		cfg, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	commit := func(cfg *maps.Config) {
		t.Helper()
		if err := s.Commit(cfg); err != nil {
			t.Fatal(err)
		}
	}
	// count puts n packets on every CPU of slot id of m.
	ncpu := uint64(ebpf.MustPossibleCPU())
	count := func(sm *ebpf.Map, id uint32, n uint64) {
		t.Helper()
		v := make([]bpf.Stats, ncpu)
		for i := range v {
			v[i] = bpf.Stats{Conns: n, Inpkts: n, Inbytes: 100 * n}
		}
		if err := sm.Put(id, v); err != nil {
			t.Fatal(err)
		}
	}
	retired := func(want uint64, what string) {
		t.Helper()
		got, err := s.RetiredStats()
		if err != nil {
			t.Fatal(err)
		}
		if w := (maps.Stats{Conns: want, InPkts: want, InBytes: 100 * want}); got != w {
			t.Errorf("%s: retired %+v, want %+v", what, got, w)
		}
	}
	a, b, c := svc("10.0.0.1:80"), svc("10.0.0.2:80"), svc("10.0.0.3:80")
	cfg := load()
	for _, sv := range []maps.Service{a, b, c} {
		if _, err := cfg.AddService(sv); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"10.1.0.1:80", "10.1.0.2:80"} {
			if _, err := cfg.AddDest(&sv, dest(r, 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit(cfg)
	cfg = load()
	ids := map[netip.Addr]*maps.ServiceEntry{}
	for _, e := range cfg.Services {
		ids[e.Addr] = e
		count(m.SvcStats, e.ID, 1) // what removed reals left
		for _, d := range e.Dests {
			count(m.RealStats, d.ID, 10)
		}
	}
	per := ncpu * (1 + 10 + 10) // one service's total
	retired(0, "nothing removed")

	// -d of a real folds it into its service: nothing retires.
	cfg = load()
	if err := cfg.DelDest(&a, &maps.Dest{Addr: netip.MustParseAddr("10.1.0.1"), Port: 80}); err != nil {
		t.Fatal(err)
	}
	commit(cfg)
	retired(0, "after -d")
	if got := load().Service(&a).Stats.InPkts; got != per {
		t.Errorf("service a after -d: %d packets, want %d (the real folded in)", got, per)
	}

	// -D a: all it counted retires.
	cfg = load()
	if err := cfg.DelService(&a); err != nil {
		t.Fatal(err)
	}
	commit(cfg)
	retired(per, "after -D of a")

	// An atomic restore that changes b (copied to new slots) and drops c:
	// only c retires, b keeps its counters.
	cfg = load()
	if err := cfg.EditDest(&b, dest("10.1.0.2:80", 5)); err != nil {
		t.Fatal(err)
	}
	if err := cfg.DelService(&c); err != nil {
		t.Fatal(err)
	}
	s.SwapNextCommit()
	commit(cfg)
	retired(2*per, "after an atomic restore")
	got := load().Service(&b)
	if got.ID == ids[b.Addr].ID {
		t.Fatalf("service b kept slot %d in an atomic change: the test tests nothing", got.ID)
	}
	if got.Stats.InPkts != per {
		t.Errorf("service b after the atomic restore: %d packets, want %d carried", got.Stats.InPkts, per)
	}

	// -Z of everything zeroes the retired counters too.
	if err := s.ZeroStats(nil); err != nil {
		t.Fatal(err)
	}
	retired(0, "after -Z")
}
