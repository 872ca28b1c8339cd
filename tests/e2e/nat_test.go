package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestNAT drives a balancer in NAT mode (-m) end to end, IPv4 and IPv6:
// the VIP's port 80 is served by reals listening on 8080, their replies
// come back through the balancer, and XDP translates both directions: the
// client talks to VIP:80 only, the reals see the client's own address on a
// connection to their own address and port 8080, and the balancer's kernel
// forwards nothing.
func TestNAT(t *testing.T) {
	requireXvsadm(t)
	eachFamily(t, testNAT)
}

func testNAT(t *testing.T, vip netip.Addr) {
	const realPort = 8080
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 2, Sources: 16, Port: realPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1,r2}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.RouteRepliesViaLB(); err != nil {
		t.Fatal(err)
	}
	svc := hostPort(vip, 80)
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	x.run("-A", "-t", svc, "-s", "mh")
	for _, r := range d.Reals {
		x.run("-a", "-t", svc, "-r", hostPort(r.Addr(vip), realPort), "-m", "-w", "1")
	}
	if status := x.run("status"); strings.Contains(status, "passed to the kernel") {
		t.Fatalf("xvsadm status says the service is passed to the kernel")
	}
	// The client must be known to the balancer for replies (bpf_fib_lookup
	// needs the neighbour): the balancer learns it from ARP/ND as it
	// resolves the reals, or now.
	if err := topo.ResolveNeighbours(ctx, d.LB.NS, topo.Iface, append(append([]netip.Addr{}, d.Sources(vip)...), d.Client.Addr(vip))); err != nil {
		t.Fatal(err)
	}

	v4, v6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	srcs := d.Sources(vip)
	count := map[string]int{}
	var conns connections
	for round := 1; round <= 2; round++ {
		for _, r := range d.Reals {
			r.HTTP.Reset()
		}
		res := topo.Burst(ctx, d.Client.NS, srcs, netip.AddrPortFrom(vip, 80), topo.BurstOptions{})
		var failed []string
		for _, x := range res {
			if x.Err != nil {
				failed = append(failed, fmt.Sprintf("from %s: %v", x.Src, x.Err))
				continue
			}
			count[x.Real]++
		}
		if len(failed) > 0 {
			x.try("-L", "-n", "--stats")
			x.try("status")
			t.Fatalf("round %d: %d of %d requests failed:\n%s", round, len(failed), len(srcs), strings.Join(failed[:min(len(failed), 8)], "\n"))
		}
		seen := 0
		for _, r := range d.Reals {
			for _, h := range r.HTTP.Hits() {
				seen++
				conns.add(t, r.Name, h.Remote)
				if h.Local != netip.AddrPortFrom(r.Addr(vip), realPort) {
					t.Errorf("round %d: %s got a connection to %s, want its own %s", round, r.Name, h.Local, netip.AddrPortFrom(r.Addr(vip), realPort))
				}
				if !isSource(srcs, h.Remote.Addr()) {
					t.Errorf("round %d: %s saw the client as %s, not one of its sources", round, r.Name, h.Remote)
				}
			}
		}
		if seen != len(srcs) {
			t.Errorf("round %d: the reals saw %d connections for %d requests", round, seen, len(srcs))
		}
	}
	t.Logf("NAT: %v over %d requests", count, 2*len(srcs))
	conns.log(t, "rounds 1 and 2")
	w4, w6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	if n := (w4 - v4) + (w6 - v6); n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed NAT traffic (either way) to it", n)
	}

	// iperf3, TCP then UDP: VIP port 5201, reals listening on 5202.
	const iperfPort, iperfRealPort = 5201, 5202
	isvc := hostPort(vip, iperfPort)
	x.run("-A", "-t", isvc, "-s", "mh")
	x.run("-A", "-u", isvc, "-s", "mh")
	for _, r := range d.Reals {
		if err := topo.IperfServer(t, r.NS, netip.Addr{}, iperfRealPort); err != nil {
			t.Fatal(err)
		}
		for _, proto := range []string{"-t", "-u"} {
			x.run("-a", proto, isvc, "-r", hostPort(r.Addr(vip), iperfRealPort), "-m", "-w", "1")
		}
	}
	tcp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), netip.AddrPortFrom(vip, iperfPort), false, "8M")
	if err != nil {
		x.try("-L", "-n", "--stats")
		t.Fatalf("iperf3 TCP through NAT: %v", err)
	}
	udp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), netip.AddrPortFrom(vip, iperfPort), true, "2M")
	if err != nil {
		x.try("-L", "-n", "--stats")
		t.Fatalf("iperf3 UDP through NAT: %v", err)
	}
	t.Logf("iperf3: TCP %d bytes sent; UDP %d bytes, %.1f%% lost", tcp.Sent, udp.Sent, udp.LostPercent)
	if tcp.Sent < 8<<20 || tcp.Received == 0 {
		t.Errorf("iperf3 TCP: %d bytes sent, %d received", tcp.Sent, tcp.Received)
	}
	if udp.LostPercent > 50 { // a broken path loses everything; a loaded machine some
		t.Errorf("iperf3 UDP lost %.1f%% of its datagrams", udp.LostPercent)
	}
	w4, w6, err = d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	if n := (w4 - v4) + (w6 - v6); n != 0 {
		t.Errorf("after iperf3, the balancer's kernel has forwarded %d packets: xvs passed NAT traffic to it", n)
	}

	m, err := parseStats(x.run("-L", "-n", "--stats"))
	if err != nil {
		t.Fatal(err)
	}
	s := m["TCP "+svc]
	if s.conns != uint64(conns.total()) || s.inPkts < 3*s.conns || s.outPkts < 2*s.conns || s.outBytes < 40*s.outPkts {
		t.Errorf("TCP %s: Conns %d InPkts %d OutPkts %d OutBytes %d: want %d connections (one per distinct client address and port), and replies counted", svc, s.conns, s.inPkts, s.outPkts, s.outBytes, conns.total())
	}
	for _, r := range d.Reals {
		rk := "TCP " + svc + " -> " + hostPort(r.Addr(vip), realPort)
		if got, want := m[rk].conns, uint64(conns.counts()[r.Name]); got != want {
			t.Errorf("%s (%s): Conns %d, want %d (one per distinct client address and port it saw)", rk, r.Name, got, want)
		}
	}
}

func isSource(srcs []netip.Addr, a netip.Addr) bool {
	for _, s := range srcs {
		if s == a {
			return true
		}
	}
	return false
}
