package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// port0Count returns xvs_cfg.port0_svcs, the count that gates the port-0 lookup.
func (f *fixture) port0Count() uint32 {
	f.tb.Helper()
	var c bpf.Cfg
	if err := f.objs.XvsConfig.Lookup(uint32(0), &c); err != nil {
		f.tb.Fatal(err)
	}
	return c.Port0Svcs
}

// TestPort0Service: a persistent TCP service of port 0 (rr, two DR reals)
// takes every port of its VIP that no service of its own has; a client
// keeps its real across ports (its template has port 0), where rr alone
// alternates between clients; an exact-port service takes its port; other
// VIPs and protocols pass untouched.
func TestPort0Service(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	if n := f.port0Count(); n != 0 {
		t.Fatalf("port0_svcs = %d with no service", n)
	}
	s := f.persistSvc("tcp", "10.0.0.100:0", "rr", 300, 0xffffffff)
	f.real(s, "10.0.0.11:0", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:0", bpf.FwdDRoute, 1)
	exact := f.svc("tcp", "10.0.0.100:25", "rr", 0)
	f.real(exact, "10.0.0.13:25", bpf.FwdDRoute, 1)
	if n := f.port0Count(); n != 1 {
		t.Fatalf("port0_svcs = %d, want 1", n)
	}

	// Each client opens connections to several ports: all go to one real.
	clients := map[string]string{}
	for i, c := range []string{"10.1.0.5", "10.1.0.6", "10.1.0.7", "10.1.0.5"} {
		for j, port := range []int{80, 443, 8080, 22, 65535} {
			p := pkt{proto: "tcp", src: fmt.Sprintf("%s:%d", c, 1000+10*i+j), dst: fmt.Sprintf("10.0.0.100:%d", port), flags: "S"}
			in := p.frame()
			verdict, out := f.run(in)
			if verdict != xdpTX {
				t.Fatalf("%s -> port %d: verdict %d, want XDP_TX (%v)", c, port, verdict, f.verdicts())
			}
			got := f.pick(pkt{proto: "tcp", src: p.src, dst: p.dst, flags: "A"})
			if want, ok := clients[c]; ok && got != want {
				t.Fatalf("%s -> port %d: real %s, want %s as on its first connection", c, port, got, want)
			}
			clients[c] = got
			if !bytes.Equal(out, withMACs(in, realMACs[got], lbMAC)) {
				t.Fatalf("%s -> port %d: output is not the frame sent to %s unchanged (direct routing)", c, port, got)
			}
		}
	}
	if clients["10.1.0.5"] == clients["10.1.0.6"] || clients["10.1.0.6"] == clients["10.1.0.7"] {
		t.Fatalf("clients' reals %v: rr should alternate between clients", clients)
	}

	// The templates: one per client, port 0 on both sides, as IPVS lists them.
	conns, err := f.store.Conns()
	if err != nil {
		t.Fatal(err)
	}
	tmpls, byPort := 0, 0
	for _, c := range conns {
		switch {
		case c.Client.Port() == 0:
			tmpls++
			if c.Virtual.Port() != 0 || c.Dest.Port() != 0 || c.State != "NONE" || c.Dest.Addr().String() != clients[c.Client.Addr().String()] {
				t.Errorf("template %+v: want %s:0 -> 10.0.0.100:0 -> %s:0 NONE", c, c.Client.Addr(), clients[c.Client.Addr().String()])
			}
		default:
			byPort++
			if c.Dest.Port() != c.Virtual.Port() { // the connection keeps the packet's port (the real's is 0)
				t.Errorf("connection %+v: the real's port should be the virtual port", c)
			}
		}
	}
	if tmpls != 3 || byPort != 20 {
		t.Fatalf("%d templates and %d connections listed, want 3 and 20: %+v", tmpls, byPort, conns)
	}
	cfg, err := f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	persist := uint32(0)
	for _, d := range cfg.Service(s).Dests {
		persist += d.PersistConns
	}
	if persist != 3 {
		t.Fatalf("PersistConn sums to %d, want 3 templates", persist)
	}

	// The exact port is its own service's; other VIPs and protocols are not ours.
	if got := f.pick(pkt{proto: "tcp", src: "10.1.0.5:2000", dst: "10.0.0.100:25", flags: "S"}); got != "10.0.0.13" {
		t.Fatalf("port 25: real %q, want 10.0.0.13 of the exact-port service", got)
	}
	for _, p := range []pkt{
		{proto: "udp", src: "10.1.0.5:2001", dst: "10.0.0.100:53", payload: []byte("q")},
		{proto: "tcp", src: "10.1.0.5:2002", dst: "10.0.0.101:80", flags: "S"},
		{proto: "tcp", src: "[fd01::5]:2003", dst: "[fd00::100]:80", flags: "S"},
	} {
		before := f.verdicts()["pass_no_vip"]
		in := p.frame()
		if verdict, out := f.run(in); verdict != xdpPass || !bytes.Equal(out, in) {
			t.Fatalf("%s %s: verdict %d, want untouched XDP_PASS", p.proto, p.dst, verdict)
		}
		if f.verdicts()["pass_no_vip"] != before+1 {
			t.Fatalf("%s %s: pass_no_vip not counted", p.proto, p.dst)
		}
	}

	// Removing the service clears the count: packets of other ports are no longer looked up twice.
	if err := f.cfg.DelService(s); err != nil {
		t.Fatal(err)
	}
	f.commit()
	if n := f.port0Count(); n != 0 {
		t.Fatalf("port0_svcs = %d after the service went", n)
	}
	if verdict, _ := f.run(pkt{proto: "tcp", src: "10.1.0.9:3000", dst: "10.0.0.100:80", flags: "S"}.frame()); verdict != xdpPass {
		t.Fatalf("port 80 after the port-0 service went: verdict %d, want XDP_PASS", verdict)
	}
}

// TestPort0NAT: -m to reals of a port-0 service keeps the packet's
// destination port, the real's port 0 or not (ip_vs_sched_persist), in both
// directions, IPv4 and IPv6.
func TestPort0NAT(t *testing.T) {
	for _, tc := range []struct {
		name, vip, real, client string
		port                    int
	}{
		{"ipv4 real port 0", "10.0.0.100:0", "10.0.0.11:0", "10.0.0.50", 8080},
		{"ipv4 real with a port", "10.0.0.100:0", "10.0.0.11:9999", "10.0.0.50", 443},
		{"ipv6", "[fd00::100]:0", "[fd00::11]:0", "fd00::50", 8443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClientNeigh()
			mask := uint32(0xffffffff)
			if netip.MustParseAddrPort(tc.vip).Addr().Is6() {
				mask = 128
			}
			s := f.persistSvc("tcp", tc.vip, "wlc", 300, mask)
			f.real(s, tc.real, bpf.FwdMasq, 1)
			vip := netip.MustParseAddrPort(tc.vip).Addr()
			realAP := netip.MustParseAddrPort(tc.real)
			client := netip.AddrPortFrom(netip.MustParseAddr(tc.client), 40000).String()
			at := netip.AddrPortFrom(vip, uint16(tc.port)).String()
			toReal := netip.AddrPortFrom(realAP.Addr(), uint16(tc.port)).String()
			mk := func(src, dst string) []byte {
				return pkt{proto: "tcp", src: src, dst: dst, flags: "A", payload: []byte("hello")}.frame()
			}
			verdict, out := f.run(mk(client, at))
			if verdict != xdpTX {
				t.Fatalf("client->VIP: verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			if want := withMACs(mk(client, toReal), realMACs[realAP.Addr().String()], lbMAC); !bytes.Equal(out, want) {
				t.Fatalf("client->VIP output\n% x\nwant (to %s)\n% x", out, toReal, want)
			}
			verdict, out = f.run(mk(toReal, client))
			if verdict != xdpTX {
				t.Fatalf("real->client: verdict %d, want XDP_TX; %v", verdict, f.verdicts())
			}
			if want := hopDown(withMACs(mk(at, client), natClientMAC, lbMAC)); !bytes.Equal(out, want) {
				t.Fatalf("real->client output\n% x\nwant (from %s)\n% x", out, at, want)
			}
			conns, err := f.store.Conns()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range conns {
				want := toReal
				if c.Client.Port() == 0 {
					want = netip.AddrPortFrom(realAP.Addr(), 0).String()
				}
				if c.Dest.String() != want {
					t.Errorf("-L -c entry %+v: real %s, want %s", c, c.Dest, want)
				}
			}
		})
	}
}

// TestPort0TemplateExpires: a client's port-0 template lives for the -p
// timeout while it controls connections, then goes with them; the next
// connection, on any port, is scheduled afresh.
func TestPort0TemplateExpires(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	f.cfg.Timeouts = maps.Timeouts{TCP: 900, TCPFin: 120, UDP: 1}
	f.commit()
	s := f.persistSvc("udp", "10.0.0.100:0", "rr", 1, 0xffffffff)
	f.real(s, "10.0.0.11:0", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:0", bpf.FwdDRoute, 1)
	q := func(sport, dport int) string {
		return f.pick(pkt{proto: "udp", src: fmt.Sprintf("10.1.0.5:%d", sport), dst: fmt.Sprintf("10.0.0.100:%d", dport), payload: []byte("q")})
	}
	first := q(1000, 53)
	if got := q(1001, 123); got != first || first == "" {
		t.Fatalf("ports 53 and 123 went to %q and %q, want one real", first, got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !func() bool {
		n := 0
		var k bpf.ConnKey
		var v bpf.Conn
		for it := f.objs.XvsConns.Iterate(); it.Next(&k, &v); {
			n++
		}
		return n == 0
	}() {
		if time.Now().After(deadline) {
			t.Fatal("the connections and the template did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := q(1002, 53); got == first {
		t.Fatalf("after the template expired: %s again, want rr's next real", got)
	}
}

// BenchmarkNonVIPPort0 measures a packet for no VIP without and with a
// port-0 service configured (on another VIP): with one, the packet is
// looked up a second time, with port 0 (xvs_cfg.port0_svcs gates it).
func BenchmarkNonVIPPort0(b *testing.B) {
	e := newBenchEnv(b)
	nonVIP := benchCase{"non-vip", e.objs.XvsXdp, benchNonVIP.frame(), xdpPass}
	without := measure(b, e.ns, e.ifindex, nonVIP, 5, 200000)
	s := e.persistSvc("tcp", "10.0.0.150:0", "rr", 300, 0xffffffff)
	e.real(s, "10.0.0.11:0", bpf.FwdDRoute, 1)
	with := measure(b, e.ns, e.ifindex, nonVIP, 5, 200000)
	b.ReportMetric(without, "no-port0-ns/pkt")
	b.ReportMetric(with, "port0-ns/pkt")
}
