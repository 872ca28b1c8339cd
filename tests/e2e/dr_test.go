package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestDirectRouting drives a balancer in direct-routing mode end to end,
// for each address family and XDP mode: plain kernel forwarding first,
// then xvsadm attaches, configures an mh service with three reals and
// must spread the client's sources over them, keep each source on one
// real, count what it forwarded, stop sending new connections to a real
// of weight 0, and give forwarding back to the kernel on detach. In
// generic mode the client has 8 ephemeral ports, so its sources reuse
// ports across rounds (as clients behind a NAT gateway do): xvs must carry
// a reused tuple's new connection on its entry without counting it again,
// and end the entry when the new SYN goes to the kernel.
func TestDirectRouting(t *testing.T) {
	requireXvsadm(t)
	for _, f := range families {
		fam, vip := f.name, f.vip
		for _, mode := range []struct {
			name  string
			want  topo.XDPMode
			ports int // the client's ephemeral ports (0: the kernel's range)
		}{
			{"native", topo.XDPNative, 0},
			{"generic", topo.XDPGeneric, 8},
		} {
			t.Run(fam+"/"+mode.name, func(t *testing.T) {
				t.Parallel()
				testDirectRouting(t, vip, mode.name, mode.want, mode.ports)
			})
		}
	}
}

// hostPort writes an address and port as ipvsadm does ([v6]:port).
func hostPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

func testDirectRouting(t *testing.T, vip netip.Addr, mode string, wantMode topo.XDPMode, clientPorts int) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{ClientPorts: clientPorts})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1,r2,r3}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	r1, r2 := d.Real("r1"), d.Real("r2")
	svc := hostPort(vip, 80)
	srcs := d.Sources(vip)
	tr := &traffic{t: t, d: d, vip: vip}

	// Without XDP the balancer's kernel routes the VIP to r1.
	if err := d.RouteVIPVia(r1); err != nil {
		t.Fatal(err)
	}
	f := tr.forwarded()
	tr.expectOnly(ctx, "before attach", "r1")
	if n := tr.forwarded() - f; n < 4*uint64(len(srcs)) {
		t.Fatalf("before attach: the balancer's kernel forwarded %d packets for %d requests", n, len(srcs))
	}

	x := newXvsadm(t, d.LB.NS)
	tr.x = x
	x.run("attach", topo.Iface, "--mode", mode)
	checkXDP(t, d, wantMode)
	x.run("-A", "-t", svc, "-s", "mh")
	for _, r := range d.Reals {
		x.run("-a", "-t", svc, "-r", hostPort(r.Addr(vip), 80), "-g", "-w", "1")
	}

	// Every command ran in its own process: the state is in the pins.
	l, err := parseList(x.run("-L", "-n"))
	if err != nil {
		t.Fatalf("xvsadm -L -n: %v", err)
	}
	checkListed(t, l, svc, map[string]int{"r1": 1, "r2": 1, "r3": 1}, d, vip)
	checkXDP(t, d, wantMode) // still attached, no xvsadm process running

	// Two rounds: one request from each source in each. XDP sends every
	// packet itself: the kernel's route to r1 must see none.
	f = tr.forwarded()
	a := tr.round(ctx, "round 1")
	b := tr.round(ctx, "round 2")
	if n := tr.forwarded() - f; n != 0 {
		t.Errorf("with XDP attached the balancer's kernel forwarded %d packets: xvs passed VIP traffic to the kernel (see the verdict counters of xvsadm status)", n)
	}
	answered := map[string]int{}
	for _, s := range srcs {
		if a.bySrc[s] != b.bySrc[s] {
			t.Errorf("source %s went to %s, then to %s: mh must keep a source on one real", s, a.bySrc[s], b.bySrc[s])
		}
		answered[a.bySrc[s]]++
		answered[b.bySrc[s]]++
	}
	total := 2 * len(srcs)
	t.Logf("with XDP (%s): %v over %d requests", mode, answered, total)
	for _, r := range d.Reals {
		if share := float64(answered[r.Name]) / float64(total); share < 0.10 {
			t.Errorf("%s answered %d of %d requests (%.0f%%), want at least 10%%", r.Name, answered[r.Name], total, 100*share)
		}
	}
	var conns connections
	conns.addRound(t, a, nil)
	conns.addRound(t, b, nil)
	conns.log(t, "rounds 1 and 2")
	checkStats(t, x, svc, vip, d, conns.counts())

	save := x.run("-S", "-n")
	for _, want := range []string{
		"-A -t " + svc + " -s mh",
		"-a -t " + svc + " -r " + hostPort(r2.Addr(vip), 80) + " -g -w 1",
	} {
		if !slices.Contains(strings.Split(save, "\n"), want) {
			t.Errorf("xvsadm -S -n lacks the line %q", want)
		}
	}
	if status := x.run("status"); !strings.Contains(status, topo.Iface) {
		t.Errorf("xvsadm status does not name %s while attached", topo.Iface)
	}

	// Weight 0 on r2: it takes no new connection. As kernel IPVS's mh
	// without mh-fallback (docs/DESIGN.md), the table is not rebuilt (it
	// follows the last non-zero weight): every other source keeps its
	// real, and a source hashed to r2 is not given another real but passed
	// to the kernel, whose plain route here takes it to r1.
	x.run("-e", "-t", svc, "-r", hostPort(r2.Addr(vip), 80), "-g", "-w", "0")
	l, err = parseList(x.run("-L", "-n"))
	if err != nil {
		t.Fatalf("xvsadm -L -n: %v", err)
	}
	checkListed(t, l, svc, map[string]int{"r1": 1, "r2": 0, "r3": 1}, d, vip)
	f = tr.forwarded()
	c := tr.round(ctx, "after -w 0 on r2")
	passed := tr.forwarded() - f
	t.Logf("after r2 weight 0: %v; the kernel forwarded %d packets", c.count, passed)
	if c.count["r2"] != 0 {
		t.Errorf("r2 (weight 0) still got %d new connections", c.count["r2"])
	}
	onR2 := 0
	for _, s := range srcs {
		switch {
		case a.bySrc[s] == "r2":
			onR2++
			if c.bySrc[s] != "r1" {
				t.Errorf("source %s, hashed to r2 (weight 0), answered by %s: want it passed to the kernel's route to r1", s, c.bySrc[s])
			}
		case c.bySrc[s] != a.bySrc[s]:
			t.Errorf("source %s moved from %s to %s when r2's weight went to 0: the mh table must not change", s, a.bySrc[s], c.bySrc[s])
		}
	}
	if onR2 > 0 && passed < 4*uint64(onR2) {
		t.Errorf("%d sources hashed to r2 (weight 0), but the kernel forwarded only %d packets", onR2, passed)
	}
	// Through xvs: the sources not hashed to r2 (the others took the
	// kernel's route).
	conns.addRound(t, c, func(s netip.Addr) bool { return a.bySrc[s] != "r2" })
	conns.log(t, "rounds 1 to 3")
	checkStats(t, x, svc, vip, d, conns.counts())

	// Detach: the kernel's route takes over again.
	x.run("detach", topo.Iface)
	checkXDP(t, d, topo.XDPNone)
	x.run("status")
	f = tr.forwarded()
	tr.expectOnly(ctx, "after detach", "r1")
	if n := tr.forwarded() - f; n < 4*uint64(len(srcs)) {
		t.Errorf("after detach: the balancer's kernel forwarded %d packets for %d requests", n, len(srcs))
	}
}

