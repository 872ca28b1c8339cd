package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// protocolName is ipvsadm's protocol_name, for listings.
func protocolName(proto uint8) string {
	switch proto {
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case protoSCTP:
		return "SCTP"
	}
	return "?"
}

// protocolOption is ipvsadm's option_from_protocol, for rules.
func protocolOption(proto uint8) string {
	switch proto {
	case protoTCP:
		return "-t"
	case protoUDP:
		return "-u"
	case protoSCTP:
		return "--sctp-service"
	}
	return "--xxx-service"
}

// fwdName is ipvsadm's fwd_name (printf's "(null)" for other methods).
func fwdName(fwd uint8) string {
	switch fwd & fwdMask {
	case fwdMasq:
		return "Masq"
	case fwdLocalNode:
		return "Local"
	case fwdTunnel:
		return "Tunnel"
	case fwdDRoute:
		return "Route"
	}
	return "(null)"
}

// fwdSwitch is ipvsadm's fwd_switch, the option of a forwarding method.
func fwdSwitch(fwd uint8) string {
	switch fwd & fwdMask {
	case fwdMasq:
		return "-m"
	case fwdTunnel:
		return "-i"
	case fwdLocalNode, fwdDRoute:
		return "-g"
	}
	return "(null)"
}

// tunFlagName and tunFlagOpt index ipvsadm's tables by tunnel flags.
func tunFlagName(f uint16) string {
	if int(f) < len(tunFlagNames) {
		return tunFlagNames[f]
	}
	return strconv.Itoa(int(f))
}

func tunFlagOpt(f uint16) string {
	if int(f) < len(tunFlagOpts) {
		return tunFlagOpts[f]
	}
	return strconv.Itoa(int(f))
}

func tunName(t uint8) string {
	if int(t) < len(tunNames) {
		return tunNames[t]
	}
	return strconv.Itoa(int(t))
}

// fwdTunInfo is ipvsadm's fwd_tun_info ("" when it has none).
func fwdTunInfo(fwd, tunType uint8, tunPort, tunFlags uint16) string {
	if fwd&fwdMask != fwdTunnel {
		return ""
	}
	switch tunType {
	case tunIPIP:
		return tunNames[tunIPIP]
	case tunGUE:
		return fmt.Sprintf("%s:%d:%s", tunNames[tunGUE], tunPort, tunFlagName(tunFlags))
	case tunGRE:
		return fmt.Sprintf("%s:%s", tunNames[tunGRE], tunFlagName(tunFlags))
	}
	return ""
}

// printLargenum is ipvsadm's print_largenum: a counter in 9 columns, in
// K/M/G/T units when large, or exact with --exact.
func printLargenum(w io.Writer, i uint64, format uint32) {
	if format&fmtExact != 0 {
		n := len(strconv.FormatUint(i, 10))
		width := n + 1
		if n <= 8 {
			width = 9
		}
		fmt.Fprintf(w, "%*d", width, i)
		return
	}
	switch {
	case i < 100000000:
		fmt.Fprintf(w, "%9d", i)
	case i < 1000000000:
		fmt.Fprintf(w, "%8dK", i/1000)
	case i < 100000000000:
		fmt.Fprintf(w, "%8dM", i/1000000)
	case i < 100000000000000:
		fmt.Fprintf(w, "%8dG", i/1000000000)
	default:
		fmt.Fprintf(w, "%8dT", i/1000000000000)
	}
}

// addrPortName is ipvsadm's addrport_to_anyname: "addr:port" (IPv6 in
// brackets), names unless numeric, cut to 59 bytes.
func (s *session) addrPortName(af int, a netip.Addr, port uint16, proto uint8, format uint32) string {
	open, close := "", ""
	if af != afInet {
		open, close = "[", "]"
	}
	var str string
	if format&fmtNumeric != 0 {
		str = fmt.Sprintf("%s%s%s:%d", open, inetNtop(a), close, port)
	} else {
		str = fmt.Sprintf("%s%s%s:%s", open, s.addrName(a), close, s.portName(port, proto))
	}
	return truncate(str, 59)
}

// addrName is ipvsadm's addr_to_anyname: the host name, else the address.
func (s *session) addrName(a netip.Addr) string {
	if name, ok := s.o.names.hostName(a); ok {
		return name
	}
	return inetNtop(a)
}

// portName is ipvsadm's port_to_anyname: the service name, else the number.
func (s *session) portName(port uint16, proto uint8) string {
	if p := protoName(proto); p != "" {
		if name, ok := s.o.names.serviceName(port, p); ok {
			return name
		}
	}
	return strconv.Itoa(int(port))
}
