package e2e_test

import (
	"context"
	"net"
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
	for _, f := range families {
		fam, vip := f.name, f.vip
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
	var conns connections
	conns.addRound(t, a, nil)
	conns.addRound(t, b, nil)
	conns.log(t, "rounds 1 and 2")
	checkStats(t, x, svc, vip, d, conns.counts())

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

// TestRealserver prepares a real server with xvsadm realserver instead of
// the topology's own setup: on a real stripped of its VIPs and with the
// kernel's default ARP and rp_filter settings, check must fail; setup (with
// the decapsulation program) must make check pass and IPIP traffic through
// the balancer work, IPv4 and IPv6; teardown must undo it.
func TestRealserver(t *testing.T) {
	requireXvsadm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 1, Sources: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	r := d.Real("r1")
	for _, p := range []netip.Prefix{netip.PrefixFrom(topo.VIP4, 32), netip.PrefixFrom(topo.VIP6, 128)} {
		if err := topo.DelAddr(r.NS, "lo", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.NS.Sysctls("net.ipv4.conf.all.arp_ignore", "0", "net.ipv4.conf.all.arp_announce", "0",
		"net.ipv4.conf."+topo.Iface+".arp_ignore", "0", "net.ipv4.conf."+topo.Iface+".rp_filter", "1"); err != nil {
		t.Fatal(err)
	}
	decapDir, err := topo.StateDir(t, "xvs-decap-")
	if err != nil {
		t.Fatal(err)
	}
	rs := func(args ...string) (string, error) {
		full := append([]string{"realserver"}, args...)
		full = append(full, "--vip", topo.VIP4.String(), "--vip", topo.VIP6.String(), "--iface", topo.Iface, "--decap", "--decap-state", decapDir)
		stdout, stderr, err := r.NS.Run(ctx, xvsadmBin, full...)
		t.Logf("$ xvsadm %s\n%s%s", strings.Join(full, " "), stdout, stderr)
		return stdout, err
	}
	out, err := rs("check")
	if err == nil {
		t.Fatalf("realserver check passed on a host without the VIPs on lo")
	}
	for _, want := range []string{"FAIL  10.0.0.200/32 on lo", "FAIL  net.ipv4.conf.eth0.rp_filter = 1 (want 0)", "FAIL  decapsulation program attached"} {
		if !strings.Contains(out, want) {
			t.Errorf("realserver check does not report %q", want)
		}
	}
	if _, err := rs("setup", "--mode", "native"); err != nil {
		t.Fatalf("realserver setup: %v", err)
	}
	if _, err := rs("check"); err != nil {
		t.Fatalf("realserver check after setup: %v", err)
	}

	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	for _, vip := range []netip.Addr{topo.VIP4, topo.VIP6} {
		svc := hostPort(vip, 80)
		x.run("-A", "-t", svc, "-s", "mh")
		x.run("-a", "-t", svc, "-r", hostPort(r.Addr(vip), 80), "-i", "-w", "1")
		tr := &traffic{t: t, d: d, vip: vip, x: x}
		f := tr.forwarded()
		if rr := tr.round(ctx, "through -i to a real set up by xvsadm realserver"); rr.count["r1"] != len(d.Sources(vip)) {
			t.Errorf("%v answers, want all from r1", rr.count)
		}
		if n := tr.forwarded() - f; n != 0 {
			t.Errorf("the balancer's kernel forwarded %d packets", n)
		}
	}

	if _, err := rs("teardown"); err != nil {
		t.Fatalf("realserver teardown: %v", err)
	}
	if out, err := rs("check"); err == nil || !strings.Contains(out, "FAIL  10.0.0.200/32 on lo") {
		t.Fatalf("realserver check after teardown: %v", err)
	}
	if mode, _, err := topo.XDPAttached(r.NS, topo.Iface); err != nil || mode != topo.XDPNone {
		t.Errorf("after teardown, %s of r1 still has XDP (%v, %v)", topo.Iface, mode, err)
	}
}

// TestICMPErrorToReal: an ICMP error about a packet a real sent from the
// VIP reaches the balancer (the client routes the VIP through it) and must
// be forwarded to that real, found from the quoted header, as IPVS does:
// by direct routing or through the tunnel. The real answers a UDP client
// whose socket is already closed; the client's kernel sends port
// unreachable to the VIP; the real's kernel must receive it.
func TestICMPErrorToReal(t *testing.T) {
	requireXvsadm(t)
	for _, vip := range []netip.Addr{topo.VIP4, topo.VIP6} {
		for _, method := range [][]string{{"-g"}, {"-i"}} {
			name := "IPv4"
			if vip.Is6() {
				name = "IPv6"
			}
			t.Run(name+"/"+method[0], func(t *testing.T) {
				t.Parallel()
				testICMPErrorToReal(t, vip, method)
			})
		}
	}
}

func testICMPErrorToReal(t *testing.T, vip netip.Addr, method []string) {
	const port = 5300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 1, Sources: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	if method[0] == "-i" {
		if _, err := d.AttachDecap(t, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := d.Real("r1")
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	svc := hostPort(vip, port)
	x.run("-A", "-u", svc, "-s", "mh")
	x.run(append([]string{"-a", "-u", svc, "-r", hostPort(r.Addr(vip), port), "-w", "1"}, method...)...)

	// The real: "hello" is answered; "poke N" makes it send to the
	// sender's port N, from the VIP.
	var pc net.PacketConn
	if err := r.NS.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp", hostPort(vip, port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			ua := from.(*net.UDPAddr)
			if p, ok := strings.CutPrefix(string(buf[:n]), "poke "); ok {
				np, _ := strconv.Atoi(p)
				_, _ = pc.WriteTo([]byte("late"), &net.UDPAddr{IP: ua.IP, Port: np})
				continue
			}
			_, _ = pc.WriteTo([]byte("hi"), from)
		}
	}()

	dial := func() (*net.UDPConn, error) {
		var c *net.UDPConn
		err := d.Client.NS.Do(func() error {
			var err error
			c, err = net.DialUDP("udp", &net.UDPAddr{IP: d.Client.Addr(vip).AsSlice()}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, port)))
			return err
		})
		return c, err
	}
	a, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("UDP through the balancer: %q, %v", buf[:n], err)
	}
	closedPort := a.LocalAddr().(*net.UDPAddr).Port
	a.Close()
	u4, u6, err := r.NS.ICMPDestUnreachs()
	if err != nil {
		t.Fatal(err)
	}
	b, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Write([]byte("poke " + strconv.Itoa(closedPort))); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		w4, w6, err := r.NS.ICMPDestUnreachs()
		if err != nil {
			t.Fatal(err)
		}
		if (vip.Is4() && w4 > u4) || (vip.Is6() && w6 > u6) {
			t.Logf("r1 received the client's port unreachable (IPv4 %d->%d, IPv6 %d->%d)", u4, w4, u6, w6)
			return
		}
		select {
		case <-ctx.Done():
			x.try("status")
			t.Fatalf("r1 never received the client's port unreachable about its packet from the VIP")
		case <-tick.C:
		}
	}
}
