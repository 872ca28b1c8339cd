package datapath

import (
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// lblcModel is ip_vs_lblc_schedule for one destination address: the real
// of its entry (entry, "" when none) while that real has weight and is not
// overloaded (more active connections than its weight while some real has
// fewer than half its weight), else wlc's choice. It returns the choice,
// which is also the entry's new real.
func lblcModel(entry string, rs []modelReal) string {
	for _, d := range rs {
		if d.addr != entry || d.weight <= 0 {
			continue
		}
		if d.active <= d.weight {
			return entry
		}
		for _, o := range rs {
			if o.active*2 < o.weight {
				return leastModel("wlc", rs)
			}
		}
		return entry
	}
	return leastModel("wlc", rs)
}

// TestLBLCModel: lblc against lblcModel fed with the datapath's own counts
// before each new connection. A third of the connections are closed and a
// third stay established (active), so the entry's real gets overloaded and
// the choice moves; midway a real is quiesced (weight 0) and later removed.
func TestLBLCModel(t *testing.T) {
	reals := []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 2, 0}, {"10.0.0.13", 3, 0}}
	f, s := setupSched(t, "tcp", "10.0.0.100:80", "lblc", 0, reals)
	entry := ""
	per := map[string]int{}
	moves := 0
	for i := range 90 {
		switch i {
		case 30:
			f.weight(s, "10.0.0.13:80", 0)
		case 60:
			f.delReal(s, "10.0.0.12:80")
		}
		cl := src(false, i)
		want := lblcModel(entry, f.listCounts(s))
		got := f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "S"})
		if got != want {
			t.Fatalf("connection %d: %s, model says %s (entry %q, counts %+v)", i, got, want, entry, f.listCounts(s))
		}
		if got != entry {
			moves++
		}
		entry = got
		per[got]++
		switch i % 3 {
		case 0: // closed: inactive
			f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "A"})
			f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "R"})
		case 1: // established: active
			f.pick(pkt{proto: "tcp", src: cl, dst: "10.0.0.100:80", flags: "A"})
		}
	}
	t.Logf("lblc: %v, the entry's real changed %d times", per, moves)
	if moves < 3 {
		t.Errorf("the entry's real changed %d times: the test does not reach overload", moves)
	}
}

// TestLBLCSticks: with no active connections (SYNs only: IPVS counts them
// inactive) every new flow to the address keeps the first real, where wlc
// would spread them by their inactive counts.
func TestLBLCSticks(t *testing.T) {
	f, _ := setupSched(t, "udp", "10.0.0.100:53", "lblc", 0, []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}})
	got := map[string]int{}
	for i := range 50 {
		got[f.pick(pkt{proto: "udp", src: src(false, i), dst: "10.0.0.100:53", payload: []byte("q")})]++
	}
	if got["10.0.0.12"] != 50 {
		t.Fatalf("lblc spread one destination's flows: %v, want all 50 on 10.0.0.12 (newest first, as IPVS lists them)", got)
	}
}

var _ = maps.DatapathScheds
