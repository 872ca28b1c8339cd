package maps

import "net/netip"

func netipAddrPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }
