package datapath

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// IPVS's tunnel types and encapsulation flags (IP_VS_CONN_F_TUNNEL_TYPE_*, IP_VS_TUNNEL_ENCAP_FLAG_*).
const (
	tunIPIP = 0
	tunGUE  = 1
	tunGRE  = 2

	tunFlagCsum    = 1
	tunFlagRemCsum = 2
)

// tunReal adds a tunnel real ("10.0.0.11:80") to s.
func (f *fixture) tunReal(s *maps.Service, addr string, tunType uint8, tunPort uint16, tunFlags uint16) {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	d := maps.Dest{Addr: ap.Addr(), Port: ap.Port(), Fwd: bpf.FwdTunnel, Weight: 1, TunType: tunType, TunPort: tunPort, TunFlags: tunFlags}
	if _, err := f.cfg.AddDest(s, d); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
}

// lbAddr is the balancer's address on dp0 of the family of a: the outer
// source the route gives.
func lbAddr(a netip.Addr) net.IP {
	if a.Is4() {
		return net.ParseIP("10.0.0.1").To4()
	}
	return net.ParseIP("fd00::1")
}

// encapped builds the frame the balancer must send: the input's L2 header
// with the real's MACs, an outer IPv4 or IPv6 header from the balancer to
// the real (DF, id 0, TTL and DS field of the inner header, flow label 0),
// then mid (a UDP+GUE or GRE header, or nothing for IPIP) and the inner
// IP packet unchanged.
func encapped(in []byte, l2len int, real netip.Addr, proto layers.IPProtocol, tos, ttl uint8, mid []byte) []byte {
	inner, pad := in[l2len:], []byte(nil)
	if inner[0]>>4 == 4 {
		l3len := int(binary.BigEndian.Uint16(inner[2:]))
		inner, pad = inner[:l3len], inner[l3len:] // Ethernet padding stays at the end
	} else {
		l3len := 40 + int(binary.BigEndian.Uint16(inner[4:]))
		inner, pad = inner[:l3len], inner[l3len:]
	}
	outerType := layers.EthernetTypeIPv4
	if real.Is6() {
		outerType = layers.EthernetTypeIPv6
	}
	var outer gopacket.SerializableLayer
	if real.Is4() {
		outer = &layers.IPv4{Version: 4, IHL: 5, TOS: tos, Flags: layers.IPv4DontFragment, TTL: ttl, Protocol: proto,
			SrcIP: lbAddr(real), DstIP: real.AsSlice()}
	} else {
		outer = &layers.IPv6{Version: 6, TrafficClass: tos, NextHeader: proto, HopLimit: ttl, SrcIP: lbAddr(real), DstIP: real.AsSlice()}
	}
	buf := gopacket.NewSerializeBuffer()
	payload := append(append([]byte{}, mid...), inner...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		outer, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	l2 := append([]byte{}, in[:l2len]...)
	copy(l2[0:6], realMACs[real.String()])
	copy(l2[6:12], lbMAC)
	binary.BigEndian.PutUint16(l2[l2len-2:], uint16(outerType))
	return append(append(l2, buf.Bytes()...), pad...)
}

// checkOuter decodes out's outer headers with gopacket and verifies what
// the byte comparison alone would not explain: the IPv4 header checksum
// and the lengths.
func checkOuter(t *testing.T, out []byte) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	// What lies under the outer header (GUE, DNS) may not decode: only
	// the outer IP header must.
	if pk.NetworkLayer() == nil {
		t.Fatalf("output has no decodable IP header: %v", pk.ErrorLayer())
	}
	if ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		h := append([]byte{}, ip.Contents...)
		got := binary.BigEndian.Uint16(h[10:])
		fixIPv4Checksum(h)
		if want := binary.BigEndian.Uint16(h[10:]); got != want {
			t.Errorf("outer IPv4 checksum %#04x, want %#04x", got, want)
		}
		if int(ip.Length) != len(ip.Contents)+len(ip.Payload) {
			t.Errorf("outer IPv4 total length %d, header+payload %d", ip.Length, len(ip.Contents)+len(ip.Payload))
		}
		if ip.Flags&layers.IPv4DontFragment == 0 && ip.Protocol != layers.IPProtocolICMPv4 {
			t.Errorf("outer IPv4 without DF")
		}
	}
	if ip6, ok := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && int(ip6.Length) != len(ip6.Payload) {
		t.Errorf("outer IPv6 payload length %d, payload %d", ip6.Length, len(ip6.Payload))
	}
}

