package topo

import "net/netip"

// RouteRepliesViaLB prepares the reals for NAT (-m): their replies to the
// client's addresses (the client's primary and extra sources, both
// families) go through the balancer, which translates them back to the
// VIP; and they send full checksums, since native XDP on the balancer
// drops the CHECKSUM_PARTIAL state of veth frames and rewrites checksums
// incrementally.
func (d *DR) RouteRepliesViaLB() error {
	clients := append([]netip.Addr{d.Client.Addr4, d.Client.Addr6}, d.Sources4...)
	clients = append(clients, d.Sources6...)
	for _, r := range d.Reals {
		for _, c := range clients {
			gw := d.LB.Addr4
			if c.Is6() {
				gw = d.LB.Addr6
			}
			if err := ReplaceRoute(r.NS, netip.PrefixFrom(c, c.BitLen()), gw); err != nil {
				return err
			}
		}
		if err := SetTxChecksum(r.NS, Iface, false); err != nil {
			return err
		}
	}
	return nil
}
