package e2e_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestDirectRoutingIperf runs iperf3, TCP then UDP, through a balancer in
// direct-routing mode (-g), IPv4 and IPv6: the transfers must complete,
// every byte from the client must have gone through xvs (its counters),
// and the balancer's kernel must forward nothing.
func TestDirectRoutingIperf(t *testing.T) {
	requireXvsadm(t)
	eachFamily(t, testDirectRoutingIperf)
}

func testDirectRoutingIperf(t *testing.T, vip netip.Addr) {
	const (
		port     = 5201
		tcpBytes = 8 << 20
		udpBytes = 2 << 20
		udpLen   = 1200 // topo.Iperf's datagram size
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 2, Sources: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1,r2}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	svc := hostPort(vip, port)
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	// iperf3's control connection (TCP) and its data (TCP or UDP) must
	// reach the same real: mh hashes the source address only, and both
	// services list the same reals in the same order.
	x.run("-A", "-t", svc, "-s", "mh")
	x.run("-A", "-u", svc, "-s", "mh")
	for _, r := range d.Reals {
		// Bound to the VIP: a UDP server bound to any address would
		// answer from the real's own address.
		if err := topo.IperfServer(t, r.NS, vip, port); err != nil {
			t.Fatal(err)
		}
		for _, proto := range []string{"-t", "-u"} {
			x.run("-a", proto, svc, "-r", hostPort(r.Addr(vip), port), "-g", "-w", "1")
		}
	}
	v4, v6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(vip, port)
	tcp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), target, false, "8M")
	if err != nil {
		x.try("-L", "-n", "--stats")
		x.try("status")
		t.Fatalf("iperf3 TCP through direct routing: %v", err)
	}
	if tcp.Sent < tcpBytes || tcp.Received == 0 {
		t.Errorf("iperf3 TCP: %d bytes sent, %d received, want %d sent", tcp.Sent, tcp.Received, tcpBytes)
	}
	udp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), target, true, "2M")
	if err != nil {
		x.try("-L", "-n", "--stats")
		x.try("status")
		t.Fatalf("iperf3 UDP through direct routing: %v", err)
	}
	t.Logf("iperf3: TCP %d bytes sent, %d received; UDP %d bytes, %.1f%% lost", tcp.Sent, tcp.Received, udp.Sent, udp.LostPercent)
	if udp.Sent < udpBytes {
		t.Errorf("iperf3 UDP sent %d bytes, want %d", udp.Sent, udpBytes)
	}
	if udp.LostPercent > 50 { // a broken path loses everything; a loaded machine some
		t.Errorf("iperf3 UDP lost %.1f%% of its datagrams", udp.LostPercent)
	}
	w4, w6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	if n := (w4 - v4) + (w6 - v6); n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed iperf3 traffic to it", n)
	}

	// Everything the client sent went through xvs, nothing came back
	// through it (direct routing).
	m, err := parseStats(x.run("-L", "-n", "--stats"))
	if err != nil {
		t.Fatalf("xvsadm -L -n --stats: %v", err)
	}
	ts, us := m["TCP "+svc], m["UDP "+svc]
	// Two TCP connections per run: iperf3's control and its TCP data.
	// Every byte the server received (iperf3 -n stops counting at the
	// end of the test, with data still in flight) crossed the balancer,
	// headers included.
	if ts.conns < 2 || ts.inBytes < tcp.Received || ts.outPkts != 0 {
		t.Errorf("TCP %s: Conns %d InBytes %d OutPkts %d: want at least 2 connections, the %d bytes the server received in, none out", svc, ts.conns, ts.inBytes, ts.outPkts, tcp.Received)
	}
	if datagrams := uint64(udpBytes / udpLen); us.conns < 1 || us.inPkts < datagrams/2 || us.outPkts != 0 {
		t.Errorf("UDP %s: Conns %d InPkts %d OutPkts %d: want a connection, at least %d of the %d datagrams in, none out", svc, us.conns, us.inPkts, us.outPkts, datagrams/2, datagrams)
	}
}
