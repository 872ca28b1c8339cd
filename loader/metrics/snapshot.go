package metrics

import (
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// Snapshot is one reading of everything the metrics report.
type Snapshot struct {
	// Services are the maps' services, with XDP's counters (a service's
	// include those of reals it no longer has) and connection counts.
	Services []*maps.ServiceEntry
	// Retired is what XDP counted for services since removed.
	Retired maps.Stats
	// Verdicts counts the packets XDP did not forward, by reason
	// (bpf.VerdictNames).
	Verdicts  map[string]uint64
	ConnTable loader.ConnTable
	Attached  []loader.Attachment
	// NextHops are the next hops of the reals with their neighbour state.
	NextHops []loader.NextHop
	Kernel   Kernel
}

// KernelState says whether kernel IPVS exists and mirrors the maps.
type KernelState string

const (
	KernelAbsent      KernelState = "absent"       // this kernel has no IPVS
	KernelMirrored    KernelState = "mirrored"     // present, xvs mirrors its maps into it
	KernelNotMirrored KernelState = "not_mirrored" // present, mirroring turned off (XVS_IPVS_MIRROR=off)
)

// Kernel is what kernel IPVS holds and counted. Where it is present it
// carries what XDP passes up (and whatever other tools configured in it):
// its counters count only packets XDP did not forward, since XDP counts a
// packet only once it sent it itself (bpf/stats.h), so adding the two
// counts every packet once.
type Kernel struct {
	State KernelState
	// Services is the kernel's table with its counters and connection counts.
	Services []*maps.ServiceEntry
	// Totals are ip_vs_stats: everything kernel IPVS counted, removed
	// services included.
	Totals maps.Stats
	// DriftServices counts services that differ between the maps and the
	// kernel (either side); DriftTimeouts whether the timeouts differ.
	// Meaningful when State is KernelMirrored.
	DriftServices int
	DriftTimeouts bool
}

// Source gives a Snapshot per scrape.
type Source interface {
	Snapshot() (*Snapshot, error)
}

// SourceFunc is a function that is a Source.
type SourceFunc func() (*Snapshot, error)

// Snapshot calls f.
func (f SourceFunc) Snapshot() (*Snapshot, error) { return f() }
