package maps

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
)

// BPFMaps are the datapath maps a BPFStore reads and writes.
type BPFMaps struct {
	Svcs, Reals, Mh, SvcStats, RealStats, Config *ebpf.Map
	Conns, RealConns, Sweep                      *ebpf.Map // connection table, counts and expiry (conns.go); optional
}

// BPFStore is a Store kept in the datapath's maps: they are the only copy of
// the configuration, so every later process sees the same state. It is not
// safe for concurrent use; the caller holds the state directory's lock.
type BPFStore struct {
	m      BPFMaps
	mhSize int
	loaded *Config  // what the maps hold, as last loaded or committed
	gens   []uint32 // generation of every xvs_reals slot
	used   []bool   // xvs_reals slots in use
}

// NewBPFStore returns a store over m.
func NewBPFStore(m BPFMaps) *BPFStore { return &BPFStore{m: m} }

// Load reads the whole configuration and its counters from the maps.
func (s *BPFStore) Load() (*Config, error) {
	var cfg bpf.Cfg
	if err := s.m.Config.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	s.mhSize = int(cfg.MhSize)
	c := &Config{Timeouts: Timeouts{TCP: cfg.TcpTimeout, TCPFin: cfg.TcpfinTimeout, UDP: cfg.UdpTimeout}}

	byID := map[uint32]*ServiceEntry{}
	var k bpf.SvcKey
	var v bpf.Svc
	it := s.m.Svcs.Iterate()
	for it.Next(&k, &v) {
		e := &ServiceEntry{Service: serviceOf(&k, &v), ID: v.Id, Seq: v.Seq}
		byID[v.Id] = e
		c.Services = append(c.Services, e)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	slices.SortFunc(c.Services, func(a, b *ServiceEntry) int { return int(a.Seq) - int(b.Seq) })

	reals, err := readArray[bpf.Real](s.m.Reals)
	if err != nil {
		return nil, fmt.Errorf("read reals: %w", err)
	}
	s.gens = make([]uint32, len(reals))
	s.used = make([]bool, len(reals))
	for id := range reals {
		r := &reals[id]
		s.gens[id] = r.Gen
		if r.Flags&bpf.RealInUse == 0 {
			continue
		}
		e := byID[r.SvcId]
		if e == nil {
			return nil, fmt.Errorf("real %d belongs to unknown service %d", id, r.SvcId)
		}
		s.used[id] = true
		e.Dests = append(e.Dests, destOf(uint32(id), r))
	}
	for _, e := range c.Services {
		slices.SortFunc(e.Dests, func(a, b *DestEntry) int { return int(a.Seq) - int(b.Seq) })
		// A service's counters: its reals' plus those of reals it had (folded in at removal).
		if e.Stats, err = sumStats(s.m.SvcStats, e.ID); err != nil {
			return nil, err
		}
		for _, d := range e.Dests {
			if d.Stats, err = sumStats(s.m.RealStats, d.ID); err != nil {
				return nil, err
			}
			e.Stats.add(&d.Stats)
		}
	}
	if err := s.loadConnCounts(c); err != nil {
		return nil, err
	}
	s.loaded = c.Clone()
	return c, nil
}

// readArray reads a whole array map with batch lookups.
func readArray[T any](m *ebpf.Map) ([]T, error) {
	n := int(m.MaxEntries())
	out := make([]T, 0, n)
	keys := make([]uint32, 4096)
	vals := make([]T, 4096)
	var cursor ebpf.MapBatchCursor
	for {
		cnt, err := m.BatchLookup(&cursor, keys, vals, nil)
		out = append(out, vals[:cnt]...)
		if errors.Is(err, ebpf.ErrKeyNotExist) || len(out) >= n {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("batch lookup: %w", err)
		}
	}
}

// sumStats adds up a per-CPU counter slot.
func sumStats(m *ebpf.Map, id uint32) (Stats, error) {
	var per []bpf.Stats
	if err := m.Lookup(id, &per); err != nil {
		return Stats{}, fmt.Errorf("read counters %d: %w", id, err)
	}
	var t Stats
	for _, p := range per {
		t.Conns += p.Conns
		t.InPkts += p.Inpkts
		t.OutPkts += p.Outpkts
		t.InBytes += p.Inbytes
		t.OutBytes += p.Outbytes
	}
	return t, nil
}

// foldStats adds the per-CPU counters of real id into those of service svcID.
func (s *BPFStore) foldStats(id, svcID uint32) error {
	var r, v []bpf.Stats
	if err := s.m.RealStats.Lookup(id, &r); err != nil {
		return fmt.Errorf("read counters of real %d: %w", id, err)
	}
	if err := s.m.SvcStats.Lookup(svcID, &v); err != nil {
		return fmt.Errorf("read counters of service %d: %w", svcID, err)
	}
	for i := range v {
		v[i].Conns += r[i].Conns
		v[i].Inpkts += r[i].Inpkts
		v[i].Outpkts += r[i].Outpkts
		v[i].Inbytes += r[i].Inbytes
		v[i].Outbytes += r[i].Outbytes
	}
	if err := s.m.SvcStats.Put(svcID, v); err != nil {
		return fmt.Errorf("fold counters of real %d: %w", id, err)
	}
	return nil
}

func zeroStats(m *ebpf.Map, id uint32) error {
	zero := make([]bpf.Stats, ebpf.MustPossibleCPU())
	if err := m.Put(id, zero); err != nil {
		return fmt.Errorf("zero counters %d: %w", id, err)
	}
	return nil
}

// ZeroStats zeroes the counters of svc (all services when nil).
func (s *BPFStore) ZeroStats(svc *Service) error {
	if s.loaded == nil {
		if _, err := s.Load(); err != nil {
			return err
		}
	}
	for _, e := range s.loaded.Services {
		if svc != nil && !SameService(&e.Service, svc) {
			continue
		}
		if err := zeroStats(s.m.SvcStats, e.ID); err != nil {
			return err
		}
		for _, d := range e.Dests {
			if err := zeroStats(s.m.RealStats, d.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close does nothing: the maps belong to the caller.
func (s *BPFStore) Close() error { return nil }

func cstr(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func setCstr(dst []int8, s string) {
	clear(dst)
	for i := 0; i < len(s) && i < len(dst)-1; i++ {
		dst[i] = int8(s[i])
	}
}

func serviceOf(k *bpf.SvcKey, v *bpf.Svc) Service {
	s := Service{
		Proto: k.Proto, Port: be16(k.Port), FwMark: v.Fwmark,
		Sched: cstr(v.SchedName[:]), Flags: v.Flags, Timeout: v.Timeout, Netmask: v.Netmask, PE: cstr(v.PeName[:]),
	}
	if v.Fwmark != 0 {
		s.Addr = addrFrom([16]uint8{}, k.Af)
	} else {
		s.Addr = addrFrom(k.Addr, k.Af)
	}
	return s
}

func svcValue(e *ServiceEntry) bpf.Svc {
	v := bpf.Svc{Id: e.ID, Flags: e.Flags, Timeout: e.Timeout, Netmask: e.Netmask, Fwmark: e.FwMark, Seq: e.Seq}
	v.Sched = uint8(bpf.SchedByName[e.Sched])
	setCstr(v.SchedName[:], e.Sched)
	setCstr(v.PeName[:], e.PE)
	return v
}

func destOf(id uint32, r *bpf.Real) *DestEntry {
	return &DestEntry{
		Dest: Dest{
			Addr: addrFrom(r.Addr, r.Af), Port: be16(r.Port), Fwd: r.Fwd, Weight: r.Weight,
			UThresh: r.Uthresh, LThresh: r.Lthresh, TunType: r.TunType, TunPort: be16(r.TunPort), TunFlags: r.TunFlags,
		},
		ID: id, Gen: r.Gen, Seq: r.Seq, LastWeight: r.LastWeight,
	}
}

func realValue(svcID uint32, d *DestEntry) bpf.Real {
	r := bpf.Real{
		Port: be16(d.Port), Fwd: d.Fwd, Weight: d.Weight, Uthresh: d.UThresh, Lthresh: d.LThresh,
		SvcId: svcID, Gen: d.Gen, Flags: bpf.RealInUse, Seq: d.Seq, TunType: d.TunType,
		TunPort: be16(d.TunPort), TunFlags: d.TunFlags, LastWeight: d.LastWeight,
	}
	r.Addr, r.Af = addrBytes(d.Addr)
	return r
}
