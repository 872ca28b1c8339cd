package maps

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
)

// Commit writes the difference between the loaded configuration and cfg to
// the maps, in an order the datapath can follow packet by packet: a new
// real is written before a table names it, a table before its service's key,
// and a real is freed only after no table names it. IDs are allocated
// before anything is written, so running out of them changes nothing. On a
// write error it restores what was loaded.
//
// After SwapNextCommit, the next Commit is one swap instead (see commitSwap).
func (s *BPFStore) Commit(cfg *Config) error {
	if s.loaded == nil {
		if _, err := s.Load(); err != nil {
			return err
		}
	}
	if s.swapNext {
		s.swapNext = false
		return s.commitSwap(cfg)
	}
	old := s.loaded
	plan, err := s.plan(old, cfg)
	if err != nil {
		return err
	}
	if err := s.apply(old, cfg, false); err != nil {
		// Put back the configuration as loaded; its IDs are still valid.
		if rerr := s.apply(cfg, old, false); rerr != nil {
			return fmt.Errorf("%w (and restoring failed: %v)", err, rerr)
		}
		plan.undo(s)
		return err
	}
	s.loaded = cfg.Clone()
	return nil
}

// SwapNextCommit makes the next Commit one swap the datapath sees at once
// (-R --atomic).
func (s *BPFStore) SwapNextCommit() { s.swapNext = true }

