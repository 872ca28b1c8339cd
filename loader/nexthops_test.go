package loader

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// neighMsg builds an RTM_NEWNEIGH body: struct ndmsg and NDA_DST.
func neighMsg(family uint8, ifindex uint32, state uint16, dst []byte) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = family                                 // ndm_family
	binary.NativeEndian.PutUint32(b[4:], ifindex) // ndm_ifindex
	binary.NativeEndian.PutUint16(b[8:], state)   // ndm_state
	if dst == nil {
		return b
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, dst)
	attrs, _ := ae.Encode()
	return append(b, attrs...)
}

func TestParseNeigh(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.11")
	v6 := netip.MustParseAddr("fd00::11")
	for _, c := range []struct {
		name  string
		msg   []byte
		hop   hop
		state string
		ok    bool
	}{
		{"IPv4 reachable", neighMsg(unix.AF_INET, 3, unix.NUD_REACHABLE, v4.AsSlice()), hop{3, v4}, "reachable", true},
		{"IPv6 stale", neighMsg(unix.AF_INET6, 4, unix.NUD_STALE, v6.AsSlice()), hop{4, v6}, "stale", true},
		{"failed", neighMsg(unix.AF_INET, 3, unix.NUD_FAILED, v4.AsSlice()), hop{3, v4}, "failed", true},
		{"no state bits", neighMsg(unix.AF_INET, 3, 0, v4.AsSlice()), hop{3, v4}, "none", true},
		{"no destination", neighMsg(unix.AF_INET, 3, unix.NUD_REACHABLE, nil), hop{}, "", false},
		{"truncated", []byte{2, 0, 0}, hop{}, "", false},
	} {
		h, st, ok := parseNeigh(c.msg)
		if ok != c.ok || (ok && (h != c.hop || nudName(st) != c.state)) {
			t.Errorf("%s: %+v %s %v; want %+v %s %v", c.name, h, nudName(st), ok, c.hop, c.state, c.ok)
		}
	}
}
