package e2e_test

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestTunnel drives a balancer in tunnel mode (-i) end to end: IPIP (or
// IPv6 in IPv6), GUE and GRE, IPv4 and IPv6, to real servers that have no
// tunnel module and decapsulate with bpf/decap.c. HTTP requests from every
// client source must be answered by the reals (which see the client's own
// address on a connection to the VIP), without the balancer's kernel
// forwarding any packet, and every request must have reached a real
// through the decapsulation program.
func TestTunnel(t *testing.T) {
	requireXvsadm(t)
	for _, vip := range []netip.Addr{topo.VIP4, topo.VIP6} {
		fam := "IPv4"
		if vip.Is6() {
			fam = "IPv6"
		}
		for _, tun := range []struct {
			name string
			args []string
		}{
			{"ipip", []string{"--tun-type", "ipip"}},
			{"gue", []string{"--tun-type", "gue", "--tun-port", "6080"}},
			{"gre", []string{"--tun-type", "gre"}},
		} {
			t.Run(fam+"/"+tun.name, func(t *testing.T) {
				t.Parallel()
				testTunnel(t, vip, tun.args)
			})
		}
	}
}

func testTunnel(t *testing.T, vip netip.Addr, tunArgs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 2, Sources: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1,r2}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	decaps, err := d.AttachDecap(t, false, 6080)
	if err != nil {
		t.Fatal(err)
	}
	svc := hostPort(vip, 80)
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	x.run("-A", "-t", svc, "-s", "mh")
	for _, r := range d.Reals {
		x.run(append([]string{"-a", "-t", svc, "-r", hostPort(r.Addr(vip), 80), "-i", "-w", "1"}, tunArgs...)...)
	}
	l, err := parseList(x.run("-L", "-n"))
	if err != nil {
		t.Fatalf("xvsadm -L -n: %v", err)
	}
	for _, r := range d.Reals {
		if s := l.service("TCP", svc); s == nil || s.dest(hostPort(r.Addr(vip), 80)) == nil || s.dest(hostPort(r.Addr(vip), 80)).fwd != "Tunnel" {
			t.Fatalf("-L -n does not list %s as a Tunnel real of %s", r.Name, svc)
		}
	}
	if status := x.run("status"); strings.Contains(status, "passed to the kernel") {
		t.Fatalf("xvsadm status says the service is passed to the kernel")
	}

	tr := &traffic{t: t, d: d, vip: vip, x: x}
	f := tr.forwarded()
	a := tr.round(ctx, "round 1")
	b := tr.round(ctx, "round 2")
	if n := tr.forwarded() - f; n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed VIP traffic to the kernel", n)
	}
	srcs := d.Sources(vip)
	for _, s := range srcs {
		if a.bySrc[s] != b.bySrc[s] {
			t.Errorf("source %s went to %s, then to %s", s, a.bySrc[s], b.bySrc[s])
		}
	}
	// Each request is at least SYN, ACK with data and FIN from the client,
	// every one of them encapsulated by the balancer and stripped by a real.
	var total uint64
	for _, dc := range decaps {
		n, err := dc.Decapsulated()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s decapsulated %d packets; answered %d requests", dc.Real, n, a.count[dc.Real]+b.count[dc.Real])
		if answered := a.count[dc.Real] + b.count[dc.Real]; n < 3*uint64(answered) {
			t.Errorf("%s answered %d requests but decapsulated only %d packets", dc.Real, answered, n)
		}
		total += n
	}
	if total < 3*2*uint64(len(srcs)) {
		t.Errorf("the reals decapsulated %d packets for %d requests", total, 2*len(srcs))
	}
	checkStats(t, x, svc, vip, d, map[string]int{"r1": a.count["r1"] + b.count["r1"], "r2": a.count["r2"] + b.count["r2"]})

	// iperf3, TCP then UDP, on another service with the same reals. The
	// client's full-sized TCP segments (1500 bytes on a 1500-byte link) no
	// longer fit once encapsulated: the transfer completes only if the
	// balancer answers them with fragmentation needed / packet too big and
	// the client lowers its path MTU to the VIP.
	const iperfPort = 5201
	isvc := hostPort(vip, iperfPort)
	x.run("-A", "-u", isvc, "-s", "mh")
	x.run("-A", "-t", isvc, "-s", "mh")
	for _, r := range d.Reals {
		if err := topo.IperfServer(t, r.NS, vip, iperfPort); err != nil {
			t.Fatal(err)
		}
		for _, proto := range []string{"-t", "-u"} {
			x.run(append([]string{"-a", proto, isvc, "-r", hostPort(r.Addr(vip), iperfPort), "-i", "-w", "1"}, tunArgs...)...)
		}
	}
	tcp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), netip.AddrPortFrom(vip, iperfPort), false, "8M")
	if err != nil {
		x.try("status")
		t.Fatalf("iperf3 TCP through the tunnel: %v", err)
	}
	if tcp.Sent < 8<<20 || tcp.Received == 0 {
		t.Errorf("iperf3 TCP: %d bytes sent, %d received, want 8 MiB sent", tcp.Sent, tcp.Received)
	}
	if n := verdictCount(t, x.run("status"), "too_big"); n == 0 {
		t.Errorf("iperf3 TCP with full-sized segments completed without any too_big verdict: the MTU path was not exercised")
	}
	udp, err := topo.Iperf(ctx, d.Client.NS, d.Client.Addr(vip), netip.AddrPortFrom(vip, iperfPort), true, "2M")
	if err != nil {
		x.try("-L", "-n", "--stats")
		x.try("status")
		t.Fatalf("iperf3 UDP through the tunnel: %v", err)
	}
	t.Logf("iperf3: TCP %d bytes; UDP %d bytes, %.1f%% lost", tcp.Received, udp.Sent, udp.LostPercent)
	// A broken path loses everything; a loaded machine (tests run in
	// parallel on few CPUs) loses some.
	if udp.LostPercent > 50 {
		t.Errorf("iperf3 UDP lost %.1f%% of its datagrams", udp.LostPercent)
	}
}

// verdictCount reads a counter from xvsadm status's "packets by verdict" line.
func verdictCount(t *testing.T, status, name string) uint64 {
	t.Helper()
	for _, f := range strings.Fields(status) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("status: %s=%q", name, v)
			}
			return n
		}
	}
	t.Fatalf("status does not show the %s counter", name)
	return 0
}
