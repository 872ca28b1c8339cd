package datapath

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/xvs-lb/xvs/bpf"
)

// FuzzXDP runs arbitrary frames through the program: the verdict is always
// XDP_PASS with the frame untouched, or XDP_TX with only the MACs changed.
func FuzzXDP(f *testing.F) {
	fx := newFixture(f)
	for _, vip := range []string{"10.0.0.100:80", "[fd00::100]:80"} {
		s := fx.svc("tcp", vip, "mh", 0)
		r := "10.0.0.11:80"
		if vip[0] == '[' {
			r = "[fd00::11]:80"
		}
		fx.real(s, r, bpf.FwdDRoute, 1)
	}
	for _, p := range []pkt{
		{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"},
		{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", vlan: 3},
		{proto: "tcp", src: "[fd01::5]:40000", dst: "[fd00::100]:80", flags: "S", ext6: []layers.IPProtocol{0, 43}},
		{proto: "udp", src: "10.1.0.5:40000", dst: "10.0.0.100:80"},
	} {
		f.Add(p.frame())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 14 || len(in) > 1500 {
			return // BPF_PROG_TEST_RUN's own limits
		}
		fx.tb = t
		verdict, out := fx.run(in)
		switch verdict {
		case xdpPass:
			if !bytes.Equal(out, in) {
				t.Fatalf("XDP_PASS changed the frame")
			}
		case xdpTX:
			if len(out) != len(in) || !bytes.Equal(out[12:], in[12:]) {
				t.Fatalf("XDP_TX changed more than the MACs")
			}
		default:
			t.Fatalf("verdict %d", verdict)
		}
	})
}
