package loader

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// newDRReals lists, once each, the addresses of the direct-routing reals
// of cfg that are not committed yet (no ID): those a commit adds.
func newDRReals(cfg *maps.Config) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			if d.Fwd == bpf.FwdDRoute && d.ID == 0 && !seen[d.Addr] {
				seen[d.Addr] = true
				out = append(out, d.Addr)
			}
		}
	}
	return out
}

// resolveNeighbours asks the kernel to resolve (ARP/NDP) the link-layer
// address of each direct-routing real in addrs (see newDRReals: only new
// reals, each address once; a real already committed was asked for then): the
// datapath's bpf_fib_lookup only reads the neighbour table and passes
// packets to the kernel until an entry exists. It is best effort: a real that
// is not on a connected network simply stays unresolved.
func resolveNeighbours(addrs []netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	// One socket for every request (the package's functions open one per call).
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return
	}
	defer h.Close()
	for _, a := range addrs {
		ip := net.IP(a.Unmap().AsSlice())
		routes, err := h.RouteGet(ip)
		if err != nil || len(routes) == 0 || routes[0].LinkIndex == 0 {
			continue
		}
		hop := ip
		if routes[0].Gw != nil {
			hop = routes[0].Gw
		}
		family := unix.AF_INET
		if a.Unmap().Is6() {
			family = unix.AF_INET6
		}
		// NTF_USE makes the kernel send a probe as if a packet used the entry.
		_ = h.NeighSet(&netlink.Neigh{
			LinkIndex: routes[0].LinkIndex, Family: family, IP: hop,
			State: netlink.NUD_NONE, Flags: netlink.NTF_USE,
		})
	}
}
