package datapath

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader"
)

// benchCase is one measured path.
type benchCase struct {
	name  string
	prog  *ebpf.Program
	frame []byte
	want  uint32 // expected verdict: the run measures the path it claims to
}

// measure returns the median ns/packet over rounds of repeat runs.
func measure(tb testing.TB, ns *nsRunner, ifindex int, c benchCase, rounds int, repeat uint32) float64 {
	tb.Helper()
	var per []float64
	for range rounds {
		var ret uint32
		var d time.Duration
		var err error
		ns.do(func() { ret, d, err = timedRun(c.prog, ifindex, c.frame, repeat) })
		if err != nil {
			tb.Fatalf("%s: %v", c.name, err)
		}
		if ret != c.want {
			tb.Fatalf("%s: verdict %d, want %d", c.name, ret, c.want)
		}
		per = append(per, float64(d.Nanoseconds()))
	}
	slices.Sort(per)
	return per[len(per)/2]
}

// benchEnv is a datapath with one mh service of 3 DR reals, the XDP_PASS
// floor program, and the new-flow wrapper, in a private namespace.
type benchEnv struct {
	*fixture
	pass  *bpf.PassObjects
	bench *bpf.BenchObjects
}

func newBenchEnv(tb testing.TB) *benchEnv {
	f := newFixture(tb)
	var err error
	objs, err := loader.Load(loader.Options{}) // production sizes: 1M-entry connection table
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { objs.Close() })
	f.objs = objs
	f.store = nil
	f2 := &fixture{tb: tb, ns: f.ns, ifindex: f.ifindex, objs: objs}
	f2.store = newStore(objs)
	if f2.cfg, err = f2.store.Load(); err != nil {
		tb.Fatal(err)
	}
	s := f2.svc("tcp", "10.0.0.100:80", "mh", 0)
	for _, r := range []string{"10.0.0.11:80", "10.0.0.12:80", "10.0.0.13:80"} {
		f2.real(s, r, bpf.FwdDRoute, 1)
	}
	e := &benchEnv{fixture: f2, pass: &bpf.PassObjects{}, bench: &bpf.BenchObjects{}}
	if err := bpf.LoadPassObjects(e.pass, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.pass.Close() })
	if err := bpf.LoadBenchObjects(e.bench, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.bench.Close() })
	return e
}

func (e *benchEnv) next(p *ebpf.Program) {
	if err := e.bench.XvsBenchNext.Put(uint32(0), p); err != nil {
		e.tb.Fatal(err)
	}
}

var (
	benchEstablished = pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "A", payload: make([]byte, 64)}
	benchNew         = pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.100:80", flags: "S"}
	benchNonVIP      = pkt{proto: "tcp", src: "10.1.0.5:40000", dst: "10.0.0.200:80", flags: "A", payload: make([]byte, 64)}
)

// results measures every path, alternating them round by round so drift
// hits all alike, and returns each path's median over the rounds; the key
// "ratio" is the median of the per-round established/pass ratios.
func (e *benchEnv) results(rounds int, repeat uint32) map[string]float64 {
	est := benchEstablished.frame()
	e.run(benchNew.frame()) // create the flow benchEstablished belongs to
	per := map[string][]float64{}
	for range rounds {
		for _, c := range []benchCase{
			{"pass", e.pass.XvsPass, est, xdpPass},
			{"non-vip", e.objs.XvsXdp, benchNonVIP.frame(), xdpPass},
			{"established", e.objs.XvsXdp, est, xdpTX},
		} {
			per[c.name] = append(per[c.name], measure(e.tb, e.ns, e.ifindex, c, 1, repeat))
		}
		e.next(e.pass.XvsPass)
		per["wrapper+pass"] = append(per["wrapper+pass"], measure(e.tb, e.ns, e.ifindex, benchCase{"wrapper+pass", e.bench.XvsBenchNewflow, benchNew.frame(), xdpPass}, 1, repeat))
		e.next(e.objs.XvsXdp)
		per["wrapper+new"] = append(per["wrapper+new"], measure(e.tb, e.ns, e.ifindex, benchCase{"wrapper+new", e.bench.XvsBenchNewflow, benchNew.frame(), xdpTX}, 1, repeat))
		i := len(per["pass"]) - 1
		per["ratio"] = append(per["ratio"], per["established"][i]/per["pass"][i])
	}
	r := map[string]float64{}
	for k, v := range per {
		slices.Sort(v)
		r[k] = v[len(v)/2]
	}
	// The new flow's own cost: the wrapper's work and tail call cancel out.
	r["new"] = r["wrapper+new"] - r["wrapper+pass"] + r["pass"]
	return r
}

