package ipvs

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/maps"
)

// fakeKernel is an in-memory kernel IPVS that logs every call that changes it.
type fakeKernel struct {
	svcs  []cfipvs.Service
	dests map[svcKey][]cfipvs.Destination // kernel order: newest first
	cfg   cfipvs.Config
	calls []string
	// missing is a scheduler whose module the kernel lacks: updates to it
	// fail (creates fail for "bogus").
	missing string
}

func newFake() *fakeKernel {
	return &fakeKernel{dests: map[svcKey][]cfipvs.Destination{}, cfg: cfipvs.Config{TCPTimeout: 900, TCPFinTimeout: 120, UDPTimeout: 300}}
}

func (f *fakeKernel) find(s cfipvs.Service) int {
	return slices.IndexFunc(f.svcs, func(x cfipvs.Service) bool { return keyOf(&x) == keyOf(&s) })
}

func (f *fakeKernel) Services() ([]cfipvs.ServiceExtended, error) {
	if len(f.svcs) == 0 {
		return nil, os.ErrNotExist // as the library does
	}
	var out []cfipvs.ServiceExtended
	for _, s := range f.svcs {
		out = append(out, cfipvs.ServiceExtended{Service: s})
	}
	return out, nil
}

func (f *fakeKernel) Destinations(s cfipvs.Service) ([]cfipvs.DestinationExtended, error) {
	ds := f.dests[keyOf(&s)]
	if len(ds) == 0 {
		return nil, os.ErrNotExist
	}
	var out []cfipvs.DestinationExtended
	for _, d := range ds {
		out = append(out, cfipvs.DestinationExtended{Destination: d})
	}
	return out, nil
}

func (f *fakeKernel) CreateService(s cfipvs.Service) error {
	f.calls = append(f.calls, "create "+name(&s)+" "+s.Scheduler)
	if s.Scheduler == "bogus" {
		return unix.ENOENT // no such scheduler module
	}
	if f.find(s) >= 0 {
		return unix.EEXIST
	}
	f.svcs = append(f.svcs, s)
	return nil
}

func (f *fakeKernel) UpdateService(s cfipvs.Service) error {
	f.calls = append(f.calls, "update "+name(&s)+" "+s.Scheduler)
	if s.Scheduler == f.missing {
		return unix.ENOENT
	}
	i := f.find(s)
	if i < 0 {
		return unix.ESRCH
	}
	f.svcs[i] = s
	return nil
}

func (f *fakeKernel) RemoveService(s cfipvs.Service) error {
	f.calls = append(f.calls, "remove "+name(&s))
	i := f.find(s)
	if i < 0 {
		return unix.ESRCH
	}
	f.svcs = slices.Delete(f.svcs, i, i+1)
	delete(f.dests, keyOf(&s))
	return nil
}

func (f *fakeKernel) destIndex(s cfipvs.Service, d cfipvs.Destination) int {
	return slices.IndexFunc(f.dests[keyOf(&s)], func(x cfipvs.Destination) bool { return x.Address == d.Address && x.Port == d.Port })
}

func (f *fakeKernel) CreateDestination(s cfipvs.Service, d cfipvs.Destination) error {
	f.calls = append(f.calls, "add "+name(&s)+" "+dest(&d))
	if f.find(s) < 0 {
		return unix.ESRCH
	}
	if f.destIndex(s, d) >= 0 {
		return unix.EEXIST
	}
	k := keyOf(&s)
	f.dests[k] = append([]cfipvs.Destination{d}, f.dests[k]...)
	return nil
}

func (f *fakeKernel) UpdateDestination(s cfipvs.Service, d cfipvs.Destination) error {
	f.calls = append(f.calls, "edit "+name(&s)+" "+dest(&d))
	i := f.destIndex(s, d)
	if i < 0 {
		return unix.ENOENT
	}
	f.dests[keyOf(&s)][i] = d
	return nil
}

func (f *fakeKernel) RemoveDestination(s cfipvs.Service, d cfipvs.Destination) error {
	f.calls = append(f.calls, "del "+name(&s)+" "+dest(&d))
	i := f.destIndex(s, d)
	if i < 0 {
		return unix.ENOENT
	}
	k := keyOf(&s)
	f.dests[k] = slices.Delete(f.dests[k], i, i+1)
	return nil
}

func (f *fakeKernel) Config() (cfipvs.Config, error) { return f.cfg, nil }

func (f *fakeKernel) SetConfig(c cfipvs.Config) error {
	f.calls = append(f.calls, fmt.Sprintf("set %d %d %d", c.TCPTimeout, c.TCPFinTimeout, c.UDPTimeout))
	f.cfg = c
	return nil
}

