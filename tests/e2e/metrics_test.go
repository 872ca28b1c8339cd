package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestMetricsExactCounts sends known traffic through the balancer (native
// XDP, direct routing): one keep-alive connection from each client source,
// several HTTP requests on each. Then xvsadm metrics --textfile must give
// per real exactly the connections the real's kernel accepted
// (PassiveOpens) and the client saw answered by it, and exactly the TCP
// segments the real's kernel received (InSegs): in direct routing every
// segment from the client to a real is one XDP forwarded. -L -n --stats
// must show the same numbers, and the node_ipvs_* families must add up.
func TestMetricsExactCounts(t *testing.T) {
	requireXvsadm(t)
	eachFamily(t, testMetricsExactCounts)
}

// metricsRequests is how many requests each connection carries.
const metricsRequests = 5

func testMetricsExactCounts(t *testing.T, vip netip.Addr) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Sources: 12, Prefix: "xm-"})
	if err != nil {
		t.Fatal(err)
	}
	x := newXvsadmPrefix(t, d.LB.NS, "xm-")
	x.run("attach", topo.Iface, "--mode", "native")
	svc := hostPort(vip, 80)
	x.run("-A", "-t", svc, "-s", "mh")
	for _, r := range d.Reals {
		x.run("-a", "-t", svc, "-r", hostPort(r.Addr(vip), 80), "-g", "-w", "1")
	}
	type tcpCounts struct{ segs, opens uint64 }
	read := func() map[string]tcpCounts {
		out := map[string]tcpCounts{}
		for _, r := range d.Reals {
			s, o, err := r.NS.TCPCounters()
			if err != nil {
				t.Fatal(err)
			}
			out[r.Name] = tcpCounts{s, o}
		}
		return out
	}
	before := read()

	// The traffic: M connections of metricsRequests requests each.
	target := netip.AddrPortFrom(vip, 80)
	answered := map[string]uint64{} // connections per real, as the client saw them
	srcs := d.Sources(vip)
	for _, src := range srcs {
		name, err := keepAliveRequests(ctx, d.Client.NS, src, target, metricsRequests)
		if err != nil {
			x.try("status")
			t.Fatalf("connection from %s: %v", src, err)
		}
		answered[name]++
	}
	t.Logf("%d connections of %d requests: %v", len(srcs), metricsRequests, answered)

	// The last ACKs of each close cross the balancer after the client's
	// Close returns: poll until the counts settle, or the deadline.
	dir := t.TempDir()
	var (
		m     metricsText
		delta map[string]tcpCounts
	)
	for deadline := time.Now().Add(10 * time.Second); ; {
		x.run("metrics", "--textfile", dir)
		m = readMetrics(t, filepath.Join(dir, "xvs.prom"))
		after := read()
		delta = map[string]tcpCounts{}
		settled := true
		for _, r := range d.Reals {
			dd := tcpCounts{after[r.Name].segs - before[r.Name].segs, after[r.Name].opens - before[r.Name].opens}
			delta[r.Name] = dd
			if m.real("xvs_real_incoming_packets_total", r.Addr(vip)) != float64(dd.segs) {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	st, err := parseStats(x.run("-L", "-n", "--stats", "--exact"))
	if err != nil {
		t.Fatalf("xvsadm -L -n --stats: %v", err)
	}
	var conns, segs uint64
	for _, r := range d.Reals {
		a, dd := r.Addr(vip), delta[r.Name]
		gotConns := m.real("xvs_real_connections_total", a)
		gotPkts := m.real("xvs_real_incoming_packets_total", a)
		t.Logf("%s: metrics %v connections %v packets; the real accepted %d, received %d segments; the client saw %d connections",
			r.Name, gotConns, gotPkts, dd.opens, dd.segs, answered[r.Name])
		if gotConns != float64(dd.opens) || dd.opens != answered[r.Name] {
			t.Errorf("%s: metrics %v connections, the real accepted %d, the client got %d answered by it: want all equal (verdicts: %s)",
				r.Name, gotConns, dd.opens, answered[r.Name], m.verdicts())
		}
		if gotPkts != float64(dd.segs) {
			t.Errorf("%s: metrics %v packets, the real received %d TCP segments", r.Name, gotPkts, dd.segs)
		}
		if ls, ok := st["TCP "+svc+" -> "+hostPort(a, 80)]; !ok || float64(ls.conns) != gotConns || float64(ls.inPkts) != gotPkts {
			t.Errorf("%s: -L --stats shows %+v, metrics %v connections %v packets", r.Name, ls, gotConns, gotPkts)
		}
		// Every connection is still in the table (closing: FIN_WAIT).
		if cur := m.backend("node_ipvs_backend_connections_active", vip, a) + m.backend("node_ipvs_backend_connections_inactive", vip, a); cur != float64(dd.opens) {
			t.Errorf("%s: node_ipvs_backend_connections_active+inactive %v, want %d", r.Name, cur, dd.opens)
		}
		if w := m.backend("node_ipvs_backend_weight", vip, a); w != 1 {
			t.Errorf("%s: node_ipvs_backend_weight %v, want 1", r.Name, w)
		}
		// The reals share the balancer's segment: each is its own next
		// hop, resolved (XDP forwarded to it).
		valid := 0.0
		for _, state := range []string{"reachable", "stale", "delay", "probe"} {
			valid += m.find("xvs_nexthop_neighbour_state", map[string]string{"interface": topo.Iface, "address": a.String(), "state": state})
		}
		if valid != 1 {
			t.Errorf("%s: xvs_nexthop_neighbour_state of %s on %s is not one valid state (%v)", r.Name, a, topo.Iface, valid)
		}
		conns += dd.opens
		segs += dd.segs
	}
	if conns != uint64(len(srcs)) {
		t.Errorf("the reals accepted %d connections, the client made %d", conns, len(srcs))
	}
	if got := m.value("node_ipvs_connections_total"); got != float64(conns) {
		t.Errorf("node_ipvs_connections_total %v, want %d", got, conns)
	}
	if got := m.value("node_ipvs_incoming_packets_total"); got != float64(segs) {
		t.Errorf("node_ipvs_incoming_packets_total %v, want %d", got, segs)
	}
	if got := m.value("node_ipvs_outgoing_packets_total"); got != 0 {
		t.Errorf("node_ipvs_outgoing_packets_total %v, want 0: replies bypass the balancer in direct routing", got)
	}
}

// keepAliveRequests opens one TCP connection from src to target in n,
// sends requests HTTP requests on it one after another, closes it, and
// returns the real that answered (all on one connection must be the same).
func keepAliveRequests(ctx context.Context, n *topo.Netns, src netip.Addr, target netip.AddrPort, requests int) (string, error) {
	dl := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := n.DialContext(ctx, dl, "tcp", target.String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	br := bufio.NewReader(c)
	var name string
	for i := range requests {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target.String()+"/", nil)
		if err != nil {
			return "", err
		}
		if err := req.Write(c); err != nil {
			return "", fmt.Errorf("request %d: %w", i+1, err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return "", fmt.Errorf("request %d: %w", i+1, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("request %d: %s %v", i+1, resp.Status, err)
		}
		got := strings.TrimSuffix(string(body), "\n")
		if i > 0 && got != name {
			return "", fmt.Errorf("one connection answered by %s, then %s", name, got)
		}
		name = got
	}
	return name, nil
}

// metricsText is a text exposition, as Prometheus's own parser reads it.
type metricsText map[string]*dto.MetricFamily

func readMetrics(t *testing.T, path string) metricsText {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return mfs
}

// find returns the value of family's sample whose labels include want (-1: none).
func (m metricsText) find(family string, want map[string]string) float64 {
	mf := m[family]
	if mf == nil {
		return -1
	}
next:
	for _, s := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue()
		case s.Gauge != nil:
			return s.Gauge.GetValue()
		case s.Untyped != nil:
			return s.Untyped.GetValue()
		}
	}
	return -1
}

func (m metricsText) value(family string) float64 { return m.find(family, nil) }

// real is a per-real xvs_* counter of XDP.
func (m metricsText) real(family string, a netip.Addr) float64 {
	return m.find(family, map[string]string{"remote_address": a.String(), "datapath": "xdp"})
}

// backend is a node_ipvs_backend_* gauge of the real a of the VIP's port 80.
func (m metricsText) backend(family string, vip, a netip.Addr) float64 {
	return m.find(family, map[string]string{"local_address": vip.String(), "local_port": "80", "proto": "TCP", "remote_address": a.String(), "remote_port": "80"})
}

// verdicts lists the non-zero verdict counters, for failure messages.
func (m metricsText) verdicts() string {
	var out []string
	if mf := m["xvs_verdict_packets_total"]; mf != nil {
		for _, s := range mf.GetMetric() {
			if v := s.GetCounter().GetValue(); v != 0 {
				out = append(out, fmt.Sprintf("%s=%v", s.GetLabel()[0].GetValue(), v))
			}
		}
	}
	return strings.Join(out, " ")
}
