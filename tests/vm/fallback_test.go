package vm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMFallback: kernel IPVS, which xvsadm mirrors every change into,
// takes over the traffic when the XDP program is detached, and XDP takes it
// back when attached again, while a client keeps sending requests.
//
// Topology: tests/topo's direct-routing segment (client, balancer, three
// reals with the VIP on lo); the balancer holds the VIP on lo too, so that
// kernel IPVS (LOCAL_IN) sees the packets XDP no longer takes. One mh
// service, direct routing (-g): xvs's mh is IPVS's, so both pick the same
// real for a source. net.ipv4.vs.sloppy_tcp=1 lets IPVS take over
// connections it never saw the SYN of.
//
// Phases: xdp1 (attached, native), ipvs (detached), xdp2 (attached again),
// then ipvs with sloppy_tcp=0 as the contrast. A loop sends one new
// connection after another through every phase and switch, counting
// failures per phase; long-lived keep-alive connections (opened before a
// switch, used after it) show whether established TCP connections survive.
// It must show: no failed request while sloppy_tcp=1; every source on the
// same real under XDP and under IPVS; every long-lived connection
// surviving both switches on the same real; IPVS holding no connection
// while XDP serves and the new ones while it serves.
// Also: attach --mode auto --fallback ipvs on an interface without native
// XDP (a bridge) attaches nothing and status says kernel IPVS serves it.
func TestInVMFallback(t *testing.T) {
	requireVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, lb := drBox(ctx, t, topo.DROptions{Reals: 3, Sources: 24})
	vip, state := topo.VIP4, lb.state
	if err := d.LB.NS.Sysctls("net.ipv4.vs.sloppy_tcp", "1"); err != nil {
		t.Fatal(err)
	}

	// The fallback policy where native XDP fails: a bridge has no driver XDP.
	if err := topo.Bridge(d.LB.NS, "fb0"); err != nil {
		t.Fatal(err)
	}
	if o := lb.xvsadm("", "attach", "fb0", "--mode", "auto", "--fallback", "ipvs"); !strings.Contains(o, "kernel IPVS alone serves it") {
		t.Errorf("attach fb0 --mode auto --fallback ipvs said %q, want kernel IPVS alone", o)
	}
	if mode, _, err := topo.XDPAttached(d.LB.NS, "fb0"); err != nil || mode != topo.XDPNone {
		t.Errorf("fb0 after the ipvs fallback: XDP mode %v (%v), want none", mode, err)
	}
	if s := lb.xvsadm("", "status", "--no-count"); !strings.Contains(s, "serving:    kernel IPVS alone on fb0") {
		t.Errorf("status does not say kernel IPVS alone serves fb0:\n%s", s)
	}
	lb.xvsadm("", "detach", "fb0")

	if o := lb.xvsadm("", "attach", topo.Iface, "--mode", "auto", "--fallback", "ipvs"); !strings.Contains(o, "native mode") {
		t.Fatalf("attach %s --mode auto: %q, want native mode", topo.Iface, o)
	}
	t.Cleanup(func() { lb.run("", "/usr/sbin/xvsadm", "--state", state, "detach", topo.Iface) })
	if s := lb.xvsadm("", "status", "--no-count"); !strings.Contains(s, "serving:    XDP (native) on "+topo.Iface) {
		t.Errorf("status does not say XDP serves %s:\n%s", topo.Iface, s)
	}
	svc := netip.AddrPortFrom(vip, 80)
	lb.xvsadm("", "-A", "-t", svc.String(), "-s", "mh")
	for _, r := range d.Reals {
		lb.xvsadm("", "-a", "-t", svc.String(), "-r", netip.AddrPortFrom(r.Addr4, 80).String(), "-g", "-w", "1")
	}
	if k := lb.ipvsadm("", "-L", "-n"); strings.Count(k, "Route") != len(d.Reals) {
		t.Fatalf("kernel IPVS (the mirror) lacks the reals:\n%s", k)
	}

	srcs := d.Sources4
	loopSrcs, longSrcs := srcs[:12], srcs[12:]
	tr := startTraffic(ctx, d.Client.NS, loopSrcs, svc)
	defer tr.stop()
	xvsConns := func() int { return atoiOr(svcConns(t, lb.xvsadm("", "-L", "-n", "--stats"), svc.String()), -1) }

	// xdp1: XDP serves; IPVS holds no connection.
	tr.phase("xdp1")
	group := func(name string, from []netip.Addr) []*keepConn {
		var out []*keepConn
		for _, s := range from {
			c, err := dialKeep(ctx, d.Client.NS, s, svc)
			if err != nil {
				t.Fatalf("%s: open a long-lived connection from %s: %v", name, s, err)
			}
			t.Cleanup(func() { c.Close() })
			if c.first, err = c.get(); err != nil {
				t.Fatalf("%s: first request from %s: %v", name, s, err)
			}
			out = append(out, c)
		}
		return out
	}
	longB := group("B", longSrcs[:4])
	tr.waitN(t, 20)
	if n := ipvsConnEntries(lb); n != 0 {
		t.Errorf("with XDP attached kernel IPVS holds %d connections, want 0 (XDP serves)", n)
	}

	// ipvs: detached; kernel IPVS (mirrored, sloppy_tcp=1) serves.
	tr.phase("ipvs")
	lb.xvsadm("", "detach", topo.Iface)
	xdp1Conns := xvsConns() // XDP's count stays while detached
	if s := lb.xvsadm("", "status", "--no-count"); !strings.Contains(s, "serving:    kernel IPVS alone: no XDP attached") {
		t.Errorf("status after detach does not say kernel IPVS serves:\n%s", s)
	}
	survived := func(name string, g []*keepConn) (same, moved, broken int) {
		for _, c := range g {
			got, err := c.get()
			switch {
			case err != nil:
				broken++
				t.Logf("%s: connection from %s (on %s): %v", name, c.src, c.first, err)
			case got == c.first:
				same++
			default:
				moved++
			}
		}
		t.Logf("%s: %d long-lived connections: %d kept their real, %d answered by another, %d broken", name, len(g), same, moved, broken)
		return
	}
	if same, _, _ := survived("B across XDP -> IPVS (sloppy_tcp=1)", longB); same != len(longB) {
		t.Errorf("%d of %d established connections survived the switch to kernel IPVS on their real, want all", same, len(longB))
	}
	longC := group("C", longSrcs[4:8])
	tr.waitN(t, 20)
	if n := ipvsConnEntries(lb); n == 0 {
		t.Errorf("after the detach kernel IPVS holds no connection: it did not serve")
	}
	if n := xvsConns(); n != xdp1Conns {
		t.Errorf("xvs counted %d connections while detached (had %d): XDP still serves", n, xdp1Conns)
	}

	// xdp2: attached again; XDP takes the traffic back.
	tr.phase("xdp2")
	lb.xvsadm("", "attach", topo.Iface, "--mode", "native")
	if same, _, _ := survived("B across IPVS -> XDP", longB); same != len(longB) {
		t.Errorf("%d of %d connections opened under XDP survived two switches on their real, want all", same, len(longB))
	}
	if same, _, _ := survived("C (opened under IPVS) across IPVS -> XDP", longC); same != len(longC) {
		t.Errorf("%d of %d connections opened under IPVS survived the switch to XDP on their real, want all", same, len(longC))
	}
	longA := group("A", longSrcs[8:12])
	tr.waitN(t, 20)
	if n := xvsConns(); n <= xdp1Conns {
		t.Errorf("xvs counted %d connections after the re-attach (had %d): XDP does not serve", n, xdp1Conns)
	}

	// Contrast: sloppy_tcp=0, IPVS does not take over mid-flow connections.
	if err := d.LB.NS.Sysctls("net.ipv4.vs.sloppy_tcp", "0"); err != nil {
		t.Fatal(err)
	}
	tr.phase("ipvs, sloppy_tcp=0")
	lb.xvsadm("", "detach", topo.Iface)
	_, _, brokenA := survived("A across XDP -> IPVS (sloppy_tcp=0)", longA)
	tr.waitN(t, 20)
	res := tr.stop()

	var md strings.Builder
	fmt.Fprintf(&md, "| phase | requests | failed | median ms |\n|---|---:|---:|---:|\n")
	for _, p := range res.order {
		s := res.by[p]
		fmt.Fprintf(&md, "| %s | %d | %d | %.1f |\n", p, s.n, s.failed, s.median().Seconds()*1000)
	}
	fmt.Fprintf(&md, "\nlong-lived connections: B (opened under XDP) %d/%d kept their real across XDP -> IPVS -> XDP; C (opened under IPVS) %d/%d across IPVS -> XDP; A with sloppy_tcp=0: %d/%d broken at XDP -> IPVS\n",
		len(longB), len(longB), len(longC), len(longC), brokenA, len(longA))
	t.Log("fallback (new connection per request, one after another):\n" + md.String())
	for _, p := range []string{"xdp1", "ipvs", "xdp2"} {
		if s := res.by[p]; s.failed != 0 || s.n == 0 {
			t.Errorf("phase %s: %d of %d requests failed, want none (first error: %v)", p, s.failed, s.n, s.firstErr)
		}
	}
	// mh under XDP and under IPVS: a source meets one real.
	for src, reals := range res.realBySrc {
		if len(reals) > 1 {
			t.Errorf("source %s was served by %v across the phases: xvs's mh and IPVS's differ", src, reals)
		}
	}
}

