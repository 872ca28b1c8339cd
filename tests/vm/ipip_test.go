package vm

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMIPIP: a service configured with xvsadm (tunnel forwarding, -i)
// is served by kernel IPVS through the mirror, and the real server
// decapsulates IPIP with the kernel's ipip module (tunl0) and answers the
// client directly. xvsadm -Z zeroes the kernel's counters.
//
// client 10.0.1.2, balancer 10.0.1.1 (VIP 10.0.9.9 on lo, bridge br0) and
// real 10.0.1.3 (VIP on tunl0) share one bridge; the client routes the VIP
// via the balancer, the real answers it directly.
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
	if err := topo.Bridge(lb.ns, "br0"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb.ns, "vc", "br0", client, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb.ns, "vr", "br0", real, "eth0"); err != nil {
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
	ip(client, "route", "add", "10.0.9.9/32", "via", "10.0.1.1")
	ip(lb.ns, "addr", "add", "10.0.1.1/24", "dev", "br0")
	ip(lb.ns, "addr", "add", "10.0.9.9/32", "dev", "lo") // IPVS serves a VIP local to the balancer
	ip(real, "addr", "add", "10.0.1.3/24", "dev", "eth0")
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
	lb.xvsadm("", "-a", "-t", "10.0.9.9:80", "-r", "10.0.1.3:80", "-i")
	if k := lb.ipvsadm("", "-L", "-n"); !strings.Contains(k, "10.0.1.3:80                  Tunnel") {
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
	// -Z reaches the kernel's counters too.
	// (IPVS folds its per-CPU counters every 2 s: poll until a deadline.)
	if c := waitConns(t, lb, "10.0.9.9:80", strconv.Itoa(n)); c != strconv.Itoa(n) {
		t.Errorf("kernel IPVS counted %s connections, want %d", c, n)
	}
	lb.xvsadm("", "-Z")
	if c := waitConns(t, lb, "10.0.9.9:80", "0"); c != "0" {
		t.Errorf("after xvsadm -Z kernel IPVS counts %s connections, want 0", c)
	}
}

// waitConns polls the kernel's connection count of vip until it is want
// or 30 s have passed, and returns the last count.
func waitConns(t *testing.T, b *box, vip, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := svcConns(t, b.ipvsadm("", "-L", "-n", "--stats"), vip)
		if c == want || time.Now().After(deadline) {
			return c
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// svcConns is the Conns column of a service's line in ipvsadm -L -n --stats.
func svcConns(t *testing.T, listing, vip string) string {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == vip {
			return f[2]
		}
	}
	t.Fatalf("no line for %s in:\n%s", vip, listing)
	return ""
}
