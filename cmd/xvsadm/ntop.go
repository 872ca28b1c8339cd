package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// afOf is the address family kernel IPVS records for an address.
func afOf(a netip.Addr) int {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

// inetNtop formats an address as glibc's inet_ntop does: dotted quad for
// IPv4; for IPv6 the longest run (two or more) of zero groups compressed,
// and an IPv4 tail for IPv4-mapped and IPv4-compatible addresses.
func inetNtop(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	if !a.IsValid() {
		return "0.0.0.0"
	}
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := range w {
		if w[i] == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			fmt.Fprintf(&sb, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			return sb.String()
		}
		sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}

// inetNtoa formats a host-order IPv4 value (inet_ntoa).
func inetNtoa(v uint32) string { return addr4(v).String() }