// gueHdr is the UDP + GUE header IPVS builds with --tun-nocsum: source
// port sport, destination port the real's --tun-port, checksum 0, GUE
// version 0 without options, carrying inner.
func gueHdr(sport, dport uint16, innerLen int, inner layers.IPProtocol) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(12+innerLen))
	// b[6:8] checksum 0; b[8] version 0, C 0, hlen 0
	b[9] = byte(inner)
	return b
}

// greHdr is the 4-byte GRE header IPVS builds without --tun-csum.
func greHdr(inner layers.EthernetType) []byte {
	return []byte{0, 0, byte(inner >> 8), byte(inner)}
}

func TestTunnel(t *testing.T) {
	type row struct {
		name     string
		proto    string
		vip      string
		real     string
		tunType  uint8
		tunPort  uint16
		in       pkt
		mangle   func([]byte) // changes the input frame (DS field)
		outerTOS uint8
	}
	tcp4 := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}
	udp4 := pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:53", payload: []byte("query")}
	tcp6 := pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:443", flags: "S"}
	udp6 := pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", payload: []byte("q")}
	tos4 := func(tos byte) func([]byte) {
		return func(b []byte) { b[15] = tos; fixIPv4Checksum(b[14:34]) }
	}
	tclass6 := func(tc byte) func([]byte) {
		return func(b []byte) { b[14] = 0x60 | tc>>4; b[15] = b[15]&0x0f | tc<<4 }
	}
	vlan := tcp4
	vlan.vlan = 42
	for _, tc := range []row{
		{name: "ipip tcp", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunIPIP, in: tcp4},
		{name: "ipip udp", proto: "udp", vip: "10.0.0.100:53", real: "10.0.0.11:53", tunType: tunIPIP, in: udp4},
		{name: "ipip dscp copied", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunIPIP, in: tcp4, mangle: tos4(0xb9), outerTOS: 0xb9},
		{name: "ipip ecn ce becomes ect(0)", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunIPIP, in: tcp4, mangle: tos4(0x2b), outerTOS: 0x2a},
		{name: "ipip vlan tagged", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunIPIP, in: vlan},
		{name: "ip6ip6 tcp", proto: "tcp", vip: "[fd00::100]:443", real: "[fd00::11]:443", tunType: tunIPIP, in: tcp6},
		{name: "ip6ip6 udp", proto: "udp", vip: "[fd00::100]:53", real: "[fd00::11]:53", tunType: tunIPIP, in: udp6},
		{name: "ip6ip6 traffic class copied", proto: "tcp", vip: "[fd00::100]:443", real: "[fd00::11]:443", tunType: tunIPIP, in: tcp6, mangle: tclass6(0xb9), outerTOS: 0xb9},
		{name: "ipv4 in ipv6", proto: "tcp", vip: "10.0.0.100:80", real: "[fd00::11]:80", tunType: tunIPIP, in: tcp4},
		{name: "ipv6 in ipv4", proto: "tcp", vip: "[fd00::100]:443", real: "10.0.0.11:443", tunType: tunIPIP, in: tcp6},
		{name: "gue ipv4 tcp", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunGUE, tunPort: 6080, in: tcp4},
		{name: "gue ipv4 udp", proto: "udp", vip: "10.0.0.100:53", real: "10.0.0.11:53", tunType: tunGUE, tunPort: 6080, in: udp4},
		{name: "gue ipv6 tcp", proto: "tcp", vip: "[fd00::100]:443", real: "[fd00::11]:443", tunType: tunGUE, tunPort: 6081, in: tcp6},
		{name: "gre ipv4 tcp", proto: "tcp", vip: "10.0.0.100:80", real: "10.0.0.11:80", tunType: tunGRE, in: tcp4},
		{name: "gre ipv6 udp", proto: "udp", vip: "[fd00::100]:53", real: "[fd00::11]:53", tunType: tunGRE, in: udp6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.svc(tc.proto, tc.vip, "mh", 0)
			f.tunReal(s, tc.real, tc.tunType, tc.tunPort, 0)
			in := tc.in.frame()
			if tc.mangle != nil {
				tc.mangle(in)
			}
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX; verdicts %v", verdict, f.verdicts())
			}
			l2len := 14
			if tc.in.vlan != 0 {
				l2len = 18
			}
			real := netip.MustParseAddrPort(tc.real).Addr()
			inner4 := netip.MustParseAddrPort(tc.vip).Addr().Is4()
			innerLen := int(binary.BigEndian.Uint16(in[l2len+2:])) // IPv4 total length
			ttl := in[l2len+8]                                     // IPv4 TTL
			innerProto, innerEth := layers.IPProtocolIPv4, layers.EthernetTypeIPv4
			if !inner4 {
				ttl = in[l2len+7] // IPv6 hop limit
				innerLen = 40 + int(binary.BigEndian.Uint16(in[l2len+4:]))
				innerProto, innerEth = layers.IPProtocolIPv6, layers.EthernetTypeIPv6
			}
			outerProto := innerProto
			var mid []byte
			switch tc.tunType {
			case tunGUE:
				outerProto = layers.IPProtocolUDP
				ol := l2len + 20
				if real.Is6() {
					ol = l2len + 40
				}
				if len(out) < ol+2 {
					t.Fatalf("output too short: % x", out)
				}
				sport := binary.BigEndian.Uint16(out[ol:])
				if sport < 32768 || sport >= 61000 {
					t.Errorf("GUE source port %d outside the ephemeral range 32768-60999", sport)
				}
				mid = gueHdr(sport, tc.tunPort, innerLen, innerProto)
			case tunGRE:
				outerProto = layers.IPProtocolGRE
				mid = greHdr(innerEth)
			}
			want := encapped(in, l2len, real, outerProto, tc.outerTOS, ttl, mid)
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
			checkOuter(t, out)
			// The same flow again takes the cached next hop: same frame.
			if verdict, out2 := f.run(in); verdict != xdpTX || !bytes.Equal(out2, want) {
				t.Fatalf("second packet: verdict %d, output\n% x", verdict, out2)
			}
		})
	}
}

