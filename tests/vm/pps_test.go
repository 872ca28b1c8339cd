package vm

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMBenchPPS measures packets per second through the xvs XDP
// balancer and through kernel IPVS, direct routing, with the same
// configuration, in one run of the test VM, and writes the table to
// /out/pps.md. TestVM runs it only with XVS_VM_BENCH=1.
//
// Topology (pps_topo_test.go): gen --veth-- lb --veth-- sink. A generator
// XDP program (bpf/pktgen.c) under BPF_PROG_TEST_RUN in live-frames mode
// sends established-flow frames (256 flows per protocol) out of gen's veth
// into lb; the sink counts the frames to the VIP with an XDP program and
// drops them. Everything runs serially on the generator's CPU inside its
// syscall (docs/BENCHMARKS.md tells the method), so the run's wall
// time is the whole path's cost. xvsadm configures one DR service per
// protocol (UDP, TCP) with 4 reals on the sink; its mirror puts the same
// services into kernel IPVS. Paths, alternated in every round:
//   - floor: a program that only rewrites the destination MAC and
//     redirects to the sink (bpf/pktgen.c xvs_pktfwd): the generator's,
//     the veths' and the sink's cost, which every path pays.
//   - xdp: xvsadm attach on lb's ingress veth (and its egress veth, the
//     devmap's redirect target): xvs forwards by DR to the sink.
//   - ipvs: xvs detached, XDP_PASS on the ingress veth; the VIP is on lb's
//     lo, so the stack delivers locally and IPVS (LOCAL_IN) forwards by DR.
//   - fwd (control): as ipvs but without the VIP on lo: the kernel forwards
//     by its route to the first real; IPVS schedules nothing.
//
// It fails if the sink sees nothing or the counters disagree. Every frame
// sent is either refused by lb's full veth ring (the generator's veth's
// tx_dropped) or counted by the path's balancer (xvs's InPkts, IPVS's
// InPkts or the kernel's ForwDatagrams; the floor counts nothing), which
// hands it to the sink or loses it at the sink's full ring (lb's egress
// veth's tx_dropped); the balancers of the other paths count nothing.
// Rings overflow when the host preempts the VM and softirqs move to
// ksoftirqd; the table shows how many frames they dropped.
func TestInVMBenchPPS(t *testing.T) {
	requireVM(t)
	md := runPPS(t, ppsOptions{adm: "/usr/sbin/xvsadm", ipvs: true, where: fmt.Sprintf(
		"the test VM (Debian's 6.1 kernel under qemu TCG, %d vCPUs)", runtime.NumCPU())})
	if err := os.WriteFile("/out/pps.md", []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ppsOptions says where runPPS runs and what it compares.
type ppsOptions struct {
	adm   string // the xvsadm binary
	ipvs  bool   // kernel IPVS exists: measure its path too
	where string // for the table's caption
}

// ppsPath is one way through lb: enter sets it up, leave undoes it.
type ppsPath struct {
	name, what   string
	enter, leave func() error
	check        func(s ppsSample, d ppsDeltas) error
	samples      []ppsSample
}

// ppsDeltas are the counters' moves during one run.
type ppsDeltas struct{ xvs, ipvs, fwd uint64 }

// runPPS builds the topology, configures the services with xvsadm, runs
// the rounds and returns the markdown report. Rounds (default 7) and the
// seconds per run (default 1) come from XVS_PPS_ROUNDS and XVS_PPS_SECONDS.
func runPPS(t *testing.T, opt ppsOptions) string {
	const nreals, nflows, port = 4, 256, 5000
	rounds := ppsEnvInt("XVS_PPS_ROUNDS", 7)
	secs := ppsEnvInt("XVS_PPS_SECONDS", 1)
	p, err := newPPSTopo(t, "xvspps-", nreals)
	if err != nil {
		t.Fatal(err)
	}
	state, err := topo.StateDir(t, "xvs-pps-")
	if err != nil {
		t.Fatal(err)
	}
	lb := &box{t: t, ns: p.lb, state: state}
	adm := func(args ...string) string {
		t.Helper()
		o, e, err := lb.run("", opt.adm, append([]string{"--state", state}, args...)...)
		if err != nil || e != "" {
			t.Fatalf("xvsadm %s: %v %s", strings.Join(args, " "), err, e)
		}
		return o
	}
	protos := []struct {
		name, flag string
		num        uint8
	}{{"UDP", "-u", 17}, {"TCP", "-t", 6}}
	for _, pr := range protos {
		vip := netip.AddrPortFrom(ppsVIP, port).String()
		adm("-A", pr.flag, vip, "-s", "rr")
		for k := range nreals {
			adm("-a", pr.flag, vip, "-r", netip.AddrPortFrom(ppsReal(k), port).String(), "-g", "-w", "1")
		}
	}
	if opt.ipvs {
		// IPVS makes a connection entry from a mid-flow TCP segment.
		if err := p.lb.Sysctls("net.ipv4.vs.sloppy_tcp", "1"); err != nil {
			t.Fatal(err)
		}
		if k := lb.ipvsadm("", "-L", "-n"); strings.Count(k, "Route") != nreals*len(protos) {
			t.Fatalf("kernel IPVS (xvsadm's mirror) lacks the reals:\n%s", k)
		}
	}
	// The egress veth must be attached too: it is the devmap's target.
	adm("attach", ppsLBOut, "--mode", "native")
	t.Cleanup(func() { lb.run("", opt.adm, "--state", state, "detach", ppsLBOut) })
	attached := false
	t.Cleanup(func() {
		if attached {
			lb.run("", opt.adm, "--state", state, "detach", ppsLBIn)
		}
	})

	var md strings.Builder
	fmt.Fprintf(&md, "Direct routing, %d established flows per protocol (client addresses 10.1.1.0-255, ports 1024-1279), %d reals (rr), %d-byte frames, measured in %s. Generator: bpf/pktgen.c under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, gen --veth-- lb --veth-- sink, serial on one CPU (the whole path runs inside the generator's syscall: pps is the path's cost, generator and sink included). %d rounds, paths alternated in each, about %d s per run.\n\n", nflows, nreals, ppsFrameLen, opt.where, rounds, secs)
	for _, pr := range protos {
		vip := netip.AddrPortFrom(ppsVIP, port)
		if err := p.setFrames(ppsFrames(nflows, pr.num, p.genMAC, p.lbMAC, vip)); err != nil {
			t.Fatal(err)
		}
		counters := func() ppsDeltas {
			t.Helper()
			var c ppsDeltas
			c.xvs = ppsInPkts(t, adm("-L", "-n", "--stats", "--exact"), pr.name, vip.String())
			if opt.ipvs {
				c.ipvs = ppsInPkts(t, lb.ipvsadm("", "-L", "-n", "--stats", "--exact"), pr.name, vip.String())
			}
			v4, _, err := p.lb.Forwarded()
			if err != nil {
				t.Fatal(err)
			}
			c.fwd = v4
			return c
		}
		paths := ppsPaths(p, adm, opt.ipvs, &attached)
		// Warm up (every flow gets its connection entries), then size the
		// runs of each path to about secs seconds.
		sizes := map[string]uint32{}
		for _, ph := range paths {
			if err := ph.enter(); err != nil {
				t.Fatal(err)
			}
			if _, err := p.generate(4 * nflows); err != nil {
				t.Fatal(err)
			}
			var s ppsSample
			for n := uint32(20000); ; n *= 4 {
				if s, err = p.generate(n); err != nil {
					t.Fatal(err)
				}
				if s.sunk == 0 {
					t.Fatalf("%s %s: the sink saw none of %d frames", pr.name, ph.name, s.sent)
				}
				if s.took > time.Duration(secs)*time.Second/5 || n > 1<<22 {
					break
				}
			}
			if err := ph.leave(); err != nil {
				t.Fatal(err)
			}
			sizes[ph.name] = uint32(min(max(s.pps()*float64(secs), 100000), 1<<24))
			t.Logf("%s %s: calibration %.0f pps, %d frames per run", pr.name, ph.name, s.pps(), sizes[ph.name])
		}
		if opt.ipvs {
			// The warm-up's counts settle first (see below).
			for prev, deadline := counters().ipvs, time.Now().Add(15*time.Second); time.Now().Before(deadline); {
				time.Sleep(2500 * time.Millisecond)
				cur := counters().ipvs
				if cur == prev {
					break
				}
				prev = cur
			}
		}
		for r := range rounds {
			for _, ph := range paths {
				if err := ph.enter(); err != nil {
					t.Fatal(err)
				}
				before := counters()
				s, err := p.generate(sizes[ph.name])
				if err != nil {
					t.Fatal(err)
				}
				after := counters()
				if ph.name == "ipvs" {
					// Kernel IPVS 6.1 adds up its per-CPU counters into
					// what -L --stats shows every 2 s (the estimator).
					for deadline := time.Now().Add(6 * time.Second); after.ipvs-before.ipvs < s.sunk+s.lbDrops && time.Now().Before(deadline); {
						time.Sleep(500 * time.Millisecond)
						after = counters()
					}
				}
				if err := ph.leave(); err != nil {
					t.Fatal(err)
				}
				d := ppsDeltas{xvs: after.xvs - before.xvs, ipvs: after.ipvs - before.ipvs, fwd: after.fwd - before.fwd}
				t.Logf("%s round %d %s: %d sent, %d at the sink, %d and %d dropped at lb's and the sink's veth ring, %v, %.0f pps; xvs InPkts +%d, IPVS InPkts +%d, forwarded +%d",
					pr.name, r+1, ph.name, s.sent, s.sunk, s.genDrops, s.lbDrops, s.took.Round(time.Millisecond), s.pps(), d.xvs, d.ipvs, d.fwd)
				if s.sunk == 0 {
					t.Errorf("%s round %d %s: the sink saw none of %d frames", pr.name, r+1, ph.name, s.sent)
				} else if err := ph.check(s, d); err != nil {
					t.Errorf("%s round %d %s: %v", pr.name, r+1, ph.name, err)
				}
				ph.samples = append(ph.samples, s)
			}
		}
		ppsTable(&md, pr.name, paths, opt.ipvs)
		ppsProgCosts(t, &md, p, paths, sizes["xdp"]/4)
	}
	t.Log("\n" + md.String())
	return md.String()
}

// ppsPaths are the ways through lb that runPPS alternates.
func ppsPaths(p *ppsTopo, adm func(...string) string, ipvs bool, attached *bool) []*ppsPath {
	vip := netip.PrefixFrom(ppsVIP, 32)
	// Every frame sent is dropped at lb's ring (genDrops), or counted by
	// the balancer (n: xvs, IPVS or the kernel's forwarding), which sends it
	// on to the sink or loses it at the sink's ring (lbDrops).
	balanced := func(s ppsSample, by string, n uint64) error {
		if n != s.sunk+s.lbDrops || s.sent != s.genDrops+n {
			return fmt.Errorf("sent %d = %d dropped into lb + %d counted by %s? %s's %d = %d at the sink + %d dropped into the sink? no",
				s.sent, s.genDrops, n, by, by, n, s.sunk, s.lbDrops)
		}
		return nil
	}
	zero := func(d ppsDeltas, names ...string) error {
		for _, n := range names {
			if v := map[string]uint64{"xvs": d.xvs, "ipvs": d.ipvs, "fwd": d.fwd}[n]; v != 0 {
				return fmt.Errorf("%s counted %d packets, want 0", n, v)
			}
		}
		return nil
	}
	paths := []*ppsPath{{
		name: "floor", what: "floor: xvs_pktfwd on the veth (MAC rewrite, redirect to the sink; no parsing, no balancing)",
		enter: p.floorOn, leave: p.passOff,
		check: func(s ppsSample, d ppsDeltas) error {
			return errors.Join(balanced(s, "the floor", s.sunk+s.lbDrops), zero(d, "xvs", "ipvs", "fwd"))
		},
	}, {
		name: "xdp", what: "XDP: xvs (native) on lb's ingress veth, DR by devmap redirect",
		enter: func() error {
			if err := p.passOff(); err != nil {
				return err
			}
			adm("attach", ppsLBIn, "--mode", "native")
			*attached = true
			return nil
		},
		leave: func() error {
			adm("detach", ppsLBIn)
			*attached = false
			return nil
		},
		check: func(s ppsSample, d ppsDeltas) error {
			return errors.Join(balanced(s, "xvs (InPkts)", d.xvs), zero(d, "ipvs", "fwd"))
		},
	}}
	if ipvs {
		paths = append(paths, &ppsPath{
			name: "ipvs", what: "kernel IPVS: xvs detached, XDP_PASS on the veth, VIP on lo, IPVS DR",
			enter: p.passOn, leave: p.passOff,
			check: func(s ppsSample, d ppsDeltas) error {
				return errors.Join(balanced(s, "IPVS (InPkts)", d.ipvs), zero(d, "xvs", "fwd"))
			},
		})
	}
	paths = append(paths, &ppsPath{
		name: "fwd", what: "control: XDP_PASS, VIP not local: the kernel's IP forwarding to one real (no balancing)",
		enter: func() error {
			if err := p.passOn(); err != nil {
				return err
			}
			return topo.DelAddr(p.lb, "lo", vip)
		},
		leave: func() error {
			if err := topo.AddAddr(p.lb, "lo", vip); err != nil {
				return err
			}
			return p.passOff()
		},
		check: func(s ppsSample, d ppsDeltas) error {
			return errors.Join(balanced(s, "the kernel (ForwDatagrams)", d.fwd), zero(d, "xvs", "ipvs"))
		},
	})
	return paths
}

// ppsTable writes one protocol's table: median pps per path, its range,
// ns/packet, ns/packet above the floor (paired by round), and the
// XDP/IPVS paired ratios and per-packet difference.
func ppsTable(md *strings.Builder, proto string, paths []*ppsPath, ipvs bool) {
	fmt.Fprintf(md, "%s:\n\n| path | median pps | min - max pps | ns/packet | ns/packet above the floor | frames sent / at the sink / dropped at a full veth ring (all rounds) |\n|---|---:|---:|---:|---:|---:|\n", proto)
	by := map[string]*ppsPath{}
	for _, ph := range paths {
		by[ph.name] = ph
	}
	ns := func(s ppsSample) float64 { return 1e9 / s.pps() }
	// above is the path's ns/packet minus the floor's, round by round.
	above := func(ph *ppsPath) []float64 {
		var v []float64
		for i := range min(len(ph.samples), len(by["floor"].samples)) {
			v = append(v, ns(ph.samples[i])-ns(by["floor"].samples[i]))
		}
		return v
	}
	for _, ph := range paths {
		var pps, nsp []float64
		var sent, sunk, drops uint64
		for _, s := range ph.samples {
			pps = append(pps, s.pps())
			nsp = append(nsp, ns(s))
			sent += s.sent
			sunk += s.sunk
			drops += s.genDrops + s.lbDrops
		}
		ab := "-"
		if ph.name != "floor" {
			ab = fmt.Sprintf("%.0f", ppsMedian(above(ph)))
		}
		fmt.Fprintf(md, "| %s | %.0f | %.0f - %.0f | %.0f | %s | %d / %d / %d |\n", ph.what, ppsMedian(pps), slices.Min(pps), slices.Max(pps), ppsMedian(nsp), ab, sent, sunk, drops)
	}
	x, k := by["xdp"], by["ipvs"]
	if !ipvs || x == nil || k == nil {
		md.WriteString("\n")
		return
	}
	var ratio, diff, own []float64
	xa, ka := above(x), above(k)
	for i := range min(len(x.samples), len(k.samples)) {
		ratio = append(ratio, x.samples[i].pps()/k.samples[i].pps())
		diff = append(diff, ns(k.samples[i])-ns(x.samples[i]))
		own = append(own, ka[i]/xa[i])
	}
	fmt.Fprintf(md, "\n%s, paired by round: pps XDP / IPVS median %.2fx (%.2f - %.2f); per-packet difference (IPVS - XDP) median %.0f ns (%.0f - %.0f); the balancer's own per-packet cost above the floor, IPVS / XDP, median %.2fx (%.2f - %.2f).\n\n",
		proto, ppsMedian(ratio), slices.Min(ratio), slices.Max(ratio), ppsMedian(diff), slices.Min(diff), slices.Max(diff), ppsMedian(own), slices.Min(own), slices.Max(own))
}

func ppsMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ppsInPkts is the InPkts column of the service proto vip in the output of
// -L -n --stats --exact (ipvsadm's format, which xvsadm prints too).
func ppsInPkts(t *testing.T, listing, proto, vip string) uint64 {
	t.Helper()
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == proto && f[1] == vip {
			n, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				t.Fatalf("InPkts of %s %s: %v", proto, vip, err)
			}
			return n
		}
	}
	t.Fatalf("no line for %s %s in:\n%s", proto, vip, listing)
	return 0
}

func ppsEnvInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}
