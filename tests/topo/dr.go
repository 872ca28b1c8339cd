package topo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The direct-routing topology's addresses. Every node is on one L2
// segment, 10.0.0.0/24 and fd00::/64.
var (
	VIP4 = netip.MustParseAddr("10.0.0.200")
	VIP6 = netip.MustParseAddr("fd00::200")

	ClientAddr4 = netip.MustParseAddr("10.0.0.1")
	ClientAddr6 = netip.MustParseAddr("fd00::1")
	LBAddr4     = netip.MustParseAddr("10.0.0.2")
	LBAddr6     = netip.MustParseAddr("fd00::2")
)

const (
	prefix4 = 24
	prefix6 = 64
	// Iface is the name of every node's interface onto the segment.
	Iface = "eth0"
	// bridgeName is the segment's bridge, in the switch namespace.
	bridgeName = "br0"
)

// ClientSource4 returns the i-th extra IPv4 source address of the client
// (10.0.0.100 + i); ClientSource6 its IPv6 twin (fd00::100 + i, written
// with the same digits: fd00::100 ... fd00::163).
func ClientSource4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}) }

// ClientSource6 returns the i-th extra IPv6 source address of the client.
func ClientSource6(i int) netip.Addr {
	return netip.MustParseAddr("fd00::" + strconv.Itoa(100+i))
}

// RealAddr4 is the address of real k (1-based): 10.0.0.10+k.
func RealAddr4(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + k)}) }

// RealAddr6 is the IPv6 address of real k: fd00::10+k (same digits).
func RealAddr6(k int) netip.Addr { return netip.MustParseAddr("fd00::" + strconv.Itoa(10+k)) }

// Node is a host of the topology: a namespace with one interface (Iface)
// on the segment.
type Node struct {
	Name  string // role: "client", "lb", "r1"...
	NS    *Netns
	Addr4 netip.Addr // primary addresses on Iface
	Addr6 netip.Addr
}

// Addr returns the node's primary address of the family of like.
func (n *Node) Addr(like netip.Addr) netip.Addr {
	if like.Is4() {
		return n.Addr4
	}
	return n.Addr6
}

// Real is a real server: a node holding both VIPs on lo and running an
// HTTP server that answers with its name.
type Real struct {
	Node
	HTTP *Server
}

// DR is the direct-routing topology: a client with many source addresses,
// a balancer (LB) and real servers, each in its own namespace, joined by
// a bridge in a switch namespace. The client routes the VIPs via the
// balancer; the reals hold the VIPs on lo, do not answer ARP or neighbour
// solicitations for them, and answer the client directly.
//
// It is ready for native XDP on the balancer: the bridge-side end of the
// balancer's veth runs an XDP_PASS program, and the client's Iface has TX
// checksum offload off. Generic XDP needs neither, and neither hurts it.
type DR struct {
	Suffix string // random part of every namespace name
	Switch *Netns
	Client *Node
	LB     *Node
	Reals  []*Real
	// Sources4 and Sources6 are the client's extra source addresses.
	Sources4 []netip.Addr
	Sources6 []netip.Addr
}

// DROptions tunes NewDR. Zero values take the defaults.
type DROptions struct {
	Reals   int // number of real servers (default 3, at most 9)
	Sources int // client source addresses per family (default 64, at most 100)
	Port    int // HTTP port of the reals (default 80)
	// ClientPorts, when not 0, narrows the client's ephemeral ports
	// (net.ipv4.ip_local_port_range, IPv6 too) to that many, from 40000:
	// its sources then reuse ports across requests, as clients behind a
	// NAT gateway do.
	ClientPorts int
	// Prefix starts every namespace's name (default "xvs-"), so tests
	// running beside others can keep to their own.
	Prefix string
}