// A packet that the egress MTU can't carry once encapsulated is answered
// with ICMP fragmentation needed (IPv4) or packet too big (IPv6) from the
// VIP, announcing the MTU left for the inner packet, and counted: never
// dropped silently.
func TestTunnelTooBig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vip     string
		real    string
		src     string
		payload int // the largest payload that fits the 1500-byte MTU without encapsulation
		mtu     uint32
	}{
		{"ipip", "10.0.0.100:80", "10.0.0.11:80", "10.1.0.5:40000", 1500 - 40, 1480},
		{"ip6ip6", "[fd00::100]:80", "[fd00::11]:80", "[fd01::5]:40000", 1500 - 60, 1460},
		{"ipv4 in ipv6", "10.0.0.100:80", "[fd00::11]:80", "10.1.0.5:40000", 1500 - 40, 1460},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.svc("tcp", tc.vip, "mh", 0)
			f.tunReal(s, tc.real, tunIPIP, 0, 0)
			in := pkt{proto: "tcp", src: tc.src, dst: tc.vip, flags: "A", payload: make([]byte, tc.payload)}.frame()
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX (an ICMP error); %v", verdict, f.verdicts())
			}
			want := tooBig(in, tc.mtu)
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
			checkOuter(t, out)
			if n := f.verdicts()["too_big"]; n != 1 {
				t.Fatalf("too_big = %d, want 1", n)
			}
			// What fits once encapsulated is encapsulated.
			fits := int(tc.mtu) - (len(in) - 14 - tc.payload)
			small := pkt{proto: "tcp", src: tc.src, dst: tc.vip, flags: "A", payload: make([]byte, fits)}.frame()
			if verdict, _ := f.run(small); verdict != xdpTX {
				t.Fatalf("a packet that fits once encapsulated: verdict %d; %v", verdict, f.verdicts())
			}
			if n := f.verdicts()["too_big"]; n != 1 {
				t.Fatalf("a packet that fits was counted too big")
			}
		})
	}
}

