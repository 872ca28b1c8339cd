package datapath

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/xvs-lb/xvs/bpf"
)

// ICMP errors about NAT flows are translated as ip_vs_nat_icmp does. One
// about a reply the client got from VIP:80 goes to the real with the
// outer destination and the quoted source rewritten to real:8080; one the
// real sends about the client's packet to real:8080 goes to the client
// from the VIP, quoting VIP:80, one hop less. The expected frames are
// built from scratch (gopacket computes every checksum: the outer IPv4
// header's, the quoted IPv4 header's and the ICMP one, over the ICMPv6
// pseudo-header too), so the incremental updates must come out exact.
// Errors about no known flow are the kernel's.
func TestICMPErrorsNAT(t *testing.T) {
	for _, tc := range []struct {
		name           string
		vip, real      string
		client, router string
		typ, code      uint8
		quote          int
	}{
		{"ipv4 frag needed", "10.0.0.100:80", "10.0.0.11:8080", "10.0.0.50:40000", "10.0.0.254", 3, 4, 28},
		{"ipv4 time exceeded", "10.0.0.100:80", "10.0.0.11:8080", "10.0.0.50:40000", "10.0.0.254", 11, 0, 28},
		{"ipv4 same port", "10.0.0.100:80", "10.0.0.12:80", "10.0.0.50:40001", "10.0.0.254", 3, 4, 28},
		{"ipv6 packet too big", "[fd00::100]:443", "[fd00::11]:8443", "[fd00::50]:40000", "fd00::fe", 2, 0, 48},
		{"ipv6 unreachable", "[fd00::100]:443", "[fd00::11]:8443", "[fd00::50]:40000", "fd00::fe", 1, 4, 48},
	} {
		vip, real, client := netip.MustParseAddrPort(tc.vip), netip.MustParseAddrPort(tc.real), netip.MustParseAddrPort(tc.client)
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClientNeigh()
			s := f.svc("tcp", tc.vip, "mh", 0)
			f.real(s, tc.real, bpf.FwdMasq, 1)
			if v, _ := f.run(pkt{proto: "tcp", src: tc.client, dst: tc.vip, flags: "S"}.frame()); v != xdpTX {
				t.Fatalf("client's SYN: verdict %d; %v", v, f.verdicts())
			}
			// About the SYN-ACK the client got from the VIP.
			got := pkt{proto: "tcp", src: tc.vip, dst: tc.client, flags: "SA"}.frame()
			sent := pkt{proto: "tcp", src: tc.real, dst: tc.client, flags: "SA"}.frame()
			in := icmpErr(tc.router, vip.Addr().String(), tc.typ, tc.code, 1400, got, tc.quote)
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			want := withMACs(icmpErr(tc.router, real.Addr().String(), tc.typ, tc.code, 1400, sent, tc.quote), realMACs[real.Addr().String()], lbMAC)
			if !bytes.Equal(out, want) {
				t.Fatalf("to the real: output\n% x\nwant\n% x", out, want)
			}

			// The real's error about the client's packet to it, sent
			// to the client through the balancer.
			got = pkt{proto: "tcp", src: tc.client, dst: tc.real, flags: "A"}.frame()
			sent = pkt{proto: "tcp", src: tc.client, dst: tc.vip, flags: "A"}.frame()
			in = icmpErr(real.Addr().String(), client.Addr().String(), tc.typ, tc.code, 1400, got, tc.quote)
			verdict, out = f.run(in)
			if verdict != xdpTX {
				t.Fatalf("from the real: verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			want = hopDown(withMACs(icmpErr(vip.Addr().String(), client.Addr().String(), tc.typ, tc.code, 1400, sent, tc.quote), natClientMAC, lbMAC))
			if !bytes.Equal(out, want) {
				t.Fatalf("from the real: output\n% x\nwant\n% x", out, want)
			}

			// About no known flow: the kernel's.
			other := netip.AddrPortFrom(client.Addr(), client.Port()+1).String()
			for _, in := range [][]byte{
				icmpErr(tc.router, vip.Addr().String(), tc.typ, tc.code, 1400, pkt{proto: "tcp", src: tc.vip, dst: other, flags: "SA"}.frame(), tc.quote),
				icmpErr(real.Addr().String(), client.Addr().String(), tc.typ, tc.code, 1400, pkt{proto: "tcp", src: other, dst: tc.real, flags: "A"}.frame(), tc.quote),
			} {
				before := f.verdicts()
				if verdict, out := f.run(in); verdict != xdpPass || !bytes.Equal(out, in) {
					t.Fatalf("verdict %d, want the frame passed untouched", verdict)
				}
				if f.verdicts()["pass_protocol"] != before["pass_protocol"]+1 {
					t.Fatalf("pass_protocol not counted: %v", f.verdicts())
				}
			}
		})
	}
}