// traffic sends rounds of requests from every client source to the VIP.
type traffic struct {
	t   *testing.T
	d   *topo.DR
	vip netip.Addr
	x   *xvsadm // for diagnostics, once attached
}

// forwarded returns how many packets of the VIP's family the balancer's
// kernel has forwarded so far.
func (tr *traffic) forwarded() uint64 {
	tr.t.Helper()
	v4, v6, err := tr.d.LB.NS.Forwarded()
	if err != nil {
		tr.t.Fatal(err)
	}
	if tr.vip.Is4() {
		return v4
	}
	return v6
}

type roundResult struct {
	bySrc  map[netip.Addr]string         // who answered each source
	client map[netip.Addr]netip.AddrPort // each source's address and port, as its real saw it
	count  map[string]int                // requests answered per real
}

// round sends one request from each source and checks that all were
// answered, and that the reals saw the client's own source address on a
// connection to the VIP (direct routing changes only the MAC).
func (tr *traffic) round(ctx context.Context, what string) roundResult {
	t := tr.t
	t.Helper()
	for _, r := range tr.d.Reals {
		r.HTTP.Reset()
	}
	srcs := tr.d.Sources(tr.vip)
	start := time.Now()
	res := topo.Burst(ctx, tr.d.Client.NS, srcs, netip.AddrPortFrom(tr.vip, 80), topo.BurstOptions{})
	rr := roundResult{bySrc: map[netip.Addr]string{}, client: map[netip.Addr]netip.AddrPort{}, count: map[string]int{}}
	var failed []string
	for _, x := range res {
		if x.Err != nil {
			failed = append(failed, fmt.Sprintf("from %s: %v", x.Src, x.Err))
			continue
		}
		rr.bySrc[x.Src] = x.Real
		rr.count[x.Real]++
	}
	t.Logf("%s: %d requests in %v: %v", what, len(srcs), time.Since(start).Round(time.Millisecond), rr.count)
	if len(failed) > 0 {
		if tr.x != nil {
			tr.x.try("-L", "-n", "--stats")
			tr.x.try("status")
		}
		t.Fatalf("%s: %d of %d requests failed:\n%s", what, len(failed), len(srcs), strings.Join(failed[:min(len(failed), 8)], "\n"))
	}
	// What the reals saw must match what the client got.
	seen := map[netip.Addr]string{}
	for _, r := range tr.d.Reals {
		for _, h := range r.HTTP.Hits() {
			if h.Local != netip.AddrPortFrom(tr.vip, 80) {
				t.Errorf("%s: %s got a connection to %s, want the VIP", what, r.Name, h.Local)
			}
			if prev, dup := seen[h.Remote.Addr()]; dup {
				t.Errorf("%s: source %s seen by %s and %s", what, h.Remote.Addr(), prev, r.Name)
			}
			seen[h.Remote.Addr()] = r.Name
			rr.client[h.Remote.Addr()] = h.Remote
		}
	}
	for _, s := range srcs {
		if seen[s] != rr.bySrc[s] {
			t.Errorf("%s: %s answered source %s, but the reals saw it at %q (source address not kept?)", what, rr.bySrc[s], s, seen[s])
		}
	}
	return rr
}

