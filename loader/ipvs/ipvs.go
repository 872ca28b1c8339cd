package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"github.com/xvs-lb/xvs/maps"
)

// ErrNotPresent means this kernel has no IPVS (module not loaded or not built).
var ErrNotPresent = errors.New("kernel IPVS not present")

// procFile exists when the ip_vs module is loaded.
const procFile = "/proc/net/ip_vs"

// Present reports whether this kernel has IPVS loaded. The check comes
// before any netlink call: some libraries misbehave without the family.
func Present() bool {
	_, err := os.Stat(procFile)
	return err == nil
}

// Client is the part of a kernel IPVS client the mirror uses;
// github.com/cloudflare/ipvs's Client satisfies it, and tests use a fake.
type Client interface {
	Services() ([]cfipvs.ServiceExtended, error)
	Destinations(cfipvs.Service) ([]cfipvs.DestinationExtended, error)
	CreateService(cfipvs.Service) error
	UpdateService(cfipvs.Service) error
	RemoveService(cfipvs.Service) error
	CreateDestination(cfipvs.Service, cfipvs.Destination) error
	UpdateDestination(cfipvs.Service, cfipvs.Destination) error
	RemoveDestination(cfipvs.Service, cfipvs.Destination) error
	Config() (cfipvs.Config, error)
	SetConfig(cfipvs.Config) error
}

// Open connects to kernel IPVS, or returns ErrNotPresent.
func Open() (*Mirror, error) {
	if !Present() {
		return nil, ErrNotPresent
	}
	c, err := cfipvs.New()
	if err != nil {
		return nil, fmt.Errorf("connect to kernel IPVS: %w", err)
	}
	p, nc, err := openPipe()
	if err != nil {
		if cl, ok := c.(io.Closer); ok {
			cl.Close()
		}
		return nil, fmt.Errorf("connect to kernel IPVS: %w", err)
	}
	m := New(&kernelClient{Client: c, p: p, nc: nc})
	m.zero = zeroCounters
	return m, nil
}

// svcKey identifies a service in the kernel.
type svcKey struct {
	fwmark uint32
	af     cfipvs.AddressFamily
	proto  cfipvs.Protocol
	addr   netip.Addr
	port   uint16
}

// destKey identifies a real server of a service.
type destKey struct {
	addr netip.Addr
	port uint16
}

// kService is one kernel service as the mirror knows it.
type kService struct {
	svc   cfipvs.Service
	pe    string // persistence engine ("" none)
	dests map[destKey]cfipvs.Destination
	order []destKey // kernel dump order
}

func keyOf(s *cfipvs.Service) svcKey {
	if s.FWMark != 0 {
		return svcKey{fwmark: s.FWMark, af: s.Family}
	}
	return svcKey{af: s.Family, proto: s.Protocol, addr: s.Address.Unmap(), port: s.Port}
}

// serviceOf converts a model service to the library's.
func serviceOf(s *maps.Service) cfipvs.Service {
	v := cfipvs.Service{
		Scheduler: s.Sched,
		Timeout:   s.Timeout,
		Flags:     cfipvs.Flags(s.Flags) &^ cfipvs.ServiceHashed,
		FWMark:    s.FwMark,
		Family:    cfipvs.INET,
	}
	if s.Is6() {
		v.Family = cfipvs.INET6
		bits := int(s.Netmask)
		if bits == 0 || bits > 128 {
			bits = 128
		}
		v.Netmask = netmask.MaskFrom(bits, 128)
	} else {
		m := s.Netmask
		if m == 0 {
			m = 0xffffffff
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], m)
		v.Netmask = netmask.MaskFrom4(b)
	}
	if s.FwMark == 0 {
		v.Protocol = cfipvs.Protocol(s.Proto)
		v.Address = s.Addr.Unmap()
		v.Port = s.Port
	}
	return v
}

// modelService converts a kernel service to the model's.
func modelService(v *cfipvs.Service) maps.Service {
	s := maps.Service{
		Proto:   uint8(v.Protocol),
		Addr:    v.Address,
		Port:    v.Port,
		FwMark:  v.FWMark,
		Sched:   v.Scheduler,
		Flags:   uint32(v.Flags &^ cfipvs.ServiceHashed),
		Timeout: v.Timeout,
	}
	if v.FWMark != 0 {
		s.Proto, s.Port = 0, 0
		s.Addr = netip.IPv4Unspecified()
		if v.Family == cfipvs.INET6 {
			s.Addr = netip.IPv6Unspecified()
		}
	}
	if v.Family == cfipvs.INET6 {
		s.Netmask = 128
		if bits := v.Netmask.Bits(); bits > 0 {
			s.Netmask = uint32(bits)
		}
	} else {
		s.Netmask = 0xffffffff
		if b := v.Netmask.AsSlice(); len(b) == 4 {
			s.Netmask = binary.BigEndian.Uint32(b)
		}
	}
	return s
}

// destOf converts a model real to the library's.
func destOf(d *maps.Dest) cfipvs.Destination {
	v := cfipvs.Destination{
		Address:        d.Addr.Unmap(),
		Port:           d.Port,
		FwdMethod:      cfipvs.ForwardType(d.Fwd),
		Weight:         uint32(d.Weight),
		UpperThreshold: d.UThresh,
		LowerThreshold: d.LThresh,
		Family:         cfipvs.INET,
		TunnelType:     cfipvs.TunnelType(d.TunType),
		TunnelPort:     d.TunPort,
		TunnelFlags:    cfipvs.TunnelFlags(d.TunFlags),
	}
	if v.Address.Is6() {
		v.Family = cfipvs.INET6
	}
	return v
}

// modelDest converts a kernel real to the model's.
func modelDest(v *cfipvs.Destination) maps.Dest {
	return maps.Dest{
		Addr: v.Address, Port: v.Port, Fwd: uint8(v.FwdMethod), Weight: int32(v.Weight),
		UThresh: v.UpperThreshold, LThresh: v.LowerThreshold,
		TunType: uint8(v.TunnelType), TunPort: v.TunnelPort, TunFlags: uint16(v.TunnelFlags),
	}
}

// sameSettings reports whether two services of the same key need no update.
// The timeout only matters for persistent services (ipvsadm sends 0 otherwise).
func sameSettings(a, b *cfipvs.Service) bool {
	if a.Scheduler != b.Scheduler || a.Flags&^cfipvs.ServiceHashed != b.Flags&^cfipvs.ServiceHashed {
		return false
	}
	if a.Flags&cfipvs.ServicePersistent != 0 && a.Timeout != b.Timeout {
		return false
	}
	return a.Netmask == b.Netmask
}

// sameDest reports whether two reals of the same key need no update.
func sameDest(a, b *cfipvs.Destination) bool {
	return a.FwdMethod == b.FwdMethod && a.Weight == b.Weight &&
		a.UpperThreshold == b.UpperThreshold && a.LowerThreshold == b.LowerThreshold &&
		a.TunnelType == b.TunnelType && a.TunnelPort == b.TunnelPort && a.TunnelFlags == b.TunnelFlags
}
