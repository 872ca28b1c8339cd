package datapath

import (
	"bytes"
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xvs-lb/xvs/bpf"
)

// The NAT tests' client is on the balancer's segment (10.0.0.50,
// fd00::50), with the peer's MAC: replies are forwarded to it.
var natClientMAC = peerMAC

func (f *fixture) addClientNeigh() {
	f.tb.Helper()
	var err error
	f.ns.do(func() {
		for _, ip := range []string{"10.0.0.50", "fd00::50"} {
			n := &netlink.Neigh{LinkIndex: f.ifindex, IP: net.ParseIP(ip), HardwareAddr: natClientMAC, State: netlink.NUD_PERMANENT}
			if err = netlink.NeighSet(n); err != nil {
				return
			}
		}
	})
	if err != nil {
		f.tb.Fatal(err)
	}
}

// zeroUDPSum clears the UDP checksum of an untagged frame (none computed: allowed on IPv4).
func zeroUDPSum(b []byte) []byte {
	off := 14 + 20 + 6
	b[off], b[off+1] = 0, 0
	return b
}

// hopDown decrements the TTL (fixing the IPv4 header checksum) or hop limit of an untagged frame.
func hopDown(b []byte) []byte {
	if b[14]>>4 == 4 {
		b[22]--
		fixIPv4Checksum(b[14:34])
	} else {
		b[21]--
	}
	return b
}

// TestNAT checks both directions of -m with a real port other than the
// VIP's: the client's packet reaches the real with only the destination
// address and port changed (checksums as gopacket computes them from
// scratch), and the real's reply leaves with the VIP and port as source,
// one hop less, towards the client, from the full path and from the reply
// cache alike.
func TestNAT(t *testing.T) {
	for _, tc := range []struct {
		name      string
		proto     string
		vip, real string
		client    string
		payload   []byte
		zeroSum   bool
	}{
		{"ipv4 tcp", "tcp", "10.0.0.100:80", "10.0.0.11:8080", "10.0.0.50:40000", []byte("GET / HTTP/1.0\r\n\r\n"), false},
		{"ipv4 udp", "udp", "10.0.0.100:53", "10.0.0.11:5353", "10.0.0.50:40000", []byte("query"), false},
		{"ipv4 udp zero checksum", "udp", "10.0.0.100:53", "10.0.0.11:5353", "10.0.0.50:40000", []byte("query"), true},
		{"ipv4 same port", "tcp", "10.0.0.100:80", "10.0.0.12:80", "10.0.0.50:40001", nil, false},
		{"ipv6 tcp", "tcp", "[fd00::100]:443", "[fd00::11]:8443", "[fd00::50]:40000", []byte("hello"), false},
		{"ipv6 udp", "udp", "[fd00::100]:53", "[fd00::11]:5353", "[fd00::50]:40000", []byte("q"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.pinCPU() // both replies meet the same per-CPU cache
			f.addClientNeigh()
			s := f.svc(tc.proto, tc.vip, "mh", 0)
			f.real(s, tc.real, bpf.FwdMasq, 1)
			mk := func(src, dst string) []byte {
				b := pkt{proto: tc.proto, src: src, dst: dst, flags: "A", payload: tc.payload}.frame()
				if tc.zeroSum {
					zeroUDPSum(b)
				}
				return b
			}
			realIP := tc.real[:len(tc.real)-len(":"+portOf(tc.real))]
			realIP = trimBrackets(realIP)

			in := mk(tc.client, tc.vip)
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("client->VIP: verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			want := withMACs(mk(tc.client, tc.real), realMACs[realIP], lbMAC)
			if !bytes.Equal(out, want) {
				t.Fatalf("client->VIP output\n% x\nwant\n% x", out, want)
			}

			// Twice: the first reply fills the reply cache (bpf/natcache.h), the second is answered from it.
			for _, run := range []string{"first", "cached"} {
				reply := mk(tc.real, tc.client)
				verdict, out = f.run(reply)
				if verdict != xdpTX {
					t.Fatalf("real->client (%s): verdict %d, want XDP_TX; %v", run, verdict, f.verdicts())
				}
				want = hopDown(withMACs(mk(tc.vip, tc.client), natClientMAC, lbMAC))
				if !bytes.Equal(out, want) {
					t.Fatalf("real->client (%s) output\n% x\nwant\n% x", run, out, want)
				}
			}
		})
	}
}

func portOf(hp string) string {
	i := bytes.LastIndexByte([]byte(hp), ':')
	return hp[i+1:]
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' {
		return s[1 : len(s)-1]
	}
	return s
}

// Packets from a real that belong to no NAT connection, and replies whose
// TTL would expire, are the kernel's.
func TestNATReplyNotOurs(t *testing.T) {
	f := newFixture(t)
	f.addClientNeigh()
	s := f.svc("tcp", "10.0.0.100:80", "mh", 0)
	f.real(s, "10.0.0.11:8080", bpf.FwdMasq, 1)
	if v, _ := f.run(pkt{proto: "tcp", src: "10.0.0.50:40000", dst: "10.0.0.100:80", flags: "S"}.frame()); v != xdpTX {
		t.Fatalf("client->VIP verdict %d", v)
	}
	ttl1 := pkt{proto: "tcp", src: "10.0.0.11:8080", dst: "10.0.0.50:40000", flags: "SA"}.frame()
	ttl1[22] = 1
	fixIPv4Checksum(ttl1[14:34])
	for _, tc := range []struct {
		name string
		in   []byte
		why  string
	}{
		{"other client port", pkt{proto: "tcp", src: "10.0.0.11:8080", dst: "10.0.0.50:40001", flags: "SA"}.frame(), "pass_no_vip"},
		{"other real port", pkt{proto: "tcp", src: "10.0.0.11:80", dst: "10.0.0.50:40000", flags: "SA"}.frame(), "pass_no_vip"},
		{"udp", pkt{proto: "udp", src: "10.0.0.11:8080", dst: "10.0.0.50:40000"}.frame(), "pass_no_vip"},
		{"ttl 1", ttl1, "pass_fib"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.verdicts()[tc.why]
			verdict, out := f.run(tc.in)
			if verdict != xdpPass || !bytes.Equal(out, tc.in) {
				t.Fatalf("verdict %d, want untouched XDP_PASS", verdict)
			}
			if f.verdicts()[tc.why] != before+1 {
				t.Fatalf("%s not counted: %v", tc.why, f.verdicts())
			}
		})
	}
}
