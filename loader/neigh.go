package loader

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
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
			if a := d.Addr.Unmap(); d.Fwd == bpf.FwdDRoute && d.ID == 0 && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

const (
	// routeWindow is how many route lookups one write carries: the kernel
	// allocates each answer at NLMSG_GOODSIZE, about 8 KiB of the receive
	// buffer (208 KiB by default), and drops answers that do not fit.
	routeWindow = 16
	// neighWindow is how many neighbour requests one write carries; they
	// ask for no answer.
	neighWindow = 128
)

// hop is where the kernel sends packets for a real: an interface and the
// next hop's address (the real itself on a connected network).
type hop struct {
	ifindex uint32
	addr    netip.Addr
}

// resolveNeighbours asks the kernel to resolve (ARP/NDP) the link-layer
// address of each direct-routing real in addrs (see newDRReals: only new
// reals, each address once; a real already committed was asked for then): the
// datapath's bpf_fib_lookup only reads the neighbour table and passes
// packets to the kernel until an entry exists. It is best effort: a real that
// is not on a connected network simply stays unresolved. The requests are
// pipelined on one rtnetlink socket (a restore of 1,000 services can add
// thousands of reals): the route lookups a window per write, their answers
// matched by sequence number, then one NTF_USE neighbour request per next
// hop, many per write.
func resolveNeighbours(addrs []netip.Addr) {
	if len(addrs) == 0 {
		return
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return
	}
	defer c.Close()
	seen := map[hop]bool{}
	var uses []netlink.Message
	for lo := 0; lo < len(addrs); lo += routeWindow {
		for _, h := range routeHops(c, addrs[lo:min(lo+routeWindow, len(addrs))]) {
			if !seen[h] {
				seen[h] = true
				uses = append(uses, neighUse(h))
			}
		}
	}
	for lo := 0; lo < len(uses); lo += neighWindow {
		// Sending is enough: the kernel handles a write's requests before
		// the write returns.
		if _, err := c.SendMessages(uses[lo:min(lo+neighWindow, len(uses))]); err != nil {
			return
		}
	}
}

// routeHops looks up the route of each address in one write and returns
// the next hops of those the kernel routes through an interface.
func routeHops(c *netlink.Conn, addrs []netip.Addr) []hop {
	msgs := make([]netlink.Message, len(addrs))
	for i, a := range addrs {
		msgs[i] = netlink.Message{Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request}, Data: routeQuery(a)}
	}
	sent, err := c.SendMessages(msgs)
	if err != nil {
		return nil
	}
	bySeq := make(map[uint32]netip.Addr, len(sent))
	for i, m := range sent {
		bySeq[m.Header.Sequence] = addrs[i]
	}
	// Every answer is queued before the write returns; the deadline only
	// ends the wait for one the kernel dropped.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	var hops []hop
	for answers := 0; answers < len(sent); {
		got, err := c.Receive()
		if errors.Is(err, unix.ENOBUFS) {
			continue // some answers were dropped (the buffer overflowed): read the others
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break // the rest were dropped
		}
		if err != nil {
			answers++ // a failed lookup (no route); the package drops its sequence number
			continue
		}
		for _, m := range got {
			a, ok := bySeq[m.Header.Sequence]
			if !ok {
				continue // an answer to an earlier window, after its deadline
			}
			answers++
			if h, ok := parseRoute(m.Data, a); ok {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// routeQuery is an RTM_GETROUTE request for a: struct rtmsg and RTA_DST,
// asking for the route the kernel's tables give (RTM_F_LOOKUP_TABLE).
func routeQuery(a netip.Addr) []byte {
	family, bits := uint8(unix.AF_INET), uint8(32)
	if a.Is6() {
		family, bits = unix.AF_INET6, 128
	}
	b := make([]byte, unix.SizeofRtMsg, unix.SizeofRtMsg+4+16)
	b[0], b[1] = family, bits // rtm_family, rtm_dst_len
	binary.NativeEndian.PutUint32(b[8:], unix.RTM_F_LOOKUP_TABLE)
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_DST, a.AsSlice())
	attrs, _ := ae.Encode()
	return append(b, attrs...)
}

// parseRoute reads the interface and gateway of an RTM_NEWROUTE answer for
// a: the next hop is the gateway, or a itself on a connected network.
func parseRoute(data []byte, a netip.Addr) (hop, bool) {
	if len(data) < unix.SizeofRtMsg {
		return hop{}, false
	}
	ad, err := netlink.NewAttributeDecoder(data[unix.SizeofRtMsg:])
	if err != nil {
		return hop{}, false
	}
	h := hop{addr: a}
	for ad.Next() {
		switch ad.Type() {
		case unix.RTA_OIF:
			h.ifindex = ad.Uint32()
		case unix.RTA_GATEWAY:
			if gw, ok := netip.AddrFromSlice(ad.Bytes()); ok {
				h.addr = gw.Unmap()
			}
		}
	}
	return h, ad.Err() == nil && h.ifindex != 0
}

// neighUse is an RTM_NEWNEIGH request with NTF_USE for h: the kernel sends
// a probe as if a packet used the entry, creating it if needed.
func neighUse(h hop) netlink.Message {
	family := uint8(unix.AF_INET)
	if h.addr.Is6() {
		family = unix.AF_INET6
	}
	b := make([]byte, unix.SizeofNdMsg, unix.SizeofNdMsg+4+16)
	b[0] = family                                       // ndm_family
	binary.NativeEndian.PutUint32(b[4:], h.ifindex)     // ndm_ifindex
	binary.NativeEndian.PutUint16(b[8:], unix.NUD_NONE) // ndm_state
	b[10] = unix.NTF_USE                                // ndm_flags
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, h.addr.AsSlice())
	attrs, _ := ae.Encode()
	return netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWNEIGH, Flags: netlink.Request | netlink.Create | netlink.Replace},
		Data:   append(b, attrs...),
	}
}