// expectOnly sends a round and checks that only real answered.
func (tr *traffic) expectOnly(ctx context.Context, what, real string) {
	tr.t.Helper()
	rr := tr.round(ctx, what)
	if rr.count[real] != len(tr.d.Sources(tr.vip)) {
		tr.t.Errorf("%s: answers %v, want all from %s (kernel route)", what, rr.count, real)
	}
}

// checkXDP checks how the kernel says an XDP program is attached to the
// balancer's interface.
func checkXDP(t *testing.T, d *topo.DR, want topo.XDPMode) {
	t.Helper()
	mode, id, err := topo.XDPAttached(d.LB.NS, topo.Iface)
	if err != nil {
		t.Fatal(err)
	}
	if mode != want {
		t.Fatalf("lb %s: XDP %v (prog id %d), want %v", topo.Iface, mode, id, want)
	}
}

// checkListed checks that -L -n lists svc with mh and the reals of
// weights, all in direct routing (Route).
func checkListed(t *testing.T, l *listing, svc string, weights map[string]int, d *topo.DR, vip netip.Addr) {
	t.Helper()
	s := l.service("TCP", svc)
	if s == nil {
		t.Fatalf("-L -n does not list TCP %s", svc)
	}
	if s.sched != "mh" {
		t.Errorf("TCP %s: scheduler %q, want mh", svc, s.sched)
	}
	if len(s.dests) != len(weights) {
		t.Errorf("TCP %s: %d reals listed, want %d", svc, len(s.dests), len(weights))
	}
	for name, w := range weights {
		addr := hostPort(d.Real(name).Addr(vip), 80)
		x := s.dest(addr)
		if x == nil {
			t.Errorf("TCP %s: real %s (%s) not listed", svc, addr, name)
			continue
		}
		if x.fwd != "Route" || x.weight != w {
			t.Errorf("TCP %s: real %s listed %s weight %d, want Route weight %d", svc, addr, x.fwd, x.weight, w)
		}
	}
}

// checkStats checks -L -n --stats against the connections each real
// answered through the balancer (connections.counts): Conns per real and
// their sum for the service.
func checkStats(t *testing.T, x *xvsadm, svc string, vip netip.Addr, d *topo.DR, counts map[string]int) {
	t.Helper()
	m, err := parseStats(x.run("-L", "-n", "--stats"))
	if err != nil {
		t.Fatalf("xvsadm -L -n --stats: %v", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	key := "TCP " + svc
	s, ok := m[key]
	if !ok {
		t.Fatalf("--stats does not list %s", key)
	}
	if s.conns != uint64(total) {
		t.Errorf("%s: Conns %d, want %d (one per distinct client address and port)", key, s.conns, total)
	}
	// A request is at least SYN, ACK with the request, and a FIN from
	// the client: each at least 40 bytes of IP and TCP header.
	if s.inPkts < 3*uint64(total) || s.inBytes < 40*s.inPkts {
		t.Errorf("%s: InPkts %d InBytes %d, too few for %d connections", key, s.inPkts, s.inBytes, total)
	}
	if s.outPkts != 0 || s.outBytes != 0 {
		t.Errorf("%s: OutPkts %d OutBytes %d, want 0: replies bypass the balancer in direct routing", key, s.outPkts, s.outBytes)
	}
	var sum stats
	for _, r := range d.Reals {
		rk := key + " -> " + hostPort(r.Addr(vip), 80)
		rs, ok := m[rk]
		if !ok {
			t.Errorf("--stats does not list %s", rk)
			continue
		}
		if rs.conns != uint64(counts[r.Name]) {
			t.Errorf("%s (%s): Conns %d, want %d answered by it", rk, r.Name, rs.conns, counts[r.Name])
		}
		sum.conns += rs.conns
		sum.inPkts += rs.inPkts
	}
	if sum.conns != s.conns || sum.inPkts != s.inPkts {
		t.Errorf("%s: reals sum to Conns %d InPkts %d, service has %d %d", key, sum.conns, sum.inPkts, s.conns, s.inPkts)
	}
}
