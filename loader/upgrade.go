package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xvs-lb/xvs/bpf"
)

// UpgradedLink is one pinned bpf_link whose program an upgrade replaced.
type UpgradedLink struct {
	Iface   string `json:"interface"`
	LinkID  uint32 `json:"link_id"`
	OldProg uint32 `json:"old_prog_id"`
	NewProg uint32 `json:"new_prog_id"`
}

// UpgradeResult is what Upgrade did.
type UpgradeResult struct {
	UpToDate bool           `json:"up_to_date"` // nothing done: this build's program already runs
	OldBuild string         `json:"old_build"`
	Build    string         `json:"build"`
	OldProg  uint32         `json:"old_prog_id"`
	NewProg  uint32         `json:"new_prog_id"`
	Links    []UpgradedLink `json:"links"`
	// Carried are the maps the old program held without a pin (NAT
	// reverse mappings, lblc/lblcr tables...), carried over to the new one.
	Carried []string `json:"carried_maps"`
	// OldFreed says the kernel freed the old program once swapped out (its
	// expiry timer moved to the new program); false when another process
	// still holds it open.
	OldFreed bool `json:"old_prog_freed"`
}

// Upgrade replaces the program of the state directory by this build's,
// keeping every map: it loads this build's program against the pinned maps
// (and the maps the old program holds unpinned), then swaps it into every
// pinned bpf_link and re-pins it. Connections, counters and services stay.
// If the new program does not load (verifier, a map of another layout),
// nothing changes. With force false, it does nothing when this build's
// program already runs.
func (s *State) Upgrade(force bool) (*UpgradeResult, error) {
	spec, err := bpf.LoadXvs()
	if err != nil {
		return nil, fmt.Errorf("upgrade: load spec: %w", err)
	}
	return s.UpgradeTo(spec, force)
}

// UpgradeTo is Upgrade to the datapath of spec (a variant of this build's:
// tests), recorded under SpecBuildID(spec).
func (s *State) UpgradeTo(spec *ebpf.CollectionSpec, force bool) (*UpgradeResult, error) {
	build, err := SpecBuildID(spec)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	pb, err := s.programBuild(build)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	res := &UpgradeResult{OldBuild: pb.Recorded, Build: build}
	oldInfo, err := s.Objs.XvsXdp.Info()
	if err != nil {
		return nil, fmt.Errorf("upgrade: program info: %w", err)
	}
	oldID, _ := oldInfo.ID()
	res.OldProg = uint32(oldID)
	if pb.ThisBuild && !force {
		res.UpToDate, res.NewProg = true, uint32(oldID)
		return res, nil
	}
	objs, carried, err := s.loadAgainstPinned(spec.Copy(), oldInfo)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	res.Carried = carried
	newInfo, err := objs.XvsXdp.Info()
	if err != nil {
		objs.Close()
		return nil, fmt.Errorf("upgrade: new program info: %w", err)
	}
	newID, _ := newInfo.ID()
	res.NewProg = uint32(newID)
	if res.Links, err = swapLinks(filepath.Join(s.Dir, linksDir), objs.XvsXdp, s.Objs.XvsXdp); err != nil {
		objs.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	// From here the new program runs: what is left only records it.
	if err := repin(objs.XvsXdp, filepath.Join(s.Dir, progPin)); err != nil {
		return res, fmt.Errorf("upgrade: links swapped, but %w (run upgrade again)", err)
	}
	if err := recordBuild(s.Dir, build); err != nil {
		return res, fmt.Errorf("upgrade: links swapped, but %w (run upgrade again)", err)
	}
	s.Objs.Close()
	s.Objs = objs
	res.OldFreed = handOverSweep(objs.XvsSweep, oldID)
	return res, nil
}

// loadAgainstPinned loads the program of spec with the state directory's
// maps in place of its own, and those the old program holds unpinned
// (found by its map ids) too. A map of another layout fails it, naming
// every such map, with ErrIncompatible; nothing is changed.
func (s *State) loadAgainstPinned(spec *ebpf.CollectionSpec, old *ebpf.ProgramInfo) (*bpf.XvsObjects, []string, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, fmt.Errorf("remove memlock: %w", err)
	}
	// The load options the directory was created with.
	var cfg bpf.Cfg
	if err := s.Objs.XvsConfig.Lookup(uint32(0), &cfg); err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	opts := Options{ConnSize: s.Objs.XvsConns.MaxEntries(), MhSize: cfg.MhSize}
	if err := opts.apply(spec); err != nil {
		return nil, nil, fmt.Errorf("set options: %w", err)
	}
	repl := map[string]*ebpf.Map{}
	for _, f := range mapFields(s.Objs) {
		repl[f.name] = *f.m
	}
	held, err := heldMaps(old, spec, repl)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		for _, m := range held {
			m.Close()
		}
	}()
	for name, m := range held {
		repl[name] = m
	}
	var diffs []string
	for _, name := range sortedKeys(repl) {
		if err := mapCompatible(spec.Maps[name], repl[name]); err != nil {
			diffs = append(diffs, name+" ("+err.Error()+")")
		}
	}
	if len(diffs) > 0 {
		return nil, nil, fmt.Errorf("%s: maps of another layout than this build's: %s: %w",
			s.Dir, strings.Join(diffs, "; "), ErrIncompatible)
	}
	var objs bpf.XvsObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return nil, nil, fmt.Errorf("load this build's program against the pinned maps (nothing changed): %+v", err)
	}
	return &objs, sortedKeys(held), nil
}

