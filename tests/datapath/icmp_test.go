package datapath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/xvs-lb/xvs/bpf"
)

// icmpErr builds an ICMP (IPv4) or ICMPv6 error from router to dst,
// quoting the first quote bytes of the IP packet in frame (untagged).
func icmpErr(router, dst string, typ, code uint8, mtu uint32, frame []byte, quote int) []byte {
	r, d := netip.MustParseAddr(router), netip.MustParseAddr(dst)
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: lbMAC}
	q := frame[14 : 14+quote]
	var ls []gopacket.SerializableLayer
	if r.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: r.AsSlice(), DstIP: d.AsSlice()}
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Seq: uint16(mtu)}
		ls = []gopacket.SerializableLayer{eth, ip, ic, gopacket.Payload(q)}
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: r.AsSlice(), DstIP: d.AsSlice()}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
		ic.SetNetworkLayerForChecksum(ip)
		ls = []gopacket.SerializableLayer{eth, ip, ic, gopacket.Payload(append(binary.BigEndian.AppendUint32(nil, mtu), q...))}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// ICMP errors about a packet a real sent from the VIP to a client go to
// that real, the frame unchanged but for its MACs (direct routing) or
// encapsulated (tunnel), as IPVS forwards them; others are the kernel's.
// (NAT flows: TestICMPErrorsNAT.)
func TestICMPErrorsToReal(t *testing.T) {
	client4, client6 := "10.1.0.5:40000", "[fd01::5]:40000"
	for _, tc := range []struct {
		name       string
		vip, real  string
		fwd        uint8
		client     string
		router     string
		typ, code  uint8
		about      string // the quoted packet's destination (the client's address and port)
		quote      int
		wantTX     bool
		wantReason string // when passed
	}{
		{"ipv4 frag needed, dr", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdDRoute, client4, "10.0.0.254", 3, 4, client4, 28, true, ""},
		{"ipv4 port unreachable, dr", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdDRoute, client4, "10.0.0.254", 3, 3, client4, 28, true, ""},
		{"ipv4 time exceeded, dr", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdDRoute, client4, "10.0.0.254", 11, 0, client4, 28, true, ""},
		{"ipv4 frag needed, ipip", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdTunnel, client4, "10.0.0.254", 3, 4, client4, 28, true, ""},
		{"ipv6 packet too big, dr", "[fd00::100]:80", "[fd00::11]:80", bpf.FwdDRoute, client6, "fd00::fe", 2, 0, client6, 48, true, ""},
		{"ipv6 packet too big, ip6ip6", "[fd00::100]:80", "[fd00::11]:80", bpf.FwdTunnel, client6, "fd00::fe", 2, 0, client6, 48, true, ""},
		{"ipv4 about another flow", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdDRoute, client4, "10.0.0.254", 3, 4, "10.1.0.5:40001", 28, false, "pass_protocol"},
		{"ipv4 echo request", "10.0.0.100:80", "10.0.0.11:80", bpf.FwdDRoute, client4, "10.0.0.254", 8, 0, client4, 28, false, "pass_protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClientNeigh()
			s := f.svc("tcp", tc.vip, "mh", 0)
			if tc.fwd == bpf.FwdTunnel {
				f.tunReal(s, tc.real, tunIPIP, 0, 0)
			} else {
				f.real(s, tc.real, tc.fwd, 1)
			}
			if v, _ := f.run(pkt{proto: "tcp", src: tc.client, dst: tc.vip, flags: "S"}.frame()); v != xdpTX {
				t.Fatalf("client's SYN: verdict %d; %v", v, f.verdicts())
			}
			// The real's SYN-ACK, from the VIP, that the error is about.
			reply := pkt{proto: "tcp", src: tc.vip, dst: tc.about, flags: "SA"}.frame()
			vip := netip.MustParseAddrPort(tc.vip).Addr()
			in := icmpErr(tc.router, vip.String(), tc.typ, tc.code, 1400, reply, tc.quote)
			before := f.verdicts()
			verdict, out := f.run(in)
			if !tc.wantTX {
				if verdict != xdpPass || !bytes.Equal(out, in) {
					t.Fatalf("verdict %d, want the frame passed untouched", verdict)
				}
				if f.verdicts()[tc.wantReason] != before[tc.wantReason]+1 {
					t.Fatalf("%s not counted: %v", tc.wantReason, f.verdicts())
				}
				return
			}
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			real := netip.MustParseAddrPort(tc.real).Addr()
			want := withMACs(in, realMACs[real.String()], lbMAC)
			if tc.fwd == bpf.FwdTunnel {
				proto, ttl := layers.IPProtocolIPv4, in[22]
				if real.Is6() {
					proto, ttl = layers.IPProtocolIPv6, in[21]
				}
				want = encapped(in, 14, real, proto, 0, ttl, nil)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("output\n% x\nwant\n% x", out, want)
			}
		})
	}
}
