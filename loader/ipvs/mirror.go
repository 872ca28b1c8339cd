package ipvs

import (
	"errors"
	"fmt"
	"io"
	"os"

	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

// Mirror keeps kernel IPVS equal to a maps.Config.
type Mirror struct {
	c Client
	// zero is IPVS_CMD_ZERO (the library has no call for it); nil in tests.
	zero func(svc *cfipvs.Service) error
	// table is the kernel's table as last read or written (nil: not read yet).
	table map[svcKey]*kService
	order []svcKey // services in kernel dump order, new ones appended
	cfg   *cfipvs.Config
}

// New returns a Mirror working through c.
func New(c Client) *Mirror { return &Mirror{c: c} }

// Close closes the client's netlink socket, when it has one.
func (m *Mirror) Close() error {
	if c, ok := m.c.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// load reads the kernel's table once.
func (m *Mirror) load() error {
	if m.table != nil {
		return nil
	}
	svcs, err := services(m.c)
	if err != nil {
		return fmt.Errorf("read kernel IPVS services: %w", err)
	}
	pes, err := peNames(m.c)
	if err != nil {
		return fmt.Errorf("read kernel IPVS services: %w", err)
	}
	table := make(map[svcKey]*kService, len(svcs))
	var order []svcKey
	for i := range svcs {
		s := svcs[i].Service
		ds, err := destinations(m.c, s)
		if err != nil {
			return fmt.Errorf("read kernel IPVS destinations: %w", err)
		}
		k := keyOf(&s)
		ks := &kService{svc: s, pe: pes[k], dests: make(map[destKey]cfipvs.Destination, len(ds))}
		for _, d := range ds {
			dk := destKey{d.Address.Unmap(), d.Port}
			ks.dests[dk] = d.Destination
			ks.order = append(ks.order, dk)
		}
		table[k] = ks
		order = append(order, k)
	}
	c, err := m.c.Config()
	if err != nil {
		return fmt.Errorf("read kernel IPVS timeouts: %w", err)
	}
	m.table, m.order, m.cfg = table, order, &c
	return nil
}

// Seed tells the mirror the kernel holds cfg (the maps' configuration
// before a change), without reading it: Apply then sends only the
// difference, and leaves alone services that only the kernel has (those
// configured by other tools show as drift).
func (m *Mirror) Seed(cfg *maps.Config) {
	m.table = make(map[svcKey]*kService, len(cfg.Services))
	m.order = m.order[:0]
	for _, e := range cfg.Services {
		v := serviceOf(&e.Service)
		ks := &kService{svc: v, pe: e.PE, dests: make(map[destKey]cfipvs.Destination, len(e.Dests))}
		for _, d := range e.Dests {
			dv := destOf(&d.Dest)
			dk := destKey{dv.Address, dv.Port}
			ks.dests[dk] = dv
			ks.order = append(ks.order, dk)
		}
		k := keyOf(&v)
		m.table[k] = ks
		m.order = append(m.order, k)
	}
	m.cfg = &cfipvs.Config{TCPTimeout: cfg.Timeouts.TCP, TCPFinTimeout: cfg.Timeouts.TCPFin, UDPTimeout: cfg.Timeouts.UDP}
}

// Seeded reports whether the mirror knows a table to diff against.
func (m *Mirror) Seeded() bool { return m.table != nil }

// Sync reads the kernel's whole table and makes it equal cfg, removing
// what only the kernel has: the re-apply after drift.
func (m *Mirror) Sync(cfg *maps.Config) error {
	m.Forget()
	return m.Apply(cfg)
}

// Forget drops what the mirror knows of the kernel's table: the next call
// reads it again (after someone else changed it).
func (m *Mirror) Forget() { m.table, m.order, m.cfg = nil, nil, nil }

// Read returns the kernel's table as a configuration: services in the
// kernel's dump order, each one's reals oldest first (the kernel lists
// newest first), with IPVS's counters.
func (m *Mirror) Read() (*maps.Config, error) {
	svcs, err := services(m.c)
	if err != nil {
		return nil, fmt.Errorf("read kernel IPVS services: %w", err)
	}
	pes, err := peNames(m.c)
	if err != nil {
		return nil, fmt.Errorf("read kernel IPVS services: %w", err)
	}
	c, err := m.c.Config()
	if err != nil {
		return nil, fmt.Errorf("read kernel IPVS timeouts: %w", err)
	}
	cfg := &maps.Config{Timeouts: maps.Timeouts{TCP: c.TCPTimeout, TCPFin: c.TCPFinTimeout, UDP: c.UDPTimeout}}
	for i := range svcs {
		s := &svcs[i]
		ds, err := destinations(m.c, s.Service)
		if err != nil {
			return nil, fmt.Errorf("read kernel IPVS destinations: %w", err)
		}
		e := &maps.ServiceEntry{Service: modelService(&s.Service), Stats: stats(&s.Stats64)}
		e.PE = pes[keyOf(&s.Service)]
		for j := len(ds) - 1; j >= 0; j-- {
			d := &ds[j]
			de := &maps.DestEntry{
				Dest: modelDest(&d.Destination), Stats: stats(&d.Stats64),
				ActiveConns: d.ActiveConnections, InactConns: d.InactiveConnections, PersistConns: d.PersistentConnections,
			}
			de.LastWeight = de.Weight
			e.Dests = append(e.Dests, de)
		}
		cfg.Services = append(cfg.Services, e)
	}
	return cfg, nil
}

func stats(s *cfipvs.Stats) maps.Stats {
	return maps.Stats{Conns: s.Connections, InPkts: s.IncomingPackets, OutPkts: s.OutgoingPackets, InBytes: s.IncomingBytes, OutBytes: s.OutgoingBytes}
}

// Zero zeroes the kernel's counters of one service, or of all when svc is nil.
func (m *Mirror) Zero(svc *maps.Service) error {
	if m.zero == nil {
		return nil
	}
	var v *cfipvs.Service
	if svc != nil {
		s := serviceOf(svc)
		v = &s
	}
	if err := m.zero(v); err != nil {
		return fmt.Errorf("kernel IPVS: zero counters: %w", err)
	}
	return nil
}

// services is c.Services, with an empty table not an error (the library
// returns os.ErrNotExist for an empty dump).
func services(c Client) ([]cfipvs.ServiceExtended, error) {
	s, err := c.Services()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return s, err
}

// destinations is c.Destinations, with no reals not an error.
func destinations(c Client, svc cfipvs.Service) ([]cfipvs.DestinationExtended, error) {
	d, err := c.Destinations(svc)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return d, err
}

// gone reports whether a removal failed because the kernel has no such
// entry: the goal is reached.
func gone(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)
}

// name is a service as ipvsadm's messages write it.
func name(v *cfipvs.Service) string {
	if v.FWMark != 0 {
		return fmt.Sprintf("FWM %d", v.FWMark)
	}
	p := map[cfipvs.Protocol]string{cfipvs.TCP: "TCP", cfipvs.UDP: "UDP", cfipvs.SCTP: "SCTP"}[v.Protocol]
	if v.Address.Is6() {
		return fmt.Sprintf("%s [%s]:%d", p, v.Address, v.Port)
	}
	return fmt.Sprintf("%s %s:%d", p, v.Address, v.Port)
}
