package datapath

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// pinCPU keeps the fixture's test runs on CPU 0, so per-CPU scheduler state
// (rr, wrr) is one sequence.
func (f *fixture) pinCPU() {
	f.tb.Helper()
	var err error
	f.ns.do(func() {
		var set unix.CPUSet
		set.Set(0)
		err = unix.SchedSetaffinity(0, &set)
	})
	if err != nil {
		f.tb.Fatal(err)
	}
}

// realTh adds a real with thresholds.
func (f *fixture) realTh(s *maps.Service, addr string, weight int32, uthresh, lthresh uint32) {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	if _, err := f.cfg.AddDest(s, maps.Dest{Addr: ap.Addr(), Port: ap.Port(), Fwd: bpf.FwdDRoute, Weight: weight, UThresh: uthresh, LThresh: lthresh}); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
}

// pick sends one packet and returns the address of the real its flow's
// entry names ("" when none). Reals without a neighbour entry make the
// packet pass after scheduling, so the entry is what tells.
func (f *fixture) pick(p pkt) string {
	f.tb.Helper()
	f.run(p.frame())
	c, ok := f.connOf(p.proto, p.src, p.dst)
	if !ok {
		return ""
	}
	for _, s := range f.cfg.Services {
		for _, d := range s.Dests {
			if d.ID == c.RealId && d.Gen == c.RealGen {
				return d.Addr.String()
			}
		}
	}
	return "?"
}

// src returns the i-th test client, spread over addresses and ports.
func src(v6 bool, i int) string {
	if v6 {
		return fmt.Sprintf("[fd01::%x:%x]:%d", i/200+1, i%200+1, 10000+i%50000)
	}
	return fmt.Sprintf("10.%d.%d.%d:%d", 1+(i/65536)%200, (i/256)%256, i%256, 10000+i%50000)
}

type realSpec struct {
	addr    string
	weight  int32
	uthresh uint32
}

func setupSched(t *testing.T, proto, vip, sched string, flags uint32, reals []realSpec) (*fixture, *maps.Service) {
	f := newFixture(t)
	f.pinCPU()
	return f, f.addSched(proto, vip, sched, flags, reals)
}

// addSched adds a service with reals to f (services are independent: a
// table, positions and counts of their own, so one datapath serves many rows).
func (f *fixture) addSched(proto, vip, sched string, flags uint32, reals []realSpec) *maps.Service {
	s := f.svc(proto, vip, sched, flags)
	port := netip.MustParseAddrPort(vip).Port()
	for _, r := range reals {
		a := netip.MustParseAddr(r.addr)
		f.realTh(s, netip.AddrPortFrom(a, port).String(), r.weight, r.uthresh, 0)
	}
	return s
}

