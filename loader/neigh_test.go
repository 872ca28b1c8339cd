package loader_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/tests/privileged"
	"github.com/xvs-lb/xvs/tests/topo"
)

// TestResolveNeighbours: every direct-routing real gets a neighbour entry
// for its next hop (itself on a connected network, else its gateway, once
// for all the reals behind it), over many pipelined windows, IPv4 and IPv6;
// a real without a route gets none.
func TestResolveNeighbours(t *testing.T) {
	privileged.Require(t, "network namespaces")
	sfx := topo.RandSuffix(3)
	lb, err := topo.NewNetns(t, "xvs-neigh-lb-"+sfx)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := topo.NewNetns(t, "xvs-neigh-peer-"+sfx)
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb, "eth0", "", peer, "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.99.0.1/16", "fd99::1/64"} {
		if err := topo.AddAddr(lb, "eth0", netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	gw := netip.MustParseAddr("10.99.0.254")
	if err := topo.ReplaceRoute(lb, netip.MustParsePrefix("10.98.0.0/24"), gw); err != nil {
		t.Fatal(err)
	}
	var addrs, want []netip.Addr
	for i := range 300 { // 19 route windows
		a := netip.AddrFrom4([4]byte{10, 99, byte(1 + i/250), byte(1 + i%250)})
		addrs, want = append(addrs, a), append(want, a)
	}
	for i := range 20 { // behind the gateway: one entry for all
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 98, 0, byte(1 + i)}))
	}
	want = append(want, gw)
	for i := range 5 {
		a := netip.MustParseAddr("fd99::" + string(rune('a'+i)))
		addrs, want = append(addrs, a), append(want, a)
	}
	addrs = append(addrs, netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("2001:db8::1")) // no route
	if err := lb.Do(func() error { loader.ResolveNeighbours(addrs); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		ns, err := lb.Netlink().NeighList(0, family)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok && !n.IP.IsLinkLocalUnicast() && !n.IP.IsMulticast() && !n.IP.Equal(net.IPv6linklocalallrouters) {
				got = append(got, a.Unmap())
			}
		}
	}
	slices.SortFunc(got, netip.Addr.Compare)
	slices.SortFunc(want, netip.Addr.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("neighbour entries: %d, want %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
}
