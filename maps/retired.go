package maps

import (
	"fmt"

	"github.com/xvs-lb/xvs/bpf"
)

// retiredSlot is the xvs_svc_stats slot that keeps what removed services
// counted (service IDs start at 1): the datapath's totals then only grow,
// as kernel IPVS's ip_vs_stats, which keeps counting what its removed
// services carried until -Z. A removed service's own slot already holds
// what its removed reals counted (foldStats).
const retiredSlot = 0

// retire adds the counters of gone (services leaving the maps, with their
// reals) into the retired slot, except those of a service cfg still has
// under the same key (an atomic restore moves a changed service to new
// slots and carries its counters there itself).
func (s *BPFStore) retire(cfg *Config, gone []*ServiceEntry) error {
	if len(gone) == 0 {
		return nil
	}
	stays := make(map[bpf.SvcKey]bool, len(cfg.Services))
	for _, e := range cfg.Services {
		stays[SvcKey(&e.Service)] = true
	}
	var maxSvc, maxReal uint32
	var leave []*ServiceEntry
	for _, o := range gone {
		if stays[SvcKey(&o.Service)] {
			continue
		}
		leave = append(leave, o)
		maxSvc = max(maxSvc, o.ID)
		for _, d := range o.Dests {
			maxReal = max(maxReal, d.ID)
		}
	}
	if len(leave) == 0 {
		return nil
	}
	// Batch reads of every slot up to the highest: a -C of thousands of
	// services costs a few calls, not one per service and real.
	svcStats, err := readStats(s.m.SvcStats, maxSvc)
	if err != nil {
		return err
	}
	realStats, err := readStats(s.m.RealStats, maxReal)
	if err != nil {
		return err
	}
	var add Stats
	for _, o := range leave {
		add.add(&svcStats[o.ID])
		for _, d := range o.Dests {
			add.add(&realStats[d.ID])
		}
	}
	var v []bpf.Stats
	if err := s.m.SvcStats.Lookup(uint32(retiredSlot), &v); err != nil {
		return fmt.Errorf("read counters of removed services: %w", err)
	}
	// Only the sum over CPUs is ever read: the first CPU's slot takes it all.
	v[0].Conns += add.Conns
	v[0].Inpkts += add.InPkts
	v[0].Outpkts += add.OutPkts
	v[0].Inbytes += add.InBytes
	v[0].Outbytes += add.OutBytes
	if err := s.m.SvcStats.Put(uint32(retiredSlot), v); err != nil {
		return fmt.Errorf("keep counters of removed services: %w", err)
	}
	return nil
}

// RetiredStats returns what services since removed from the maps counted,
// since the datapath was loaded or the last ZeroStats of everything.
func (s *BPFStore) RetiredStats() (Stats, error) {
	st, err := readStats(s.m.SvcStats, retiredSlot)
	if err != nil {
		return Stats{}, err
	}
	return st[retiredSlot], nil
}
