package metrics

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xvs-lb/xvs/maps"
)

// The node_ipvs_* families, with node_exporter's names, HELP strings,
// types and label names (collector/ipvs_linux.go).
var (
	nodeConnections     = newFamily("node_ipvs_connections_total", "The total number of connections made.", prometheus.CounterValue)
	nodeInPackets       = newFamily("node_ipvs_incoming_packets_total", "The total number of incoming packets.", prometheus.CounterValue)
	nodeOutPackets      = newFamily("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", prometheus.CounterValue)
	nodeInBytes         = newFamily("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", prometheus.CounterValue)
	nodeOutBytes        = newFamily("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", prometheus.CounterValue)
	nodeBackendActive   = newFamily("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", prometheus.GaugeValue, backendLabels...)
	nodeBackendInactive = newFamily("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", prometheus.GaugeValue, backendLabels...)
	nodeBackendWeight   = newFamily("node_ipvs_backend_weight", "The current backend weight by local and remote address.", prometheus.GaugeValue, backendLabels...)
)

var nodeFamilies = []family{nodeConnections, nodeInPackets, nodeOutPackets, nodeInBytes, nodeOutBytes, nodeBackendActive, nodeBackendInactive, nodeBackendWeight}

// nodeTotals are the node_ipvs_*_total values: what XDP counted (the
// services it has, and those it had) plus kernel IPVS's ip_vs_stats. Each
// packet is counted once: XDP counts only packets it sent itself, the
// kernel only those XDP passed up.
func nodeTotals(s *Snapshot) maps.Stats {
	t := s.Retired
	for _, e := range s.Services {
		addStats(&t, &e.Stats)
	}
	if s.Kernel.State != KernelAbsent {
		addStats(&t, &s.Kernel.Totals)
	}
	return t
}

func addStats(t, o *maps.Stats) {
	t.Conns += o.Conns
	t.InPkts += o.InPkts
	t.OutPkts += o.OutPkts
	t.InBytes += o.InBytes
	t.OutBytes += o.OutBytes
}

// backendKey identifies a real of a service, in the maps or the kernel.
type backendKey struct {
	fwmark uint32
	v6     bool
	proto  uint8
	addr   netip.Addr
	port   uint16
	raddr  netip.Addr
	rport  uint16
}

func keyOf(s *maps.Service, d *maps.Dest) backendKey {
	k := backendKey{fwmark: s.FwMark, v6: s.Is6(), raddr: d.Addr.Unmap(), rport: d.Port}
	if s.FwMark == 0 {
		k.proto, k.addr, k.port = s.Proto, s.Addr.Unmap(), s.Port
	}
	return k
}

// backend is one real's row of /proc/net/ip_vs as xvs reports it.
type backend struct {
	labels           []string
	active, inactive float64
	weight           float64
}

// backends merges the maps' reals and the kernel's: a real in both (the
// mirror puts every service of the maps in the kernel) has the
// connections of both datapaths and the maps' weight (what XDP
// schedules by; the two are equal unless they drifted); a real only the
// kernel has (another tool configured it) is reported as the kernel has it.
func backends(s *Snapshot) []*backend {
	var out []*backend
	byKey := map[backendKey]*backend{}
	for _, e := range s.Services {
		for _, d := range e.Dests {
			b := &backend{labels: backendValues(&e.Service, &d.Dest), active: float64(d.ActiveConns), inactive: float64(d.InactConns), weight: float64(d.Weight)}
			byKey[keyOf(&e.Service, &d.Dest)] = b
			out = append(out, b)
		}
	}
	if s.Kernel.State == KernelAbsent {
		return out
	}
	for _, e := range s.Kernel.Services {
		for _, d := range e.Dests {
			if b := byKey[keyOf(&e.Service, &d.Dest)]; b != nil {
				b.active += float64(d.ActiveConns)
				b.inactive += float64(d.InactConns)
				continue
			}
			out = append(out, &backend{labels: backendValues(&e.Service, &d.Dest), active: float64(d.ActiveConns), inactive: float64(d.InactConns), weight: float64(d.Weight)})
		}
	}
	return out
}

// collectNode sends the node_ipvs_* families. Backends whose label values
// are equal are summed, weight included, as node_exporter does.
func collectNode(s *Snapshot, ch chan<- prometheus.Metric) {
	t := nodeTotals(s)
	nodeConnections.one(ch, float64(t.Conns))
	nodeInPackets.one(ch, float64(t.InPkts))
	nodeOutPackets.one(ch, float64(t.OutPkts))
	nodeInBytes.one(ch, float64(t.InBytes))
	nodeOutBytes.one(ch, float64(t.OutBytes))
	active, inactive, weight := nodeBackendActive.series(), nodeBackendInactive.series(), nodeBackendWeight.series()
	for _, b := range backends(s) {
		active.add(b.active, b.labels...)
		inactive.add(b.inactive, b.labels...)
		weight.add(b.weight, b.labels...)
	}
	active.send(ch)
	inactive.send(ch)
	weight.send(ch)
}