// commitSwap commits cfg so that the datapath sees the old configuration or
// the new one, never a mix: nothing a live service uses is written in
// place. A service that changes in any way (settings, reals, table) is
// copied on write: it gets a new service ID and new real IDs (its counters
// carried over), so its reals and table go to slots no packet reaches yet;
// then a new service table holding every service is swapped into xvs_svcs
// in one update, and only then are the old slots freed. Flows of a changed
// service are scheduled again, by its new table. On an error before the
// swap the new slots are freed and nothing the datapath sees has changed.
func (s *BPFStore) commitSwap(cfg *Config) error {
	old := s.loaded
	oldByID := make(map[uint32]*ServiceEntry, len(old.Services))
	for _, e := range old.Services {
		oldByID[e.ID] = e
	}
	type carry struct {
		from  *ServiceEntry // the service's old entry
		to    *ServiceEntry
		reals map[*DestEntry]uint32 // new entry -> old real ID
	}
	var carries []carry
	for _, e := range cfg.Services {
		o := oldByID[e.ID]
		if o == nil || sameService(o, e) {
			continue
		}
		c := carry{from: o, to: e, reals: map[*DestEntry]uint32{}}
		for _, d := range e.Dests {
			if d.ID != 0 {
				c.reals[d] = d.ID
			}
			d.ID, d.Gen = 0, 0
		}
		e.ID = 0
		carries = append(carries, c)
	}
	plan, err := s.plan(old, cfg)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		// Nothing live names the new slots: free them.
		for _, d := range plan.reals {
			r := bpf.Real{Gen: s.gens[d.ID]}
			_ = s.m.Reals.Put(d.ID, &r)
		}
		ids := make([]uint32, 0, len(plan.svcs))
		for _, e := range plan.svcs {
			ids = append(ids, e.ID)
		}
		_ = s.deleteTables(ids)
		plan.undo(s)
		return err
	}
	// The counters of a copied service move to its new slots, in the
	// window after apply zeroes them and before the swap.
	s.beforeSwap = func() error {
		for _, c := range carries {
			if err := s.copyStats(s.m.SvcStats, c.from.ID, c.to.ID); err != nil {
				return err
			}
			kept := map[uint32]bool{}
			for _, d := range c.to.Dests {
				if id, ok := c.reals[d]; ok {
					kept[id] = true
					if err := s.copyStats(s.m.RealStats, id, d.ID); err != nil {
						return err
					}
				}
			}
			for _, od := range c.from.Dests {
				if !kept[od.ID] {
					if err := s.foldStats(od.ID, c.to.ID); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	defer func() { s.beforeSwap, s.swapped = nil, false }()
	if err := s.apply(old, cfg, true); err != nil {
		if s.swapped {
			// cfg is live; only freeing the old slots failed. Load skips
			// what is left (reals of no service) and a later commit reuses it.
			s.loaded = nil
			return fmt.Errorf("committed, but freeing the old slots failed: %w", err)
		}
		return fail(err)
	}
	s.loaded = cfg.Clone()
	return nil
}

// sameService reports whether a service's entry and everything the
// datapath reads of it (settings, reals, their order) are unchanged.
func sameService(o, e *ServiceEntry) bool {
	if o.Service != e.Service || len(o.Dests) != len(e.Dests) {
		return false
	}
	for i, d := range e.Dests {
		od := o.Dests[i]
		if od.ID != d.ID || od.Dest != d.Dest || od.LastWeight != d.LastWeight {
			return false
		}
	}
	return true
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

// apply writes the change from old to cfg (both with IDs), in phases the
// datapath can follow: (1) new and changed reals, (2) every changed
// scheduler table, swapped into xvs_mh in one batch, (3) the service keys,
// (4) removed services, their tables, then the reals no table names.
// Each phase is a few batch calls: a map-in-map update waits for an RCU
// grace period, so tables swapped one by one would cost that per service.
//
// With swap (commitSwap), cfg's changed services have new IDs and the
// service keys go to a new table swapped in whole, after which the old
// slots are freed; nothing is written in place.
func (s *BPFStore) apply(old, cfg *Config, swap bool) error {
	oldSvcs := make(map[uint32]*ServiceEntry, len(old.Services))
	for _, e := range old.Services {
		oldSvcs[e.ID] = e
	}
	keep := make(map[uint32]bool, len(cfg.Services))
	var (
		free                []uint32
		newSvcIDs, newReals []uint32
		realIDs             []uint32
		realVals            []bpf.Real
		folds               [][2]uint32 // removed real, its service
		svcKeys             []bpf.SvcKey
		svcVals             []bpf.Svc
		tabIDs              []uint32
		tabs                []*ebpf.Map
		delTabs             []uint32
		jobs                []tableJob
	)
	defer func() {
		for _, m := range tabs {
			m.Close()
		}
	}()
	for _, e := range cfg.Services {
		keep[e.ID] = true
		o := oldSvcs[e.ID]
		var oldDests map[uint32]*DestEntry
		if o != nil {
			oldDests = make(map[uint32]*DestEntry, len(o.Dests))
			for _, d := range o.Dests {
				oldDests[d.ID] = d
			}
		} else {
			newSvcIDs = append(newSvcIDs, e.ID)
		}
		live := make(map[uint32]bool, len(e.Dests))
		for _, d := range e.Dests {
			live[d.ID] = true
			od := oldDests[d.ID]
			if od != nil && od.Dest == d.Dest && od.LastWeight == d.LastWeight {
				continue
			}
			if od == nil {
				newReals = append(newReals, d.ID)
			}
			realIDs = append(realIDs, d.ID)
			realVals = append(realVals, port0Real(e, realValue(e.ID, d)))
		}
		jobs = append(jobs, tableJob{o: o, e: e})
		if o == nil || o.Service != e.Service {
			svcKeys = append(svcKeys, SvcKey(&e.Service))
			svcVals = append(svcVals, svcValue(e))
		}
		for id := range oldDests {
			if !live[id] {
				folds = append(folds, [2]uint32{id, e.ID})
			}
		}
	}
	if err := s.buildTables(jobs); err != nil {
		for _, j := range jobs {
			if j.tab != nil {
				j.tab.Close()
			}
		}
		return err
	}
	for _, j := range jobs {
		if j.tab != nil {
			tabIDs = append(tabIDs, j.e.ID)
			tabs = append(tabs, j.tab)
		} else if j.del {
			delTabs = append(delTabs, j.e.ID)
		}
	}
	// 1. Reals, with fresh counters for new ones and services.
	if err := zeroStatsBatch(s.m.SvcStats, newSvcIDs); err != nil {
		return err
	}
	if err := zeroStatsBatch(s.m.RealStats, newReals); err != nil {
		return err
	}
	if len(realIDs) > 0 {
		if _, err := s.m.Reals.BatchUpdate(realIDs, realVals, nil); err != nil {
			return fmt.Errorf("write reals: %w", err)
		}
	}
	// 2. Tables: one swap for all of them.
	if len(tabs) > 0 {
		fds := make([]uint32, len(tabs))
		for i, m := range tabs {
			fds[i] = uint32(m.FD())
		}
		if err := s.swapTables(tabIDs, fds); err != nil {
			return fmt.Errorf("swap scheduler tables: %w", err)
		}
	}
	if err := s.deleteTables(delTabs); err != nil {
		return err
	}
	// 3. Services.
	if swap {
		if s.beforeSwap != nil {
			if err := s.beforeSwap(); err != nil {
				return err
			}
		}
		if err := s.swapServices(cfg); err != nil {
			return err
		}
		s.swapped = true
	} else if len(svcKeys) > 0 {
		svcs, err := s.svcTable()
		if err != nil {
			return err
		}
		defer svcs.Close()
		if _, err := svcs.BatchUpdate(svcKeys, svcVals, nil); err != nil {
			return fmt.Errorf("write services: %w", err)
		}
	}
	// A service keeps what its removed reals counted.
	for _, f := range folds {
		if err := s.foldStats(f[0], f[1]); err != nil {
			return err
		}
		free = append(free, f[0])
	}
	// 4. Removed services, then their tables.
	var gone []*ServiceEntry
	delTabs = delTabs[:0]
	for _, o := range old.Services {
		if keep[o.ID] {
			continue
		}
		gone = append(gone, o)
		delTabs = append(delTabs, o.ID)
		for _, d := range o.Dests {
			free = append(free, d.ID)
		}
	}
	if len(gone) > 0 && !swap {
		svcs, err := s.svcTable()
		if err != nil {
			return err
		}
		defer svcs.Close()
		for _, o := range gone {
			k := SvcKey(&o.Service)
			if err := svcs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete service %s: %w", o.Service.String(), err)
			}
		}
	}
	if err := s.deleteTables(delTabs); err != nil {
		return err
	}
	// Reals no table names any more.
	if len(free) > 0 {
		vals := make([]bpf.Real, len(free))
		for i, id := range free {
			vals[i] = bpf.Real{Gen: s.gens[id]}
		}
		if _, err := s.m.Reals.BatchUpdate(free, vals, nil); err != nil {
			return fmt.Errorf("free reals: %w", err)
		}
		for _, id := range free {
			s.used[id] = false
		}
	}
	// Last, so a failed commit never counts a service it puts back: the
	// freed slots keep their counters until a later commit reuses them.
	if err := s.retire(cfg, gone); err != nil {
		return err
	}
	if old.Timeouts != cfg.Timeouts || natReals(old) != natReals(cfg) || s.port0Stale(cfg) {
		c := bpf.Cfg{TcpTimeout: cfg.Timeouts.TCP, TcpfinTimeout: cfg.Timeouts.TCPFin, UdpTimeout: cfg.Timeouts.UDP, MhSize: uint32(s.mhSize), NatReals: natReals(cfg), Port0Svcs: port0Svcs(cfg)}
		if err := s.m.Config.Put(uint32(0), &c); err != nil {
			return fmt.Errorf("write timeouts: %w", err)
		}
	}
	return nil
}

// copyStats copies the per-CPU counters of slot from to slot to.
func (s *BPFStore) copyStats(m *ebpf.Map, from, to uint32) error {
	var v []bpf.Stats
	if err := m.Lookup(from, &v); err != nil {
		return fmt.Errorf("read counters %d: %w", from, err)
	}
	if err := m.Put(to, v); err != nil {
		return fmt.Errorf("copy counters %d to %d: %w", from, to, err)
	}
	return nil
}

// swapServices writes every service of cfg into a new service table and
// swaps it into xvs_svcs with one update (which returns once no program
// still runs with the old table).
func (s *BPFStore) swapServices(cfg *Config) error {
	t, err := s.newSvcTable()
	if err != nil {
		return err
	}
	defer t.Close()
	if len(cfg.Services) > 0 {
		keys := make([]bpf.SvcKey, len(cfg.Services))
		vals := make([]bpf.Svc, len(cfg.Services))
		for i, e := range cfg.Services {
			keys[i], vals[i] = SvcKey(&e.Service), svcValue(e)
		}
		if _, err := t.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("write services: %w", err)
		}
	}
	if err := s.m.Svcs.Put(uint32(0), t); err != nil {
		return fmt.Errorf("swap service table: %w", err)
	}
	return nil
}

// zeroStatsBatch zeroes the per-CPU counters of ids.
func zeroStatsBatch(m *ebpf.Map, ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	// One zeroed buffer for every CPU's value: the library copies raw bytes
	// as they are, but encodes a struct by reflection, field by field
	// (a sixth of a 1,000-service restore's CPU samples in the test VM).
	raw := make([]byte, m.ValueSize())
	zero := make([][]byte, len(ids)*ebpf.MustPossibleCPU())
	for i := range zero {
		zero[i] = raw
	}
	if _, err := m.BatchUpdate(ids, zero, nil); err != nil {
		return fmt.Errorf("zero counters: %w", err)
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

// tableJob is one service's table to build: the result of buildTable.
type tableJob struct {
	o, e *ServiceEntry
	tab  *ebpf.Map
	del  bool
	err  error
}

// tablesPerMapping bounds the tables mapped at once (256 Maglev tables of
// 4,093 slots: 8 MiB): the mappings count in the process's resident size,
// and mapping every table of a 10,000-service restore at once took its peak
// from 93 to 470 MiB.
const tablesPerMapping = 256

// buildTables runs buildTable for every job, on all CPUs (a Maglev table
// costs tens of microseconds to compute), tablesPerMapping jobs at a time.
func (s *BPFStore) buildTables(jobs []tableJob) error {
	for lo := 0; lo < len(jobs); lo += tablesPerMapping {
		if err := s.buildTableChunk(jobs[lo:min(lo+tablesPerMapping, len(jobs))]); err != nil {
			return err
		}
	}
	return nil
}

// buildTableChunk builds jobs' tables through one reserved mapping range.
func (s *BPFStore) buildTableChunk(jobs []tableJob) error {
	var mem *tableMem
	if len(jobs) > 0 && s.mhSize > 0 {
		var err error
		if mem, err = newTableMem(len(jobs), s.mhSize*tableStride); err != nil {
			return err
		}
		defer mem.close()
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := &jobs[i]
				j.tab, j.del, j.err = s.buildTable(j.o, j.e, mem, i)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, j := range jobs {
		if j.err != nil {
			return j.err
		}
	}
	return nil
}

// buildTable builds e's scheduler table (sched.go) in a new inner map, for
// apply to swap in whole. It returns nil when the table stays as it is, and
// del when the service's table must go.
// Tables written through a mapping go to slot i of mem.
func (s *BPFStore) buildTable(o, e *ServiceEntry, mem *tableMem, i int) (tab *ebpf.Map, del bool, err error) {
	if !hasTable(e.Sched) {
		return nil, o != nil && hasTable(o.Sched), nil
	}
	if sameTableInput(o, e) {
		return nil, false, nil
	}
	af := uint8(bpf.AFInet)
	if e.Is6() {
		af = bpf.AFInet6
	}
	table := tableOf(af, e, s.mhSize)
	if table == nil { // too many reals for the datapath: the kernel serves the service
		return nil, true, nil
	}
	inner, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "xvs_mh_tab", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: uint32(s.mhSize),
		Flags: unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return nil, false, fmt.Errorf("create mh table: %w", err)
	}
	if err := fillTable(inner, table, mem, i); err != nil {
		inner.Close()
		return nil, false, fmt.Errorf("fill mh table: %w", err)
	}
	return inner, false, nil
}

// smallTable is the most slots fillTable writes with one batch update
// rather than through a mapping: a list scheduler's table uses only its
// header and one slot per real, and mapping, faulting in and unmapping the
// whole array (one TLB shootdown per table) costs more than a short write.
const smallTable = 1024

// tableStride is how far apart the kernel lays out the __u32 values of an array.
const tableStride = 8

// fillTable writes table into a new (not yet visible) mmapable array of
// __u32, which the kernel created zeroed: only the slots up to the last
// non-zero one are written, with one batch update when they are few, else
// through a mapping in slot i of mem (or, without mem, its own mapping).
func fillTable(m *ebpf.Map, table []uint32, mem *tableMem, i int) error {
	n := len(table)
	for n > 0 && table[n-1] == 0 {
		n--
	}
	if n == 0 {
		return nil
	}
	if n <= smallTable {
		keys := make([]uint32, n)
		for k := range keys {
			keys[k] = uint32(k)
		}
		if _, err := m.BatchUpdate(keys, table[:n], nil); err != nil {
			return fmt.Errorf("batch update: %w", err)
		}
		return nil
	}
	size := n * tableStride
	if mem != nil {
		b, err := mem.mapTable(i, m, size)
		if err != nil {
			return err
		}
		putTable(b, table[:n])
		return nil
	}
	page := os.Getpagesize()
	b, err := unix.Mmap(m.FD(), 0, (size+page-1)/page*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	putTable(b, table[:n])
	return unix.Munmap(b)
}

// putTable writes table's values tableStride bytes apart.
func putTable(b []byte, table []uint32) {
	for i, v := range table {
		binary.LittleEndian.PutUint32(b[i*tableStride:], v)
	}
}

// swapTables puts the tables fds into xvs_mh at ids. Kernels before 6.8
// wait for an RCU grace period after each element of a map-in-map batch
// update (maybe_wait_bpf_programs in bpf_map_update_value; 6.8 waits once
// per batch): on Debian 12's 6.1 one batch of 1,000 tables took ~17 s in
// the test VM. Batches of a few tables run at once, so that their waits
// share grace periods; all are in before it returns.
func (s *BPFStore) swapTables(ids, fds []uint32) error {
	const workers = 64
	n := (len(ids) + workers - 1) / workers
	if len(ids) <= 4 {
		n = len(ids)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for lo := 0; lo < len(ids); lo += n {
		hi := min(lo+n, len(ids))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.m.Mh.BatchUpdate(ids[lo:hi], fds[lo:hi], nil); err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// deleteTables removes the tables of ids. xvs_mh has no batch delete and
// each delete waits for an RCU grace period, so many run at once (waiters
// share grace periods).
func (s *BPFStore) deleteTables(ids []uint32) error {
	if len(ids) < 4 {
		for _, id := range ids {
			if err := s.deleteTable(id); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan uint32)
	for range min(len(ids), 256) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := s.deleteTable(id); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return first
}

func (s *BPFStore) deleteTable(id uint32) error {
	if err := s.m.Mh.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete mh table %d: %w", id, err)
	}
	return nil
}

// natReals counts the -m reals of cfg: the datapath looks for NAT replies only when there are some.
func natReals(cfg *Config) uint32 {
	n := uint32(0)
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			if d.Fwd == bpf.FwdMasq {
				n++
			}
		}
	}
	return n
}
