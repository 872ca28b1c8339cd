package datapath

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// lblcrEntry is the model of one ip_vs_lblcr_entry: its set, newest first
// (nil when there is no entry), and whether the set is older than
// lblcr_expiration (the next schedule drops its most loaded member).
type lblcrEntry struct {
	set   []string
	stale bool
}

// lblcrModel is ip_vs_lblcr_schedule for one destination address (reals rs
// newest first with their counts; a member missing from rs was removed). It
// changes e as the kernel changes its entry and returns the choice.
func lblcrModel(e *lblcrEntry, rs []modelReal) string {
	if e.set == nil {
		d := leastModel("wlc", rs)
		if d != "" {
			e.set = []string{d}
		}
		return d
	}
	by := map[string]*modelReal{}
	for i := range rs {
		by[rs[i].addr] = &rs[i]
	}
	oh := func(d *modelReal) int64 { return d.active<<8 + d.inact }
	// ip_vs_dest_set_min
	var least *modelReal
	for _, a := range e.set {
		d := by[a]
		switch {
		case d == nil:
		case least == nil:
			if d.weight > 0 {
				least = d
			}
		case oh(least)*d.weight > oh(d)*least.weight:
			least = d
		}
	}
	// ip_vs_dest_set_max, when the set is older than lblcr_expiration (a removed real goes first)
	if len(e.set) > 1 && e.stale {
		most := -1
		for i, a := range e.set {
			d := by[a]
			if d == nil {
				most = i
				break
			}
			if d.weight <= 0 {
				continue
			}
			if most < 0 || oh(by[e.set[most]])*d.weight < oh(d)*by[e.set[most]].weight {
				most = i
			}
		}
		if most >= 0 {
			e.set = slices.Delete(slices.Clone(e.set), most, most+1)
		}
	}
	e.stale = false
	if least != nil && !(least.active > least.weight && slices.ContainsFunc(rs, func(o modelReal) bool { return o.active*2 < o.weight })) {
		return least.addr
	}
	d := leastModel("wlc", rs)
	if d != "" && !slices.Contains(e.set, d) {
		e.set = append([]string{d}, e.set...)
		if len(e.set) > lblcrSetMax { // the datapath's bound: the oldest member goes
			e.set = e.set[:lblcrSetMax]
		}
	}
	return d
}

// lblcrSetMax is XVS_LBLCR_SET_MAX.
var lblcrSetMax = len(bpf.XvsXvsLblcr{}.Set)

// lblcrKey is the xvs_lblcr key of service s and destination address vip.
func (f *fixture) lblcrKey(s *maps.Service, vip string) bpf.XvsXvsLblcKey {
	a := netip.MustParseAddrPort(vip).Addr()
	k := bpf.XvsXvsLblcKey{SvcId: f.cfg.Service(s).ID, Af: bpf.AFInet, Addr: a.As16()}
	if a.Is4() {
		k.Addr = [16]uint8{}
		b := a.As4()
		copy(k.Addr[:], b[:])
	} else {
		k.Af = bpf.AFInet6
	}
	return k
}

// lblcrSet returns the set of service s's entry for vip, newest first, by
// address (names maps each real's id and generation to its address; a
// member it does not know is "?"), or nil when there is no entry.
func (f *fixture) lblcrSet(s *maps.Service, vip string, names map[[2]uint32]string) ([]string, bpf.XvsXvsLblcr) {
	f.tb.Helper()
	var e bpf.XvsXvsLblcr
	k := f.lblcrKey(s, vip)
	if err := f.objs.XvsLblcr.Lookup(&k, &e); err != nil {
		return nil, e
	}
	out := []string{}
	for _, m := range e.Set[:e.Size] {
		n, ok := names[[2]uint32{m.Id, m.Gen}]
		if !ok {
			n = "?"
		}
		out = append(out, n)
	}
	return out, e
}

// lblcrAge moves service s's entry for vip back in time by the given
// jiffies: its last change (so the set is past lblcr_expiration) and its
// last use (so the entry is forgotten).
func (f *fixture) lblcrAge(s *maps.Service, vip string, mod, use uint64) {
	f.tb.Helper()
	var e bpf.XvsXvsLblcr
	k := f.lblcrKey(s, vip)
	if err := f.objs.XvsLblcr.Lookup(&k, &e); err != nil {
		f.tb.Fatalf("no lblcr entry for %s: %v", vip, err)
	}
	e.Lastmod -= mod
	e.Lastuse -= use
	if err := f.objs.XvsLblcr.Put(&k, &e); err != nil {
		f.tb.Fatal(err)
	}
}

