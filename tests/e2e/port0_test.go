package e2e_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestPort0Persistent: a persistent rr service of port 0 over direct
// routing takes HTTP to any port of the VIP (80 and 8080 here; the reals
// serve both): each source gets one real for both ports, the sources are
// spread over the reals, XDP forwards everything itself, and -L -c lists
// one template per source with port 0 on every side, as IPVS does.
func TestPort0Persistent(t *testing.T) {
	requireXvsadm(t)
	eachFamily(t, testPort0Persistent)
}

func testPort0Persistent(t *testing.T, vip netip.Addr) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Sources: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Reals {
		if _, err := topo.Serve(t, r.NS, r.Name, 8080); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RouteVIPVia(d.Real("r1")); err != nil { // what the kernel would do with packets XDP passed
		t.Fatal(err)
	}
	tr := &traffic{t: t, d: d, vip: vip}
	x := newXvsadm(t, d.LB.NS)
	tr.x = x
	x.run("attach", topo.Iface, "--mode", "native")
	svc := hostPort(vip, 0)
	x.run("-A", "-t", svc, "-s", "rr", "-p", "300")
	for _, r := range d.Reals {
		x.run("-a", "-t", svc, "-r", r.Addr(vip).String(), "-g", "-w", "1")
	}

	f := tr.forwarded()
	srcs := d.Sources(vip)
	bySrc := map[netip.Addr]string{}
	count := map[string]int{}
	for _, port := range []uint16{80, 8080, 80} {
		for _, src := range srcs {
			got, err := topo.Get(ctx, d.Client.NS, src, netip.AddrPortFrom(vip, port))
			if err != nil {
				x.try("-L", "-n", "-c")
				x.try("status")
				t.Fatalf("from %s to port %d: %v", src, port, err)
			}
			if want, ok := bySrc[src]; ok && got != want {
				t.Fatalf("from %s to port %d: answered by %s, but by %s before: the template must keep the source on one real across ports", src, port, got, want)
			}
			bySrc[src] = got
			count[got]++
		}
	}
	t.Logf("ports 80, 8080, 80 from %d sources: %v", len(srcs), count)
	if len(count) < 2 {
		t.Errorf("every source went to one real (%v): rr should spread the sources", count)
	}
	if n := tr.forwarded() - f; n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed port-0 traffic to the kernel", n)
	}

	// -L -c -n: per source one template "src:0 vip:0 real:0", and connections to both ports keeping their port.
	out := x.run("-L", "-n", "-c")
	tmpls := 0
	ports := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		fs := strings.Fields(l)
		if len(fs) != 6 || fs[0] != "TCP" {
			continue
		}
		src, virt, dst := fs[3], fs[4], fs[5]
		if strings.HasSuffix(src, ":0") {
			tmpls++
			if virt != svc || !strings.HasSuffix(dst, ":0") || fs[2] != "NONE" {
				t.Errorf("template line %q: want %s and a real of port 0, state NONE", l, svc)
			}
			continue
		}
		vp, dp := virt[strings.LastIndexByte(virt, ':'):], dst[strings.LastIndexByte(dst, ':'):]
		if vp != dp {
			t.Errorf("connection line %q: the real's port should be the virtual port", l)
		}
		ports[vp] = true
	}
	if tmpls != len(srcs) || !ports[":80"] || !ports[":8080"] {
		t.Errorf("-L -n -c: %d templates for %d sources, connection ports %v:\n%s", tmpls, len(srcs), ports, out)
	}
}
