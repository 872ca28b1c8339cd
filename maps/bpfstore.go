package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

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
	// swapNext makes the next Commit one swap (SwapNextCommit).
	swapNext bool
	// beforeSwap runs in a swap commit just before the service table swap.
	beforeSwap func() error
	swapped    bool // the swap commit has swapped the service table
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
	svcs, err := s.svcTable()
	if err != nil {
		return nil, err
	}
	defer svcs.Close()
	it := svcs.Iterate()
	for it.Next(&k, &v) {
		e := &ServiceEntry{Service: serviceOf(&k, &v), ID: v.Id, Seq: v.Seq}
		byID[v.Id] = e
		c.Services = append(c.Services, e)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read services: %w", err)
	}
	slices.SortFunc(c.Services, func(a, b *ServiceEntry) int { return int(a.Seq) - int(b.Seq) })

	reals, err := readReals(s.m.Reals)
	if err != nil {
		return nil, fmt.Errorf("read reals: %w", err)
	}
	s.gens = make([]uint32, s.m.Reals.MaxEntries())
	s.used = make([]bool, s.m.Reals.MaxEntries())
	for id := range reals {
		r := &reals[id]
		s.gens[id] = r.Gen
		if r.Flags&bpf.RealInUse == 0 {
			continue
		}
		e := byID[r.SvcId]
		if e == nil {
			// Left by a swap commit whose clean-up failed: no service names
			// it, so no packet reaches it; the slot is free for reuse.
			continue
		}
		s.used[id] = true
		e.Dests = append(e.Dests, destOf(uint32(id), r))
	}
	var maxSvc, maxReal uint32
	for _, e := range c.Services {
		maxSvc = max(maxSvc, e.ID)
		for _, d := range e.Dests {
			maxReal = max(maxReal, d.ID)
		}
	}
	svcStats, err := readStats(s.m.SvcStats, maxSvc)
	if err != nil {
		return nil, err
	}
	realStats, err := readStats(s.m.RealStats, maxReal)
	if err != nil {
		return nil, err
	}
	for _, e := range c.Services {
		slices.SortFunc(e.Dests, func(a, b *DestEntry) int { return int(a.Seq) - int(b.Seq) })
		// A service's counters: its reals' plus those of reals it had (folded in at removal).
		e.Stats = svcStats[e.ID]
		for _, d := range e.Dests {
			d.Stats = realStats[d.ID]
			e.Stats.add(&d.Stats)
		}
	}
	if err := s.loadConnCounts(c); err != nil {
		return nil, err
	}
	s.loaded = c.Clone()
	return c, nil
}

// svcTable returns the live service table (slot 0 of xvs_svcs), putting
// an empty one there first when the slot is empty (a fresh datapath). The
// caller closes it.
func (s *BPFStore) svcTable() (*ebpf.Map, error) {
	var t *ebpf.Map
	err := s.m.Svcs.Lookup(uint32(0), &t)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read service table: %w", err)
	}
	if t, err = s.newSvcTable(); err != nil {
		return nil, err
	}
	if err := s.m.Svcs.Put(uint32(0), t); err != nil {
		t.Close()
		return nil, fmt.Errorf("install service table: %w", err)
	}
	return t, nil
}

// newSvcTable creates an empty service table (struct xvs_svc_table in bpf/maps.h).
func (s *BPFStore) newSvcTable() (*ebpf.Map, error) {
	t, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "xvs_svc_tab", Type: ebpf.Hash, KeySize: uint32(binary.Size(bpf.SvcKey{})),
		ValueSize: uint32(binary.Size(bpf.Svc{})), MaxEntries: s.m.SvcStats.MaxEntries(), Flags: unix.BPF_F_NO_PREALLOC,
	})
	if err != nil {
		return nil, fmt.Errorf("create service table: %w", err)
	}
	return t, nil
}

// readReals reads the slots of xvs_reals that were ever used. Slots are
// allocated lowest free first and a used slot's generation never returns to
// 0, so those slots are a prefix: reading stops at the first chunk holding a
// slot (other than 0) of generation 0. (Reading all 262,144 slots cost
// about 60 ms per process.)
func readReals(m *ebpf.Map) ([]bpf.Real, error) {
	n := int(m.MaxEntries())
	var out []bpf.Real
	const chunk = 1024
	keys := make([]uint32, chunk)
	vals := make([]bpf.Real, chunk)
	var cursor ebpf.MapBatchCursor
	for len(out) < n {
		cnt, err := m.BatchLookup(&cursor, keys, vals, nil)
		out = append(out, vals[:cnt]...)
		for i := range cnt {
			if keys[i] != 0 && vals[i].Gen == 0 {
				return out, nil
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("batch lookup: %w", err)
		}
	}
	return out, nil
}

// readStats reads the per-CPU counters of slots 0..maxID with batch
// lookups (one call per 4096 slots, not one per slot) and sums each slot.
func readStats(m *ebpf.Map, maxID uint32) ([]Stats, error) {
	ncpu := ebpf.MustPossibleCPU()
	n := int(maxID) + 1
	out := make([]Stats, 0, n)
	const chunk = 4096
	keys := make([]uint32, chunk)
	vals := make([]bpf.Stats, chunk*ncpu)
	var cursor ebpf.MapBatchCursor
	for len(out) < n {
		cnt, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := range cnt {
			var t Stats
			for _, p := range vals[i*ncpu : (i+1)*ncpu] {
				t.Conns += p.Conns
				t.InPkts += p.Inpkts
				t.OutPkts += p.Outpkts
				t.InBytes += p.Inbytes
				t.OutBytes += p.Outbytes
			}
			out = append(out, t)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("read counters: %d of %d slots", len(out), n)
	}
	return out, nil
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

// ZeroStats zeroes the counters of svc (all services, and those of
// removed services, when nil: as IPVS's -Z zeroes its totals).
func (s *BPFStore) ZeroStats(svc *Service) error {
	if s.loaded == nil {
		if _, err := s.Load(); err != nil {
			return err
		}
	}
	if svc == nil {
		if err := zeroStats(s.m.SvcStats, retiredSlot); err != nil {
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
