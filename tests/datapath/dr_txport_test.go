package datapath

import (
	"bytes"
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/xvs-lb/xvs/bpf"
)

// TestDRTxPorts: a DR real reached through another interface than the
// ingress one is sent there by a devmap redirect only while that
// interface is in xvs_tx_ports (attached); before, the frame passes to
// the kernel untouched, counted as pass_fib.
func TestDRTxPorts(t *testing.T) {
	f := newFixture(t)
	realMAC := net.HardwareAddr{0x02, 0, 0, 0, 0x09, 0x0b}
	var out int
	var err error
	f.ns.do(func() {
		la := netlink.NewLinkAttrs()
		la.Name = "dp2"
		if err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "dp3"}); err != nil {
			return
		}
		var l netlink.Link
		if l, err = netlink.LinkByName("dp2"); err != nil {
			return
		}
		out = l.Attrs().Index
		addr, _ := netlink.ParseAddr("10.9.0.1/24")
		if err = netlink.AddrAdd(l, addr); err != nil {
			return
		}
		for _, n := range []string{"dp2", "dp3"} {
			x, _ := netlink.LinkByName(n)
			if err = netlink.LinkSetUp(x); err != nil {
				return
			}
		}
		err = netlink.NeighSet(&netlink.Neigh{LinkIndex: out, IP: net.ParseIP("10.9.0.11"), HardwareAddr: realMAC, State: netlink.NUD_PERMANENT})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := f.svc("tcp", "10.0.0.100:80", "rr", 0)
	f.real(s, "10.9.0.11:80", bpf.FwdDRoute, 1)
	syn := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}.frame()
	ack := pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A"}.frame()
	expectPass(t, f, syn, "pass_fib")
	expectPass(t, f, ack, "pass_fib")
	f.ns.do(func() { err = f.objs.XvsTxPorts.Put(uint32(out), uint32(out)) })
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{ack, ack} { // the second from the flow cache
		v, o := f.run(in)
		if v != 4 { // XDP_REDIRECT
			t.Fatalf("verdict %d, want XDP_REDIRECT; %v", v, f.verdicts())
		}
		if !bytes.Equal(o[0:6], realMAC) || !bytes.Equal(o[12:], in[12:]) {
			t.Fatalf("frame %x, want %x with the real's MAC", o, in)
		}
	}
}
