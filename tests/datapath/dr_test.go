package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

const (
	xdpPass = 2
	xdpTX   = 3
)

// realOf returns which real (by its MAC's last byte) a DR'd frame went to.
func realOf(out []byte) byte { return out[5] }

func TestDirectRouting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto string
		vip   string
		reals []string
		in    pkt
	}{
		{"ipv4 tcp", "tcp", "10.0.0.100:80", []string{"10.0.0.11:80"}, pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}},
		{"ipv4 udp", "udp", "10.0.0.100:53", []string{"10.0.0.11:53"}, pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:53", payload: []byte("query")}},
		{"ipv6 tcp", "tcp", "[fd00::100]:443", []string{"[fd00::11]:443"}, pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:443", flags: "S"}},
		{"ipv6 udp", "udp", "[fd00::100]:53", []string{"[fd00::11]:53"}, pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", payload: []byte("q")}},
		{"ipv4 tcp options", "tcp", "10.0.0.100:80", []string{"10.0.0.11:80"}, pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", payload: []byte("GET / HTTP/1.0\r\n\r\n")}},
		{"vlan tagged", "tcp", "10.0.0.100:80", []string{"10.0.0.11:80"}, pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S", vlan: 42}},
		{"ipv6 hop-by-hop, dstopts, routing", "tcp", "[fd00::100]:80", []string{"[fd00::11]:80"}, pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S",
			ext6: []layers.IPProtocol{layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination, layers.IPProtocolIPv6Routing}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.svc(tc.proto, tc.vip, "mh", 0)
			for _, r := range tc.reals {
				f.real(s, r, bpf.FwdDRoute, 1)
			}
			in := tc.in.frame()
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX; verdicts %v", verdict, f.verdicts())
			}
			want := withMACs(in, realMACs["10.0.0.11"], lbMAC)
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
		})
	}
}

func TestIPv4OptionsParsed(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	// IHL 6 (one 4-byte option: NOPs + EOL): ports must be read after the options.
	in := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	opt := append(append(append([]byte{}, in[:34]...), 1, 1, 1, 0), in[34:]...)
	opt[14] = 0x46
	opt[17] += 4 // total length
	fixIPv4Checksum(opt[14:38])
	verdict, out := f.run(opt)
	if verdict != xdpTX || !bytes.Equal(out, withMACs(opt, realMACs["10.0.0.11"], lbMAC)) {
		t.Fatalf("verdict %d, out % x", verdict, out)
	}
}

func fixIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	h[10], h[11] = byte(^sum>>8), byte(^sum)
}

func TestNotForUs(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	s6 := f.svc("tcp", "[fd00::100]:80", "mh", 0)
	f.real(s6, "[fd00::11]:80", bpf.FwdDRoute, 1)
	for _, tc := range []struct {
		name string
		in   pkt
		why  string
	}{
		{"other address", pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.101:80", flags: "S"}, "pass_no_vip"},
		{"other port", pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:81", flags: "S"}, "pass_no_vip"},
		{"other protocol", pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:80"}, "pass_no_vip"},
		{"ipv6 other address", pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::101]:80", flags: "S"}, "pass_no_vip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.verdicts()[tc.why]
			in := tc.in.frame()
			verdict, out := f.run(in)
			if verdict != xdpPass || !bytes.Equal(out, in) {
				t.Fatalf("verdict %d (want XDP_PASS), frame changed: %v", verdict, !bytes.Equal(out, in))
			}
			if f.verdicts()[tc.why] != before+1 {
				t.Fatalf("counter %s not bumped: %v", tc.why, f.verdicts())
			}
		})
	}
}

// Services or methods the datapath does not implement are passed to the kernel.
func TestUnsupportedPassed(t *testing.T) {
	f := newFixture(t)
	local := f.svc("tcp", "10.0.0.100:81", "mh", 0)
	f.real(local, "10.0.0.11:8080", bpf.FwdLocalNode, 1) // -m and -i are in the datapath; local node is not
	in := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:81", flags: "S"}.frame()
	if verdict, out := f.run(in); verdict != xdpPass || !bytes.Equal(out, in) {
		t.Fatalf("verdict %d, want untouched XDP_PASS", verdict)
	}
	if got := f.verdicts()["pass_unsupported"]; got != 1 {
		t.Fatalf("pass_unsupported = %d, want 1", got)
	}
}

// flows sends one packet of n flows from distinct clients and returns the real each went to.
func (f *fixture) flows(n int, flags string, v6 bool) map[int]byte {
	f.tb.Helper()
	got := map[int]byte{}
	for i := range n {
		p := pkt{proto: "tcp", src: fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250+1, 10000+i), dst: "10.0.0.100:80", flags: flags}
		if v6 {
			p.src, p.dst = fmt.Sprintf("[fd01::%x]:%d", i+1, 10000+i), "[fd00::100]:80"
		}
		verdict, out := f.run(p.frame())
		switch verdict {
		case xdpTX:
			got[i] = realOf(out)
		case xdpPass:
			got[i] = 0
		default:
			f.tb.Fatalf("flow %d: verdict %d", i, verdict)
		}
	}
	return got
}

