package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
)

// progPin is the pin name of the XDP program inside the state directory.
const progPin = "prog_xdp"

// linksDir holds one pinned bpf_link per attached interface, by interface name.
const linksDir = "links"

// State is an opened, locked state directory with the datapath's objects.
type State struct {
	Dir  string
	Objs *bpf.XvsObjects
	lock *os.File
}

// Open locks the state directory dir and returns the datapath pinned there,
// loading and pinning it first when the directory holds none. It mounts
// bpffs at /sys/fs/bpf when needed.
func Open(dir string, opts Options) (*State, error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	st := &State{Dir: dir, lock: lock}
	if _, serr := os.Stat(filepath.Join(dir, progPin)); serr == nil {
		st.Objs, err = loadPinned(dir)
	} else {
		st.Objs, err = createPinned(dir, opts)
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	return st, nil
}

// Pinned reports whether dir holds a pinned datapath: its program pin,
// written last, marks a complete one. Open would create one otherwise.
func Pinned(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, progPin))
	return err == nil
}

// Close releases the objects and the lock; pins stay.
func (s *State) Close() error {
	if s.Objs != nil {
		s.Objs.Close()
	}
	return s.lock.Close()
}

// lockDir creates dir on bpffs if missing and takes an exclusive flock on it,
// so two xvsadm processes never interleave their updates.
func lockDir(dir string) (*os.File, error) {
	if err := ensureBPFFS(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, linksDir), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return f, nil
}

// ensureBPFFS mounts bpffs at /sys/fs/bpf when parent lies under it and it is not mounted.
func ensureBPFFS(parent string) error {
	var fs unix.Statfs_t
	if err := unix.Statfs(parent, &fs); err == nil && fs.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	const root = "/sys/fs/bpf"
	if rel, err := filepath.Rel(root, parent); err != nil || filepath.IsAbs(rel) || (len(rel) >= 2 && rel[:2] == "..") {
		return fmt.Errorf("state dir %s is not on bpffs", parent)
	}
	if err := unix.Statfs(root, &fs); err == nil && fs.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("mount bpffs: %w", err)
	}
	if err := unix.Mount("bpf", root, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", root, err)
	}
	return nil
}

func createPinned(dir string, opts Options) (*bpf.XvsObjects, error) {
	objs, err := Load(opts)
	if err != nil {
		return nil, err
	}
	for _, f := range mapFields(objs) {
		if err := (*f.m).Pin(filepath.Join(dir, f.name)); err != nil {
			objs.Close()
			return nil, fmt.Errorf("pin map %s: %w", f.name, err)
		}
	}
	// The program is pinned last: its pin marks a complete state directory.
	if err := objs.XvsXdp.Pin(filepath.Join(dir, progPin)); err != nil {
		objs.Close()
		return nil, fmt.Errorf("pin program: %w", err)
	}
	if id, err := BuildID(); err == nil {
		if err := recordBuild(dir, id); err != nil {
			objs.Close()
			return nil, err
		}
	}
	return objs, nil
}

// ErrIncompatible means a state directory was pinned by a build of xvs
// whose maps have another layout.
var ErrIncompatible = errors.New("state directory was created by an incompatible xvs build (xvsadm upgrade cannot carry its maps over): detach its interfaces, remove it and attach again (connections are dropped), or use another --state")

func loadPinned(dir string) (*bpf.XvsObjects, error) {
	// The layouts come from a table generated with the bindings: parsing
	// the embedded ELF would cost more than most commands' own work.
	var err error
	var objs bpf.XvsObjects
	var diffs []string // every map missing or of another layout, named in one error
	open := func(name string) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if errors.Is(err, os.ErrNotExist) {
			diffs = append(diffs, name+" missing")
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load pinned map %s: %w", name, err)
		}
		if ms, ok := bpf.XvsMapLayouts[name]; ok && (m.Type() != ms.Type || m.KeySize() != ms.KeySize || m.ValueSize() != ms.ValueSize) {
			diffs = append(diffs, fmt.Sprintf("%s is %s %d/%d, this build's %s %d/%d (type, key/value size)", name, m.Type(), m.KeySize(), m.ValueSize(), ms.Type, ms.KeySize, ms.ValueSize))
			m.Close()
			return nil, nil
		}
		return m, nil
	}
	for _, f := range mapFields(&objs) {
		if *f.m, err = open(f.name); err != nil {
			objs.Close()
			return nil, err
		}
	}
	if len(diffs) > 0 {
		objs.Close()
		return nil, fmt.Errorf("%s: maps of another layout than this build's: %s: %w", dir, strings.Join(diffs, "; "), ErrIncompatible)
	}
	objs.XvsXdp, err = ebpf.LoadPinnedProgram(filepath.Join(dir, progPin), nil)
	if err != nil {
		objs.Close()
		return nil, fmt.Errorf("load pinned program: %w", err)
	}
	return &objs, nil
}
