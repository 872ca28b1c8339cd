package maps

import (
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/xvs-lb/xvs/bpf"
)

// Byte order is decided here, once: keys and records hold addresses and
// ports exactly as on the wire. bpf2go types store a __be16 in a uint16 that
// is written in the host's (little-endian) order, so the value is swapped.

// be16 returns the uint16 whose little-endian bytes are port in network order.
func be16(port uint16) uint16 { return bits.ReverseBytes16(port) }

// addrBytes returns a's wire bytes in a 16-byte field, IPv4 in the first 4, and its family.
func addrBytes(a netip.Addr) (b [16]uint8, af uint8) {
	if a.Is4() || a.Is4In6() {
		v4 := a.Unmap().As4()
		copy(b[:], v4[:])
		return b, bpf.AFInet
	}
	return a.As16(), bpf.AFInet6
}

// addrFrom is the inverse of addrBytes.
func addrFrom(b [16]uint8, af uint8) netip.Addr {
	if af == bpf.AFInet {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// SvcKey returns the xvs_svcs key of a service.
func SvcKey(s *Service) bpf.SvcKey {
	var k bpf.SvcKey
	if s.FwMark != 0 {
		k.Addr[0], k.Addr[1], k.Addr[2], k.Addr[3] = byte(s.FwMark>>24), byte(s.FwMark>>16), byte(s.FwMark>>8), byte(s.FwMark)
		k.Af = bpf.AFInet
		if s.Is6() {
			k.Af = bpf.AFInet6
		}
		return k
	}
	k.Addr, k.Af = addrBytes(s.Addr)
	if s.Addr.Is4In6() { // an IPv6 service, apart from the IPv4 one (as kernel IPVS)
		k.Addr, k.Af = s.Addr.As16(), bpf.AFInet6
	}
	k.Port = be16(s.Port)
	k.Proto = s.Proto
	return k
}

// ConnKey returns the xvs_conns key of a flow from client to vip.
func ConnKey(proto uint8, client, vip netip.AddrPort) bpf.ConnKey {
	var k bpf.ConnKey
	k.Saddr, k.Af = addrBytes(client.Addr())
	k.Daddr, _ = addrBytes(vip.Addr())
	k.Sport, k.Dport = be16(client.Port()), be16(vip.Port())
	k.Proto = proto
	return k
}

// ConnKeyString shows a connection key as "proto client -> vip".
func ConnKeyString(k *bpf.ConnKey) string {
	return fmt.Sprintf("%d %s -> %s", k.Proto,
		netip.AddrPortFrom(addrFrom(k.Saddr, k.Af), be16(k.Sport)),
		netip.AddrPortFrom(addrFrom(k.Daddr, k.Af), be16(k.Dport)))
}
