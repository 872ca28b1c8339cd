package maps

import (
	"fmt"
	"net/netip"
	"slices"
)

// Config is the whole balancer configuration: what ipvsadm -S saves.
// Its methods implement kernel IPVS's rules for adding, editing and
// deleting; they change nothing when they return an error.
type Config struct {
	Services []*ServiceEntry // in creation order
	Timeouts Timeouts
	nextSeq  uint32
	// idx finds services by key; built on first use, kept by the methods
	// here, and rebuilt when Services was changed from outside (its length
	// no longer idxLen).
	idx    map[svcIndexKey]*ServiceEntry
	idxLen int
}

// svcIndexKey is what SameService compares.
type svcIndexKey struct {
	fwmark uint32
	is6    bool
	proto  uint8
	port   uint16
	addr   netip.Addr
}

func indexKey(s *Service) svcIndexKey {
	if s.FwMark != 0 {
		return svcIndexKey{fwmark: s.FwMark, is6: s.Is6()}
	}
	return svcIndexKey{proto: s.Proto, port: s.Port, addr: s.Addr}
}

// index returns the service index, building it when missing or stale.
func (c *Config) index() map[svcIndexKey]*ServiceEntry {
	if c.idx == nil || c.idxLen != len(c.Services) {
		c.idx = make(map[svcIndexKey]*ServiceEntry, len(c.Services))
		for _, e := range c.Services {
			c.idx[indexKey(&e.Service)] = e
		}
		c.idxLen = len(c.Services)
	}
	return c.idx
}

// SameService reports whether a and b name the same virtual service. As in
// kernel IPVS (ip_vs_service_find compares the family, then the address),
// the IPv6 service [::ffff:a.b.c.d] is not the IPv4 service a.b.c.d.
func SameService(a, b *Service) bool {
	if a.FwMark != 0 || b.FwMark != 0 {
		return a.FwMark == b.FwMark && a.Is6() == b.Is6()
	}
	return a.Proto == b.Proto && a.Port == b.Port && a.Addr == b.Addr
}

// Service returns the entry for the service s names, or nil.
func (c *Config) Service(s *Service) *ServiceEntry {
	e := c.index()[indexKey(s)]
	if e == nil || !SameService(&e.Service, s) {
		return nil
	}
	return e
}

// seq returns the next creation number; the first call scans what was loaded.
func (c *Config) seq() uint32 {
	if c.nextSeq != 0 {
		c.nextSeq++
		return c.nextSeq
	}
	for _, s := range c.Services {
		c.nextSeq = max(c.nextSeq, s.Seq)
		for _, d := range s.Dests {
			c.nextSeq = max(c.nextSeq, d.Seq)
		}
	}
	c.nextSeq++
	return c.nextSeq
}

// AddService adds s (ipvsadm -A).
func (c *Config) AddService(s Service) (*ServiceEntry, error) {
	if c.Service(&s) != nil {
		return nil, ErrServiceExists
	}
	e := &ServiceEntry{Service: s, Seq: c.seq()}
	c.Services = append(c.Services, e)
	c.idx[indexKey(&s)] = e
	c.idxLen = len(c.Services)
	return e, nil
}

// EditService replaces the settings of an existing service (ipvsadm -E).
func (c *Config) EditService(s Service) error {
	e := c.Service(&s)
	if e == nil {
		return ErrNoService
	}
	e.Service = s
	return nil
}

// DelService removes a service and its reals (ipvsadm -D).
func (c *Config) DelService(s *Service) error {
	e := c.Service(s)
	if e == nil {
		return ErrNoService
	}
	i := slices.Index(c.Services, e)
	c.Services = append(c.Services[:i:i], c.Services[i+1:]...)
	delete(c.idx, indexKey(&e.Service))
	c.idxLen = len(c.Services)
	return nil
}

// Clear removes every service (ipvsadm -C).
func (c *Config) Clear() { c.Services, c.idx = nil, nil }

// Dest returns the real of e at the address and port of d, or nil.
func (e *ServiceEntry) Dest(d *Dest) *DestEntry {
	for _, x := range e.Dests {
		if x.Port == d.Port && x.Addr == d.Addr {
			return x
		}
	}
	return nil
}

// AddDest adds a real server to service s (ipvsadm -a).
func (c *Config) AddDest(s *Service, d Dest) (*DestEntry, error) {
	e := c.Service(s)
	if e == nil {
		return nil, ErrNoService
	}
	if e.Dest(&d) != nil {
		return nil, ErrDestExists
	}
	x := &DestEntry{Dest: d, Seq: c.seq(), LastWeight: d.Weight}
	e.Dests = append(e.Dests, x)
	return x, nil
}

// EditDest replaces the settings of an existing real (ipvsadm -e).
func (c *Config) EditDest(s *Service, d Dest) error {
	e := c.Service(s)
	if e == nil {
		return ErrNoService
	}
	x := e.Dest(&d)
	if x == nil {
		return ErrNoDest
	}
	x.Dest = d
	if d.Weight != 0 {
		x.LastWeight = d.Weight
	}
	return nil
}

// DelDest removes a real from service s (ipvsadm -d).
func (c *Config) DelDest(s *Service, d *Dest) error {
	e := c.Service(s)
	if e == nil {
		return ErrNoService
	}
	for i, x := range e.Dests {
		if x.Port == d.Port && x.Addr == d.Addr {
			e.Dests = append(e.Dests[:i:i], e.Dests[i+1:]...)
			return nil
		}
	}
	return ErrNoDest
}

// Clone returns a deep copy (for all-or-nothing changes).
func (c *Config) Clone() *Config {
	n := &Config{Timeouts: c.Timeouts, nextSeq: c.nextSeq, Services: make([]*ServiceEntry, len(c.Services))}
	for i, s := range c.Services {
		cs := *s
		cs.Dests = make([]*DestEntry, len(s.Dests))
		for j, d := range s.Dests {
			cd := *d
			cs.Dests[j] = &cd
		}
		n.Services[i] = &cs
	}
	return n
}

// String names a service as ipvsadm's messages do (for errors).
func (s *Service) String() string {
	if s.FwMark != 0 {
		return fmt.Sprintf("FWM %d", s.FwMark)
	}
	return fmt.Sprintf("%d %s", s.Proto, netipAddrPort(s.Addr, s.Port))
}