// dayJiffies is more than lblcr_expiration (24 hours) at any HZ up to 1000.
const dayJiffies = 24*60*60*1000 + 1

// names maps every real of f's configuration by (id, generation) to its address, adding to m.
func (f *fixture) names(m map[[2]uint32]string) map[[2]uint32]string {
	if m == nil {
		m = map[[2]uint32]string{}
	}
	for _, s := range f.cfg.Services {
		for _, d := range s.Dests {
			m[[2]uint32{d.ID, d.Gen}] = d.Addr.String()
		}
	}
	return m
}

// TestLBLCRModel: three VIPs (one service each, the same three reals)
// against lblcrModel fed with the datapath's counts before each new
// connection; after each, the entry's set must be the model's. A third of
// the connections close and a third stay established, so members overload
// and sets grow; midway a real is quiesced, then every set is aged past
// lblcr_expiration (each drops its most loaded member), then a real that is
// a member is removed (it stays in the set, never chosen, and goes first),
// then the sets are aged again.
func TestLBLCRModel(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	vips := []string{"10.0.0.100:80", "10.0.0.101:80", "10.0.0.102:80"}
	var svcs []*maps.Service
	for _, v := range vips {
		svcs = append(svcs, f.addSched("tcp", v, "lblcr", 0, []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 2, 0}, {"10.0.0.13", 3, 0}}))
	}
	names := f.names(nil)
	model := make([]lblcrEntry, len(vips))
	grew, shrank := 0, 0
	for i := range 150 {
		switch i {
		case 45:
			f.weight(svcs[0], "10.0.0.13:80", 0)
		case 75, 120:
			for j := range vips {
				if set, _ := f.lblcrSet(svcs[j], vips[j], names); len(set) > 1 {
					shrank++
				}
				f.lblcrAge(svcs[j], vips[j], dayJiffies, 0)
				model[j].stale = true
			}
		case 90:
			f.delReal(svcs[1], "10.0.0.12:80")
		}
		j := i % len(vips)
		cl := src(false, i)
		before := len(model[j].set)
		want := lblcrModel(&model[j], f.listCounts(svcs[j]))
		got := f.pick(pkt{proto: "tcp", src: cl, dst: vips[j], flags: "S"})
		if got != want {
			t.Fatalf("connection %d to %s: %s, model says %s (set %v, counts %+v)", i, vips[j], got, want, model[j].set, f.listCounts(svcs[j]))
		}
		if len(model[j].set) > before {
			grew++
		}
		set, _ := f.lblcrSet(svcs[j], vips[j], names)
		if !slices.Equal(set, model[j].set) {
			t.Fatalf("connection %d to %s: set %v, model's %v", i, vips[j], set, model[j].set)
		}
		switch i % 3 {
		case 0: // closed: inactive
			f.pick(pkt{proto: "tcp", src: cl, dst: vips[j], flags: "A"})
			f.pick(pkt{proto: "tcp", src: cl, dst: vips[j], flags: "R"})
		case 1: // established: active
			f.pick(pkt{proto: "tcp", src: cl, dst: vips[j], flags: "A"})
		}
	}
	for j := range vips {
		set, _ := f.lblcrSet(svcs[j], vips[j], names)
		t.Logf("%s: set %v", vips[j], set)
	}
	t.Logf("sets grew %d times; %d sets of more than one member were aged", grew, shrank)
	if grew < 6 || shrank < 3 {
		t.Errorf("sets grew %d times, %d were aged with more than one member: the test does not reach growth and shrinking", grew, shrank)
	}
}

