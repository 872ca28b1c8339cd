package datapath

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// connOf returns the xvs_conns entry of a flow, and whether it exists.
func (f *fixture) connOf(proto, src, dst string) (bpf.Conn, bool) {
	f.tb.Helper()
	var c bpf.Conn
	k := maps.ConnKey(protoNum(proto), netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst))
	if err := f.objs.XvsConns.Lookup(&k, &c); err != nil {
		return c, false
	}
	return c, true
}

// counts returns real addr's ActiveConn and InActConn as -L -n shows them.
func (f *fixture) counts(addr string) (active, inact uint32) {
	f.tb.Helper()
	cfg, err := f.store.Load()
	if err != nil {
		f.tb.Fatal(err)
	}
	ap := netip.MustParseAddrPort(addr)
	for _, s := range cfg.Services {
		for _, d := range s.Dests {
			if d.Addr == ap.Addr() && d.Port == ap.Port() {
				return d.ActiveConns, d.InactConns
			}
		}
	}
	f.tb.Fatalf("real %s not found", addr)
	return 0, 0
}

// TestTCPStates follows one flow through IPVS's INPUT-ONLY state table
// (ip_vs_proto_tcp.c; direct routing sees only client-to-server packets) and
// checks the entry's state and its real's counts after each packet. Every
// packet after the first may be answered from the flow cache, so these also
// show that SYN, FIN and RST, and an ACK ending SYN_RECV, reach the state.
func TestTCPStates(t *testing.T) {
	type step struct {
		flags         string
		state         string
		active, inact uint32
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"handshake, data, fin", []step{
			{"S", "SYN_RECV", 1, 0}, {"A", "ESTABLISHED", 1, 0}, {"A", "ESTABLISHED", 1, 0},
			{"FA", "FIN_WAIT", 0, 1}, {"A", "FIN_WAIT", 0, 1}, {"R", "CLOSE", 0, 1},
		}},
		{"reset while established", []step{{"S", "SYN_RECV", 1, 0}, {"A", "ESTABLISHED", 1, 0}, {"RA", "CLOSE", 0, 1}}},
		{"reset in syn_recv keeps syn_recv", []step{{"S", "SYN_RECV", 1, 0}, {"R", "SYN_RECV", 1, 0}}},
		{"mid-stream ack (no SYN seen)", []step{{"A", "ESTABLISHED", 1, 0}, {"A", "ESTABLISHED", 1, 0}}},
		{"fin first", []step{{"F", "CLOSE", 0, 1}}},
		{"no flags", []step{{"", "CLOSE", 0, 1}}},
		{"syn after close reopens", []step{{"S", "SYN_RECV", 1, 0}, {"R", "SYN_RECV", 1, 0}, {"A", "ESTABLISHED", 1, 0}, {"R", "CLOSE", 0, 1}, {"S", "SYN_RECV", 1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
			f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
			for i, st := range tc.steps {
				in := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: st.flags}.frame()
				if v, _ := f.run(in); v != xdpTX {
					t.Fatalf("step %d (%q): verdict %d; verdicts %v", i, st.flags, v, f.verdicts())
				}
				c, ok := f.connOf("tcp", "10.1.0.5:40000", "10.0.0.100:80")
				if !ok {
					t.Fatalf("step %d: no entry", i)
				}
				if got := bpf.TCPStateNames[c.State]; got != st.state {
					t.Errorf("step %d (%q): state %s, want %s", i, st.flags, got, st.state)
				}
				if a, n := f.counts("10.0.0.11:80"); a != st.active || n != st.inact {
					t.Errorf("step %d (%q): active %d inactive %d, want %d %d", i, st.flags, a, n, st.active, st.inact)
				}
			}
		})
	}
}

