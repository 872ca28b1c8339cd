package maps

import (
	"errors"
	"net/netip"
)

// Sentinel errors of configuration changes, matching the errno kernel IPVS
// returns for the same mistake (ipvsadm prints its message from these).
var (
	ErrServiceExists   = errors.New("service already exists")     // EEXIST
	ErrNoService       = errors.New("no such service")            // ESRCH
	ErrDestExists      = errors.New("destination already exists") // EEXIST
	ErrNoDest          = errors.New("no such destination")        // ENOENT
	ErrSchedNotFound   = errors.New("scheduler not found")        // ENOENT
	ErrPENotFound      = errors.New("persistence engine not found")
	ErrTooManyServices = errors.New("too many services")
	ErrTooManyReals    = errors.New("too many real servers")
)

// Service is one virtual service as ipvsadm describes it.
// Either FwMark is set (Addr then only gives the family) or Proto/Addr/Port.
type Service struct {
	Proto   uint8      // unix.IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP; 0 for fwmark services
	Addr    netip.Addr // VIP; for fwmark services the zero address of the family (netip.IPv4Unspecified or IPv6Unspecified)
	Port    uint16
	FwMark  uint32
	Sched   string // scheduler name, e.g. "wlc", "mh"
	Flags   uint32 // IPVS service flags (XvsSvcFlag values: persistent, onepacket, sched1..3)
	Timeout uint32 // persistence timeout in seconds (meaningful with the persistent flag)
	Netmask uint32 // IPv4: mask as a big-endian uint32 (0xffffffff default); IPv6: prefix length (128 default)
	PE      string // persistence engine name ("" or "sip")
}

// Is6 reports whether the service is IPv6.
// A v4-mapped address (::ffff:a.b.c.d) is IPv6, as kernel IPVS keeps it (AF_INET6).
func (s *Service) Is6() bool { return s.Addr.Is6() }

// Dest is one real server of a service.
type Dest struct {
	Addr     netip.Addr
	Port     uint16
	Fwd      uint8 // IPVS forwarding method: XvsFwdMASQ, XvsFwdTUNNEL, XvsFwdDROUTE, ...
	Weight   int32
	UThresh  uint32
	LThresh  uint32
	TunType  uint8  // IP_VS_CONN_F_TUNNEL_TYPE_*: 0 ipip, 1 gue, 2 gre
	TunPort  uint16 // GUE port
	TunFlags uint16 // IP_VS_TUNNEL_ENCAP_FLAG_*
}

// Stats are IPVS-style counters.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

func (s *Stats) add(o *Stats) {
	s.Conns += o.Conns
	s.InPkts += o.InPkts
	s.OutPkts += o.OutPkts
	s.InBytes += o.InBytes
	s.OutBytes += o.OutBytes
}

// DestEntry is a configured real server with its run-time state.
type DestEntry struct {
	Dest
	ID, Gen      uint32 // slot in xvs_reals and its generation (0 until committed)
	Seq          uint32 // order of addition to the service (higher = newer)
	LastWeight   int32  // IPVS's last_weight: the weight when added, then the last non-zero weight set
	Stats        Stats
	ActiveConns  uint32
	InactConns   uint32
	PersistConns uint32
}

// ServiceEntry is a configured service with its real servers.
type ServiceEntry struct {
	Service
	ID    uint32 // slot in per-service maps (0 until committed)
	Seq   uint32 // creation order
	Stats Stats
	Dests []*DestEntry // in order of addition (oldest first)
}

// Timeouts are the --set values, in seconds.
type Timeouts struct {
	TCP, TCPFin, UDP uint32
}

// DefaultTimeouts are kernel IPVS's defaults (15 min, 2 min, 5 min).
var DefaultTimeouts = Timeouts{TCP: 900, TCPFin: 120, UDP: 300}
