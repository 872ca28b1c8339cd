package metrics

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/xvs-lb/xvs/maps"
)

// Label names of a service and a real, as node_exporter's ipvs collector
// names them; the native families use the same so the two join.
var (
	serviceLabels = []string{"local_address", "local_port", "proto", "local_mark"}
	realLabels    = []string{"remote_address", "remote_port"}
	// backendLabels is node_exporter's order for node_ipvs_backend_*.
	backendLabels = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
)

// serviceValues are a service's label values as node_exporter derives
// them from /proc/net/ip_vs (through prometheus/procfs):
//   - a fwmark service: no address, port 0, proto "FWM", and the mark as
//     the kernel prints it there (%08X: eight upper-case hex digits);
//   - otherwise the address as Go's net.IP prints it (IPv6 compressed,
//     a v4-mapped address as dotted IPv4), the port in decimal, the
//     protocol as the kernel names it (ip_vs_proto_name), no mark.
func serviceValues(s *maps.Service) []string {
	if s.FwMark != 0 {
		return []string{"", "0", "FWM", fmt.Sprintf("%08X", s.FwMark)}
	}
	return []string{addrValue(s.Addr), strconv.Itoa(int(s.Port)), protoName(s.Proto), ""}
}

// realValues are a real's label values (remote_address, remote_port).
func realValues(d *maps.Dest) []string {
	return []string{addrValue(d.Addr), strconv.Itoa(int(d.Port))}
}

// backendValues are node_ipvs_backend_*'s label values, in backendLabels' order.
func backendValues(s *maps.Service, d *maps.Dest) []string {
	sv, rv := serviceValues(s), realValues(d)
	return []string{sv[0], sv[1], rv[0], rv[1], sv[2], sv[3]}
}

// addrValue prints a as procfs hands it to node_exporter: a net.IP's
// String, with its "<nil>" for no address written as "".
func addrValue(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return net.IP(a.AsSlice()).String()
}

// protoName is the kernel's ip_vs_proto_name (IPVS services are TCP, UDP
// or SCTP; the rest completes the kernel's list).
func protoName(p uint8) string {
	switch p {
	case 0:
		return "IP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 132:
		return "SCTP"
	case 1:
		return "ICMP"
	case 4:
		return "IPIP"
	case 47:
		return "GRE"
	case 58:
		return "ICMPv6"
	}
	return fmt.Sprintf("IP_%d", p)
}