// TestUDPCountsInactive: IPVS counts UDP entries as inactive.
func TestUDPCountsInactive(t *testing.T) {
	f := newFixture(t)
	s := f.svc("udp", "10.0.0.100:53", "mh", 0)
	f.real(s, "10.0.0.11:53", bpf.FwdDRoute, 1)
	for i := range 5 {
		for range 3 { // repeated packets of a flow add nothing
			in := pkt{proto: "udp", src: fmt.Sprintf("10.1.0.5:%d", 40000+i), dst: "10.0.0.100:53", payload: []byte("q")}.frame()
			if v, _ := f.run(in); v != xdpTX {
				t.Fatalf("verdict %d", v)
			}
		}
	}
	if a, n := f.counts("10.0.0.11:53"); a != 0 || n != 5 {
		t.Fatalf("active %d inactive %d, want 0 5", a, n)
	}
}

// TestQuiesceMovesCounts: a new connection (SYN) on a quiesced real moves to
// another real; the old entry leaves the old real's counts.
func TestQuiesceMovesCounts(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	syn := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	if v, _ := f.run(syn); v != xdpTX {
		t.Fatalf("verdict %d", v)
	}
	f.real(s, "10.0.0.12:80", bpf.FwdDRoute, 1)
	f.weight(s, "10.0.0.11:80", 0)
	if v, out := f.run(syn); v != xdpTX || realOf(out) != 0x12 {
		t.Fatalf("verdict %d, real %#x; want XDP_TX to .12", v, realOf(out))
	}
	for _, tc := range []struct {
		real          string
		active, inact uint32
	}{{"10.0.0.11:80", 0, 0}, {"10.0.0.12:80", 1, 0}} {
		if a, n := f.counts(tc.real); a != tc.active || n != tc.inact {
			t.Errorf("%s: active %d inactive %d, want %d %d", tc.real, a, n, tc.active, tc.inact)
		}
	}
}

// TestQuiescedSynPassedEndsEntry: a client reuses the tuple of a finished
// connection (FIN_WAIT) whose real is quiesced, and the scheduler has no
// real for the new SYN (mh without fallback hashes it to the weight-0
// real), so the SYN goes to the kernel. The old entry must end then: the
// rest of the new connection follows its SYN to the kernel, instead of
// continuing the old entry to the quiesced real, which never saw the SYN.
func TestQuiescedSynPassedEndsEntry(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	flow := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80"}
	at := func(flags string) []byte { p := flow; p.flags = flags; return p.frame() }
	for _, flags := range []string{"S", "A", "FA"} {
		if v, out := f.run(at(flags)); v != xdpTX || realOf(out) != 0x11 {
			t.Fatalf("first connection, %s: verdict %d, real %#x; want XDP_TX to .11", flags, v, realOf(out))
		}
	}
	f.weight(s, "10.0.0.11:80", 0)
	for _, flags := range []string{"S", "A", "A"} {
		if v, out := f.run(at(flags)); v != xdpPass {
			t.Fatalf("second connection on the same tuple, %s: verdict %d (real %#x), want XDP_PASS like its SYN", flags, v, realOf(out))
		}
	}
	if a, n := f.counts("10.0.0.11:80"); a != 0 || n != 0 {
		t.Errorf("10.0.0.11: active %d inactive %d, want 0 0: the old entry ended", a, n)
	}
}