// NewDR builds the direct-routing topology and registers its removal with
// env. On error, what was built is removed by env's cleanups too.
func NewDR(env Env, opt DROptions) (*DR, error) {
	if opt.Reals == 0 {
		opt.Reals = 3
	}
	if opt.Sources == 0 {
		opt.Sources = 64
	}
	if opt.Port == 0 {
		opt.Port = 80
	}
	if opt.Prefix == "" {
		opt.Prefix = "xvs-"
	}
	if opt.Reals > 9 || opt.Sources > 100 {
		return nil, errors.New("topology: at most 9 reals and 100 sources")
	}
	if opt.ClientPorts < 0 || opt.ClientPorts > 20000 {
		return nil, fmt.Errorf("topology: client ports %d: want 1 to 20000, or 0", opt.ClientPorts)
	}
	d := &DR{Suffix: RandSuffix(3)}
	ns := func(role string) (*Netns, error) {
		return NewNetns(env, opt.Prefix+d.Suffix+"-"+role)
	}
	var err error
	if d.Switch, err = ns("sw"); err != nil {
		return nil, err
	}
	if err := Bridge(d.Switch, bridgeName); err != nil {
		return nil, err
	}
	node := func(role string, a4, a6 netip.Addr) (*Node, error) {
		n, err := ns(role)
		if err != nil {
			return nil, err
		}
		// Addresses are added with nodad, and no DAD on link-local
		// either: usable at once.
		if err := n.Sysctls(
			"net.ipv6.conf.default.accept_dad", "0",
			"net.ipv6.conf.all.accept_dad", "0",
		); err != nil {
			return nil, err
		}
		if err := Veth(d.Switch, role, bridgeName, n, Iface); err != nil {
			return nil, err
		}
		if err := AddAddr(n, Iface, netip.PrefixFrom(a4, prefix4)); err != nil {
			return nil, err
		}
		if err := AddAddr(n, Iface, netip.PrefixFrom(a6, prefix6)); err != nil {
			return nil, err
		}
		return &Node{Name: role, NS: n, Addr4: a4, Addr6: a6}, nil
	}

	// Balancer: forwards, and never tells the client to go around it.
	if d.LB, err = node("lb", LBAddr4, LBAddr6); err != nil {
		return nil, err
	}
	if err := d.LB.NS.Sysctls(
		"net.ipv4.ip_forward", "1",
		"net.ipv6.conf.all.forwarding", "1",
		"net.ipv4.conf.all.send_redirects", "0",
		"net.ipv4.conf."+Iface+".send_redirects", "0",
		"net.ipv4.conf.all.rp_filter", "0",
		"net.ipv4.conf."+Iface+".rp_filter", "0",
	); err != nil {
		return nil, err
	}
	// Frames the balancer sends with native XDP_TX arrive on its
	// bridge-side veth end: it needs an XDP program to take them.
	if err := AttachXDPPass(d.Switch, "lb"); err != nil {
		return nil, err
	}

	// Client: many sources, VIPs via the balancer, no redirects taken.
	if d.Client, err = node("client", ClientAddr4, ClientAddr6); err != nil {
		return nil, err
	}
	if opt.ClientPorts > 0 {
		if err := d.Client.NS.Sysctl("net.ipv4.ip_local_port_range", fmt.Sprintf("40000 %d", 40000+opt.ClientPorts-1)); err != nil {
			return nil, err
		}
	}
	if err := d.Client.NS.Sysctls(
		"net.ipv4.conf.all.accept_redirects", "0",
		"net.ipv4.conf."+Iface+".accept_redirects", "0",
		"net.ipv6.conf.all.accept_redirects", "0",
		"net.ipv6.conf."+Iface+".accept_redirects", "0",
	); err != nil {
		return nil, err
	}
	for i := range opt.Sources {
		d.Sources4 = append(d.Sources4, ClientSource4(i))
		d.Sources6 = append(d.Sources6, ClientSource6(i))
		if err := AddAddr(d.Client.NS, Iface, netip.PrefixFrom(ClientSource4(i), prefix4)); err != nil {
			return nil, err
		}
		if err := AddAddr(d.Client.NS, Iface, netip.PrefixFrom(ClientSource6(i), prefix6)); err != nil {
			return nil, err
		}
	}
	if err := ReplaceRoute(d.Client.NS, netip.PrefixFrom(VIP4, 32), LBAddr4); err != nil {
		return nil, err
	}
	if err := ReplaceRoute(d.Client.NS, netip.PrefixFrom(VIP6, 128), LBAddr6); err != nil {
		return nil, err
	}
	// Native XDP on the balancer drops CHECKSUM_PARTIAL: the client
	// must send full checksums.
	if err := SetTxChecksum(d.Client.NS, Iface, false); err != nil {
		return nil, err
	}

	// Reals: the VIPs on lo, silent about them on the segment.
	for k := 1; k <= opt.Reals; k++ {
		name := "r" + strconv.Itoa(k)
		n, err := node(name, RealAddr4(k), RealAddr6(k))
		if err != nil {
			return nil, err
		}
		if err := n.NS.Sysctls(
			"net.ipv4.conf.all.arp_ignore", "1",
			"net.ipv4.conf.all.arp_announce", "2",
			"net.ipv4.conf."+Iface+".arp_ignore", "1",
			"net.ipv4.conf."+Iface+".arp_announce", "2",
			"net.ipv4.conf.all.rp_filter", "0",
			"net.ipv4.conf."+Iface+".rp_filter", "0",
			"net.ipv4.conf.lo.rp_filter", "0",
		); err != nil {
			return nil, err
		}
		// On lo, an IPv6 address is never the target of neighbour
		// advertisements sent on eth0 (no proxy NDP).
		if err := AddAddr(n.NS, "lo", netip.PrefixFrom(VIP4, 32)); err != nil {
			return nil, err
		}
		if err := AddAddr(n.NS, "lo", netip.PrefixFrom(VIP6, 128)); err != nil {
			return nil, err
		}
		srv, err := Serve(env, n.NS, name, opt.Port)
		if err != nil {
			return nil, err
		}
		d.Reals = append(d.Reals, &Real{Node: *n, HTTP: srv})
	}
	return d, nil
}

