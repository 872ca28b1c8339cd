package loader

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NextHop is where the kernel sends packets for some reals (the real
// itself on a connected network, else its gateway) and the state of the
// neighbour entry the datapath's bpf_fib_lookup needs: until it is valid
// the datapath passes the real's packets to the kernel (pass_no_neighbour).
type NextHop struct {
	Iface string
	Addr  netip.Addr
	State string // a NeighStates name
}

// NeighStates name the kernel's neighbour states (NUD_*), and "none" for
// a next hop without an entry.
var NeighStates = []string{"none", "incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent"}

// nudNames map NUD_* bits to NeighStates names.
var nudNames = []struct {
	bit  uint16
	name string
}{
	{unix.NUD_INCOMPLETE, "incomplete"}, {unix.NUD_REACHABLE, "reachable"}, {unix.NUD_STALE, "stale"},
	{unix.NUD_DELAY, "delay"}, {unix.NUD_PROBE, "probe"}, {unix.NUD_FAILED, "failed"},
	{unix.NUD_NOARP, "noarp"}, {unix.NUD_PERMANENT, "permanent"},
}

func nudName(state uint16) string {
	for _, n := range nudNames {
		if state&n.bit != 0 {
			return n.name
		}
	}
	return "none"
}

// NextHops returns the next hops of addrs (each once, in order of first
// use) with their neighbour state: one route lookup per address,
// pipelined as for the neighbour requests of a commit, and one dump of
// the neighbour table. Addresses the kernel has no route for are left out.
func NextHops(addrs []netip.Addr) ([]NextHop, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("next hops: %w", err)
	}
	defer c.Close()
	seen := map[hop]bool{}
	var hops []hop
	for lo := 0; lo < len(addrs); lo += routeWindow {
		for _, h := range routeHops(c, addrs[lo:min(lo+routeWindow, len(addrs))]) {
			if !seen[h] {
				seen[h] = true
				hops = append(hops, h)
			}
		}
	}
	_ = c.SetReadDeadline(time.Time{}) // routeHops left one
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETNEIGH, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofNdMsg), // AF_UNSPEC: both families
	})
	if err != nil {
		return nil, fmt.Errorf("next hops: dump neighbours: %w", err)
	}
	states := map[hop]uint16{}
	for _, m := range msgs {
		if h, st, ok := parseNeigh(m.Data); ok {
			states[h] = st
		}
	}
	out := make([]NextHop, 0, len(hops))
	for _, h := range hops {
		nh := NextHop{Iface: fmt.Sprint(h.ifindex), Addr: h.addr, State: "none"}
		if st, ok := states[h]; ok {
			nh.State = nudName(st)
		}
		if ifc, err := net.InterfaceByIndex(int(h.ifindex)); err == nil {
			nh.Iface = ifc.Name
		}
		out = append(out, nh)
	}
	return out, nil
}

// parseNeigh reads an RTM_NEWNEIGH message: struct ndmsg (family, ifindex,
// state) and its NDA_DST.
func parseNeigh(b []byte) (hop, uint16, bool) {
	if len(b) < unix.SizeofNdMsg {
		return hop{}, 0, false
	}
	h := hop{ifindex: binary.NativeEndian.Uint32(b[4:8])}
	state := binary.NativeEndian.Uint16(b[8:10])
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofNdMsg:])
	if err != nil {
		return hop{}, 0, false
	}
	for ad.Next() {
		if ad.Type() == unix.NDA_DST {
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok {
				h.addr = a.Unmap()
			}
		}
	}
	return h, state, ad.Err() == nil && h.addr.IsValid()
}