// TestLBLCR walks the cases one by one on a service of three reals,
// checking the choice and the set after each new connection.
func TestLBLCR(t *testing.T) {
	const vip = "10.0.0.100:80"
	type step struct {
		do      string   // "syn" (a new connection, closed at once: inactive), "est" (a new connection left established: active), "age", "forget", or "weight ADDR N"
		want    string   // the real chosen ("syn", "est")
		wantSet []string // the set afterwards, newest first
	}
	for _, tc := range []struct {
		name  string
		reals []realSpec // oldest first: IPVS lists them newest first
		steps []step
	}{
		{"first pick is wlc's, then sticks", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}}, []step{
			{"syn", "10.0.0.13", []string{"10.0.0.13"}},
			{"syn", "10.0.0.13", []string{"10.0.0.13"}}, // wlc would take 10.0.0.12 now
			{"syn", "10.0.0.13", []string{"10.0.0.13"}},
		}},
		{"an overloaded member makes the set grow", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}}, []step{
			{"est", "10.0.0.13", []string{"10.0.0.13"}},
			{"est", "10.0.0.13", []string{"10.0.0.13"}},                           // 1 active: not above weight 1
			{"est", "10.0.0.12", []string{"10.0.0.12", "10.0.0.13"}},              // 2 active > 1, and 10.0.0.12 has none
			{"est", "10.0.0.12", []string{"10.0.0.12", "10.0.0.13"}},              // the least loaded member (1 active vs 2)
			{"est", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}}, // both over weight, 10.0.0.11 idle
			{"est", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}}, // least loaded member again
			{"est", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}}, // all over weight, none under half: no new choice
		}},
		{"least loaded member per weight", []realSpec{{"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}, {"10.0.0.11", 4, 0}}, []step{
			{"est", "10.0.0.11", []string{"10.0.0.11"}},
			{"weight 10.0.0.11 1", "", nil},
			{"est", "10.0.0.11", []string{"10.0.0.11"}},
			{"est", "10.0.0.13", []string{"10.0.0.13", "10.0.0.11"}}, // 2 active > weight 1, 10.0.0.13 idle
			{"weight 10.0.0.11 8", "", nil},
			{"est", "10.0.0.11", []string{"10.0.0.13", "10.0.0.11"}}, // 512 / 8 beats 256 / 1
		}},
		{"shrinks after lblcr_expiration, the most loaded member first", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}, {"10.0.0.13", 1, 0}}, []step{
			{"est", "10.0.0.13", []string{"10.0.0.13"}},
			{"est", "10.0.0.13", []string{"10.0.0.13"}},
			{"est", "10.0.0.12", []string{"10.0.0.12", "10.0.0.13"}},
			{"age", "", nil},
			{"syn", "10.0.0.12", []string{"10.0.0.12"}}, // 10.0.0.13 (2 active) dropped; one member per schedule
			{"age", "", nil},
			{"syn", "10.0.0.12", []string{"10.0.0.12"}}, // a set of one never shrinks
		}},
		{"not shrunk before lblcr_expiration", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}}, []step{
			{"est", "10.0.0.12", []string{"10.0.0.12"}},
			{"est", "10.0.0.12", []string{"10.0.0.12"}},
			{"est", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12"}},
			{"syn", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12"}},
		}},
		{"an entry unused past lblcr_expiration is forgotten", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}}, []step{
			{"syn", "10.0.0.12", []string{"10.0.0.12"}},
			{"syn", "10.0.0.12", []string{"10.0.0.12"}},
			{"forget", "", nil},
			{"syn", "10.0.0.11", []string{"10.0.0.11"}}, // wlc: 10.0.0.12 has two inactive
		}},
		{"weight 0 members are not chosen", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}}, []step{
			{"syn", "10.0.0.12", []string{"10.0.0.12"}},
			{"weight 10.0.0.12 0", "", nil},
			{"syn", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12"}}, // no member qualifies: wlc's choice joins the set
			{"syn", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12"}},
			{"weight 10.0.0.12 1", "", nil},
			{"syn", "10.0.0.12", []string{"10.0.0.11", "10.0.0.12"}}, // back with weight, and less loaded (1 inactive vs 2)
		}},
		{"all weight 0: no real", []realSpec{{"10.0.0.11", 0, 0}, {"10.0.0.12", 0, 0}}, []step{
			{"syn", "", nil},
		}},
		{"a member at its upper threshold is skipped", []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 2}}, []step{
			{"syn", "10.0.0.12", []string{"10.0.0.12"}},
			{"syn", "10.0.0.12", []string{"10.0.0.12"}}, // 2 connections: at -x 2
			{"syn", "10.0.0.11", []string{"10.0.0.11", "10.0.0.12"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.pinCPU()
			s := f.addSched("tcp", vip, "lblcr", 0, tc.reals)
			names := f.names(nil)
			for i, st := range tc.steps {
				var a string
				var w int32
				switch {
				case st.do == "age":
					f.lblcrAge(s, vip, dayJiffies, 0)
					continue
				case st.do == "forget":
					f.lblcrAge(s, vip, dayJiffies, dayJiffies)
					continue
				case strings.HasPrefix(st.do, "weight "):
					if _, err := fmt.Sscanf(st.do, "weight %s %d", &a, &w); err != nil {
						t.Fatal(err)
					}
					f.weight(s, a+":80", w)
					continue
				}
				cl := src(false, i)
				got := f.pick(pkt{proto: "tcp", src: cl, dst: vip, flags: "S"})
				if got != st.want {
					t.Fatalf("step %d: %q, want %q", i, got, st.want)
				}
				f.pick(pkt{proto: "tcp", src: cl, dst: vip, flags: "A"})
				if st.do == "syn" {
					f.pick(pkt{proto: "tcp", src: cl, dst: vip, flags: "R"})
				}
				set, _ := f.lblcrSet(s, vip, names)
				if !slices.Equal(set, st.wantSet) {
					t.Fatalf("step %d: set %v, want %v", i, set, st.wantSet)
				}
			}
		})
	}
}

