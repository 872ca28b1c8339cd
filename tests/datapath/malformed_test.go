package datapath

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-lb/xvs/bpf"
)

// The decided verdict for anything not a well-formed, unfragmented TCP/UDP
// packet is XDP_PASS with the frame untouched: the kernel judges it.

func malformedFixture(t *testing.T) *fixture {
	f := newFixture(t)
	for _, vip := range []string{"10.0.0.100:80", "[fd00::100]:80"} {
		s := f.svc("tcp", vip, "mh", 0)
		r := "10.0.0.11:80"
		if vip[0] == '[' {
			r = "[fd00::11]:80"
		}
		f.real(s, r, bpf.FwdDRoute, 1)
	}
	u := f.svc("udp", "10.0.0.100:53", "mh", 0)
	f.real(u, "10.0.0.11:53", bpf.FwdDRoute, 1)
	return f
}

func (f *fixture) wantPass(name string, in []byte, counter string) {
	f.tb.Helper()
	before := f.verdicts()[counter]
	verdict, out := f.run(in)
	if verdict != xdpPass || !bytes.Equal(out, in) {
		f.tb.Errorf("%s: verdict %d changed=%v, want untouched XDP_PASS", name, verdict, !bytes.Equal(out, in))
		return
	}
	if counter != "" && f.verdicts()[counter] != before+1 {
		f.tb.Errorf("%s: counter %s not bumped", name, counter)
	}
}

// Every frame cut short inside its headers is passed (counted as malformed
// once the Ethernet header is whole and names IP).
func TestTruncatedAtEveryBoundary(t *testing.T) {
	f := malformedFixture(t)
	for _, tc := range []struct {
		name string
		p    pkt
		hdrs int // bytes of headers before the payload
	}{
		{"ipv4 tcp", pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}, 14 + 20 + 20},
		{"ipv4 udp", pkt{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:53"}, 14 + 20 + 8},
		{"ipv6 tcp", pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S"}, 14 + 40 + 20},
		{"vlan ipv4 tcp", pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S", vlan: 7}, 18 + 20 + 20},
		{"ipv6 ext tcp", pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S",
			ext6: []layers.IPProtocol{layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination}}, 14 + 40 + 16 + 20},
	} {
		full := tc.p.frame()
		if len(full) < tc.hdrs { // gopacket pads short frames to 60 bytes
			t.Fatalf("%s: frame is %d bytes, want at least %d", tc.name, len(full), tc.hdrs)
		}
		for n := 14; n < tc.hdrs; n++ { // BPF_PROG_TEST_RUN refuses frames under 14 bytes
			f.wantPass(tc.name+" cut at "+strconv.Itoa(n), full[:n], "pass_malformed")
		}
		// The whole frame is balanced: the cut ones failed for being cut.
		if verdict, _ := f.run(full); verdict != xdpTX {
			t.Fatalf("%s: whole frame verdict %d, want XDP_TX", tc.name, verdict)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	f := malformedFixture(t)
	tcp4 := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	mod := func(b []byte, edit func([]byte)) []byte {
		c := append([]byte(nil), b...)
		edit(c)
		return c
	}
	for _, tc := range []struct {
		name, counter string
		in            []byte
	}{
		{"ihl 4", "pass_malformed", mod(tcp4, func(b []byte) { b[14] = 0x44 })},
		{"ihl 0", "pass_malformed", mod(tcp4, func(b []byte) { b[14] = 0x40 })},
		{"ihl 15 beyond frame", "pass_malformed", mod(tcp4, func(b []byte) { b[14] = 0x4f })},
		{"ip version 6 in ipv4 ethertype", "pass_malformed", mod(tcp4, func(b []byte) { b[14] = 0x65 })},
		{"total length below header", "pass_malformed", mod(tcp4, func(b []byte) { b[16], b[17] = 0, 19 })},
		{"tcp data offset 4", "pass_malformed", mod(tcp4, func(b []byte) { b[46] = 0x40 })},
		{"ipv4 more fragments", "pass_fragment", mod(tcp4, func(b []byte) { b[20] = 0x20 })},
		{"ipv4 fragment offset", "pass_fragment", mod(tcp4, func(b []byte) { b[20], b[21] = 0x00, 0x10 })},
		{"ipv4 icmp", "pass_protocol", mod(tcp4, func(b []byte) { b[23] = 1 })},
		{"ipv4 sctp", "pass_protocol", mod(tcp4, func(b []byte) { b[23] = 132 })},
		{"arp", "pass_not_ip", mod(tcp4, func(b []byte) { b[12], b[13] = 0x08, 0x06 })},
		{"double vlan tag", "pass_not_ip", []byte{
			0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, // dst, src MAC
			0x88, 0xa8, 0x00, 0x05, // 802.1ad outer tag, VLAN 5
			0x81, 0x00, 0x00, 0x07, // 802.1Q inner tag, VLAN 7
			0x08, 0x00, // IPv4
			0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 5, 10, 0, 0, 100, // IPv4 header
			0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, // TCP SYN
		}},
		{"ipv6 fragment header", "pass_fragment", pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S",
			ext6: []layers.IPProtocol{layers.IPProtocolIPv6Fragment}}.frame()},
		{"ipv6 too many extension headers", "pass_protocol", pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S",
			ext6: []layers.IPProtocol{0, 60, 60, 60, 60}}.frame()},
		{"ipv6 version 4", "pass_malformed", mod(pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S"}.frame(), func(b []byte) { b[14] = 0x40 })},
		{"ipv6 esp", "pass_protocol", mod(pkt{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S"}.frame(), func(b []byte) { b[20] = 50 })},
	} {
		f.wantPass(tc.name, tc.in, tc.counter)
	}
}