// tooBig is the ICMP error the balancer must send for the untagged frame
// in: back to its sender's MAC, from the address it was sent to, quoting
// its IP header and 8 more bytes, with checksums as gopacket computes them.
func tooBig(in []byte, mtu uint32) []byte {
	eth := &layers.Ethernet{DstMAC: peerMAC, SrcMAC: lbMAC}
	var ls []gopacket.SerializableLayer
	if in[14]>>4 == 4 {
		eth.EthernetType = layers.EthernetTypeIPv4
		quote := in[14 : 14+28]
		ip := &layers.IPv4{Version: 4, IHL: 5, TOS: 0xc0, TTL: 64, Protocol: layers.IPProtocolICMPv4,
			SrcIP: net.IP(in[30:34]), DstIP: net.IP(in[26:30])}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Id: 0, Seq: uint16(mtu)}
		ls = []gopacket.SerializableLayer{eth, ip, ic, gopacket.Payload(quote)}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		quote := in[14 : 14+48]
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6,
			SrcIP: net.IP(in[38:54]), DstIP: net.IP(in[22:38])}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(2, 0)}
		ic.SetNetworkLayerForChecksum(ip)
		body := binary.BigEndian.AppendUint32(nil, mtu)
		ls = []gopacket.SerializableLayer{eth, ip, ic, gopacket.Payload(append(body, quote...))}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// onesSum is the one's-complement sum of b (zero-padded to even length), folded.
func onesSum(sum uint32, b []byte) uint32 {
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		sum += w
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// TestTunnelChecksums: GUE with --tun-csum or --tun-remcsum carries a full
// UDP checksum (IPVS adds the remote checksum option only to
// CHECKSUM_PARTIAL packets, which XDP never sees), GRE with --tun-csum the
// GRE checksum; both computed here from every byte, independently of the
// datapath's header-only method. An IPv4 UDP datagram without a checksum
// can't be summed that way: passed to the kernel.
func TestTunnelChecksums(t *testing.T) {
	tcp4 := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", payload: []byte("GET / HTTP/1.0\r\n\r\n")}
	udp4 := pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:53", payload: []byte("odd")}
	udp6 := pkt{proto: "udp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", payload: []byte("query")}
	tcp6 := pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:53", flags: "A", payload: []byte("x")}
	for _, tc := range []struct {
		name    string
		in      pkt
		real    string
		tunType uint8
		flags   uint16
		zeroUDP bool
	}{
		{"gue csum ipv4 tcp", tcp4, "10.0.0.11:80", tunGUE, tunFlagCsum, false},
		{"gue csum ipv4 udp odd length", udp4, "10.0.0.11:53", tunGUE, tunFlagCsum, false},
		{"gue remcsum ipv4 tcp", tcp4, "10.0.0.11:80", tunGUE, tunFlagRemCsum, false},
		{"gue csum ipv6 udp", udp6, "[fd00::11]:53", tunGUE, tunFlagCsum, false},
		{"gue csum ipv4 in ipv6", tcp4, "[fd00::11]:80", tunGUE, tunFlagCsum, false},
		{"gre csum ipv4 tcp", tcp4, "10.0.0.11:80", tunGRE, tunFlagCsum, false},
		{"gre csum ipv6 tcp", tcp6, "[fd00::11]:53", tunGRE, tunFlagCsum, false},
		{"gre csum ipv4 udp odd length", udp4, "10.0.0.11:53", tunGRE, tunFlagCsum, false},
		{"gue csum ipv4 udp without checksum", udp4, "10.0.0.11:53", tunGUE, tunFlagCsum, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			vip := tc.in.dst
			s := f.svc(tc.in.proto, vip, "mh", 0)
			f.tunReal(s, tc.real, tc.tunType, 6080, tc.flags)
			in := tc.in.frame()
			if tc.zeroUDP {
				zeroUDPSum(in)
			}
			verdict, out := f.run(in)
			if tc.zeroUDP {
				if verdict != xdpPass || !bytes.Equal(out, in) || f.verdicts()["pass_unsupported"] != 1 {
					t.Fatalf("verdict %d, want untouched XDP_PASS counted pass_unsupported; %v", verdict, f.verdicts())
				}
				return
			}
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			real := netip.MustParseAddrPort(tc.real).Addr()
			innerLen := int(binary.BigEndian.Uint16(in[16:])) // IPv4 total length
			innerProto, innerEth := layers.IPProtocolIPv4, layers.EthernetTypeIPv4
			ttl := in[22]
			if in[14]>>4 == 6 {
				innerLen = 40 + int(binary.BigEndian.Uint16(in[18:]))
				innerProto, innerEth = layers.IPProtocolIPv6, layers.EthernetTypeIPv6
				ttl = in[21]
			}
			inner := in[14 : 14+innerLen]
			var mid []byte
			outerProto := layers.IPProtocolGRE
			if tc.tunType == tunGUE {
				outerProto = layers.IPProtocolUDP
				ol := 14 + 20
				if real.Is6() {
					ol = 14 + 40
				}
				mid = gueHdr(binary.BigEndian.Uint16(out[ol:]), 6080, innerLen, innerProto)
				src := lbAddr(real)
				var sum uint32
				sum = onesSum(sum, src)
				sum = onesSum(sum, real.AsSlice())
				sum = onesSum(sum, []byte{0, 17, byte((12 + innerLen) >> 8), byte(12 + innerLen)})
				sum = onesSum(sum, mid)
				sum = onesSum(sum, inner)
				c := ^uint16(sum)
				if c == 0 {
					c = 0xffff
				}
				binary.BigEndian.PutUint16(mid[6:], c)
			} else {
				mid = []byte{0x80, 0, byte(innerEth >> 8), byte(innerEth), 0, 0, 0, 0}
				c := ^uint16(onesSum(onesSum(0, mid), inner))
				binary.BigEndian.PutUint16(mid[4:], c)
			}
			want := encapped(in, 14, real, outerProto, 0, ttl, mid)
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
			checkOuter(t, out)
		})
	}
}