func TestEstablishedFlowsStick(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			f := newFixture(t)
			vip, r := "10.0.0.100:80", func(i int) string { return fmt.Sprintf("10.0.0.%d:80", 10+i) }
			if v6 {
				vip, r = "[fd00::100]:80", func(i int) string { return fmt.Sprintf("[fd00::%d]:80", 10+i) }
			}
			s := f.svc("tcp", vip, "mh", 0)
			f.real(s, r(1), bpf.FwdDRoute, 1)
			f.real(s, r(2), bpf.FwdDRoute, 1)
			const n = 300
			first := f.flows(n, "S", v6)
			// Change the real set and the weights: new flows would now hash differently.
			f.real(s, r(3), bpf.FwdDRoute, 5)
			f.weight(s, r(1), 3)
			then := f.flows(n, "A", v6)
			for i := range n {
				if first[i] == 0 || then[i] != first[i] {
					t.Fatalf("flow %d went to %#x, then %#x", i, first[i], then[i])
				}
			}
			// New flows (other ports) do reach the new real.
			f2 := map[byte]int{}
			for i := range n {
				p := pkt{proto: "tcp", src: fmt.Sprintf("10.2.%d.%d:%d", i/250, i%250+1, 20000+i), dst: vip, flags: "S"}
				if v6 {
					p.src = fmt.Sprintf("[fd02::%x]:%d", i+1, 20000+i)
				}
				if verdict, out := f.run(p.frame()); verdict == xdpTX {
					f2[realOf(out)]++
				}
			}
			if f2[0x13] == 0 {
				t.Fatalf("new real got no new flows: %v", f2)
			}
		})
	}
}

func TestWeightZeroQuiesces(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:80", bpf.FwdDRoute, 1)
	const n = 300
	first := f.flows(n, "S", false)
	to11 := 0
	for _, r := range first {
		if r == 0x11 {
			to11++
		}
	}
	if to11 == 0 {
		t.Fatal("no flow reached 10.0.0.11 before quiescing")
	}
	f.weight(s, "10.0.0.11:80", 0)
	// Established flows continue to the quiesced real.
	then := f.flows(n, "A", false)
	for i := range n {
		if then[i] != first[i] {
			t.Fatalf("established flow %d moved from %#x to %#x", i, first[i], then[i])
		}
	}
	// New flows (new SYNs, also reusing a tuple) never go to it.
	for i, r := range f.flows(n, "S", false) {
		if r == 0x11 {
			t.Fatalf("new flow %d went to the weight-0 real", i)
		}
	}
}