// heldMaps opens the maps the old program uses that spec declares and
// that are not in pinned: the ones that live with the program. Data
// sections (.rodata, .bss) are the program's own and never carried.
func heldMaps(old *ebpf.ProgramInfo, spec *ebpf.CollectionSpec, pinned map[string]*ebpf.Map) (map[string]*ebpf.Map, error) {
	ids, ok := old.MapIDs()
	if !ok {
		return nil, errors.New("the kernel does not list the old program's maps")
	}
	held := map[string]*ebpf.Map{}
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			closeAll(held)
			return nil, fmt.Errorf("open map %d of the old program: %w", id, err)
		}
		info, err := m.Info()
		name := ""
		if err == nil {
			name = info.Name
		}
		ms := spec.Maps[name]
		if ms == nil || pinned[name] != nil || held[name] != nil || strings.HasPrefix(name, ".") {
			m.Close()
			continue
		}
		held[name] = m
	}
	return held, nil
}

func closeAll(ms map[string]*ebpf.Map) {
	for _, m := range ms {
		m.Close()
	}
}

// mapCompatible checks that m can stand for spec: same type, key and value
// sizes, size and flags, and, for a map of maps, an inner map like spec's.
func mapCompatible(spec *ebpf.MapSpec, m *ebpf.Map) error {
	if spec == nil {
		return errors.New("not in this build")
	}
	if err := spec.Compatible(m); err != nil {
		return err
	}
	if spec.InnerMap == nil {
		return nil
	}
	inner, err := someInner(m)
	if err != nil || inner == nil {
		return err // none to compare
	}
	defer inner.Close()
	if inner.Type() != spec.InnerMap.Type || inner.KeySize() != spec.InnerMap.KeySize || inner.ValueSize() != spec.InnerMap.ValueSize || inner.MaxEntries() != spec.InnerMap.MaxEntries {
		return fmt.Errorf("inner map %s %d/%d/%d changed to %s %d/%d/%d", inner.Type(), inner.KeySize(), inner.ValueSize(), inner.MaxEntries(),
			spec.InnerMap.Type, spec.InnerMap.KeySize, spec.InnerMap.ValueSize, spec.InnerMap.MaxEntries)
	}
	return nil
}

// someInner returns the first inner map of an array of maps, nil if empty.
func someInner(m *ebpf.Map) (*ebpf.Map, error) {
	for k := uint32(0); k < m.MaxEntries(); k++ {
		var inner *ebpf.Map
		if err := m.Lookup(k, &inner); err == nil {
			return inner, nil
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("inner map: %w", err)
		}
	}
	return nil, nil
}

// swapLinks puts prog into every link pinned in dir, atomically per link
// (a packet runs the old program or the new one). If one fails, the links
// already swapped get old back and the error names the interface.
func swapLinks(dir string, prog, old *ebpf.Program) ([]UpgradedLink, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var done []link.Link
	defer func() {
		for _, lk := range done {
			lk.Close()
		}
	}()
	var out []UpgradedLink
	for _, e := range ents {
		lk, err := link.LoadPinnedLink(filepath.Join(dir, e.Name()), nil)
		if err == nil {
			u := UpgradedLink{Iface: e.Name()}
			if info, ierr := lk.Info(); ierr == nil {
				u.LinkID, u.OldProg = uint32(info.ID), uint32(info.Program)
			}
			if err = lk.Update(prog); err == nil {
				if info, ierr := lk.Info(); ierr == nil {
					u.NewProg = uint32(info.Program)
				}
				out = append(out, u)
				done = append(done, lk)
				continue
			}
			lk.Close()
		}
		var undo []string
		for i, d := range done {
			if old == nil {
				break
			}
			if uerr := d.Update(old); uerr != nil {
				undo = append(undo, fmt.Sprintf("%s: %v", out[i].Iface, uerr))
			}
		}
		if len(undo) > 0 {
			return nil, fmt.Errorf("swap program of %s: %w; putting the old program back failed on %s", e.Name(), err, strings.Join(undo, ", "))
		}
		return nil, fmt.Errorf("swap program of %s (every link kept its program): %w", e.Name(), err)
	}
	return out, nil
}

// repin pins prog at path in place of what is pinned there, by rename.
func repin(prog *ebpf.Program, path string) error {
	tmp := path + "_new"
	os.Remove(tmp)
	if err := prog.Pin(tmp); err != nil {
		return fmt.Errorf("pin program: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		prog.Unpin()
		return fmt.Errorf("pin program: %w", err)
	}
	return nil
}

// handOverSweep moves the expiry timer of xvs_conns (xvs_sweep, conn.h) to
// the new program. The timer runs the callback of the program that armed
// it and holds that program: writing its element from user space frees it,
// and clearing the last run's time makes the new program arm it again on
// the next new flow. It then waits up to a second for the kernel to free
// the old program, and says whether it did (another process holding it
// open keeps it).
func handOverSweep(sweep *ebpf.Map, oldID ebpf.ProgramID) bool {
	deadline := time.Now().Add(time.Second)
	for {
		var sw bpf.XvsXvsSweep
		if err := sweep.Lookup(uint32(0), &sw); err == nil {
			sw.Jiffies = 0
			_ = sweep.Put(uint32(0), &sw) // frees the timer (the old program's callback)
		}
		p, err := ebpf.NewProgramFromID(oldID)
		if err != nil {
			return true
		}
		p.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StateExists says whether dir holds a complete state directory (its
// program pinned), without creating or locking anything.
func StateExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, progPin))
	return err == nil
}
