package loader

import (
	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// StoreMaps returns the maps a maps.BPFStore works on.
func StoreMaps(o *bpf.XvsObjects) maps.BPFMaps {
	return maps.BPFMaps{
		Svcs: o.XvsSvcs, Reals: o.XvsReals, Mh: o.XvsMh,
		SvcStats: o.XvsSvcStats, RealStats: o.XvsRealStats, Config: o.XvsConfig,
	}
}

// Store is the configuration store of a state directory: the pinned maps,
// held under the directory's lock until Close.
type Store struct {
	*maps.BPFStore
	st *State
}

// OpenStore opens (creating if needed) the state directory dir and returns its store.
func OpenStore(dir string, opts Options) (*Store, error) {
	st, err := Open(dir, opts)
	if err != nil {
		return nil, err
	}
	return &Store{BPFStore: maps.NewBPFStore(StoreMaps(st.Objs)), st: st}, nil
}

// Commit writes cfg to the maps, then asks the kernel to resolve the
// neighbours of direct-routing reals so the datapath finds their MACs.
func (s *Store) Commit(cfg *maps.Config) error {
	if err := s.BPFStore.Commit(cfg); err != nil {
		return err
	}
	resolveNeighbours(cfg)
	return nil
}

// Close releases the maps and the lock.
func (s *Store) Close() error { return s.st.Close() }