// TestSchedulerSequences: each scheduler's choices for successive new
// connections (SYNs from new clients), worked out by hand from ip_vs_*.c.
// Reals are listed newest first, as IPVS keeps them.
func TestSchedulerSequences(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	row := 0
	for _, tc := range []struct {
		sched string
		reals []realSpec // in the order added
		want  []string   // "" = no real (the packet goes to the kernel)
	}{
		{"rr", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}},
			[]string{"10.0.0.13", "10.0.0.12", "10.0.0.11", "10.0.0.13", "10.0.0.12", "10.0.0.11"}},
		{"rr skips weight 0", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 0, 0}, {"10.0.0.13", 1, 0}},
			[]string{"10.0.0.13", "10.0.0.11", "10.0.0.13", "10.0.0.11"}},
		// wrr: adding reals to an empty service leaves IPVS's current weight at 0, so the first pass takes every real.
		{"wrr", []realSpec{{"10.0.0.11", 3, 0}, {"10.0.0.12", 1, 0}},
			[]string{"10.0.0.12", "10.0.0.11", "10.0.0.11", "10.0.0.11", "10.0.0.12", "10.0.0.11", "10.0.0.11", "10.0.0.11", "10.0.0.12"}},
		{"wrr gcd", []realSpec{{"10.0.0.11", 4, 0}, {"10.0.0.12", 2, 0}, {"10.0.0.13", 2, 0}},
			[]string{"10.0.0.13", "10.0.0.12", "10.0.0.11", "10.0.0.11", "10.0.0.13", "10.0.0.12", "10.0.0.11", "10.0.0.11"}},
		{"wrr all weight 0", []realSpec{{"10.0.0.11", 0, 0}}, []string{"", ""}},
		{"lc", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 5, 0}, {"10.0.0.13", 1, 0}},
			[]string{"10.0.0.13", "10.0.0.12", "10.0.0.11", "10.0.0.13", "10.0.0.12", "10.0.0.11"}},
		{"wlc", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 2, 0}},
			[]string{"10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.12", "10.0.0.11", "10.0.0.12"}},
		{"sed", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 3, 0}},
			[]string{"10.0.0.12", "10.0.0.12", "10.0.0.12", "10.0.0.11", "10.0.0.12"}},
		{"nq", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 3, 0}},
			[]string{"10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.12", "10.0.0.12", "10.0.0.12", "10.0.0.12", "10.0.0.11"}},
		{"fo", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 3, 0}, {"10.0.0.13", 3, 0}},
			[]string{"10.0.0.13", "10.0.0.13", "10.0.0.13"}},
		{"ovf", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 2, 0}, {"10.0.0.13", 1, 0}},
			[]string{"10.0.0.12", "10.0.0.12", "10.0.0.12", "10.0.0.13", "10.0.0.13", "10.0.0.11", "10.0.0.11", ""}},
		{"rr upper threshold", []realSpec{{"10.0.0.11", 1, 2}, {"10.0.0.12", 1, 0}},
			[]string{"10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.12", "10.0.0.12"}},
		{"lc upper threshold", []realSpec{{"10.0.0.11", 1, 1}, {"10.0.0.12", 1, 1}}, []string{"10.0.0.12", "10.0.0.11", "", ""}},
	} {
		row++
		t.Run(tc.sched, func(t *testing.T) {
			sched, _, _ := cut(tc.sched)
			vip := fmt.Sprintf("10.0.0.100:%d", 1000+row)
			f.tb = t
			f.addSched("tcp", vip, sched, 0, tc.reals)
			for i, want := range tc.want {
				got := f.pick(pkt{proto: "tcp", src: src(false, i), dst: vip, flags: "S"})
				if got != want {
					t.Fatalf("connection %d: %q, want %q (all: %v)", i, got, want, tc.want)
				}
			}
		})
	}
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestWRRDistribution: wrr 3:1 over 10,000 new flows, within 2%.
func TestWRRDistribution(t *testing.T) {
	f, _ := setupSched(t, "udp", "10.0.0.100:53", "wrr", 0, []realSpec{{"10.0.0.11", 3, 0}, {"10.0.0.12", 1, 0}})
	const n = 10000
	got := map[string]int{}
	for i := range n {
		got[f.pick(pkt{proto: "udp", src: src(false, i), dst: "10.0.0.100:53", payload: []byte("q")})]++
	}
	share := float64(got["10.0.0.11"]) / n
	if math.Abs(share-0.75) > 0.02 || got["10.0.0.11"]+got["10.0.0.12"] != n {
		t.Fatalf("picks %v: share of weight 3 is %.4f, want 0.75 +- 0.02", got, share)
	}
}

// TestLeastConnModel: lc, wlc, sed and nq against a Go transcription of
// ip_vs_{lc,wlc,sed,nq}.c fed with the datapath's own counts before each new
// connection; a third of the connections are then closed (inactive), so the
// active and inactive weights both matter.
func TestLeastConnModel(t *testing.T) {
	reals := []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 2, 0}, {"10.0.0.13", 3, 0}}
	for _, sched := range []string{"lc", "wlc", "sed", "nq"} {
		t.Run(sched, func(t *testing.T) {
			f, s := setupSched(t, "tcp", "10.0.0.100:80", sched, 0, reals)
			per := map[string]int{}
			for i := range 60 {
				cl := src(false, i)
				want := leastModel(sched, f.listCounts(s))
				got := f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "S"})
				if got != want {
					t.Fatalf("connection %d: %s, model says %s", i, got, want)
				}
				per[got]++
				if i%3 == 0 {
					f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "A"})
					f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "R"})
				}
			}
			t.Logf("%s: %v", sched, per)
		})
	}
}

type modelReal struct {
	addr                  string
	weight, active, inact int64
}

// listCounts returns s's reals newest first with their counts, read
// straight from xvs_real_conns (what -L shows; Load reads every real slot).
func (f *fixture) listCounts(s *maps.Service) []modelReal {
	f.tb.Helper()
	var out []modelReal
	ds := f.cfg.Service(s).Dests
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		var n bpf.RealConns
		if err := f.objs.XvsRealConns.Lookup(d.ID, &n); err != nil {
			f.tb.Fatal(err)
		}
		if n.Gen != d.Gen {
			n = bpf.RealConns{}
		}
		out = append(out, modelReal{d.Addr.String(), int64(d.Weight), int64(n.Active), int64(n.Total - n.Active)})
	}
	return out
}

