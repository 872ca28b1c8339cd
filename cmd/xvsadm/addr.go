package main

import (
	"math"
	"net/netip"
	"strings"
)

// What parseService found (ipvsadm's SERVICE_*).
const (
	serviceNone = 0
	serviceAddr = 1
	servicePort = 2
)

// cIsSpace is C's isspace in the C locale.
func cIsSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// strtol parses like C's strtol(s, &end, base) for base 10 or 0: leading
// white space, a sign, digits. It returns the value, the number of bytes
// used (0 when no digits) and whether the value overflowed.
func strtol(s string, base int) (v int64, n int, overflow bool) {
	i := 0
	for i < len(s) && cIsSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if base == 0 {
		switch {
		case i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && hexVal(s[i+2]) < 16:
			base, i = 16, i+2
		case i < len(s) && s[i] == '0':
			base = 8
		default:
			base = 10
		}
	}
	start := i
	var u uint64
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 || d >= base {
			break
		}
		if u > (math.MaxUint64-uint64(d))/uint64(base) {
			overflow = true
			u = math.MaxUint64
		} else if !overflow {
			u = u*uint64(base) + uint64(d)
		}
	}
	if i == start {
		return 0, 0, false
	}
	if neg {
		if u > 1<<63 {
			return math.MinInt64, i, true
		}
		return -int64(u), i, overflow
	}
	if u > math.MaxInt64 {
		return math.MaxInt64, i, true
	}
	return int64(u), i, overflow
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// stringToNumber is ipvsadm's string_to_number: the whole string a decimal
// number within [min, max], else -1.
func stringToNumber(s string, min, max int64) int64 {
	v, n, overflow := strtol(s, 10)
	if n == 0 || n != len(s) || overflow || v < min || v > max {
		return -1
	}
	return v
}

// atoi is C's atoi (overflow clamps instead of being undefined).
func atoi(s string) int64 {
	v, _, _ := strtol(s, 10)
	return v
}

// strIsDigit is ipvsadm's str_is_digit: true for "" and all-digit strings.
func strIsDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// inetAton is glibc's inet_aton: "a.b.c.d", "a.b.c" (c 16 bits), "a.b" (b
// 24 bits) or "a" (32 bits), each part decimal, octal (0...) or hex (0x...),
// anything after white space ignored. It returns the address in host order.
func inetAton(s string) (uint32, bool) {
	var parts [3]uint32
	np := 0
	i := 0
	var val uint64
	for {
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		v, n, overflow := strtoul(s[i:])
		if overflow || v > 0xffffffff {
			return 0, false
		}
		val = v
		i += n
		if i < len(s) && s[i] == '.' {
			if np > 2 || val > 0xff {
				return 0, false
			}
			parts[np] = uint32(val)
			np++
			i++
			continue
		}
		break
	}
	if i < len(s) && !cIsSpace(s[i]) {
		return 0, false
	}
	max := [4]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	if val > max[np] {
		return 0, false
	}
	var res uint32
	for k := 0; k < np; k++ {
		res |= parts[k] << (24 - 8*k)
	}
	return res | uint32(val), true
}

// strtoul is C's strtoul(s, &end, 0) for a string starting with a digit.
func strtoul(s string) (uint64, int, bool) {
	v, n, overflow := strtol(s, 0)
	return uint64(v), n, overflow
}

// inetPton6 is inet_pton(AF_INET6, ...): IPv6 text only, no zone.
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// addr4 is the address of a host-order IPv4 value.
func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// parseService is ipvsadm's parse_service: host[:port], [v6addr]:port or
// a bare IPv6 address into svc (family, address, port and, for IPv6, the
// default netmask). Ports and hosts may be names.
func parseService(buf string, svc *svcEntry, ns nameService) int {
	if strIsDigit(buf) {
		return serviceNone
	}
	hasPort, port := false, ""
	if strings.HasPrefix(buf, "[") {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 {
			return serviceNone
		}
		rest := buf[i+1:]
		buf = buf[:i]
		if !strings.HasPrefix(rest, ":") {
			return serviceNone
		}
		hasPort, port = true, rest[1:]
	}
	if a, ok := inetPton6(buf); ok {
		svc.addr, svc.af, svc.netmask = a, afInet6, 128
	} else {
		hasPort = false
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			hasPort, port, buf = true, buf[i+1:], buf[:i]
		}
		if v, ok := inetAton(buf); ok {
			svc.addr, svc.af = addr4(v), afInet
		} else if a, ok := ns.hostAddr4(buf); ok {
			svc.addr, svc.af = a, afInet
		} else {
			return serviceNone
		}
	}
	if !hasPort {
		return serviceAddr
	}
	if n := stringToNumber(port, 0, 65535); n != -1 {
		svc.port = uint16(n)
	} else if n, ok := ns.servicePort(port, protoName(svc.proto)); ok {
		svc.port = n
	} else {
		return serviceNone
	}
	return serviceAddr | servicePort
}

// parseNetmask is ipvsadm's parse_netmask: a dotted IPv4 mask or a host
// name, as a host-order value.
func parseNetmask(buf string, ns nameService) (uint32, bool) {
	if v, ok := inetAton(buf); ok {
		return v, true
	}
	if a, ok := ns.hostAddr4(buf); ok {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
	}
	return 0, false
}

// parseFwmark is ipvsadm's parse_fwmark: a decimal mark in [1, 2^32-1].
func parseFwmark(buf string) (uint32, error) {
	v, n, overflow := strtol(buf, 10)
	if n == 0 || n != len(buf) || overflow || v <= 0 || v > math.MaxUint32 {
		return 0, failf(2, "invalid fwmark value `%s' specified", buf)
	}
	return uint32(v), nil
}

// parseTimeout is ipvsadm's parse_timeout: no value means the default
// persistence timeout.
func parseTimeout(buf *string, min, max int64) (uint32, error) {
	if buf == nil {
		return persistTimeout, nil
	}
	v := stringToNumber(*buf, min, max)
	if v == -1 {
		return 0, failf(2, "invalid timeout value `%s' specified", *buf)
	}
	return uint32(v), nil
}