func TestSynReschedulesWhenRealGone(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:80", bpf.FwdDRoute, 1)
	const n = 200
	first := f.flows(n, "S", false)
	f.delReal(s, "10.0.0.11:80")
	again := f.flows(n, "S", false)
	for i := range n {
		if again[i] != 0x12 {
			t.Fatalf("flow %d (first %#x) went to %#x after its real was removed", i, first[i], again[i])
		}
	}
}

func TestCounters(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	syn := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	ack := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", payload: make([]byte, 100)}.frame()
	f.run(syn)
	f.run(ack)
	f.run(ack)
	cfg, err := f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Service(s)
	want := uint64(40 + 2*140)
	if e.Stats.Conns != 1 || e.Stats.InPkts != 3 || e.Stats.InBytes != want {
		t.Fatalf("service stats %+v, want 1 conn, 3 packets, %d bytes", e.Stats, want)
	}
	if d := e.Dests[0].Stats; d != e.Stats {
		t.Fatalf("real stats %+v differ from service stats %+v", d, e.Stats)
	}
	// A removed real's counters stay in its service's.
	f.real(s, "10.0.0.12:80", bpf.FwdDRoute, 1)
	f.delReal(s, "10.0.0.11:80")
	cfg, err = f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Service(s).Stats; got != e.Stats {
		t.Fatalf("service stats after removing its real: %+v, want %+v", got, e.Stats)
	}
}

// The datapath's choice equals the Go model of kernel IPVS's mh (hash and table).
func TestMaglevMatchesModel(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		f := newFixture(t)
		vip, r := "10.0.0.100:80", func(i int) string { return fmt.Sprintf("10.0.0.%d:80", 10+i) }
		if v6 {
			vip, r = "[fd00::100]:80", func(i int) string { return fmt.Sprintf("[fd00::%d]:80", 10+i) }
		}
		s := f.svc("tcp", vip, "mh", 0)
		for i, w := range []int32{1, 2, 3} {
			f.real(s, r(i+1), bpf.FwdDRoute, w)
		}
		cfg, err := f.store.Load()
		if err != nil {
			t.Fatal(err)
		}
		e := cfg.Service(s)
		var ds []maps.MaglevDest
		mac := map[uint32]byte{}
		for i := len(e.Dests) - 1; i >= 0; i-- { // IPVS list order: newest first
			d := e.Dests[i]
			ds = append(ds, maps.MaglevDest{Addr: d.Addr, Port: d.Port, Weight: d.LastWeight, ID: d.ID})
			mac[d.ID] = realMACs[d.Addr.String()][5]
		}
		af := uint8(4)
		if v6 {
			af = 6
		}
		table := maps.MaglevTableAF(af, ds, maps.MaglevDefaultSize)
		got := f.flows(300, "S", v6)
		for i := range 300 {
			src := netip.MustParseAddr(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
			if v6 {
				src = netip.MustParseAddr(fmt.Sprintf("fd01::%x", i+1))
			}
			want := maps.MaglevLookup(table, af, src, 0, false, func(uint32) bool { return true })
			if got[i] != mac[want] {
				t.Fatalf("v6=%v flow %d from %s: datapath chose %#x, model %#x", v6, i, src, got[i], mac[want])
			}
		}
	}
}

// More flows than the per-CPU flow cache has slots: colliding flows evict
// each other from the cache, and each still keeps its real (from xvs_conns).
func TestFlowCacheCollisions(t *testing.T) {
	f := newFixture(t)
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:80", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:80", bpf.FwdDRoute, 1)
	const n = 6000 // XVS_FLOW_CACHE_SIZE is 4096
	first := f.flows(n, "S", false)
	f.real(s, "10.0.0.13:80", bpf.FwdDRoute, 4)
	for round := range 2 {
		then := f.flows(n, "A", false)
		for i := range n {
			if first[i] == 0 || then[i] != first[i] {
				t.Fatalf("round %d: flow %d went to %#x, then %#x", round, i, first[i], then[i])
			}
		}
	}
}