func leastModel(sched string, rs []modelReal) string {
	var least *modelReal
	var loh int64
	for i := range rs {
		d := &rs[i]
		if d.weight == 0 {
			continue
		}
		var doh int64
		switch sched {
		case "lc":
			doh = d.active<<8 + d.inact
			if least == nil || doh < loh {
				least, loh = d, doh
			}
			continue
		case "wlc":
			doh = d.active<<8 + d.inact
		case "sed", "nq":
			doh = d.active + 1
			if sched == "nq" && d.active == 0 {
				return d.addr
			}
		}
		if least == nil || loh*d.weight > doh*least.weight {
			least, loh = d, doh
		}
	}
	if least == nil {
		return ""
	}
	return least.addr
}

// TestHashSchedulers: sh and dh pick, for 300 flows from many clients, the
// real maps.ShLookup / DhLookup give over the control plane's tables (both
// checked against the kernel's own ip_vs_sh.c and ip_vs_dh.c in maps'
// TestShDhAgainstKernel), with weights, a weight-0 real and every flag,
// IPv4 and IPv6. dh hashes the destination: one VIP here, so one bucket.
func TestHashSchedulers(t *testing.T) {
	f := newFixture(t)
	row := 0
	for _, tc := range []struct {
		sched string
		flags uint32
		v6    bool
	}{
		{"sh", 0, false}, {"sh", bpf.SvcSched2, false}, {"sh", bpf.SvcSched1, false}, {"sh", bpf.SvcSched1 | bpf.SvcSched2, false},
		{"sh", 0, true}, {"sh", bpf.SvcSched1 | bpf.SvcSched2, true},
		{"dh", 0, false}, {"dh", 0, true},
	} {
		row++
		t.Run(fmt.Sprintf("%s flags %#x v6 %v", tc.sched, tc.flags, tc.v6), func(t *testing.T) {
			f.tb = t
			vip, reals := fmt.Sprintf("10.0.0.100:%d", 1000+row), []string{"10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"}
			if tc.v6 {
				vip, reals = fmt.Sprintf("[fd00::100]:%d", 1000+row), []string{"fd00::11", "fd00::12", "fd00::13", "fd00::14"}
			}
			weights := []int32{2, 1, 0, 3}
			var specs []realSpec
			for i, r := range reals {
				specs = append(specs, realSpec{r, weights[i], 0})
			}
			s := f.addSched("tcp", vip, tc.sched, tc.flags, specs)
			ds := f.cfg.Service(s).Dests
			order := make([]*maps.DestEntry, 0, len(ds)) // IPVS list order: newest first
			for i := len(ds) - 1; i >= 0; i-- {
				order = append(order, ds[i])
			}
			byID := map[uint32]*maps.DestEntry{}
			for _, d := range ds {
				byID[d.ID] = d
			}
			var table []uint32
			if tc.sched == "sh" {
				table = maps.ShTable(order)
			} else {
				table = maps.DhTable(order)
			}
			agree, moved := 0, 0
			const n = 300
			for i := range n {
				var p pkt
				if tc.sched == "sh" {
					p = pkt{proto: "tcp", src: src(tc.v6, i*7919), dst: vip, flags: "S"}
				} else {
					p = pkt{proto: "tcp", src: src(tc.v6, i), dst: vip, flags: "S"}
				}
				ap := netip.MustParseAddrPort(p.src)
				usable := func(id uint32) bool { return byID[id].Weight > 0 }
				var id uint32
				if tc.sched == "sh" {
					id = maps.ShLookup(table, ap.Addr(), ap.Port(), tc.flags, usable)
					if id != 0 && id != maps.ShLookup(table, ap.Addr(), ap.Port(), tc.flags&^bpf.SvcSched1, func(uint32) bool { return true }) {
						moved++
					}
				} else {
					id = maps.DhLookup(table, netip.MustParseAddrPort(vip).Addr(), usable)
				}
				want := ""
				if id != 0 {
					want = byID[id].Addr.String()
				}
				if got := f.pick(p); got == want {
					agree++
				} else if agree+5 > i { // report the first few
					t.Errorf("flow %d from %s: %q, want %q", i, p.src, got, want)
				}
			}
			t.Logf("%d of %d flows agree (%d by fallback)", agree, n, moved)
			if agree != n {
				t.Fatalf("%d of %d flows agree", agree, n)
			}
		})
	}
}

