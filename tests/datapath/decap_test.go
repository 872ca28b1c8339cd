package datapath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
)

func loadDecap(t *testing.T, gue uint16) *bpf.DecapObjects {
	t.Helper()
	requireRoot(t)
	objs, err := loader.LoadDecap(loader.DecapOptions{GUEPort: gue})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return objs
}

func runDecap(t *testing.T, prog *ebpf.Program, frame []byte) (uint32, []byte) {
	t.Helper()
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256),
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: 1}}
	ret, err := prog.Run(opts)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut
}

// The decapsulation program turns what the balancer sends back into the
// client's packet: the same bytes as the balancer received, but for the
// MACs of the hop from the balancer to the real.
func TestDecap(t *testing.T) {
	const guePort = 6080
	tcp4 := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}
	udp6 := pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", payload: []byte("q")}
	vlan := tcp4
	vlan.vlan = 7
	greKey := func(inner layers.EthernetType) []byte { // K bit and a 4-byte key
		return []byte{0x20, 0, byte(inner >> 8), byte(inner), 1, 2, 3, 4}
	}
	for _, tc := range []struct {
		name   string
		in     pkt
		real   string
		outer  layers.IPProtocol
		mid    func(inner layers.IPProtocol, eth layers.EthernetType, innerLen int) []byte
		stat   bpf.DecapXvsDecapStat
		strips bool
	}{
		{"ipip", tcp4, "10.0.0.11", layers.IPProtocolIPv4, nil, bpf.DecapXvsDecapStatXVS_DECAP_IPIP, true},
		{"ip6ip6", udp6, "fd00::11", layers.IPProtocolIPv6, nil, bpf.DecapXvsDecapStatXVS_DECAP_IPIP, true},
		{"ipv4 in ipv6", tcp4, "fd00::11", layers.IPProtocolIPv4, nil, bpf.DecapXvsDecapStatXVS_DECAP_IPIP, true},
		{"ipv6 in ipv4", udp6, "10.0.0.11", layers.IPProtocolIPv6, nil, bpf.DecapXvsDecapStatXVS_DECAP_IPIP, true},
		{"ipip vlan", vlan, "10.0.0.11", layers.IPProtocolIPv4, nil, bpf.DecapXvsDecapStatXVS_DECAP_IPIP, true},
		{"gue ipv4", tcp4, "10.0.0.11", layers.IPProtocolUDP, func(p layers.IPProtocol, _ layers.EthernetType, n int) []byte {
			return gueHdr(40000, guePort, n, p)
		}, bpf.DecapXvsDecapStatXVS_DECAP_GUE, true},
		{"gue ipv6", udp6, "fd00::11", layers.IPProtocolUDP, func(p layers.IPProtocol, _ layers.EthernetType, n int) []byte {
			return gueHdr(40000, guePort, n, p)
		}, bpf.DecapXvsDecapStatXVS_DECAP_GUE, true},
		{"gue other port", tcp4, "10.0.0.11", layers.IPProtocolUDP, func(p layers.IPProtocol, _ layers.EthernetType, n int) []byte {
			return gueHdr(40000, guePort+1, n, p)
		}, 0, false},
		{"gre ipv4", tcp4, "10.0.0.11", layers.IPProtocolGRE, func(_ layers.IPProtocol, e layers.EthernetType, _ int) []byte { return greHdr(e) }, bpf.DecapXvsDecapStatXVS_DECAP_GRE, true},
		{"gre ipv6 with key", udp6, "fd00::11", layers.IPProtocolGRE, func(_ layers.IPProtocol, e layers.EthernetType, _ int) []byte { return greKey(e) }, bpf.DecapXvsDecapStatXVS_DECAP_GRE, true},
		{"gre other payload", tcp4, "10.0.0.11", layers.IPProtocolGRE, func(_ layers.IPProtocol, _ layers.EthernetType, _ int) []byte {
			return greHdr(layers.EthernetTypeARP)
		}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := loadDecap(t, guePort)
			in := tc.in.frame()
			l2len := 14
			if tc.in.vlan != 0 {
				l2len = 18
			}
			innerProto, innerEth := layers.IPProtocolIPv4, layers.EthernetTypeIPv4
			innerLen := int(binary.BigEndian.Uint16(in[l2len+2:]))
			if in[l2len]>>4 == 6 {
				innerProto, innerEth = layers.IPProtocolIPv6, layers.EthernetTypeIPv6
				innerLen = 40 + int(binary.BigEndian.Uint16(in[l2len+4:]))
			}
			var mid []byte
			if tc.mid != nil {
				mid = tc.mid(innerProto, innerEth, innerLen)
			}
			proto := tc.outer
			tunneled := encapped(in, l2len, netip.MustParseAddr(tc.real), proto, 0, 64, mid)
			verdict, out := runDecap(t, objs.XvsDecap, tunneled)
			if verdict != xdpPass {
				t.Fatalf("verdict %d, want XDP_PASS", verdict)
			}
			want := tunneled
			if tc.strips {
				want = withMACs(in, realMACs[tc.real], lbMAC)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
			var per []uint64
			if err := objs.XvsDecapStats.Lookup(uint32(tc.stat), &per); err != nil {
				t.Fatal(err)
			}
			var n uint64
			for _, v := range per {
				n += v
			}
			if want := map[bool]uint64{true: 1, false: 0}[tc.strips]; n != want {
				t.Fatalf("decap counter %d = %d, want %d", tc.stat, n, want)
			}
		})
	}
}

