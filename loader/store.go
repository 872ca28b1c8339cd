package loader

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/maps"
)

// StoreMaps returns the maps a maps.BPFStore works on.
func StoreMaps(o *bpf.XvsObjects) maps.BPFMaps {
	return maps.BPFMaps{
		Svcs: o.XvsSvcs, Reals: o.XvsReals, Mh: o.XvsMh,
		SvcStats: o.XvsSvcStats, RealStats: o.XvsRealStats, Config: o.XvsConfig,
		Conns: o.XvsConns, RealConns: o.XvsRealConns, Sweep: o.XvsSweep,
	}
}

// Store is the configuration store of a state directory: the pinned maps,
// held under the directory's lock until Close.
type Store struct {
	*maps.BPFStore
	st *State
	// Mirror copies every commit to kernel IPVS; nil where the kernel has
	// none or XVS_IPVS_MIRROR=off (MirrorOff says which).
	Mirror    *ipvs.Mirror
	MirrorOff string
	// MirrorErr receives what the mirror could not apply (the maps are
	// committed all the same); it writes to standard error by default.
	MirrorErr func(error)
}

// OpenStore opens (creating if needed) the state directory dir and returns its store.
func OpenStore(dir string, opts Options) (*Store, error) {
	st, err := Open(dir, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{BPFStore: maps.NewBPFStore(StoreMaps(st.Objs)), st: st}
	s.Mirror, s.MirrorOff = OpenMirror()
	s.MirrorErr = func(err error) { fmt.Fprintf(os.Stderr, "xvsadm: %v\n", err) }
	return s, nil
}

// MirrorDisabled reports whether the operator turned mirroring to kernel
// IPVS off (XVS_IPVS_MIRROR=off).
func MirrorDisabled() bool { return os.Getenv("XVS_IPVS_MIRROR") == "off" }

// OpenMirror connects to kernel IPVS for mirroring, or says why it is off.
func OpenMirror() (*ipvs.Mirror, string) {
	if MirrorDisabled() {
		return nil, "off (XVS_IPVS_MIRROR=off)"
	}
	m, err := ipvs.Open()
	if errors.Is(err, ipvs.ErrNotPresent) {
		return nil, "not present in this kernel; mirroring off"
	}
	if err != nil {
		return nil, fmt.Sprintf("present but unusable (%v); mirroring off", err)
	}
	return m, ""
}

// Load reads the maps' configuration; the mirror takes it as what kernel
// IPVS holds of xvs's, so a commit sends the kernel only the difference.
func (s *Store) Load() (*maps.Config, error) {
	cfg, err := s.BPFStore.Load()
	if err == nil && s.Mirror != nil && !s.Mirror.Seeded() {
		s.Mirror.Seed(cfg)
	}
	return cfg, err
}

// ZeroStats zeroes the maps' counters, and kernel IPVS's.
func (s *Store) ZeroStats(svc *maps.Service) error {
	if err := s.BPFStore.ZeroStats(svc); err != nil {
		return err
	}
	if s.Mirror != nil {
		if err := s.Mirror.Zero(svc); err != nil {
			s.MirrorErr(err)
		}
	}
	return nil
}

// Commit writes cfg to the maps and mirrors the change to kernel IPVS at
// the same time (the mirror's messages are planned first, then sent while
// the maps are written: the kernel serves them in the sending thread, so
// on two CPUs the two overlap); meanwhile it asks the kernel to resolve
// the neighbours of new direct-routing reals, so the datapath finds their
// MACs. When the maps cannot be committed they stay
// as they were, and kernel IPVS is put back to what they hold.
func (s *Store) Commit(cfg *maps.Config) error {
	if s.Mirror != nil && !s.Mirror.Seeded() {
		if _, err := s.Load(); err != nil {
			return err
		}
	}
	fresh := newDRReals(cfg) // before Commit gives them IDs
	var (
		sending *ipvs.Sending
		merr    error
	)
	if s.Mirror != nil {
		sending, merr = s.Mirror.Start(cfg)
	}
	// Neighbour requests are best effort and harmless if the commit fails:
	// they go out while the maps are written.
	var neigh sync.WaitGroup
	neigh.Add(1)
	go func() { defer neigh.Done(); resolveNeighbours(fresh) }()
	err := s.BPFStore.Commit(cfg)
	if sending != nil {
		merr = sending.Wait()
	}
	neigh.Wait()
	if err != nil {
		if sending != nil {
			s.unmirror()
		}
		return err
	}
	if merr != nil {
		s.MirrorErr(fmt.Errorf("the maps are changed, kernel IPVS is not (see xvsadm status; xvsadm sync re-applies): %w", merr))
	}
	return nil
}

// unmirror puts kernel IPVS back to what the maps hold, after a commit
// that changed the kernel but not the maps.
func (s *Store) unmirror() {
	cfg, err := s.BPFStore.Load()
	if err == nil {
		err = s.Mirror.Apply(cfg)
	}
	if err != nil {
		s.MirrorErr(fmt.Errorf("the maps are unchanged, kernel IPVS may not be (see xvsadm status; xvsadm sync re-applies): %w", err))
	}
}

// Close releases the maps, the lock and the mirror's netlink socket.
func (s *Store) Close() error {
	if s.Mirror != nil {
		s.Mirror.Close()
	}
	return s.st.Close()
}
