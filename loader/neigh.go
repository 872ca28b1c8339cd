package loader

import (
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// resolveNeighbours asks the kernel to resolve (ARP/NDP) the link-layer
// address of every direct-routing real that has no neighbour entry yet: the
// datapath's bpf_fib_lookup only reads the neighbour table and passes
// packets to the kernel until an entry exists. It is best effort: a real that
// is not on a connected network simply stays unresolved.
func resolveNeighbours(cfg *maps.Config) {
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			if d.Fwd != bpf.FwdDRoute {
				continue
			}
			ip := net.IP(d.Addr.Unmap().AsSlice())
			routes, err := netlink.RouteGet(ip)
			if err != nil || len(routes) == 0 || routes[0].LinkIndex == 0 {
				continue
			}
			hop := ip
			if routes[0].Gw != nil {
				hop = routes[0].Gw
			}
			family := unix.AF_INET
			if d.Addr.Unmap().Is6() {
				family = unix.AF_INET6
			}
			// NTF_USE makes the kernel send a probe as if a packet used the entry.
			_ = netlink.NeighSet(&netlink.Neigh{
				LinkIndex: routes[0].LinkIndex, Family: family, IP: hop,
				State: netlink.NUD_NONE, Flags: netlink.NTF_USE,
			})
		}
	}
}
