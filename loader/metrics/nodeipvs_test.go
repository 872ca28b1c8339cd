package metrics

import (
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// What node_ipvs_* count: XDP's packets (services it has and had) plus
// kernel IPVS's, each once; a backend's connections from both datapaths,
// its weight from the maps; the kernel's part only where it exists.
func TestNodeAccounting(t *testing.T) {
	xdp := entry(tcp("10.0.0.1:80"), stats(1, 1, 0, 100, 0), real("10.1.0.1:80", 3, 2, 5, stats(10, 100, 0, 6000, 0)))
	mirror := entry(tcp("10.0.0.1:80"), maps.Stats{}, real("10.1.0.1:80", 3, 1, 1, stats(2, 20, 0, 1200, 0)))
	other := entry(tcp("10.0.0.2:22"), maps.Stats{}, real("10.1.0.2:22", 7, 4, 0, stats(4, 40, 0, 2400, 0)))
	drifted := entry(tcp("10.0.0.1:80"), maps.Stats{}, real("10.1.0.1:80", 9, 0, 0, maps.Stats{}))
	kernelTotals := stats(6, 60, 0, 3600, 0)
	type row struct {
		active, inactive, weight float64
	}
	for _, c := range []struct {
		name     string
		snap     Snapshot
		totals   maps.Stats
		backends map[string]row // by remote address
	}{
		{
			name:     "no kernel IPVS: XDP and what removed services counted",
			snap:     Snapshot{Services: []*maps.ServiceEntry{xdp}, Retired: stats(5, 50, 0, 3000, 0), Kernel: Kernel{State: KernelAbsent, Totals: kernelTotals, Services: []*maps.ServiceEntry{other}}},
			totals:   stats(16, 151, 0, 9100, 0),
			backends: map[string]row{"10.1.0.1": {2, 5, 3}},
		},
		{
			name:     "mirrored: connections of both datapaths, one weight; kernel-only service included",
			snap:     Snapshot{Services: []*maps.ServiceEntry{xdp}, Kernel: Kernel{State: KernelMirrored, Totals: kernelTotals, Services: []*maps.ServiceEntry{mirror, other}}},
			totals:   stats(17, 161, 0, 9700, 0),
			backends: map[string]row{"10.1.0.1": {3, 6, 3}, "10.1.0.2": {4, 0, 7}},
		},
		{
			name:     "drifted weight: the maps' (what XDP schedules by)",
			snap:     Snapshot{Services: []*maps.ServiceEntry{xdp}, Kernel: Kernel{State: KernelNotMirrored, Services: []*maps.ServiceEntry{drifted}}},
			totals:   stats(11, 101, 0, 6100, 0),
			backends: map[string]row{"10.1.0.1": {2, 5, 3}},
		},
	} {
		if got := nodeTotals(&c.snap); got != c.totals {
			t.Errorf("%s: totals %+v, want %+v", c.name, got, c.totals)
		}
		got := map[string]row{}
		for _, b := range backends(&c.snap) {
			got[b.labels[2]] = row{b.active, b.inactive, b.weight}
		}
		if len(got) != len(c.backends) {
			t.Errorf("%s: backends %v, want %v", c.name, got, c.backends)
		}
		for k, w := range c.backends {
			if got[k] != w {
				t.Errorf("%s: backend %s: %+v, want %+v", c.name, k, got[k], w)
			}
		}
	}
}