// Frames that are not tunnel packets, or are cut short, pass untouched.
func TestDecapLeavesOthers(t *testing.T) {
	objs := loadDecap(t, 6080)
	plain := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	ipip := encapped(plain, 14, netip.MustParseAddr("10.0.0.11"), layers.IPProtocolIPv4, 0, 64, nil)
	gre := encapped(plain, 14, netip.MustParseAddr("10.0.0.11"), layers.IPProtocolGRE, 0, 64, greHdr(layers.EthernetTypeIPv4))
	frag := append([]byte{}, ipip...)
	frag[20] |= 0x20 // MF
	fixIPv4Checksum(frag[14:34])
	greV1 := append([]byte{}, gre...)
	greV1[35] = 1 // GRE version 1 (PPTP)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"plain tcp", plain},
		{"plain ipv6 udp", pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53"}.frame()},
		{"outer fragment", frag},
		{"gre version 1", greV1},
		{"ethernet only", plain[:14]},
		{"ipip cut in outer header", ipip[:30]},
		{"gre cut in gre header", gre[:36]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verdict, out := runDecap(t, objs.XvsDecap, tc.in)
			if verdict != xdpPass || !bytes.Equal(out, tc.in) {
				t.Fatalf("verdict %d, output\n% x\nwant it untouched", verdict, out)
			}
		})
	}
}

// The balancer's output, decapsulated, is the packet the client sent.
func TestTunnelThenDecap(t *testing.T) {
	objs := loadDecap(t, 6080)
	for _, tc := range []struct {
		name, vip, real string
		tunType         uint8
		in              pkt
	}{
		{"ipip", "10.0.0.100:80", "10.0.0.11:80", tunIPIP, pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", payload: []byte("GET / HTTP/1.0\r\n\r\n")}},
		{"ip6ip6", "[fd00::100]:80", "[fd00::11]:80", tunIPIP, pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "A", payload: []byte("GET / HTTP/1.0\r\n\r\n")}},
		{"gue", "10.0.0.100:53", "10.0.0.11:53", tunGUE, pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:53", payload: []byte("query")}},
		{"gre", "[fd00::100]:53", "[fd00::11]:53", tunGRE, pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", payload: []byte("query")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.svc(tc.in.proto, tc.vip, "mh", 0)
			f.tunReal(s, tc.real, tc.tunType, 6080, 0)
			in := tc.in.frame()
			verdict, tunneled := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("balancer verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			verdict, out := runDecap(t, objs.XvsDecap, tunneled)
			want := withMACs(in, realMACs[netip.MustParseAddrPort(tc.real).Addr().String()], lbMAC)
			if verdict != xdpPass || !bytes.Equal(out, want) {
				t.Fatalf("decap verdict %d, output\n% x\nwant\n% x", verdict, out, want)
			}
		})
	}
}

// FuzzDecap runs arbitrary frames through the decapsulation program: the
// verdict is always XDP_PASS, and the frame is either untouched or a
// shorter one ending with the same bytes (outer headers stripped, the MACs
// moved forward).
func FuzzDecap(f *testing.F) {
	requireRoot(f)
	objs, err := loader.LoadDecap(loader.DecapOptions{GUEPort: 6080})
	if err != nil {
		f.Fatalf("%+v", err)
	}
	f.Cleanup(func() { objs.Close() })
	plain := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	f.Add(plain)
	f.Add(encapped(plain, 14, netip.MustParseAddr("10.0.0.11"), layers.IPProtocolIPv4, 0, 64, nil))
	f.Add(encapped(plain, 14, netip.MustParseAddr("fd00::11"), layers.IPProtocolGRE, 0, 64, greHdr(layers.EthernetTypeIPv4)))
	f.Add(encapped(plain, 14, netip.MustParseAddr("10.0.0.11"), layers.IPProtocolUDP, 0, 64, gueHdr(40000, 6080, 40, layers.IPProtocolIPv4)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 14 || len(in) > 1500 {
			return // BPF_PROG_TEST_RUN's own limits
		}
		opts := &ebpf.RunOptions{Data: in, DataOut: make([]byte, len(in)+256),
			Context: xdpMD{DataEnd: uint32(len(in)), IngressIfindex: 1}}
		verdict, err := objs.XvsDecap.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		out := opts.DataOut
		if verdict != xdpPass {
			t.Fatalf("verdict %d, want XDP_PASS", verdict)
		}
		if bytes.Equal(out, in) {
			return
		}
		// Beyond the L2 header (14 or 18 bytes) the output is the input's tail.
		if len(out) >= len(in) || len(out) < 18 || !bytes.Equal(out[18:], in[len(in)-len(out)+18:]) {
			t.Fatalf("decapsulated frame is not a stripped copy of the input:\nin  % x\nout % x", in, out)
		}
		if !bytes.Equal(out[:12], in[:12]) {
			t.Fatalf("MACs not kept:\nin  % x\nout % x", in, out)
		}
	})
}
