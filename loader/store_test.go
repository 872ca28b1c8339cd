package loader

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/maps"
)

// fakeIPVS is a kernel IPVS table of services (reals are not kept).
type fakeIPVS struct{ svcs, created []netip.AddrPort }

func apOf(s cfipvs.Service) netip.AddrPort { return netip.AddrPortFrom(s.Address, s.Port) }

func (f *fakeIPVS) Services() ([]cfipvs.ServiceExtended, error) { return nil, os.ErrNotExist }
func (f *fakeIPVS) Destinations(cfipvs.Service) ([]cfipvs.DestinationExtended, error) {
	return nil, os.ErrNotExist
}
func (f *fakeIPVS) CreateService(s cfipvs.Service) error {
	if slices.Contains(f.svcs, apOf(s)) {
		return unix.EEXIST
	}
	f.svcs = append(f.svcs, apOf(s))
	f.created = append(f.created, apOf(s))
	return nil
}
func (f *fakeIPVS) UpdateService(cfipvs.Service) error { return nil }
func (f *fakeIPVS) RemoveService(s cfipvs.Service) error {
	i := slices.Index(f.svcs, apOf(s))
	if i < 0 {
		return unix.ESRCH
	}
	f.svcs = slices.Delete(f.svcs, i, i+1)
	return nil
}
func (f *fakeIPVS) CreateDestination(cfipvs.Service, cfipvs.Destination) error { return nil }
func (f *fakeIPVS) UpdateDestination(cfipvs.Service, cfipvs.Destination) error { return nil }
func (f *fakeIPVS) RemoveDestination(cfipvs.Service, cfipvs.Destination) error { return nil }
func (f *fakeIPVS) Config() (cfipvs.Config, error)                             { return cfipvs.Config{}, nil }
func (f *fakeIPVS) SetConfig(cfipvs.Config) error                              { return nil }

// TestCommitUnmirrors: the mirror's messages go out while the maps are
// written; when the maps refuse the change (here: no service slot left),
// kernel IPVS is put back to what the maps hold.
func TestCommitUnmirrors(t *testing.T) {
	m := storeMaps(t, 3) // service IDs 1 and 2 only
	k := &fakeIPVS{}
	var mirrorErrs []error
	s := &Store{BPFStore: maps.NewBPFStore(m), Mirror: ipvs.New(k), MirrorErr: func(err error) { mirrorErrs = append(mirrorErrs, err) }}
	add := func(cfg *maps.Config, vip string) {
		ap := netip.MustParseAddrPort(vip)
		if _, err := cfg.AddService(maps.Service{Proto: 6, Addr: ap.Addr(), Port: ap.Port(), Sched: "wlc", Netmask: 0xffffffff}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	add(cfg, "10.0.0.1:80")
	if err := s.Commit(cfg); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}
	if !slices.Equal(k.svcs, want) {
		t.Fatalf("kernel IPVS after the first commit: %v, want %v", k.svcs, want)
	}
	add(cfg, "10.0.0.2:80")
	add(cfg, "10.0.0.3:80")
	if err := s.Commit(cfg); !errors.Is(err, maps.ErrTooManyServices) {
		t.Fatalf("commit of a third service: %v, want ErrTooManyServices", err)
	}
	if !slices.Contains(k.created, netip.MustParseAddrPort("10.0.0.3:80")) {
		t.Errorf("the mirror did not send the refused commit's services (created %v): the test tests nothing", k.created)
	}
	if !slices.Equal(k.svcs, want) {
		t.Errorf("kernel IPVS after the refused commit: %v, want %v (as the maps)", k.svcs, want)
	}
	if len(mirrorErrs) != 0 {
		t.Errorf("mirror errors: %v", mirrorErrs)
	}
}

// TestCommitZeroesNewCounters: a service or real that takes the ID of a
// removed one starts with zeroed per-CPU counters.
func TestCommitZeroesNewCounters(t *testing.T) {
	m := storeMaps(t, 0)
	s := &Store{BPFStore: maps.NewBPFStore(m)}
	commit := func(vip, rip string) (svcID, realID uint32) {
		t.Helper()
		cfg, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Services = nil
		ap := netip.MustParseAddrPort(vip)
		svc := maps.Service{Proto: 6, Addr: ap.Addr(), Port: ap.Port(), Sched: "wlc", Netmask: 0xffffffff}
		if _, err := cfg.AddService(svc); err != nil {
			t.Fatal(err)
		}
		rp := netip.MustParseAddrPort(rip)
		if _, err := cfg.AddDest(&svc, maps.Dest{Addr: rp.Addr(), Port: rp.Port(), Fwd: bpf.FwdMasq, Weight: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(cfg); err != nil {
			t.Fatal(err)
		}
		if cfg, err = s.Load(); err != nil {
			t.Fatal(err)
		}
		e := cfg.Services[0]
		return e.ID, e.Dests[0].ID
	}
	ncpu := ebpf.MustPossibleCPU()
	dirty := make([]bpf.Stats, ncpu)
	for i := range dirty {
		dirty[i] = bpf.Stats{Conns: 1, Inpkts: 2, Outpkts: 3, Inbytes: 4, Outbytes: 5}
	}
	svcID, realID := commit("10.0.0.1:80", "10.1.0.1:80")
	if err := m.SvcStats.Put(svcID, dirty); err != nil {
		t.Fatal(err)
	}
	if err := m.RealStats.Put(realID, dirty); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Services = nil // -C: the IDs are free again
	if err := s.Commit(cfg); err != nil {
		t.Fatal(err)
	}
	svc2, real2 := commit("10.0.0.2:80", "10.1.0.2:80")
	if svc2 != svcID || real2 != realID {
		t.Fatalf("IDs not reused (service %d -> %d, real %d -> %d): the test tests nothing", svcID, svc2, realID, real2)
	}
	for _, c := range []struct {
		name string
		m    *ebpf.Map
		id   uint32
	}{{"service", m.SvcStats, svc2}, {"real", m.RealStats, real2}} {
		var got []bpf.Stats
		if err := c.m.Lookup(c.id, &got); err != nil {
			t.Fatal(err)
		}
		for cpu, v := range got {
			if v != (bpf.Stats{}) {
				t.Errorf("%s %d, CPU %d: counters %+v, want zero", c.name, c.id, cpu, v)
			}
		}
	}
}

// storeMaps creates unpinned maps for a Store (root only), with room for
// svcStats service counters (0: as the datapath declares), and the
// default load options in xvs_config.
func storeMaps(t *testing.T, svcStats uint32) maps.BPFMaps {
	t.Helper()
	requireRoot(t)
	spec, err := bpf.LoadXvs()
	if err != nil {
		t.Fatal(err)
	}
	newMap := func(name string, max uint32) *ebpf.Map {
		ms := spec.Maps[name].Copy()
		if max != 0 {
			ms.MaxEntries = max
		}
		ms.Pinning = ebpf.PinNone
		m, err := ebpf.NewMap(ms)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	m := maps.BPFMaps{
		Svcs: newMap(bpf.XvsMapXvsSvcs, 0), Reals: newMap(bpf.XvsMapXvsReals, 0), Mh: newMap(bpf.XvsMapXvsMh, 0),
		SvcStats: newMap(bpf.XvsMapXvsSvcStats, svcStats), RealStats: newMap(bpf.XvsMapXvsRealStats, 0),
		Config: newMap(bpf.XvsMapXvsConfig, 0),
	}
	if err := initConfig(m.Config, DefaultOptions); err != nil {
		t.Fatal(err)
	}
	return m
}