// keepConn is a long-lived HTTP/1.1 keep-alive connection to the VIP.
type keepConn struct {
	net.Conn
	src   netip.Addr
	br    *bufio.Reader
	first string // the real that answered its first request
}

func dialKeep(ctx context.Context, n *topo.Netns, src netip.Addr, to netip.AddrPort) (*keepConn, error) {
	dl := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 5 * time.Second}
	c, err := n.DialContext(ctx, dl, "tcp", to.String())
	if err != nil {
		return nil, err
	}
	return &keepConn{Conn: c, src: src, br: bufio.NewReader(c)}, nil
}

// get sends one request on the connection and returns the real's name.
func (c *keepConn) get() (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// traffic sends one request after another, each on a new connection,
// rotating over its sources, and counts the outcomes per phase.
type traffic struct {
	mu     sync.Mutex
	cur    string
	res    trafficResult
	cancel context.CancelFunc
	done   chan struct{}
}

type trafficResult struct {
	order     []string
	by        map[string]*phaseStats
	realBySrc map[netip.Addr][]string
}

type phaseStats struct {
	n, failed int
	firstErr  error
	took      []time.Duration
}

func (s *phaseStats) median() time.Duration {
	if len(s.took) == 0 {
		return 0
	}
	t := slices.Clone(s.took)
	slices.Sort(t)
	return t[len(t)/2]
}

func startTraffic(ctx context.Context, n *topo.Netns, srcs []netip.Addr, to netip.AddrPort) *traffic {
	ctx, cancel := context.WithCancel(ctx)
	tr := &traffic{cancel: cancel, done: make(chan struct{}),
		res: trafficResult{by: map[string]*phaseStats{}, realBySrc: map[netip.Addr][]string{}}}
	go func() {
		defer close(tr.done)
		for i := 0; ctx.Err() == nil; i++ {
			tr.mu.Lock()
			p := tr.cur
			tr.mu.Unlock()
			if p == "" {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			src := srcs[i%len(srcs)]
			rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
			start := time.Now()
			got, err := topo.Get(rctx, n, src, to)
			took := time.Since(start)
			rcancel()
			if ctx.Err() != nil {
				return // stopped mid-request: not counted
			}
			tr.mu.Lock()
			s := tr.res.by[p]
			s.n++
			if err != nil {
				s.failed++
				if s.firstErr == nil {
					s.firstErr = fmt.Errorf("from %s: %w", src, err)
				}
			} else {
				s.took = append(s.took, took)
				if rs := tr.res.realBySrc[src]; !slices.Contains(rs, got) {
					tr.res.realBySrc[src] = append(rs, got)
				}
			}
			tr.mu.Unlock()
		}
	}()
	return tr
}

// phase starts counting requests under name.
func (tr *traffic) phase(name string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.cur = name
	tr.res.order = append(tr.res.order, name)
	tr.res.by[name] = &phaseStats{}
}

// waitN waits until the current phase has n requests done (1 minute at most).
func (tr *traffic) waitN(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		tr.mu.Lock()
		got := tr.res.by[tr.cur].n
		tr.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("phase %s: only %d requests done in a minute", tr.cur, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the loop and returns the counts.
func (tr *traffic) stop() trafficResult {
	tr.cancel()
	<-tr.done
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.res
}

// ipvsConnEntries counts the kernel IPVS connection table's entries.
func ipvsConnEntries(b *box) int {
	n := 0
	for _, l := range strings.Split(b.ipvsadm("", "-L", "-n", "-c"), "\n") {
		if strings.HasPrefix(l, "TCP") || strings.HasPrefix(l, "UDP") {
			n++
		}
	}
	return n
}

func atoiOr(s string, def int) int {
	var v int
	if _, err := fmt.Sscan(s, &v); err != nil {
		return def
	}
	return v
}
