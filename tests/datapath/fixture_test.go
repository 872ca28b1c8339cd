package datapath

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// xdpMD is struct xdp_md, the context BPF_PROG_TEST_RUN takes.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// fixture is a freshly loaded datapath in a private namespace.
type fixture struct {
	tb      testing.TB
	ns      *nsRunner
	ifindex int
	objs    *bpf.XvsObjects
	store   *maps.BPFStore
	cfg     *maps.Config
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	requireRoot(tb)
	ns := newNS(tb)
	f := &fixture{tb: tb, ns: ns, ifindex: setupNet(tb, ns)}
	objs, err := loader.Load(loader.Options{ConnSize: 16384})
	if err != nil {
		tb.Fatalf("%+v", err)
	}
	tb.Cleanup(func() { objs.Close() })
	f.objs = objs
	f.store = maps.NewBPFStore(loader.StoreMaps(objs))
	if f.cfg, err = f.store.Load(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// svc adds a service ("tcp", "10.0.0.100:80") with scheduler sched.
func (f *fixture) svc(proto, vip, sched string, flags uint32) *maps.Service {
	f.tb.Helper()
	s := maps.Service{Proto: protoNum(proto), Addr: netip.MustParseAddrPort(vip).Addr(), Port: netip.MustParseAddrPort(vip).Port(), Sched: sched, Flags: flags, Netmask: 0xffffffff}
	if _, err := f.cfg.AddService(s); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
	return &s
}

// real adds a real ("10.0.0.11:80") to s.
func (f *fixture) real(s *maps.Service, addr string, fwd uint8, weight int32) {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	if _, err := f.cfg.AddDest(s, maps.Dest{Addr: ap.Addr(), Port: ap.Port(), Fwd: fwd, Weight: weight}); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
}

// weight changes a real's weight.
func (f *fixture) weight(s *maps.Service, addr string, weight int32) {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	d := f.cfg.Service(s).Dest(&maps.Dest{Addr: ap.Addr(), Port: ap.Port()})
	nd := d.Dest
	nd.Weight = weight
	if err := f.cfg.EditDest(s, nd); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
}

// delReal removes a real from s.
func (f *fixture) delReal(s *maps.Service, addr string) {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(addr)
	if err := f.cfg.DelDest(s, &maps.Dest{Addr: ap.Addr(), Port: ap.Port()}); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
}

func (f *fixture) commit() {
	f.tb.Helper()
	if err := f.store.Commit(f.cfg); err != nil {
		f.tb.Fatal(err)
	}
}

// run runs the XDP program once on frame and returns the verdict and output.
func (f *fixture) run(frame []byte) (uint32, []byte) {
	f.tb.Helper()
	return runProg(f.tb, f.ns, f.objs.XvsXdp, f.ifindex, frame, 1)
}

func runProg(tb testing.TB, ns *nsRunner, prog *ebpf.Program, ifindex int, frame []byte, repeat uint32) (uint32, []byte) {
	tb.Helper()
	opts := &ebpf.RunOptions{
		Data: frame, DataOut: make([]byte, len(frame)+256), Repeat: repeat,
		Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)},
	}
	var ret uint32
	var err error
	ns.do(func() { ret, err = prog.Run(opts) })
	if err != nil {
		tb.Fatalf("test run: %v", err)
	}
	return ret, opts.DataOut // cut to the output's length by Run
}

func protoNum(p string) uint8 {
	switch p {
	case "tcp":
		return 6
	case "udp":
		return 17
	}
	panic(p)
}

// verdicts returns the xvs_verdicts counters summed over CPUs.
func (f *fixture) verdicts() map[string]uint64 {
	f.tb.Helper()
	out := map[string]uint64{}
	for i, name := range bpf.VerdictNames {
		var per []uint64
		if err := f.objs.XvsVerdicts.Lookup(uint32(i), &per); err != nil {
			f.tb.Fatal(err)
		}
		for _, v := range per {
			out[name] += v
		}
	}
	return out
}

func newStore(objs *bpf.XvsObjects) *maps.BPFStore { return maps.NewBPFStore(loader.StoreMaps(objs)) }

func numCPU() int { return runtime.NumCPU() }