func tcp(vip string) maps.Service {
	return maps.Service{Proto: 6, Addr: netip.MustParseAddrPort(vip).Addr(), Port: netip.MustParseAddrPort(vip).Port(), Sched: "mh", Netmask: 0xffffffff}
}

func dr(rip string, w int32) maps.Dest {
	ap := netip.MustParseAddrPort(rip)
	return maps.Dest{Addr: ap.Addr(), Port: ap.Port(), Fwd: 3, Weight: w}
}

// config builds a Config with the model's own edit rules.
func config(t *testing.T, edits ...func(c *maps.Config) error) *maps.Config {
	t.Helper()
	c := &maps.Config{Timeouts: maps.DefaultTimeouts}
	for _, e := range edits {
		if err := e(c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func addSvc(vip string) func(c *maps.Config) error {
	return func(c *maps.Config) error { _, err := c.AddService(tcp(vip)); return err }
}

func addDest(vip, rip string, w int32) func(c *maps.Config) error {
	return func(c *maps.Config) error { s := tcp(vip); _, err := c.AddDest(&s, dr(rip, w)); return err }
}

// TestApply: each change sends kernel IPVS only the messages it needs, and
// leaves alone what only the kernel has (configured by another tool).
func TestApply(t *testing.T) {
	tests := []struct {
		name      string
		before    []func(*maps.Config) error
		after     []func(*maps.Config) error
		timeouts  *maps.Timeouts
		wantCalls []string
	}{
		{
			name:  "add service and reals",
			after: []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 2)},
			// mh gets its reals before its scheduler: one Maglev table built.
			wantCalls: []string{"create TCP 10.0.0.1:80 none", "add TCP 10.0.0.1:80 10.1.0.1:80", "add TCP 10.0.0.1:80 10.1.0.2:80", "update TCP 10.0.0.1:80 mh"},
		},
		{
			name:      "edit one real",
			before:    []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 2)},
			after:     []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 0)},
			wantCalls: []string{"edit TCP 10.0.0.1:80 10.1.0.2:80"},
		},
		{
			name:      "remove a real and a service",
			before:    []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 2), addSvc("10.0.0.2:80")},
			after:     []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1)},
			wantCalls: []string{"remove TCP 10.0.0.2:80", "del TCP 10.0.0.1:80 10.1.0.2:80"},
		},
		{
			name:      "no change, no message",
			before:    []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1)},
			after:     []func(*maps.Config) error{addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1)},
			wantCalls: nil,
		},
		{
			name:      "timeouts",
			timeouts:  &maps.Timeouts{TCP: 10, TCPFin: 20, UDP: 30},
			wantCalls: []string{"set 10 20 30"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			// A service only the kernel has: the mirror never touches it.
			other := serviceOf(&[]maps.Service{tcp("10.9.9.9:80")}[0])
			f.svcs = append(f.svcs, other)
			before := config(t, tc.before...)
			m := New(f)
			m.Seed(before)
			if err := m.Sync(before); err != nil { // the kernel starts equal to before (and loses 10.9.9.9)
				t.Fatal(err)
			}
			f.svcs = append(f.svcs, other)
			f.calls = nil
			m.Seed(before)
			after := config(t, tc.after...)
			if tc.timeouts != nil {
				after.Timeouts = *tc.timeouts
			}
			if err := m.Apply(after); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.calls, tc.wantCalls) {
				t.Errorf("calls:\n got %q\nwant %q", f.calls, tc.wantCalls)
			}
			k, err := m.Read()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"TCP 10.9.9.9:80: in kernel IPVS, not in the maps"}
			if d := Diff(after, k); !slices.Equal(d, want) {
				t.Errorf("drift after apply: %q, want %q", d, want)
			}
			if err := m.Sync(after); err != nil {
				t.Fatal(err)
			}
			if k, _ = m.Read(); len(Diff(after, k)) != 0 {
				t.Errorf("drift after sync: %q", Diff(after, k))
			}
		})
	}
}

// TestApplyTakesOver: a service that exists in the kernel but not in the
// seeded table is updated instead of failing with EEXIST.
func TestApplyTakesOver(t *testing.T) {
	f := newFake()
	s := tcp("10.0.0.1:80")
	s.Sched = "rr"
	f.svcs = append(f.svcs, serviceOf(&s))
	m := New(f)
	m.Seed(config(t))
	if err := m.Apply(config(t, addSvc("10.0.0.1:80"))); err != nil {
		t.Fatal(err)
	}
	if f.svcs[0].Scheduler != "mh" {
		t.Errorf("scheduler %q, want mh", f.svcs[0].Scheduler)
	}
}

