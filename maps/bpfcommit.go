package maps

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
)

// Commit writes the difference between the loaded configuration and cfg to
// the maps, in an order the datapath can follow packet by packet: a new
// real is written before a table names it, a table before its service's key,
// and a real is freed only after no table names it. IDs are allocated
// before anything is written, so running out of them changes nothing. On a
// write error it restores what was loaded.
func (s *BPFStore) Commit(cfg *Config) error {
	if s.loaded == nil {
		if _, err := s.Load(); err != nil {
			return err
		}
	}
	old := s.loaded
	plan, err := s.plan(old, cfg)
	if err != nil {
		return err
	}
	if err := s.apply(old, cfg); err != nil {
		// Put back the configuration as loaded; its IDs are still valid.
		if rerr := s.apply(cfg, old); rerr != nil {
			return fmt.Errorf("%w (and restoring failed: %v)", err, rerr)
		}
		plan.undo(s)
		return err
	}
	s.loaded = cfg.Clone()
	return nil
}

// idPlan records the IDs a commit allocated.
type idPlan struct {
	svcs  []*ServiceEntry
	reals []*DestEntry
}

func (p *idPlan) undo(s *BPFStore) {
	for _, e := range p.svcs {
		e.ID = 0
	}
	for _, d := range p.reals {
		s.used[d.ID] = false
		s.gens[d.ID]--
		d.ID, d.Gen = 0, 0
	}
}

// plan gives IDs to new services and reals of cfg.
func (s *BPFStore) plan(old, cfg *Config) (*idPlan, error) {
	p := &idPlan{}
	svcUsed := map[uint32]bool{}
	for _, e := range cfg.Services {
		if e.ID != 0 {
			svcUsed[e.ID] = true
		}
	}
	for _, e := range old.Services {
		svcUsed[e.ID] = true // not reused within one commit
	}
	next := uint32(1)
	maxSvcs := s.m.SvcStats.MaxEntries()
	for _, e := range cfg.Services {
		if e.ID != 0 {
			continue
		}
		for next < maxSvcs && svcUsed[next] {
			next++
		}
		if next >= maxSvcs {
			p.undo(s)
			return nil, ErrTooManyServices
		}
		e.ID = next
		svcUsed[next] = true
		p.svcs = append(p.svcs, e)
	}
	nextReal := 1
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			if d.ID != 0 {
				continue
			}
			for nextReal < len(s.used) && s.used[nextReal] {
				nextReal++
			}
			if nextReal >= len(s.used) {
				p.undo(s)
				return nil, ErrTooManyReals
			}
			d.ID = uint32(nextReal)
			s.used[nextReal] = true
			s.gens[nextReal]++
			if s.gens[nextReal] == 0 {
				s.gens[nextReal] = 1
			}
			d.Gen = s.gens[nextReal]
			p.reals = append(p.reals, d)
		}
	}
	return p, nil
}