// AddAddr adds p to ifname in n, without duplicate address detection.
func AddAddr(n *Netns, ifname string, p netip.Prefix) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	a := &netlink.Addr{IPNet: prefixIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := n.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("netns %s: add %s to %s: %w", n.Name, p, ifname, err)
	}
	return nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ReplaceRoute sets the route to dst in n to go via gw (ip route replace).
func ReplaceRoute(n *Netns, dst netip.Prefix, gw netip.Addr) error {
	r := &netlink.Route{Dst: prefixIPNet(dst), Gw: gw.AsSlice()}
	if err := n.nl.RouteReplace(r); err != nil {
		return fmt.Errorf("netns %s: route %s via %s: %w", n.Name, dst, gw, err)
	}
	return nil
}

// DeleteRoute removes the route to dst in n; a missing route is no error.
func DeleteRoute(n *Netns, dst netip.Prefix) error {
	r := &netlink.Route{Dst: prefixIPNet(dst)}
	if err := n.nl.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("netns %s: delete route %s: %w", n.Name, dst, err)
	}
	return nil
}

// Real returns the real named name ("r1"...), or nil.
func (d *DR) Real(name string) *Real {
	for _, r := range d.Reals {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Sources returns the client's extra source addresses of vip's family.
func (d *DR) Sources(vip netip.Addr) []netip.Addr {
	if vip.Is4() {
		return d.Sources4
	}
	return d.Sources6
}

// RouteVIPVia makes the balancer's kernel forward both VIPs to r with a
// plain route: what happens when no XDP program takes the packets.
func (d *DR) RouteVIPVia(r *Real) error {
	if err := ReplaceRoute(d.LB.NS, netip.PrefixFrom(VIP4, 32), r.Addr4); err != nil {
		return err
	}
	return ReplaceRoute(d.LB.NS, netip.PrefixFrom(VIP6, 128), r.Addr6)
}

// ResolveReals makes the balancer resolve the link-layer address of every
// real in both families (a UDP datagram to the discard port triggers
// ARP and neighbour discovery) and waits until its neighbour table holds
// them, so that a bpf_fib_lookup from the balancer finds them.
func (d *DR) ResolveReals(ctx context.Context) error {
	var want []netip.Addr
	for _, r := range d.Reals {
		want = append(want, r.Addr4, r.Addr6)
	}
	return ResolveNeighbours(ctx, d.LB.NS, Iface, want)
}

// ResolveNeighbours sends a UDP datagram from n to each address in want,
// then polls n's neighbour table on ifname until every address has a valid
// entry or ctx ends. It sends again every 200ms while waiting.
func ResolveNeighbours(ctx context.Context, n *Netns, ifname string, want []netip.Addr) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	const valid = netlink.NUD_PERMANENT | netlink.NUD_NOARP | netlink.NUD_REACHABLE |
		netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := map[netip.Addr]bool{}
		for _, a := range want {
			missing[a] = true
		}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			neighs, err := n.nl.NeighList(l.Attrs().Index, fam)
			if err != nil {
				return fmt.Errorf("netns %s: list neighbours: %w", n.Name, err)
			}
			for _, ne := range neighs {
				a, ok := netip.AddrFromSlice(ne.IP)
				if ok && ne.State&valid != 0 && len(ne.HardwareAddr) > 0 {
					delete(missing, a.Unmap())
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		err := n.Do(func() error {
			for a := range missing {
				c, err := net.Dial("udp", netip.AddrPortFrom(a, 9).String())
				if err != nil {
					return err
				}
				_, _ = c.Write([]byte{0})
				c.Close()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("netns %s: probe neighbours: %w", n.Name, err)
		}
		select {
		case <-ctx.Done():
			var m []netip.Addr
			for a := range missing {
				m = append(m, a)
			}
			return fmt.Errorf("netns %s: neighbours not resolved: %v: %w", n.Name, m, ctx.Err())
		case <-tick.C:
		}
	}
}