// The outer source is the route's preferred source towards the real, as
// IPVS takes it: by default the egress interface's primary address, set
// per real, prefix or family with the route's src attribute (ip route ...
// src ADDR).
func TestTunnelOuterSourceFromRoute(t *testing.T) {
	for _, tc := range []struct {
		name, vip, real, client, src string
	}{
		{"ipv4", "10.0.0.100:80", "10.0.0.11:80", "10.1.0.5:40000", "10.0.0.9"},
		{"ipv6", "[fd00::100]:80", "[fd00::11]:80", "[fd01::5]:40000", "fd00::9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			real := netip.MustParseAddrPort(tc.real).Addr()
			src := netip.MustParseAddr(tc.src)
			var err error
			f.ns.do(func() {
				l, lerr := netlink.LinkByIndex(f.ifindex)
				if lerr != nil {
					err = lerr
					return
				}
				a := &netlink.Addr{IPNet: &net.IPNet{IP: src.AsSlice(), Mask: net.CIDRMask(src.BitLen(), src.BitLen())}, Flags: unix.IFA_F_NODAD}
				if err = netlink.AddrAdd(l, a); err != nil {
					return
				}
				err = netlink.RouteReplace(&netlink.Route{LinkIndex: f.ifindex, Scope: netlink.SCOPE_LINK,
					Dst: &net.IPNet{IP: real.AsSlice(), Mask: net.CIDRMask(real.BitLen(), real.BitLen())}, Src: src.AsSlice()})
			})
			if err != nil {
				t.Fatal(err)
			}
			s := f.svc("tcp", tc.vip, "mh", 0)
			f.tunReal(s, tc.real, tunIPIP, 0, 0)
			verdict, out := f.run(pkt{proto: "tcp", src: tc.client, dst: tc.vip, flags: "S"}.frame())
			if verdict != xdpTX {
				t.Fatalf("verdict %d; %v", verdict, f.verdicts())
			}
			got := netip.AddrFrom4([4]byte(out[26:30]))
			if real.Is6() {
				got = netip.AddrFrom16([16]byte(out[22:38]))
			}
			if got != src {
				t.Fatalf("outer source %s, want the route's %s", got, src)
			}
		})
	}
}