// apply writes the change from old to cfg (both with IDs).
func (s *BPFStore) apply(old, cfg *Config) error {
	oldSvcs := map[uint32]*ServiceEntry{}
	for _, e := range old.Services {
		oldSvcs[e.ID] = e
	}
	keep := map[uint32]bool{}
	var free []uint32
	for _, e := range cfg.Services {
		keep[e.ID] = true
		o := oldSvcs[e.ID]
		oldDests := map[uint32]*DestEntry{}
		if o != nil {
			for _, d := range o.Dests {
				oldDests[d.ID] = d
			}
		} else if err := zeroStats(s.m.SvcStats, e.ID); err != nil {
			return err
		}
		// 1. Reals: new and changed ones.
		live := map[uint32]bool{}
		for _, d := range e.Dests {
			live[d.ID] = true
			od := oldDests[d.ID]
			if od != nil && od.Dest == d.Dest && od.LastWeight == d.LastWeight {
				continue
			}
			if od == nil {
				if err := zeroStats(s.m.RealStats, d.ID); err != nil {
					return err
				}
			}
			r := realValue(e.ID, d)
			if err := s.m.Reals.Put(d.ID, &r); err != nil {
				return fmt.Errorf("write real %s: %w", d.Addr, err)
			}
		}
		// 2. The scheduler's table.
		if err := s.writeTable(o, e); err != nil {
			return err
		}
		// 3. The service.
		if o == nil || o.Service != e.Service {
			k, v := SvcKey(&e.Service), svcValue(e)
			if err := s.m.Svcs.Put(&k, &v); err != nil {
				return fmt.Errorf("write service %s: %w", e.Service.String(), err)
			}
		}
		for id := range oldDests {
			if !live[id] {
				// The service keeps what its removed real counted.
				if err := s.foldStats(id, e.ID); err != nil {
					return err
				}
				free = append(free, id)
			}
		}
	}
	for _, o := range old.Services {
		if keep[o.ID] {
			continue
		}
		k := SvcKey(&o.Service)
		if err := s.m.Svcs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete service %s: %w", o.Service.String(), err)
		}
		if err := s.deleteTable(o.ID); err != nil {
			return err
		}
		for _, d := range o.Dests {
			free = append(free, d.ID)
		}
	}
	// 4. Reals no table names any more.
	for _, id := range free {
		r := bpf.Real{Gen: s.gens[id]}
		if err := s.m.Reals.Put(id, &r); err != nil {
			return fmt.Errorf("free real %d: %w", id, err)
		}
		s.used[id] = false
	}
	if old.Timeouts != cfg.Timeouts {
		c := bpf.Cfg{TcpTimeout: cfg.Timeouts.TCP, TcpfinTimeout: cfg.Timeouts.TCPFin, UdpTimeout: cfg.Timeouts.UDP, MhSize: uint32(s.mhSize)}
		if err := s.m.Config.Put(uint32(0), &c); err != nil {
			return fmt.Errorf("write timeouts: %w", err)
		}
	}
	return nil
}

// mhDests lists e's reals for its Maglev table in IPVS list order (newest first).
func mhDests(e *ServiceEntry) []MaglevDest {
	ds := make([]MaglevDest, 0, len(e.Dests))
	for _, d := range e.Dests {
		ds = append(ds, MaglevDest{Addr: d.Addr, Port: d.Port, Weight: d.LastWeight, ID: d.ID})
	}
	slices.Reverse(ds) // e.Dests is oldest first
	return ds
}

func sameMhInput(o, e *ServiceEntry) bool {
	if o == nil || o.Sched != e.Sched || len(o.Dests) != len(e.Dests) {
		return false
	}
	for i := range o.Dests {
		a, b := o.Dests[i], e.Dests[i]
		if a.ID != b.ID || a.Addr != b.Addr || a.Port != b.Port || a.LastWeight != b.LastWeight {
			return false
		}
	}
	return true
}

// writeTable builds e's Maglev table in a new inner map and swaps it in whole.
func (s *BPFStore) writeTable(o, e *ServiceEntry) error {
	if e.Sched != "mh" {
		if o != nil && o.Sched == "mh" {
			return s.deleteTable(e.ID)
		}
		return nil
	}
	if sameMhInput(o, e) {
		return nil
	}
	af := uint8(bpf.AFInet)
	if e.Is6() {
		af = bpf.AFInet6
	}
	table := MaglevTableAF(af, mhDests(e), s.mhSize)
	inner, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "xvs_mh_tab", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: uint32(s.mhSize),
	})
	if err != nil {
		return fmt.Errorf("create mh table: %w", err)
	}
	defer inner.Close()
	keys := make([]uint32, len(table))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := inner.BatchUpdate(keys, table, nil); err != nil {
		return fmt.Errorf("fill mh table: %w", err)
	}
	if err := s.m.Mh.Put(e.ID, inner); err != nil {
		return fmt.Errorf("swap mh table of %s: %w", e.Service.String(), err)
	}
	return nil
}

func (s *BPFStore) deleteTable(id uint32) error {
	if err := s.m.Mh.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete mh table %d: %w", id, err)
	}
	return nil
}
