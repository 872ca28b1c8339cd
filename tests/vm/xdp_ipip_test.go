package vm

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMXDPTunnel: the xvs XDP balancer (not kernel IPVS) in tunnel mode
// (-i) sends IPIP and IPv6-in-IPv6 to real servers that decapsulate with
// the kernel's own tunnel modules (ipip's tunl0, ip6_tunnel's ip6tnl0),
// not with bpf/decap.c, and real HTTP requests are answered.
//
// Topology: tests/topo's direct-routing segment (client, balancer, two
// reals, VIPs on the reals' lo, arp_ignore/arp_announce, rp_filter off).
// The reals bring their fallback tunnel devices up with rp_filter off on
// them too. It must show: every request answered by a real that saw the
// client's own address on a connection to the VIP; the reals' tunnel
// devices received at least three packets (SYN, request, FIN) per request
// answered, so the kernel's module decapsulated what xvs encapsulated;
// the balancer's kernel forwarded nothing and kernel IPVS (which xvsadm
// mirrors the service into) counted no connection, so XDP did the work;
// xvs counted one connection per request on each real.
func TestInVMXDPTunnel(t *testing.T) {
	requireVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 2, Sources: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Reals {
		// tunl0 and ip6tnl0 are made in every namespace by the ipip and
		// ip6_tunnel modules.
		for _, dev := range []string{"tunl0", "ip6tnl0"} {
			if err := topo.SetUp(r.NS, dev); err != nil {
				t.Fatalf("%s: %v (is the kernel's tunnel module loaded?)", r.Name, err)
			}
		}
		if err := r.NS.Sysctls("net.ipv4.conf.tunl0.rp_filter", "0"); err != nil {
			t.Fatal(err)
		}
	}
	state, err := topo.StateDir(t, "xvs-vm-")
	if err != nil {
		t.Fatal(err)
	}
	lb := &box{t: t, ns: d.LB.NS, state: state}
	lb.xvsadm("", "attach", topo.Iface, "--mode", "native")
	t.Cleanup(func() { lb.run("", "/usr/sbin/xvsadm", "--state", state, "detach", topo.Iface) })
	t.Run("IPv4/ipip", func(t *testing.T) { testXDPTunnel(ctx, t, d, lb, topo.VIP4, "tunl0") })
	t.Run("IPv6/ip6ip6", func(t *testing.T) { testXDPTunnel(ctx, t, d, lb, topo.VIP6, "ip6tnl0") })
}

func testXDPTunnel(ctx context.Context, t *testing.T, d *topo.DR, parent *box, vip netip.Addr, tunDev string) {
	lb := &box{t: t, ns: parent.ns, state: parent.state} // logs to the subtest
	rx := map[string]uint64{}
	for _, r := range d.Reals {
		rx[r.Name] = tunRx(t, r, tunDev)
		r.HTTP.Reset()
	}
	svc := netip.AddrPortFrom(vip, 80)
	lb.xvsadm("", "-A", "-t", svc.String(), "-s", "rr")
	for _, r := range d.Reals {
		lb.xvsadm("", "-a", "-t", svc.String(), "-r", netip.AddrPortFrom(r.Addr(vip), 80).String(), "-i", "-w", "1")
	}
	if k := lb.ipvsadm("", "-L", "-n"); !strings.Contains(k, "Tunnel") {
		t.Errorf("kernel IPVS (the mirror) lacks the tunnel reals:\n%s", k)
	}

	v4, v6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	fwdBefore := v4 + v6
	srcs := d.Sources(vip)
	res := topo.Burst(ctx, d.Client.NS, srcs, svc, topo.BurstOptions{Timeout: 10 * time.Second, Parallel: 4})
	count := map[string]int{}
	for _, x := range res {
		if x.Err != nil {
			lb.run("", "/usr/sbin/xvsadm", "--state", lb.state, "status")
			t.Fatalf("request from %s: %v", x.Src, x.Err)
		}
		count[x.Real]++
	}
	t.Logf("%d requests answered: %v", len(srcs), count)
	for _, r := range d.Reals {
		if count[r.Name] == 0 {
			t.Errorf("rr gave %s no request of %d", r.Name, len(srcs))
		}
		for _, h := range r.HTTP.Hits() {
			if h.Local != svc || !containsAddr(srcs, h.Remote.Addr()) {
				t.Errorf("%s served %s -> %s, want a client source -> the VIP %s (decapsulated, source kept)", r.Name, h.Remote, h.Local, svc)
			}
		}
		n := tunRx(t, r, tunDev) - rx[r.Name]
		t.Logf("%s: %s received %d packets for %d requests", r.Name, tunDev, n, count[r.Name])
		if n < 3*uint64(count[r.Name]) {
			t.Errorf("%s answered %d requests but its %s received only %d packets: not decapsulated by the kernel's module", r.Name, count[r.Name], tunDev, n)
		}
	}
	if v4, v6, err = d.LB.NS.Forwarded(); err != nil {
		t.Fatal(err)
	} else if n := v4 + v6 - fwdBefore; n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed VIP traffic to it", n)
	}
	if c := svcConns(t, lb.ipvsadm("", "-L", "-n", "--stats"), svc.String()); c != "0" {
		t.Errorf("kernel IPVS counted %s connections: the XDP balancer must have served them all", c)
	}
	stats := lb.xvsadm("", "-L", "-n", "--stats")
	for _, r := range d.Reals {
		addr := netip.AddrPortFrom(r.Addr(vip), 80).String()
		if c := svcConns(t, stats, addr); c != fmt.Sprint(count[r.Name]) {
			t.Errorf("xvs counted %s connections on %s (%s), want %d", c, r.Name, addr, count[r.Name])
		}
	}
}

// tunRx returns the packets received so far by the real's tunnel device.
func tunRx(t *testing.T, r *topo.Real, dev string) uint64 {
	t.Helper()
	l, err := r.NS.Netlink().LinkByName(dev)
	if err != nil {
		t.Fatalf("%s: %s: %v", r.Name, dev, err)
	}
	return l.Attrs().Statistics.RxPackets
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
