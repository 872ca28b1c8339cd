package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
)

// MapStatus is one pinned map's identity and fill.
type MapStatus struct {
	Name       string `json:"name"`
	ID         uint32 `json:"id"`
	Type       string `json:"type"`
	MaxEntries uint32 `json:"max_entries"`
	Entries    int    `json:"entries"` // -1: not counted (per-CPU counters, devmap)
}

// Status describes a state directory: the program, its maps and where it is attached.
type Status struct {
	StateDir    string            `json:"state_dir"`
	ProgID      uint32            `json:"prog_id"`
	ProgName    string            `json:"prog_name"`
	Attached    []Attachment      `json:"attached"`
	Maps        []MapStatus       `json:"maps"`
	Verdicts    map[string]uint64 `json:"verdicts"`
	MhTableSize uint32            `json:"mh_table_size"`
	ConnTable   ConnTable         `json:"conn_table"`
	Build       *ProgramBuild     `json:"program_build"`
}

// ConnTable is the connection table's fill as the expiry sweep (bpf/conn.h)
// last saw it: reading it costs one lookup, where counting the table
// would walk up to its million entries.
type ConnTable struct {
	Entries  uint64 `json:"entries"`  // entries at the start of the last sweep (at most one sweep period old)
	Capacity uint32 `json:"capacity"` // max entries (loader.Options.ConnSize)
	Expired  uint64 `json:"expired"`  // entries the sweep has removed since load
	Sweeps   uint64 `json:"sweeps"`   // passes so far (0: no flow was ever made)
}

// Status gathers the state directory's status.
func (s *State) Status() (*Status, error) { return s.status(true) }

// StatusNoCount is Status without counting map entries (Entries -1 for
// every map): counting walks xvs_reals and xvs_mh element by element, which
// takes minutes where syscalls are slow (the test VM under TCG).
func (s *State) StatusNoCount() (*Status, error) { return s.status(false) }

func (s *State) status(count bool) (*Status, error) {
	st := &Status{StateDir: s.Dir, Verdicts: map[string]uint64{}}
	pi, err := s.Objs.XvsXdp.Info()
	if err != nil {
		return nil, fmt.Errorf("program info: %w", err)
	}
	id, _ := pi.ID()
	st.ProgID, st.ProgName = uint32(id), pi.Name
	if st.Attached, err = s.Attachments(); err != nil {
		return nil, err
	}
	if st.Build, err = s.ProgramBuild(); err != nil {
		return nil, err
	}
	for _, f := range mapFields(s.Objs) {
		m := *f.m
		ms := MapStatus{Name: f.name, Type: m.Type().String(), MaxEntries: m.MaxEntries(), Entries: -1}
		if info, err := m.Info(); err == nil {
			mid, _ := info.ID()
			ms.ID = uint32(mid)
		}
		if count {
			if ms.Entries, err = countEntries(m, f.name); err != nil {
				return nil, err
			}
		}
		st.Maps = append(st.Maps, ms)
	}
	for i, name := range bpf.VerdictNames {
		var per []uint64
		if err := s.Objs.XvsVerdicts.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read verdicts: %w", err)
		}
		for _, v := range per {
			st.Verdicts[name] += v
		}
	}
	var sw bpf.Sweep
	if err := s.Objs.XvsSweep.Lookup(uint32(0), &sw); err != nil {
		return nil, fmt.Errorf("read sweep state: %w", err)
	}
	st.ConnTable = ConnTable{Entries: sw.Seen, Capacity: s.Objs.XvsConns.MaxEntries(), Expired: sw.Expired, Sweeps: sw.Runs}
	var cfg bpf.Cfg
	if err := s.Objs.XvsConfig.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	st.MhTableSize = cfg.MhSize
	return st, nil
}

// countEntries counts a map's live entries: keys of hash maps, used slots of
// xvs_reals, tables of xvs_mh. Counters are not counted (-1).
func countEntries(m *ebpf.Map, name string) (int, error) {
	switch name {
	case bpf.XvsMapXvsSvcs: // the service table in slot 0 (bpf/maps.h)
		var t *ebpf.Map
		if err := m.Lookup(uint32(0), &t); err != nil {
			return 0, nil
		}
		defer t.Close()
		return countKeys(t)
	case bpf.XvsMapXvsConns:
		return countKeys(m)
	case bpf.XvsMapXvsReals:
		var r bpf.Real
		n := 0
		it := m.Iterate()
		var k uint32
		for it.Next(&k, &r) {
			if r.Flags&bpf.RealInUse != 0 {
				n++
			}
		}
		return n, it.Err()
	case bpf.XvsMapXvsMh:
		n := 0
		var k uint32
		for k = 0; k < m.MaxEntries(); k++ {
			var id ebpf.MapID
			if err := m.Lookup(k, &id); err == nil {
				n++
			}
		}
		return n, nil
	}
	return -1, nil
}

func countKeys(m *ebpf.Map) (int, error) {
	key := make([]byte, m.KeySize())
	val := make([]byte, m.ValueSize())
	n := 0
	it := m.Iterate()
	for it.Next(&key, &val) {
		n++
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("count entries: %w", err)
	}
	return n, nil
}
