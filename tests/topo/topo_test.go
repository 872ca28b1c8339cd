package topo_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestNetnsDo checks that Do runs in the namespace and leaves the
// caller's thread where it was.
func TestNetnsDo(t *testing.T) {
	topo.Require(t)
	self, err := os.Stat("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	n, err := topo.NewNetns(t, "xvs-test-"+topo.RandSuffix(3))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.Stat(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	var inside os.FileInfo
	if err := n.Do(func() (err error) {
		inside, err = os.Stat("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(inside, want) {
		t.Fatalf("Do did not run in %s", n.Name)
	}
	// No thread of the runtime may be left in the namespace: goroutines
	// spread over the runtime's threads all see the test's namespace.
	var wg sync.WaitGroup
	var moved atomic.Int32
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now, err := os.Stat("/proc/thread-self/ns/net")
			if err != nil || !os.SameFile(now, self) {
				moved.Add(1)
			}
		}()
	}
	wg.Wait()
	if moved.Load() != 0 {
		t.Fatalf("%d goroutines ran outside the test's namespace", moved.Load())
	}
}

// TestCleanupsRemoveAll builds the whole topology with a Cleanups, as a
// main program does, closes it and checks that no namespace is left.
func TestCleanupsRemoveAll(t *testing.T) {
	topo.Require(t)
	var c topo.Cleanups
	d, err := topo.NewDR(&c, topo.DROptions{Sources: 4})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(topo.NetnsDir, "xvs-"+d.Suffix+"-*"))
	if len(names) != 6 {
		t.Errorf("namespaces of the topology: %v, want 6", names)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(topo.NetnsDir, "xvs-"+d.Suffix+"-*")); len(left) != 0 {
		t.Fatalf("left after Close: %v", left)
	}
}

// TestPlainForwarding checks the topology without any XDP program: the
// balancer's kernel forwards the VIP with a plain route, the reals answer
// the client directly and see its own source address, and no real
// answers ARP or neighbour solicitations for the VIP.
func TestPlainForwarding(t *testing.T) {
	topo.Require(t)
	d, err := topo.NewDR(t, topo.DROptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("nsenter keeps bpffs", func(t *testing.T) {
		if err := topo.EnsureBPFFS(); err != nil {
			t.Fatal(err)
		}
		out, _, err := d.LB.NS.Run(ctx, "stat", "-f", "-c", "%T", topo.BPFFSRoot)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out); got != "bpf_fs" {
			t.Fatalf("inside lb, %s is %q, want bpf_fs", topo.BPFFSRoot, got)
		}
		out, _, err = d.LB.NS.Run(ctx, "ip", "-o", "addr", "show", "dev", topo.Iface)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, topo.LBAddr4.String()+"/24") {
			t.Fatalf("inside lb, ip addr shows no %s:\n%s", topo.LBAddr4, out)
		}
	})

	t.Run("native XDP ready", func(t *testing.T) {
		mode, id, err := topo.XDPAttached(d.Switch, "lb")
		if err != nil {
			t.Fatal(err)
		}
		if mode != topo.XDPNative || id == 0 {
			t.Fatalf("bridge side of lb's veth: xdp %v id %d, want native", mode, id)
		}
		out, _, err := d.Client.NS.Run(ctx, "ethtool", "-k", topo.Iface)
		if err != nil {
			t.Fatalf("ethtool: %v", err)
		}
		if !strings.Contains(out, "tx-checksumming: off") {
			t.Fatalf("client %s: tx checksumming not off:\n%s", topo.Iface, out)
		}
	})

	t.Run("VIP not claimed on the segment", func(t *testing.T) {
		// The VIP is inside the segment's prefixes, so without a route
		// the balancer asks the segment for it: no real may answer.
		rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		err := topo.ResolveNeighbours(rctx, d.LB.NS, topo.Iface, []netip.Addr{topo.VIP4, topo.VIP6})
		if err == nil {
			t.Fatal("a real answered ARP or neighbour solicitation for the VIP")
		}
		if !strings.Contains(err.Error(), "not resolved") {
			t.Fatal(err)
		}
	})

	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	for _, vip := range []netip.Addr{topo.VIP4, topo.VIP6} {
		for _, via := range []string{"r1", "r3"} {
			t.Run(vip.String()+" via "+via, func(t *testing.T) {
				r := d.Real(via)
				if err := d.RouteVIPVia(r); err != nil {
					t.Fatal(err)
				}
				for _, x := range d.Reals {
					x.HTTP.Reset()
				}
				srcs := d.Sources(vip)
				f4, f6, err := d.LB.NS.Forwarded()
				if err != nil {
					t.Fatal(err)
				}
				res := topo.Burst(ctx, d.Client.NS, srcs, netip.AddrPortFrom(vip, 80), topo.BurstOptions{})
				for _, x := range res {
					if x.Err != nil {
						t.Errorf("from %s: %v", x.Src, x.Err)
					} else if x.Real != via {
						t.Errorf("from %s: answered by %s, want %s", x.Src, x.Real, via)
					}
				}
				g4, g6, err := d.LB.NS.Forwarded()
				if err != nil {
					t.Fatal(err)
				}
				fwd := g4 - f4
				if vip.Is6() {
					fwd = g6 - f6
				}
				// SYN, ACK, request, FIN at least, for each request.
				if fwd < 4*uint64(len(srcs)) {
					t.Errorf("the balancer's kernel forwarded %d packets for %d requests", fwd, len(srcs))
				}
				hits := r.HTTP.Hits()
				if len(hits) != len(srcs) {
					t.Fatalf("%s saw %d requests, want %d", via, len(hits), len(srcs))
				}
				seen := map[netip.Addr]bool{}
				for _, h := range hits {
					seen[h.Remote.Addr()] = true
					if h.Local != netip.AddrPortFrom(vip, 80) {
						t.Errorf("%s: request to %s, want the VIP", via, h.Local)
					}
				}
				for _, s := range srcs {
					if !seen[s] {
						t.Errorf("%s never saw client source %s", via, s)
					}
				}
			})
		}
	}
}

// TestNetnsDirShared checks that namespaces are mounted in a NetnsDir that
// is a shared mount point of its own, as iproute2 leaves it: a later
// `ip netns add` then does not bind-mount the directory over them (which
// would make them impossible to unmount or remove).
func TestNetnsDirShared(t *testing.T) {
	topo.Require(t)
	if _, err := topo.NewNetns(t, "xvs-test-"+topo.RandSuffix(3)); err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != topo.NetnsDir {
			continue
		}
		if !strings.Contains(line, " shared:") {
			t.Fatalf("%s is a mount point but not shared: %s", topo.NetnsDir, line)
		}
		return
	}
	t.Fatalf("%s is not a mount point of its own", topo.NetnsDir)
}
