package datapath

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// benchReals gives dp0 an address on 10.0.2.0/23 and a neighbour entry for
// each of n reals there, so every scheduled real forwards (XDP_TX).
func (e *benchEnv) benchReals(n int) []netip.Addr {
	e.tb.Helper()
	var out []netip.Addr
	var err error
	e.ns.do(func() {
		l, lerr := netlink.LinkByName("dp0")
		if lerr != nil {
			err = lerr
			return
		}
		addr, _ := netlink.ParseAddr("10.0.2.1/23")
		addr.Flags = unix.IFA_F_NODAD
		if aerr := netlink.AddrAdd(l, addr); aerr != nil && !strings.Contains(aerr.Error(), "exists") {
			err = aerr
			return
		}
		for i := range n {
			a := netip.AddrFrom4([4]byte{10, 0, 2 + byte((i+2)/256), byte((i + 2) % 256)})
			nb := &netlink.Neigh{LinkIndex: l.Attrs().Index, IP: net.IP(a.AsSlice()), HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}, State: netlink.NUD_PERMANENT}
			if nerr := netlink.NeighSet(nb); nerr != nil {
				err = nerr
				return
			}
			out = append(out, a)
		}
	})
	if err != nil {
		e.tb.Fatal(err)
	}
	return out
}

// schedBenchSection measures the new-flow cost of every datapath scheduler
// with 10 and 256 reals (same wrapper method as the new-flow row above) and
// returns it as a Markdown section.
func schedBenchSection(tb testing.TB, e *benchEnv, rounds int, repeat uint32) string {
	tb.Helper()
	reals := e.benchReals(256)
	vip := netip.MustParseAddrPort("10.0.0.100:80")
	// The service the bench environment made is replaced by one per configuration.
	for len(e.cfg.Services) > 0 {
		s := e.cfg.Services[0].Service
		if err := e.cfg.DelService(&s); err != nil {
			tb.Fatal(err)
		}
	}
	e.commit()
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n## Schedulers and connection accounting: new-flow cost\n\n")
	fmt.Fprintf(&sb, "Same method as the new-flow row above (wrapper with a fresh client per run, wrapper+XDP_PASS subtracted), median of %d rounds of %d runs, one TCP service of n direct-routing reals of weight 1 (ovf: 65535, so its reals stay under their weight in active connections). Every new flow also makes a connection entry, counts it for its real (IPVS's active/inactive counts), and arms the expiry sweep if it is not running. lc, wlc, sed, nq, fo and ovf look at every real (O(n), bpf_loop); rr and wrr at the next usable one; sh, dh and mh hash into a table. lblc and lblcr look up the destination address's entry (lblcr: its set of up to 16 reals) and, every new flow here being to one VIP and active (SYN_RECV), often find its real overloaded and run wlc over every real.\n\n", rounds, repeat)
	fmt.Fprintf(&sb, "| scheduler | 10 reals ns/new flow | 256 reals ns/new flow |\n|---|---:|---:|\n")
	for _, sched := range []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "sh", "dh", "mh"} {
		row := []string{sched}
		for _, n := range []int{10, 256} {
			s := maps.Service{Proto: 6, Addr: vip.Addr(), Port: vip.Port(), Sched: sched, Netmask: 0xffffffff}
			if _, err := e.cfg.AddService(s); err != nil {
				tb.Fatal(err)
			}
			for _, a := range reals[:n] {
				w := int32(1)
				if sched == "ovf" {
					w = 65535
				}
				if _, err := e.cfg.AddDest(&s, maps.Dest{Addr: a, Port: 80, Fwd: bpf.FwdDRoute, Weight: w}); err != nil {
					tb.Fatal(err)
				}
			}
			e.commit()
			var pass, xvs []float64
			for range rounds {
				e.next(e.pass.XvsPass)
				pass = append(pass, measure(tb, e.ns, e.ifindex, benchCase{"wrapper+pass", e.bench.XvsBenchNewflow, benchNew.frame(), xdpPass}, 1, repeat))
				e.next(e.objs.XvsXdp)
				xvs = append(xvs, measure(tb, e.ns, e.ifindex, benchCase{sched, e.bench.XvsBenchNewflow, benchNew.frame(), xdpTX}, 1, repeat))
			}
			row = append(row, fmt.Sprintf("%.0f", median(xvs)-median(pass)+e.passFloor(rounds, repeat)))
			if err := e.cfg.DelService(&s); err != nil {
				tb.Fatal(err)
			}
			e.commit()
		}
		fmt.Fprintf(&sb, "| %s |\n", strings.Join(row, " | "))
	}
	var sw bpf.Sweep
	if err := e.objs.XvsSweep.Lookup(uint32(0), &sw); err == nil && sw.Seen > 0 {
		fmt.Fprintf(&sb, "\nExpiry sweep (bpf_timer, once a second, in softirq): its last pass looked at %d entries in %.1f ms (%.0f ns per entry).\n", sw.Seen, float64(sw.RunNs)/1e6, float64(sw.RunNs)/float64(sw.Seen))
	}
	return sb.String()
}

// passFloor is the XDP_PASS program's own cost, measured now.
func (e *benchEnv) passFloor(rounds int, repeat uint32) float64 {
	var v []float64
	for range rounds {
		v = append(v, measure(e.tb, e.ns, e.ifindex, benchCase{"pass", e.pass.XvsPass, benchNew.frame(), xdpPass}, 1, repeat))
	}
	return median(v)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s { // insertion sort: a handful of values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// TestSchedBench runs the scheduler section alone (XVS_SCHED_BENCH=1), printing it.
func TestSchedBench(t *testing.T) {
	if os.Getenv("XVS_SCHED_BENCH") == "" {
		t.Skip("set XVS_SCHED_BENCH=1 to measure the schedulers' new-flow cost")
	}
	e := newBenchEnv(t)
	e.pinCPU()
	t.Log(schedBenchSection(t, e, 3, 10000))
}