// TestLBLCRPerAddress: each destination address has its own entry: flows
// to two VIPs of services with the same reals keep a real each, chosen when
// each entry was made.
func TestLBLCRPerAddress(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	reals := []realSpec{{"10.0.0.11", 1, 0}, {"10.0.0.12", 1, 0}}
	a := f.addSched("udp", "10.0.0.100:53", "lblcr", 0, reals)
	b := f.addSched("udp", "[fd00::100]:53", "lblcr", 0, []realSpec{{"fd00::11", 1, 0}, {"fd00::12", 1, 0}})
	got := map[string]int{}
	for i := range 40 {
		got[f.pick(pkt{proto: "udp", src: src(false, i), dst: "10.0.0.100:53", payload: []byte("q")})]++
		got[f.pick(pkt{proto: "udp", src: src(true, i), dst: "[fd00::100]:53", payload: []byte("q")})]++
	}
	if got["10.0.0.12"] != 40 || got["fd00::12"] != 40 {
		t.Fatalf("lblcr spread one destination's flows: %v, want 40 each on 10.0.0.12 and fd00::12", got)
	}
	names := f.names(nil)
	if s, _ := f.lblcrSet(a, "10.0.0.100:53", names); !slices.Equal(s, []string{"10.0.0.12"}) {
		t.Fatalf("10.0.0.100's set %v", s)
	}
	if s, _ := f.lblcrSet(b, "[fd00::100]:53", names); !slices.Equal(s, []string{"fd00::12"}) {
		t.Fatalf("fd00::100's set %v", s)
	}
}

// TestLBLCRSetLimit: a service of 20 reals whose members overload one after
// another (every connection stays established, weight 1): the set grows to
// XVS_LBLCR_SET_MAX members, then each real that joins pushes the oldest
// member out; every choice is the model's.
func TestLBLCRSetLimit(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	var reals []realSpec
	for i := range 20 {
		reals = append(reals, realSpec{fmt.Sprintf("10.0.0.%d", 11+i), 1, 0})
	}
	const vip = "10.0.0.100:80"
	s := f.addSched("tcp", vip, "lblcr", 0, reals)
	names := f.names(nil)
	var m lblcrEntry
	full := 0
	for i := range 44 {
		cl := src(false, i)
		want := lblcrModel(&m, f.listCounts(s))
		if got := f.pick(pkt{proto: "tcp", src: cl, dst: vip, flags: "S"}); got != want {
			t.Fatalf("connection %d: %s, model says %s", i, got, want)
		}
		f.pick(pkt{proto: "tcp", src: cl, dst: vip, flags: "A"})
		set, _ := f.lblcrSet(s, vip, names)
		if !slices.Equal(set, m.set) {
			t.Fatalf("connection %d: set %v, model's %v", i, set, m.set)
		}
		if len(set) == lblcrSetMax {
			full++
		}
	}
	set, _ := f.lblcrSet(s, vip, names)
	if full < 4 || len(set) != lblcrSetMax || slices.Contains(set, "10.0.0.30") {
		t.Fatalf("set %v (full for %d connections): want %d members, the first real chosen (10.0.0.30) pushed out", set, full, lblcrSetMax)
	}
}
