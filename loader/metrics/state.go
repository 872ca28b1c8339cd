package metrics

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/maps"
)

// ErrNoDatapath means the state directory holds no pinned datapath.
var ErrNoDatapath = errors.New("no xvs datapath pinned there (xvsadm attach IFACE creates it)")

// StateSource reads Snapshots from a state directory and kernel IPVS.
type StateSource struct {
	Dir string
}

// Snapshot opens the state directory (under its lock, held only while
// reading) and reads it. It never creates a datapath.
func (s StateSource) Snapshot() (*Snapshot, error) {
	if !loader.Pinned(s.Dir) {
		return nil, fmt.Errorf("%s: %w", s.Dir, ErrNoDatapath)
	}
	st, err := loader.Open(s.Dir, loader.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return ReadState(st)
}

// ReadState reads a Snapshot from an opened state directory: the
// configuration and counters through the store xvsadm -L reads, the
// verdicts, connection table and attachments that xvsadm status shows,
// the reals' next hops, and kernel IPVS.
func ReadState(st *loader.State) (*Snapshot, error) {
	status, err := st.StatusNoCount()
	if err != nil {
		return nil, err
	}
	store := maps.NewBPFStore(loader.StoreMaps(st.Objs))
	cfg, err := store.Load()
	if err != nil {
		return nil, err
	}
	retired, err := store.RetiredStats()
	if err != nil {
		return nil, err
	}
	hops, err := loader.NextHops(realAddrs(cfg))
	if err != nil {
		return nil, err
	}
	k, err := ReadKernel(cfg)
	if err != nil {
		return nil, err
	}
	return &Snapshot{
		Services: cfg.Services, Retired: retired,
		Verdicts: status.Verdicts, ConnTable: status.ConnTable, Attached: status.Attached,
		NextHops: hops, Kernel: k,
	}, nil
}

// realAddrs lists the addresses of cfg's reals, once each.
func realAddrs(cfg *maps.Config) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, e := range cfg.Services {
		for _, d := range e.Dests {
			if a := d.Addr.Unmap(); !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// ReadKernel reads kernel IPVS: its table with counters, its totals, and
// (when xvs mirrors into it) how it differs from cfg, the maps'. Kernel
// IPVS present but unreadable is an error: without its part the
// node_ipvs_* counters would drop.
func ReadKernel(cfg *maps.Config) (Kernel, error) {
	m, err := ipvs.Open()
	if errors.Is(err, ipvs.ErrNotPresent) {
		return Kernel{State: KernelAbsent}, nil
	}
	if err != nil {
		return Kernel{}, err
	}
	defer m.Close()
	kc, err := m.Read()
	if err != nil {
		return Kernel{}, err
	}
	totals, err := ipvs.ReadTotals()
	if err != nil {
		return Kernel{}, err
	}
	k := Kernel{State: KernelMirrored, Services: kc.Services, Totals: totals}
	if loader.MirrorDisabled() {
		k.State = KernelNotMirrored
		return k, nil
	}
	k.DriftServices, k.DriftTimeouts = ipvs.DriftedServices(ipvs.Differences(cfg, kc))
	return k, nil
}