// TestConnsListed: -L -c lists every entry with its state, real and time left.
func TestConnsListed(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	u := f.svc("udp", "[fd00::100]:53", "mh", 0)
	f.real(u, "[fd00::11]:53", bpf.FwdDRoute, 1)
	for _, p := range []pkt{
		{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"},
		{proto: "tcp", src: "10.1.0.6:40001", dst: "10.0.0.100:80", flags: "A"},
		{proto: "udp", src: "[fd01::5]:5353", dst: "[fd00::100]:53", payload: []byte("q")},
	} {
		if v, _ := f.run(p.frame()); v != xdpTX {
			t.Fatalf("verdict %d", v)
		}
	}
	conns, err := f.store.Conns()
	if err != nil {
		t.Fatal(err)
	}
	want := []maps.Conn{
		{Proto: 6, Client: netip.MustParseAddrPort("10.1.0.5:40000"), Virtual: netip.MustParseAddrPort("10.0.0.100:80"), Dest: netip.MustParseAddrPort("10.0.0.11:80"), State: "SYN_RECV", Expires: 60},
		{Proto: 6, Client: netip.MustParseAddrPort("10.1.0.6:40001"), Virtual: netip.MustParseAddrPort("10.0.0.100:80"), Dest: netip.MustParseAddrPort("10.0.0.11:80"), State: "ESTABLISHED", Expires: 900},
		{Proto: 17, Client: netip.MustParseAddrPort("[fd01::5]:5353"), Virtual: netip.MustParseAddrPort("[fd00::100]:53"), Dest: netip.MustParseAddrPort("[fd00::11]:53"), State: "UDP", Expires: 300},
	}
	if len(conns) != len(want) {
		t.Fatalf("got %d entries %+v, want %d", len(conns), conns, len(want))
	}
	for i, w := range want {
		g := conns[i]
		// Expires counts down: allow the few seconds a slow run takes.
		if g.Expires > w.Expires || g.Expires+5 < w.Expires {
			t.Errorf("entry %d expires in %d s, want about %d", i, g.Expires, w.Expires)
		}
		g.Expires = w.Expires
		if g != w {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
	}
}

// TestConnsExpire: with short --set timeouts, the kernel-side sweep removes
// idle entries and the counts return to zero, with no process running.
func TestConnsExpire(t *testing.T) {
	f := newFixture(t)
	f.cfg.Timeouts = maps.Timeouts{TCP: 1, TCPFin: 1, UDP: 1}
	f.commit()
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	u := f.svc("udp", "10.0.0.100:53", "mh", 0)
	f.real(u, "10.0.0.12:53", bpf.FwdDRoute, 1)
	const n = 20
	for i := range n {
		src := fmt.Sprintf("10.1.0.5:%d", 40000+i)
		for _, p := range []pkt{
			{proto: "tcp", src: src, dst: "10.0.0.100:80", flags: "S"},
			{proto: "tcp", src: src, dst: "10.0.0.100:80", flags: "A"},
			{proto: "udp", src: src, dst: "10.0.0.100:53", payload: []byte("q")},
		} {
			if v, _ := f.run(p.frame()); v != xdpTX {
				t.Fatalf("verdict %d", v)
			}
		}
	}
	if a, i := f.counts("10.0.0.11:80"); a != n || i != 0 {
		t.Fatalf("tcp: active %d inactive %d, want %d 0", a, i, n)
	}
	if a, i := f.counts("10.0.0.12:53"); a != 0 || i != n {
		t.Fatalf("udp: active %d inactive %d, want 0 %d", a, i, n)
	}
	// Poll until the sweep (once a second) has removed everything; the
	// deadline only bounds a failing run.
	deadline := time.Now().Add(20 * time.Second)
	for {
		a1, i1 := f.counts("10.0.0.11:80")
		a2, i2 := f.counts("10.0.0.12:53")
		conns, err := f.store.Conns()
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		var k bpf.ConnKey
		var v bpf.Conn
		for it := f.objs.XvsConns.Iterate(); it.Next(&k, &v); {
			left++
		}
		if a1+i1+a2+i2 == 0 && left == 0 && len(conns) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var sw bpf.Sweep
			_ = f.objs.XvsSweep.Lookup(uint32(0), &sw)
			t.Fatalf("after the deadline: counts %d/%d %d/%d, %d entries, %d listed; sweep %+v", a1, i1, a2, i2, left, len(conns), sw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var sw bpf.Sweep
	if err := f.objs.XvsSweep.Lookup(uint32(0), &sw); err != nil {
		t.Fatal(err)
	}
	if sw.Expired != 2*n || sw.Hz == 0 {
		t.Fatalf("sweep expired %d entries (hz %d), want %d", sw.Expired, sw.Hz, 2*n)
	}
}
