package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// Datapaths, the datapath label's values: a service's or real's counters
// are split by who carried the packets. Their sum is what node_ipvs_*
// counts.
const (
	datapathXDP    = "xdp"    // forwarded by the XDP program itself
	datapathKernel = "kernel" // passed up by XDP (or never seen by it) and carried by kernel IPVS
)

var (
	svcDatapath  = append(slices.Clone(serviceLabels), "datapath")
	realDatapath = append(append(slices.Clone(serviceLabels), realLabels...), "datapath")
	realState    = append(slices.Clone(realDatapath), "state")
)

// The native xvs_* families. A new-connection rate is left to PromQL
// (rate(xvs_real_connections_total[1m])): Prometheus derives it from the
// counters across scrapes and counter resets, where a gauge would need
// state between scrapes that a textfile run does not have.
var (
	svcConns      = newFamily("xvs_service_connections_total", "Connections scheduled by the service, by datapath.", prometheus.CounterValue, svcDatapath...)
	svcInPackets  = newFamily("xvs_service_incoming_packets_total", "Packets from clients to the service, by datapath.", prometheus.CounterValue, svcDatapath...)
	svcOutPackets = newFamily("xvs_service_outgoing_packets_total", "Packets from the service's reals to clients (NAT replies), by datapath.", prometheus.CounterValue, svcDatapath...)
	svcInBytes    = newFamily("xvs_service_incoming_bytes_total", "Bytes (IP packets) from clients to the service, by datapath.", prometheus.CounterValue, svcDatapath...)
	svcOutBytes   = newFamily("xvs_service_outgoing_bytes_total", "Bytes (IP packets) from the service's reals to clients (NAT replies), by datapath.", prometheus.CounterValue, svcDatapath...)

	realConns      = newFamily("xvs_real_connections_total", "Connections scheduled to the real server, by datapath.", prometheus.CounterValue, realDatapath...)
	realInPackets  = newFamily("xvs_real_incoming_packets_total", "Packets from clients sent to the real server, by datapath.", prometheus.CounterValue, realDatapath...)
	realOutPackets = newFamily("xvs_real_outgoing_packets_total", "Packets from the real server to clients (NAT replies), by datapath.", prometheus.CounterValue, realDatapath...)
	realInBytes    = newFamily("xvs_real_incoming_bytes_total", "Bytes (IP packets) from clients sent to the real server, by datapath.", prometheus.CounterValue, realDatapath...)
	realOutBytes   = newFamily("xvs_real_outgoing_bytes_total", "Bytes (IP packets) from the real server to clients (NAT replies), by datapath.", prometheus.CounterValue, realDatapath...)
	realCurrent    = newFamily("xvs_real_connections", "Connections to the real server in the datapath's connection table now, by datapath and state (active: TCP established or opening; inactive: the rest, as ipvsadm's ActiveConn and InActConn).", prometheus.GaugeValue, realState...)

	verdicts = newFamily("xvs_verdict_packets_total", "Packets the XDP program did not forward itself, by reason: pass_* went up to the kernel's stack (kernel IPVS where present), too_big were answered with an ICMP error or passed.", prometheus.CounterValue, "verdict")

	connEntries  = newFamily("xvs_connection_table_entries", "Entries in the XDP connection table at the last expiry sweep (at most a second old).", prometheus.GaugeValue)
	connCapacity = newFamily("xvs_connection_table_capacity", "Entries the XDP connection table holds at most (least recently used entries are evicted beyond).", prometheus.GaugeValue)
	connExpired  = newFamily("xvs_connection_table_expired_total", "Entries the expiry sweep removed from the XDP connection table.", prometheus.CounterValue)

	attached = newFamily("xvs_attached_info", "Interfaces xvs serves, with how: native or generic XDP, or ipvs (native XDP failed; kernel IPVS alone serves it).", prometheus.GaugeValue, "interface", "mode")

	neighbour = newFamily("xvs_nexthop_neighbour_state", "Neighbour entry of each next hop of the reals (the real itself on a connected network, else its gateway), one series per state, 1 for the current: until it is valid (reachable, stale, delay, probe, permanent, noarp) XDP passes the real's packets to the kernel (pass_no_neighbour).", prometheus.GaugeValue, "interface", "address", "state")

	kernelInfo    = newFamily("xvs_kernel_ipvs_info", "Kernel IPVS on this host: absent, mirrored (xvs keeps it equal to its maps) or not_mirrored (XVS_IPVS_MIRROR=off).", prometheus.GaugeValue, "state")
	driftServices = newFamily("xvs_kernel_ipvs_drift_services", "Services that differ between the XDP maps and kernel IPVS (only while mirrored; xvsadm drift lists them).", prometheus.GaugeValue)
	driftTimeouts = newFamily("xvs_kernel_ipvs_drift_timeouts", "1 when the timeouts differ between the XDP maps and kernel IPVS (only while mirrored).", prometheus.GaugeValue)
)

