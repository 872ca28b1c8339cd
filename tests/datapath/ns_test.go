package datapath

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/privileged"
)

// nsRunner runs functions on one OS thread inside a private network namespace.
type nsRunner struct {
	work chan func()
}

// newNS starts a locked thread in a new network namespace; it ends (and the
// namespace with it) when the test ends.
func newNS(tb testing.TB) *nsRunner {
	tb.Helper()
	r := &nsRunner{work: make(chan func())}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if _, err := netns.New(); err != nil {
			ready <- fmt.Errorf("new netns: %w", err)
			return
		}
		ready <- nil
		for f := range r.work {
			f()
		}
	}()
	if err := <-ready; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { close(r.work) })
	return r
}

// do runs f inside the namespace and waits for it.
func (r *nsRunner) do(f func()) {
	done := make(chan struct{})
	r.work <- func() { defer close(done); f() }
	<-done
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	privileged.Require(tb, "BPF, netns")
}

// The test network, seen from the balancer: one interface (dp0) on
// 10.0.0.0/24 and fd00::/64 with the reals' MACs in its neighbour table.
var (
	lbMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	peerMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	realMACs = map[string]net.HardwareAddr{
		"10.0.0.11": {0x02, 0, 0, 0, 0, 0x11}, "10.0.0.12": {0x02, 0, 0, 0, 0, 0x12}, "10.0.0.13": {0x02, 0, 0, 0, 0, 0x13},
		"fd00::11": {0x02, 0, 0, 0, 0, 0x11}, "fd00::12": {0x02, 0, 0, 0, 0, 0x12}, "fd00::13": {0x02, 0, 0, 0, 0, 0x13},
	}
)

// setupNet builds dp0 inside the namespace and returns its ifindex.
func setupNet(tb testing.TB, r *nsRunner) int {
	tb.Helper()
	var ifindex int
	var err error
	r.do(func() { ifindex, err = buildNet() })
	if err != nil {
		tb.Fatal(err)
	}
	return ifindex
}

func buildNet() (int, error) {
	la := netlink.NewLinkAttrs()
	la.Name, la.HardwareAddr = "dp0", lbMAC
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "dp1", PeerHardwareAddr: peerMAC}); err != nil {
		return 0, fmt.Errorf("add veth: %w", err)
	}
	l, err := netlink.LinkByName("dp0")
	if err != nil {
		return 0, err
	}
	for _, a := range []string{"10.0.0.1/24", "fd00::1/64"} {
		addr, _ := netlink.ParseAddr(a)
		addr.Flags = unix.IFA_F_NODAD // usable at once
		if err := netlink.AddrAdd(l, addr); err != nil {
			return 0, fmt.Errorf("add %s: %w", a, err)
		}
	}
	for _, name := range []string{"dp0", "dp1"} {
		x, _ := netlink.LinkByName(name)
		if err := netlink.LinkSetUp(x); err != nil {
			return 0, fmt.Errorf("up %s: %w", name, err)
		}
	}
	for ip, mac := range realMACs {
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, IP: net.ParseIP(ip), HardwareAddr: mac, State: netlink.NUD_PERMANENT}
		if err := netlink.NeighSet(n); err != nil {
			return 0, fmt.Errorf("neigh %s: %w", ip, err)
		}
	}
	for _, f := range []string{"/proc/sys/net/ipv4/conf/all/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
			return 0, err
		}
	}
	return l.Attrs().Index, nil
}