// TestDiff: each kind of difference gets its line.
func TestDiff(t *testing.T) {
	m := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 1), addSvc("10.0.0.2:80"))
	k := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 5), addDest("10.0.0.1:80", "10.1.0.3:80", 1), addSvc("10.0.0.3:80"))
	k.Services[0].Sched = "rr"
	k.Timeouts.UDP = 1
	want := []string{
		"TCP 10.0.0.1:80: settings differ (maps: scheduler mh, flags 0x0, netmask /32; kernel: scheduler rr, flags 0x0, netmask /32)",
		"TCP 10.0.0.1:80: real 10.1.0.1:80 differs (maps: route, weight 1; kernel: route, weight 5)",
		"TCP 10.0.0.1:80: real 10.1.0.2:80 in the maps, not in kernel IPVS",
		"TCP 10.0.0.1:80: real 10.1.0.3:80 in kernel IPVS, not in the maps",
		"TCP 10.0.0.2:80: in the maps, not in kernel IPVS",
		"TCP 10.0.0.3:80: in kernel IPVS, not in the maps",
		"timeouts differ (maps: 900 120 300; kernel: 900 120 1)",
	}
	if got := Diff(m, k); !slices.Equal(got, want) {
		t.Errorf("Diff:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if got := Diff(m, m); len(got) != 0 {
		t.Errorf("Diff of a config with itself: %q", got)
	}
	// Three services differ (10.0.0.1 in four ways), and the timeouts.
	if n, to := DriftedServices(Differences(m, k)); n != 3 || !to {
		t.Errorf("DriftedServices = %d, %v; want 3, true", n, to)
	}
	if n, to := DriftedServices(Differences(m, m)); n != 0 || to {
		t.Errorf("DriftedServices of a config with itself = %d, %v", n, to)
	}
}

// TestMerge: import keeps the IDs of what stays, and ends equal to the kernel.
func TestMerge(t *testing.T) {
	cur := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addSvc("10.0.0.2:80"))
	cur.Services[0].ID, cur.Services[0].Dests[0].ID = 7, 42
	k := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 3), addDest("10.0.0.1:80", "10.1.0.2:80", 1), addSvc("10.0.0.3:80"))
	next, err := Merge(cur, k)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(next, k); len(d) != 0 {
		t.Errorf("after merge: %q", d)
	}
	if e := next.Services[0]; e.ID != 7 || e.Dests[0].ID != 42 || e.Dests[0].Weight != 3 {
		t.Errorf("kept service/real lost its id or was not edited: %+v %+v", e, e.Dests[0])
	}
	if len(cur.Services) != 2 || cur.Services[0].Dests[0].Weight != 1 {
		t.Error("Merge changed its input")
	}
}

// TestConvert: services and reals survive the trip to the library's types.
func TestConvert(t *testing.T) {
	svcs := []maps.Service{
		tcp("10.0.0.1:80"),
		{Proto: 17, Addr: netip.MustParseAddr("fd00::1"), Port: 53, Sched: "wrr", Flags: 1, Timeout: 300, Netmask: 64},
		{FwMark: 9, Addr: netip.IPv4Unspecified(), Sched: "rr", Netmask: 0xffffff00},
	}
	for _, s := range svcs {
		v := serviceOf(&s)
		if got := modelService(&v); got != s {
			t.Errorf("service round trip: %+v -> %+v", s, got)
		}
	}
	d := maps.Dest{Addr: netip.MustParseAddr("10.1.0.1"), Port: 80, Fwd: 2, Weight: 7, UThresh: 10, LThresh: 5, TunType: 1, TunPort: 6080, TunFlags: 1}
	v := destOf(&d)
	if got := modelDest(&v); got != d {
		t.Errorf("dest round trip: %+v -> %+v", d, got)
	}
}

// batchKernel is fakeKernel behind a pipelined client: every op of a batch
// reaches the kernel, whatever failed before it.
type batchKernel struct {
	*fakeKernel
	batches int
}

func (b *batchKernel) do(ops []op) []error {
	b.batches++
	errs := make([]error, len(ops))
	for i := range ops {
		errs[i] = call(b.fakeKernel, &ops[i])
	}
	return errs
}

