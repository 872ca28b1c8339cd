package datapath

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// inNS runs fn in the fixture's namespace and fails the test on its error.
func (f *fixture) inNS(fn func() error) {
	f.tb.Helper()
	var err error
	f.ns.do(func() { err = fn() })
	if err != nil {
		f.tb.Fatal(err)
	}
}

// natReply is a real's reply (TCP ACK with payload) from real to client.
func natReply(real, client string, size int) []byte {
	return pkt{proto: "tcp", src: real, dst: client, flags: "A", payload: make([]byte, size)}.frame()
}

// natReplyOut is what xvs sends for natReply: from vip, one hop less, with MACs dmac and the balancer's.
func natReplyOut(vip, client string, size int, dmac net.HardwareAddr) []byte {
	return hopDown(withMACs(natReply(vip, client, size), dmac, lbMAC))
}

// TestNATReplyCache checks that the per-CPU cache of NAT replies
// (bpf/natcache.h) never answers what the full path would not: each row
// makes a flow, has its reply cached, changes something, and checks the
// next replies. The runs stay on one CPU, so the reply after the change
// meets the cached slot.
func TestNATReplyCache(t *testing.T) {
	const client = "10.0.0.50:40000"
	newMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	for _, tc := range []struct {
		name string
		// client is the flow's client (default 10.0.0.50:40000, on link).
		client string
		// change happens after the reply is cached; check then looks at the next replies.
		change func(t *testing.T, f *fixture, s []*maps.Service)
		check  func(t *testing.T, f *fixture)
	}{
		{
			name: "real removed: its replies are no longer translated",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				f.delReal(s[0], "10.0.0.11:8080")
			},
			check: func(t *testing.T, f *fixture) {
				expectPass(t, f, natReply("10.0.0.11:8080", client, 64), "pass_no_vip")
			},
		},
		{
			name: "real removed and its slot reused by another real",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				f.delReal(s[0], "10.0.0.11:8080")
				f.real(s[0], "10.0.0.13:8080", bpf.FwdMasq, 1)
			},
			check: func(t *testing.T, f *fixture) {
				expectPass(t, f, natReply("10.0.0.11:8080", client, 64), "pass_no_vip")
			},
		},
		{
			name: "the client's port reused towards another VIP of the same real: its reverse entry is rewritten",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				if v, _ := f.run(pkt{proto: "tcp", src: client, dst: "10.0.0.101:80", flags: "S"}.frame()); v != xdpTX {
					t.Fatalf("client->second VIP: verdict %d; %v", v, f.verdicts())
				}
			},
			check: func(t *testing.T, f *fixture) {
				expectTX(t, f, natReply("10.0.0.11:8080", client, 64), natReplyOut("10.0.0.101:80", client, 64, natClientMAC))
			},
		},
		{
			name: "neighbour change: seen once the slot's TTL has passed",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				f.inNS(func() error {
					return netlink.NeighSet(&netlink.Neigh{LinkIndex: f.ifindex, IP: net.ParseIP("10.0.0.50"), HardwareAddr: newMAC, State: netlink.NUD_PERMANENT})
				})
			},
			check: func(t *testing.T, f *fixture) {
				in := natReply("10.0.0.11:8080", client, 64)
				// Within the TTL the cached MAC serves (the cache is in use)...
				expectTX(t, f, in, natReplyOut("10.0.0.100:80", client, 64, natClientMAC))
				// ...and the new one once it has passed (XVS_NH_TTL, 256 jiffies: 0.26-2.6 s).
				waitTX(t, f, in, natReplyOut("10.0.0.100:80", client, 64, newMAC))
			},
		},
		{
			name:   "route change: seen once the slot's TTL has passed",
			client: "10.9.0.50:40000", // routed via 10.0.0.11, then via 10.0.0.12
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				f.inNS(func() error { return routeVia(f.ifindex, "10.9.0.0/24", "10.0.0.12", true) })
			},
			check: func(t *testing.T, f *fixture) {
				in := natReply("10.0.0.11:8080", "10.9.0.50:40000", 64)
				expectTX(t, f, in, natReplyOut("10.0.0.100:80", "10.9.0.50:40000", 64, realMACs["10.0.0.11"]))
				waitTX(t, f, in, natReplyOut("10.0.0.100:80", "10.9.0.50:40000", 64, realMACs["10.0.0.12"]))
			},
		},
		{
			name: "a reply longer than the cached one is checked against the MTU",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {
				f.inNS(func() error { // forwarding uses the device's MTU (a route's only when locked)
					l, err := netlink.LinkByIndex(f.ifindex)
					if err != nil {
						return err
					}
					return netlink.LinkSetMTU(l, 1000)
				})
			},
			check: func(t *testing.T, f *fixture) {
				expectPass(t, f, natReply("10.0.0.11:8080", client, 1000), "pass_fib")
				// Up to the length seen: still answered (an MTU change is seen after the TTL).
				expectTX(t, f, natReply("10.0.0.11:8080", client, 64), natReplyOut("10.0.0.100:80", client, 64, natClientMAC))
			},
		},
		{
			name:   "a longer reply within the MTU: translated",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {},
			check: func(t *testing.T, f *fixture) {
				expectTX(t, f, natReply("10.0.0.11:8080", client, 1200), natReplyOut("10.0.0.100:80", client, 1200, natClientMAC))
			},
		},
		{
			name:   "TTL 1 after a cached reply: the kernel's",
			change: func(t *testing.T, f *fixture, s []*maps.Service) {},
			check: func(t *testing.T, f *fixture) {
				in := natReply("10.0.0.11:8080", client, 64)
				in[22] = 1
				fixIPv4Checksum(in[14:34])
				expectPass(t, f, in, "pass_fib")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.pinCPU() // sched_test.go: every run on CPU 0, so every run meets the same per-CPU cache
			f.addClientNeigh()
			f.inNS(func() error { return routeVia(f.ifindex, "10.9.0.0/24", "10.0.0.11", false) })
			// Two services with the same NAT real, and a third NAT real elsewhere:
			// removing the first real leaves NAT reals configured (the reply lookup stays on).
			s := []*maps.Service{f.svc("tcp", "10.0.0.100:80", "mh", 0), f.svc("tcp", "10.0.0.101:80", "mh", 0), f.svc("tcp", "10.0.0.102:80", "mh", 0)}
			f.real(s[0], "10.0.0.11:8080", bpf.FwdMasq, 1)
			f.real(s[1], "10.0.0.11:8080", bpf.FwdMasq, 1)
			f.real(s[2], "10.0.0.12:8080", bpf.FwdMasq, 1)
			cl := client
			if tc.client != "" {
				cl = tc.client
			}
			if v, _ := f.run(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "S"}.frame()); v != xdpTX {
				t.Fatalf("client->VIP: verdict %d; %v", v, f.verdicts())
			}
			dmac := natClientMAC
			if tc.client != "" {
				dmac = realMACs["10.0.0.11"]
			}
			in := natReply("10.0.0.11:8080", cl, 64)
			for range 2 { // the first fills the slot, the second is answered from it
				expectTX(t, f, in, natReplyOut("10.0.0.100:80", cl, 64, dmac))
			}
			tc.change(t, f, s)
			tc.check(t, f)
		})
	}
}

