package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/xvs-lb/xvs/bpf"
)

// UpgradeDecap replaces the decapsulation program of every link pinned in
// dir (a real server's, see AttachDecap) by this build's, keeping its
// counters (xvs_decap_stats) and its GUE port. A link whose program has
// the same instructions (kernel tag) is left alone unless force. A missing
// dir has nothing to upgrade.
func UpgradeDecap(dir string, force bool) ([]UpgradedLink, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade decap: %w", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock: %w", err)
	}
	var out []UpgradedLink
	for _, e := range ents {
		u, err := upgradeDecapLink(filepath.Join(dir, e.Name()), force)
		if err != nil {
			return out, fmt.Errorf("upgrade decap of %s: %w", e.Name(), err)
		}
		if u != nil {
			u.Iface = e.Name()
			out = append(out, *u)
		}
	}
	return out, nil
}

// upgradeDecapLink upgrades one pinned decap link; nil when left alone.
func upgradeDecapLink(pin string, force bool) (*UpgradedLink, error) {
	lk, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		return nil, err
	}
	defer lk.Close()
	li, err := lk.Info()
	if err != nil {
		return nil, fmt.Errorf("link info: %w", err)
	}
	old, err := ebpf.NewProgramFromID(li.Program)
	if err != nil {
		return nil, fmt.Errorf("open program %d: %w", li.Program, err)
	}
	defer old.Close()
	oi, err := old.Info()
	if err != nil {
		return nil, fmt.Errorf("program info: %w", err)
	}
	held, port, err := decapHeld(oi)
	if err != nil {
		return nil, err
	}
	defer closeAll(held)
	spec, err := bpf.LoadDecap()
	if err != nil {
		return nil, fmt.Errorf("load decap spec: %w", err)
	}
	if err := spec.Variables["xvs_decap_gue_port"].Set(port); err != nil {
		return nil, fmt.Errorf("set gue port: %w", err)
	}
	var diffs []string
	for name, m := range held {
		if err := mapCompatible(spec.Maps[name], m); err != nil {
			diffs = append(diffs, name+" ("+err.Error()+")")
		}
	}
	if len(diffs) > 0 {
		return nil, fmt.Errorf("maps of another layout: %s (run realserver teardown --decap, then setup --decap): %w", strings.Join(diffs, "; "), ErrIncompatible)
	}
	var objs bpf.DecapObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: held}); err != nil {
		return nil, fmt.Errorf("load this build's decap program (nothing changed): %+v", err)
	}
	defer objs.Close() // the link holds the program
	ni, err := objs.XvsDecap.Info()
	if err != nil {
		return nil, fmt.Errorf("new program info: %w", err)
	}
	if ni.Tag == oi.Tag && !force {
		return nil, nil
	}
	if err := lk.Update(objs.XvsDecap); err != nil {
		return nil, fmt.Errorf("swap program: %w", err)
	}
	nid, _ := ni.ID()
	return &UpgradedLink{LinkID: uint32(li.ID), OldProg: uint32(li.Program), NewProg: uint32(nid)}, nil
}

// decapHeld opens the maps of the old decap program this build declares
// (its counters), and reads its GUE port from its .rodata through the
// program's BTF.
func decapHeld(oi *ebpf.ProgramInfo) (map[string]*ebpf.Map, uint16, error) {
	ids, ok := oi.MapIDs()
	if !ok {
		return nil, 0, errors.New("the kernel does not list the old program's maps")
	}
	held := map[string]*ebpf.Map{}
	var port uint16
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			closeAll(held)
			return nil, 0, fmt.Errorf("open map %d of the old program: %w", id, err)
		}
		info, err := m.Info()
		switch {
		case err != nil:
			m.Close()
		case strings.HasSuffix(info.Name, ".rodata"):
			port, err = rodataU16(m, info, "xvs_decap_gue_port")
			m.Close()
			if err != nil {
				closeAll(held)
				return nil, 0, err
			}
		case info.Name == bpf.DecapMapXvsDecapStats:
			held[info.Name] = m
		default:
			m.Close()
		}
	}
	return held, port, nil
}

// rodataU16 reads the __u16 variable name from a loaded .rodata map, at
// the offset its BTF gives (another build may lay the section out otherwise).
func rodataU16(m *ebpf.Map, info *ebpf.MapInfo, name string) (uint16, error) {
	id, ok := info.BTFID()
	if !ok {
		return 0, fmt.Errorf("old .rodata has no BTF: cannot read %s", name)
	}
	h, err := btf.NewHandleFromID(id)
	if err != nil {
		return 0, fmt.Errorf("old .rodata BTF: %w", err)
	}
	defer h.Close()
	spec, err := h.Spec(nil)
	if err != nil {
		return 0, fmt.Errorf("old .rodata BTF: %w", err)
	}
	val := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), &val); err != nil {
		return 0, fmt.Errorf("read old .rodata: %w", err)
	}
	for typ, err := range spec.All() {
		if err != nil {
			return 0, fmt.Errorf("old .rodata BTF: %w", err)
		}
		ds, ok := typ.(*btf.Datasec)
		if !ok || !strings.HasSuffix(ds.Name, ".rodata") {
			continue
		}
		for _, v := range ds.Vars {
			if v.Type.TypeName() != name || v.Size != 2 || int(v.Offset)+2 > len(val) {
				continue
			}
			var x uint16
			if err := binary.Read(bytes.NewReader(val[v.Offset:v.Offset+2]), binary.NativeEndian, &x); err != nil {
				return 0, err
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("old program has no %s", name)
}