// TestMhFallback: with mh-fallback a flow hashed to a weight-0 real takes
// the real ip_vs_mh_get_fallback gives (maps.MaglevLookup, checked against
// the kernel's source in maps' tests); without it the flow gets no real.
func TestMhFallback(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprint("fallback ", fallback), func(t *testing.T) {
			var flags uint32
			if fallback {
				flags = bpf.SvcSched1
			}
			f, s := setupSched(t, "tcp", "10.0.0.100:80", "mh", flags,
				[]realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}})
			f.weight(s, "10.0.0.12:80", 0)
			e := f.cfg.Service(s)
			var inner *ebpf.Map
			if err := f.objs.XvsMh.Lookup(e.ID, &inner); err != nil {
				t.Fatal(err)
			}
			defer inner.Close()
			table := make([]uint32, inner.MaxEntries())
			for i := range table {
				if err := inner.Lookup(uint32(i), &table[i]); err != nil {
					t.Fatal(err)
				}
			}
			addrOf := map[uint32]string{}
			weight := map[uint32]int32{}
			for _, d := range e.Dests {
				addrOf[d.ID], weight[d.ID] = d.Addr.String(), d.Weight
			}
			moved := 0
			for i := range 300 {
				p := pkt{proto: "tcp", src: src(false, i*104729), dst: "10.0.0.100:80", flags: "S"}
				ap := netip.MustParseAddrPort(p.src)
				id := maps.MaglevLookup(table, bpf.AFInet, ap.Addr(), 0, fallback, func(id uint32) bool { return weight[id] > 0 })
				want := addrOf[id]
				if got := f.pick(p); got != want {
					t.Fatalf("flow %d from %s: %q, want %q", i, p.src, got, want)
				}
				if want != "" && table[maps.MaglevHash(bpf.AFInet, ap.Addr(), 0)%uint32(len(table))] != id {
					moved++
				}
			}
			if fallback && moved == 0 {
				t.Fatal("no flow needed the fallback: the test shows nothing")
			}
		})
	}
}

// TestThresholdRecovers: a real at its upper threshold gets no new
// connections until its entries expire below the lower threshold.
func TestThresholdRecovers(t *testing.T) {
	f, s := setupSched(t, "udp", "10.0.0.100:53", "rr", 0, nil)
	f.cfg.Timeouts = maps.Timeouts{TCP: 900, TCPFin: 120, UDP: 1}
	f.commit()
	f.realTh(s, "10.0.0.11:53", 1, 2, 1)
	f.realTh(s, "10.0.0.12:53", 1, 0, 0)
	q := func(i int) string {
		return f.pick(pkt{proto: "udp", src: src(false, i), dst: "10.0.0.100:53", payload: []byte("q")})
	}
	var got []string
	for i := range 6 {
		got = append(got, q(i))
	}
	want := []string{"10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.12"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before expiry: %v, want %v", got, want)
	}
	// The sweep expires the entries (UDP timeout 1 s); poll until .11 has none.
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, n := f.counts("10.0.0.11:53")
		if a+n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entries of .11 never expired: %d/%d", a, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := map[string]bool{}
	for i := 100; i < 104; i++ {
		seen[q(i)] = true
	}
	if !seen["10.0.0.11"] {
		t.Fatalf("after expiry .11 gets no connections: %v", seen)
	}
}

// TestOnePacket: with -o every UDP packet is scheduled alone and leaves no
// entry and no count; TCP services ignore the flag.
func TestOnePacket(t *testing.T) {
	f, _ := setupSched(t, "udp", "10.0.0.100:53", "rr", bpf.SvcOnePacket,
		[]realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}})
	in := pkt{proto: "udp", src: "10.1.0.5:5353", dst: "10.0.0.100:53", payload: []byte("q")}.frame()
	var got []byte
	for range 4 {
		v, out := f.run(in)
		if v != xdpTX {
			t.Fatalf("verdict %d", v)
		}
		got = append(got, realOf(out))
	}
	if want := []byte{0x13, 0x12, 0x11, 0x13}; string(got) != string(want) {
		t.Fatalf("reals % x, want % x", got, want)
	}
	if _, ok := f.connOf("udp", "10.1.0.5:5353", "10.0.0.100:53"); ok {
		t.Fatal("a one-packet flow left an entry")
	}
	for _, r := range []string{"10.0.0.11:53", "10.0.0.12:53", "10.0.0.13:53"} {
		if a, n := f.counts(r); a+n != 0 {
			t.Fatalf("%s counts %d/%d, want none", r, a, n)
		}
	}
}
