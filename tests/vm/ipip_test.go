package vm

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMIPIP: a service configured with xvsadm (tunnel forwarding, -i)
// is served by kernel IPVS through the mirror, and the real server
// decapsulates IPIP with the kernel's ipip module (tunl0) and answers the
// client directly.
//
//	client 10.0.1.2 --- 10.0.1.1 lb 10.0.2.1 --- 10.0.2.2 real (VIP 10.0.9.9 on lo)
func TestInVMIPIP(t *testing.T) {
	requireVM(t)
	lb := newBox(t)
	client, err := topo.NewNetns(t, "xvsvm-c-"+topo.RandSuffix(4))
	if err != nil {
		t.Fatal(err)
	}
	real, err := topo.NewNetns(t, "xvsvm-r-"+topo.RandSuffix(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb.ns, "eth0", "", client, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb.ns, "eth1", "", real, "eth0"); err != nil {
		t.Fatal(err)
	}
	ip := func(n *topo.Netns, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := n.Run(ctx, "/usr/sbin/ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	sysctl := func(n *topo.Netns, key, val string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := n.Run(ctx, "/bin/sh", "-c", "echo "+val+" > /proc/sys/"+strings.ReplaceAll(key, ".", "/")); err != nil {
			t.Fatal(err)
		}
	}
	ip(client, "addr", "add", "10.0.1.2/24", "dev", "eth0")
	ip(client, "route", "add", "default", "via", "10.0.1.1")
	ip(lb.ns, "addr", "add", "10.0.1.1/24", "dev", "eth0")
	ip(lb.ns, "addr", "add", "10.0.2.1/24", "dev", "eth1")
	sysctl(lb.ns, "net.ipv4.ip_forward", "1")
	ip(lb.ns, "addr", "add", "10.0.9.9/32", "dev", "lo") // IPVS serves a VIP local to the balancer
	ip(real, "addr", "add", "10.0.2.2/24", "dev", "eth0")
	ip(real, "route", "add", "default", "via", "10.0.2.1")
	ip(real, "link", "set", "tunl0", "up") // made by the ipip module in every namespace
	ip(real, "addr", "add", "10.0.9.9/32", "dev", "tunl0")
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.tunl0.rp_filter", "net.ipv4.conf.default.rp_filter"} {
		sysctl(real, k, "0")
	}
	sysctl(real, "net.ipv4.conf.all.arp_ignore", "1")
	sysctl(real, "net.ipv4.conf.all.arp_announce", "2")
	srv, err := topo.Serve(t, real, "real1", 80)
	if err != nil {
		t.Fatal(err)
	}

	lb.xvsadm("", "-A", "-t", "10.0.9.9:80", "-s", "rr")
	lb.xvsadm("", "-a", "-t", "10.0.9.9:80", "-r", "10.0.2.2:80", "-i")
	if k := lb.ipvsadm("", "-L", "-n"); !strings.Contains(k, "10.0.2.2:80                  Tunnel") {
		t.Fatalf("kernel IPVS lacks the tunnel real:\n%s", k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vip := netip.MustParseAddrPort("10.0.9.9:80")
	const n = 5
	for i := range n {
		got, err := topo.Get(ctx, client, netip.MustParseAddr("10.0.1.2"), vip)
		if err != nil || got != "real1" {
			t.Fatalf("request %d through IPVS tunnel mode: %q, %v", i, got, err)
		}
	}
	if hits := srv.Hits(); len(hits) != n || hits[0].Local != vip {
		t.Errorf("real saw %d requests (want %d), first to %v (want the VIP %v, decapsulated)", len(hits), n, hits[0].Local, vip)
	}
	k := lb.ipvsadm("", "-L", "-n", "--stats")
	t.Logf("kernel IPVS after %d requests:\n%s", n, k)
}
