package main

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

// service is the model's form of a command line's service.
func (e *svcEntry) service() maps.Service {
	s := maps.Service{Sched: e.sched, Flags: e.flags, Timeout: e.timeout, Netmask: e.netmask, PE: e.pe}
	if e.fwmark != 0 {
		s.FwMark = e.fwmark
		s.Addr = netip.IPv4Unspecified()
		if e.af == afInet6 {
			s.Addr = netip.IPv6Unspecified()
		}
		return s
	}
	s.Proto, s.Addr, s.Port = e.proto, e.addr, e.port
	return s
}

// dest is the model's form of a command line's real server.
func (e *destEntry) dest() maps.Dest {
	return maps.Dest{
		Addr:     e.addr,
		Port:     e.port,
		Fwd:      uint8(e.connFlags & fwdMask),
		Weight:   int32(e.weight),
		UThresh:  e.uthresh,
		LThresh:  e.lthresh,
		TunType:  uint8(e.tunType),
		TunPort:  e.tunPort,
		TunFlags: e.tunFlags,
	}
}

// checkServiceSettings is what kernel IPVS checks of a new or edited
// service's settings: a known scheduler and persistence engine, an IPv6
// prefix length in 1..128.
func checkServiceSettings(s *maps.Service) error {
	if !schedulers[s.Sched] {
		return maps.ErrSchedNotFound
	}
	if s.PE != "" && !persistenceEngines[s.PE] {
		return maps.ErrPENotFound
	}
	if afOf(s.Addr) == afInet6 && (s.Netmask < 1 || s.Netmask > 128) {
		return unix.EINVAL
	}
	return nil
}

// addService is ipvsadm -A as kernel IPVS does it.
func addService(cfg *maps.Config, s maps.Service) error {
	if cfg.Service(&s) != nil {
		return maps.ErrServiceExists
	}
	if err := checkServiceSettings(&s); err != nil {
		return err
	}
	_, err := cfg.AddService(s)
	return err
}

// editService is ipvsadm -E as kernel IPVS does it.
func editService(cfg *maps.Config, s maps.Service) error {
	if cfg.Service(&s) == nil {
		return maps.ErrNoService
	}
	if err := checkServiceSettings(&s); err != nil {
		return err
	}
	return cfg.EditService(s)
}

// checkDestSettings is what kernel IPVS checks of a real's settings.
func checkDestSettings(d *maps.Dest) error {
	if d.Weight < 0 || d.LThresh > d.UThresh {
		return unix.ERANGE
	}
	if d.TunType == tunGUE && d.TunPort == 0 {
		return unix.EINVAL
	}
	return nil
}

// unicast reports whether kernel IPVS takes a as a real server's address.
func unicast(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] != 0 && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	if a.Is4In6() {
		return false
	}
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalUnicast()
}

// addDest is ipvsadm -a as kernel IPVS does it.
func addDest(cfg *maps.Config, s maps.Service, d maps.Dest) error {
	e := cfg.Service(&s)
	if e == nil {
		return maps.ErrNoService
	}
	if err := checkDestSettings(&d); err != nil {
		return err
	}
	if e.Dest(&d) != nil {
		return maps.ErrDestExists
	}
	if !unicast(d.Addr) {
		return unix.EINVAL
	}
	_, err := cfg.AddDest(&s, d)
	return err
}

// editDest is ipvsadm -e as kernel IPVS does it.
func editDest(cfg *maps.Config, s maps.Service, d maps.Dest) error {
	e := cfg.Service(&s)
	if e == nil {
		return maps.ErrNoService
	}
	if err := checkDestSettings(&d); err != nil {
		return err
	}
	if e.Dest(&d) == nil {
		return maps.ErrNoDest
	}
	return cfg.EditDest(&s, d)
}

// setTimeouts is ipvsadm --set: a zero leaves that timeout as it is.
func setTimeouts(cfg *maps.Config, t [3]int64) {
	dst := []*uint32{&cfg.Timeouts.TCP, &cfg.Timeouts.TCPFin, &cfg.Timeouts.UDP}
	for i, v := range t {
		if v != 0 {
			*dst[i] = uint32(v)
		}
	}
}