// routeVia adds (or replaces) a route to dst through gateway gw (none: on link).
func routeVia(ifindex int, dst, gw string, replace bool) error {
	_, n, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: ifindex, Dst: n}
	if gw != "" {
		r.Gw = net.ParseIP(gw)
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if replace {
		return netlink.RouteReplace(r)
	}
	return netlink.RouteAdd(r)
}

// expectTX runs in and wants XDP_TX with output want.
func expectTX(t *testing.T, f *fixture, in, want []byte) {
	t.Helper()
	v, out := f.run(in)
	if v != xdpTX || !bytes.Equal(out, want) {
		t.Fatalf("verdict %d, want XDP_TX; %v\n% x\nwant\n% x", v, f.verdicts(), out, want)
	}
}

// expectPass runs in and wants it passed untouched, counted as why.
func expectPass(t *testing.T, f *fixture, in []byte, why string) {
	t.Helper()
	before := f.verdicts()[why]
	v, out := f.run(in)
	if v != xdpPass || !bytes.Equal(out, in) {
		t.Fatalf("verdict %d, want untouched XDP_PASS; %v", v, f.verdicts())
	}
	if f.verdicts()[why] != before+1 {
		t.Fatalf("%s not counted: %v", why, f.verdicts())
	}
}

// waitTX runs in until the output is want (XDP_TX), for at most 5 s.
func waitTX(t *testing.T, f *fixture, in, want []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, out := f.run(in)
		if v == xdpTX && bytes.Equal(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still verdict %d after 5 s; %v\n% x\nwant\n% x", v, f.verdicts(), out, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
