package maps

import (
	"net/netip"

	"github.com/xvs-lb/xvs/bpf"
)

// Port-0 services: a persistent TCP or UDP service of port 0 takes every
// port of its VIP that no service of its own port has (ip_vs_service_find),
// its templates cover every port (port 0 in their key) and its connections
// keep the packet's destination port whatever the real's (ip_vs_sched_persist).

// isPort0 says whether e is a port-0 service the datapath matches.
func isPort0(e *ServiceEntry) bool {
	return e.FwMark == 0 && e.Port == 0 && (e.Proto == 6 || e.Proto == 17) && e.Flags&bpf.SvcPersistent != 0
}

// port0Svcs counts cfg's port-0 services: the datapath looks a packet up
// with port 0 only while there is one (xvs_cfg.port0_svcs).
func port0Svcs(cfg *Config) uint32 {
	n := uint32(0)
	for _, e := range cfg.Services {
		if isPort0(e) {
			n++
		}
	}
	return n
}

// port0Stale says whether the datapath's count of port-0 services differs
// from cfg's (read from the map, so a datapath loaded under an existing
// configuration gets it on the next commit).
func (s *BPFStore) port0Stale(cfg *Config) bool {
	var c bpf.Cfg
	if err := s.m.Config.Lookup(uint32(0), &c); err != nil {
		return true
	}
	return c.Port0Svcs != port0Svcs(cfg)
}

// port0Real marks r, a real of e, when e has port 0 (persistent or not: a
// real is rewritten only when it changes, and -E may add persistence).
func port0Real(e *ServiceEntry, r bpf.Real) bpf.Real {
	if e.FwMark == 0 && e.Port == 0 {
		r.Flags |= bpf.RealPort0
	}
	return r
}

// connDest is the real's address and port -L -c shows for an entry with
// virtual port vport: a port-0 service's connection shows the packet's port
// and its template port 0, as IPVS makes them; others the real's port.
func connDest(r *bpf.Real, tmpl bool, vport uint16) netip.AddrPort {
	port := be16(r.Port)
	if r.Flags&bpf.RealPort0 != 0 {
		port = vport
		if tmpl {
			port = 0
		}
	}
	return netip.AddrPortFrom(addrFrom(r.Addr, r.Af), port)
}