// TestApplyBatch: pipelined, a failed service reports once (its reals'
// failures are its own), takeovers after EEXIST go in a second batch, and
// the table records only what the kernel took.
func TestApplyBatch(t *testing.T) {
	f := newFake()
	taken := tcp("10.0.0.1:80")
	taken.Sched = "rr"
	f.svcs = append(f.svcs, serviceOf(&taken)) // made by another tool, with one of the reals
	f.dests[keyOf(&f.svcs[0])] = []cfipvs.Destination{destOf(&[]maps.Dest{dr("10.1.0.1:80", 9)}[0])}
	b := &batchKernel{fakeKernel: f}
	m := New(b)
	m.Seed(config(t))
	bogus := func(c *maps.Config) error {
		s := tcp("10.0.0.2:80")
		s.Sched = "bogus"
		_, err := c.AddService(s)
		return err
	}
	after := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 1),
		bogus, addDest("10.0.0.2:80", "10.1.0.3:80", 1))
	err := m.Apply(after)
	if err == nil || strings.Count(err.Error(), "kernel IPVS:") != 1 || !strings.Contains(err.Error(), "create service TCP 10.0.0.2:80") {
		t.Errorf("Apply: %v, want one error, for creating TCP 10.0.0.2:80", err)
	}
	wantCalls := []string{
		"create TCP 10.0.0.1:80 none", "add TCP 10.0.0.1:80 10.1.0.1:80", "add TCP 10.0.0.1:80 10.1.0.2:80", "update TCP 10.0.0.1:80 mh",
		"create TCP 10.0.0.2:80 bogus", "add TCP 10.0.0.2:80 10.1.0.3:80",
		// The takeover of a service another tool made sets mh, never none.
		"update TCP 10.0.0.1:80 mh", "edit TCP 10.0.0.1:80 10.1.0.1:80",
	}
	if !slices.Equal(f.calls, wantCalls) || b.batches != 2 {
		t.Errorf("calls in %d batches:\n got %q\nwant %q", b.batches, f.calls, wantCalls)
	}
	k, _ := m.Read()
	want := []string{"TCP 10.0.0.2:80: in the maps, not in kernel IPVS"}
	if d := Diff(after, k); !slices.Equal(d, want) {
		t.Errorf("drift: %q, want %q", d, want)
	}
	// The next Apply sends only what failed.
	f.calls = nil
	after.Services[1].Sched = "rr"
	if err := m.Apply(after); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create TCP 10.0.0.2:80 rr", "add TCP 10.0.0.2:80 10.1.0.3:80"}; !slices.Equal(f.calls, want) {
		t.Errorf("second apply:\n got %q\nwant %q", f.calls, want)
	}
	if k, _ = m.Read(); len(Diff(after, k)) != 0 {
		t.Errorf("drift after the second apply: %q", Diff(after, k))
	}
}

// TestApplyDeferredScheduler: a new mh service is created without a
// scheduler and gets mh after its reals; when that last step fails, the
// failure is reported, drift shows it, and the next Apply sends only it.
func TestApplyDeferredScheduler(t *testing.T) {
	f := newFake()
	f.missing = "mh"
	m := New(f)
	m.Seed(config(t))
	cfg := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 1))
	err := m.Apply(cfg)
	if err == nil || !strings.Contains(err.Error(), "kernel IPVS: update service TCP 10.0.0.1:80") {
		t.Errorf("Apply: %v, want the update's failure", err)
	}
	if len(f.svcs) != 1 || f.svcs[0].Scheduler != "none" || len(f.dests[keyOf(&f.svcs[0])]) != 2 {
		t.Fatalf("kernel: %+v %+v, want the service without a scheduler and both reals", f.svcs, f.dests)
	}
	d, err := m.Drift(cfg)
	want := "TCP 10.0.0.1:80: settings differ (maps: scheduler mh, flags 0x0, netmask /32; kernel: scheduler none, flags 0x0, netmask /32)"
	if err != nil || !slices.Equal(d, []string{want}) {
		t.Errorf("drift: %q %v, want %q", d, err, want)
	}
	f.missing, f.calls = "", nil
	if err := m.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if want := []string{"update TCP 10.0.0.1:80 mh"}; !slices.Equal(f.calls, want) {
		t.Errorf("second apply: calls %q, want %q", f.calls, want)
	}
	// One real, or a scheduler without a table: created as it is.
	f.calls = nil
	one := config(t, addSvc("10.0.0.1:80"), addDest("10.0.0.1:80", "10.1.0.1:80", 1), addDest("10.0.0.1:80", "10.1.0.2:80", 1),
		addSvc("10.0.0.2:80"), addDest("10.0.0.2:80", "10.1.0.1:80", 1))
	if err := m.Apply(one); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create TCP 10.0.0.2:80 mh", "add TCP 10.0.0.2:80 10.1.0.1:80"}; !slices.Equal(f.calls, want) {
		t.Errorf("one real: calls %q, want %q", f.calls, want)
	}
}