var nativeFamilies = []family{
	svcConns, svcInPackets, svcOutPackets, svcInBytes, svcOutBytes,
	realConns, realInPackets, realOutPackets, realInBytes, realOutBytes, realCurrent,
	verdicts, connEntries, connCapacity, connExpired, attached, neighbour, kernelInfo, driftServices, driftTimeouts,
}

// statsSeries are the five counter families of a service or a real.
type statsSeries [5]*series

func newStatsSeries(fs ...family) statsSeries {
	var s statsSeries
	for i, f := range fs {
		s[i] = f.series()
	}
	return s
}

func (s statsSeries) add(st *maps.Stats, lv ...string) {
	for i, v := range [5]uint64{st.Conns, st.InPkts, st.OutPkts, st.InBytes, st.OutBytes} {
		s[i].add(float64(v), lv...)
	}
}

func (s statsSeries) send(ch chan<- prometheus.Metric) {
	for _, x := range s {
		x.send(ch)
	}
}

// collectNative sends the xvs_* families.
func collectNative(s *Snapshot, ch chan<- prometheus.Metric) {
	svc := newStatsSeries(svcConns, svcInPackets, svcOutPackets, svcInBytes, svcOutBytes)
	real := newStatsSeries(realConns, realInPackets, realOutPackets, realInBytes, realOutBytes)
	current := realCurrent.series()
	add := func(services []*maps.ServiceEntry, datapath string) {
		for _, e := range services {
			sv := serviceValues(&e.Service)
			svc.add(&e.Stats, append(slices.Clone(sv), datapath)...)
			for _, d := range e.Dests {
				lv := append(append(slices.Clone(sv), realValues(&d.Dest)...), datapath)
				real.add(&d.Stats, lv...)
				current.add(float64(d.ActiveConns), append(slices.Clone(lv), "active")...)
				current.add(float64(d.InactConns), append(slices.Clone(lv), "inactive")...)
			}
		}
	}
	add(s.Services, datapathXDP)
	if s.Kernel.State != KernelAbsent {
		add(s.Kernel.Services, datapathKernel)
	}
	svc.send(ch)
	real.send(ch)
	current.send(ch)

	for _, name := range bpf.VerdictNames {
		verdicts.one(ch, float64(s.Verdicts[name]), name)
	}
	connEntries.one(ch, float64(s.ConnTable.Entries))
	connCapacity.one(ch, float64(s.ConnTable.Capacity))
	connExpired.one(ch, float64(s.ConnTable.Expired))
	att := attached.series()
	for _, a := range s.Attached {
		att.add(1, a.Iface, string(a.Mode))
	}
	att.send(ch)
	nh := neighbour.series()
	for _, h := range s.NextHops {
		for _, st := range loader.NeighStates {
			nh.add(boolValue(h.State == st), h.Iface, h.Addr.String(), st)
		}
	}
	nh.send(ch)
	kernelInfo.one(ch, 1, string(s.Kernel.State))
	if s.Kernel.State == KernelMirrored {
		driftServices.one(ch, float64(s.Kernel.DriftServices))
		driftTimeouts.one(ch, boolValue(s.Kernel.DriftTimeouts))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