func BenchmarkPaths(b *testing.B) {
	e := newBenchEnv(b)
	r := e.results(3, 200000)
	for _, k := range []string{"pass", "non-vip", "established", "new"} {
		b.ReportMetric(r[k], k+"-ns/pkt")
	}
}

// TestWriteBenchmarks writes docs/BENCHMARKS.md (make bench sets XVS_BENCH_OUT).
func TestWriteBenchmarks(t *testing.T) {
	out := os.Getenv("XVS_BENCH_OUT")
	if out == "" {
		t.Skip("set XVS_BENCH_OUT (make bench) to measure and write the report")
	}
	e := newBenchEnv(t)
	const rounds, repeat = 11, 1000000
	r := e.results(rounds, repeat)
	var uts unix.Utsname
	_ = unix.Uname(&uts) // zeroes on failure: the table then names no kernel
	uname := unix.ByteSliceToString(uts.Release[:])
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Forwarding: the datapath under BPF_PROG_TEST_RUN\n\nWritten by `make bench` on %s.\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&sb, "### Direct routing: established, new and non-VIP packets\n\n")
	fmt.Fprintf(&sb, "Machine: kernel %s, %s, %d CPUs (a VM; spectre/SRSO mitigations make helper calls costly).\n\n", uname, cpu, numCPU())
	fmt.Fprintf(&sb, "Method: the production program (`xvs_xdp`, 1M-entry connection table) and a trivial `XDP_PASS` program loaded in the same process, run by BPF_PROG_TEST_RUN with an XDP context whose ingress interface is a veth in a private namespace (so `bpf_fib_lookup` resolves the real's MAC from a real neighbour table). Each round takes the kernel's mean over %d runs of each path; rounds alternate all paths, and each figure is the median over %d rounds. One mh service with 3 direct-routing reals. The measured path is the attached one: parse, service lookup, connection lookup or scheduling (Maglev table in a map-in-map), FIB lookup, MAC rewrite, per-CPU counters, verdict counter.\n\n", repeat, rounds)
	fmt.Fprintf(&sb, "New flows: a wrapper program writes a fresh client address and port into the frame on every run, then tail-calls the program; the same wrapper tail-calling `XDP_PASS` is measured too and its cost removed (`new = wrapper+xvs - wrapper+pass + pass`). Each new flow inserts into the LRU connection table.\n\n")
	fmt.Fprintf(&sb, "| path | ns/packet | x XDP_PASS |\n|---|---:|---:|\n")
	for _, row := range []struct{ name, key string }{
		{"XDP_PASS (floor)", "pass"},
		{"non-VIP packet (XDP_PASS after parse + service lookup)", "non-vip"},
		{"established flow (XDP_TX)", "established"},
		{"new flow (mh schedule + conn insert, XDP_TX)", "new"},
	} {
		fmt.Fprintf(&sb, "| %s | %.1f | %.2f |\n", row.name, r[row.key], r[row.key]/r["pass"])
	}
	fmt.Fprintf(&sb, "\nRaw new-flow figures: wrapper+xvs %.1f ns, wrapper+XDP_PASS %.1f ns.\n\n", r["wrapper+new"], r["wrapper+pass"])
	fmt.Fprintf(&sb, "Target: established flow within 2.5x the XDP_PASS floor: %s (median of the per-round ratios: %.2fx).\n", verdictWord(r["ratio"] <= 2.5), r["ratio"])
	fmt.Fprintf(&sb, "\nWhy the established path is cheap: a per-CPU, direct-mapped exact-match flow cache (bpf/flowcache.h) answers established flows with inlined array lookups only, before any hash map; it is validated against the real's id and generation, and refreshes the connection table every %d jiffies. The clock is bpf_jiffies64 (inlined by the verifier; bpf_ktime_get_coarse_ns cost about 20 ns here as a helper call), the next hop comes from a per-real cache of bpf_fib_lookup, and one per-real counter is updated per packet (a service's counters are derived from its reals'). Before these, the established path cost 238 ns (9.3x) with a FIB lookup per packet, 119 ns (4.7x) with the next-hop cache.\n", 64)
	sb.WriteString(encapBenchSection(t, 5, 200000))   // its own datapath and services
	sb.WriteString(schedBenchSection(t, e, 5, 20000)) // last, as it replaces the service
	if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(sb.String())
}

func verdictWord(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
