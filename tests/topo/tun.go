package topo

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
)

// Decap is the decapsulation program attached to one real server.
type Decap struct {
	Real string
	objs *bpf.DecapObjects
}

// AttachDecap attaches the real servers' decapsulation program (bpf/decap.c)
// to Iface of every real, in native or generic mode, stripping GUE on
// guePort (0: no GUE), so the reals take tunnelled packets without ipip or
// gre modules. Everything is removed by env's cleanups.
func (d *DR) AttachDecap(env Env, generic bool, guePort uint16) ([]*Decap, error) {
	var out []*Decap
	for _, r := range d.Reals {
		objs, err := loader.LoadDecap(loader.DecapOptions{GUEPort: guePort})
		if err != nil {
			return nil, err
		}
		env.Cleanup(func() { objs.Close() })
		var lk link.Link
		err = r.NS.Do(func() error {
			l, err := netlink.LinkByName(Iface)
			if err != nil {
				return err
			}
			flags := link.XDPDriverMode
			if generic {
				flags = link.XDPGenericMode
			}
			lk, err = link.AttachXDP(link.XDPOptions{Program: objs.XvsDecap, Interface: l.Attrs().Index, Flags: flags})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("netns %s: attach decap: %w", r.NS.Name, err)
		}
		env.Cleanup(func() { lk.Close() })
		out = append(out, &Decap{Real: r.Name, objs: objs})
	}
	return out, nil
}

// Decapsulated returns how many packets the program has stripped, summed
// over CPUs and tunnel types.
func (x *Decap) Decapsulated() (uint64, error) {
	var total uint64
	for k := uint32(0); k < uint32(bpf.DecapXvsDecapStatXVS_DECAP_MAX); k++ {
		var per []uint64
		if err := x.objs.XvsDecapStats.Lookup(k, &per); err != nil {
			return 0, fmt.Errorf("%s: decap counters: %w", x.Real, err)
		}
		for _, v := range per {
			total += v
		}
	}
	return total, nil
}

// DelAddr removes p from ifname in n.
func DelAddr(n *Netns, ifname string, p netip.Prefix) error {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	if err := n.nl.AddrDel(l, &netlink.Addr{IPNet: prefixIPNet(p)}); err != nil {
		return fmt.Errorf("netns %s: remove %s from %s: %w", n.Name, p, ifname, err)
	}
	return nil
}
