package vm

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/tests/topo"
)

// The pps benchmark's topology: gen --veth-- lb --veth-- sink, each its own
// namespace. Interface names and addresses:
//
//	gen  ppsGenIf (no address) <-> lb  ppsLBIn  10.1.255.254/16 (the clients' side)
//	lb   ppsLBOut 10.2.0.1/24   <-> sink ppsSinkIf 10.2.0.11-14/24 (the reals)
//
// The VIP sits on lb's lo (kernel IPVS sees the packets in LOCAL_IN); the
// main table also routes it via the first real, which only the control
// without the VIP on lo uses (the local table wins while it is there).
const (
	ppsGenIf  = "g0"
	ppsLBIn   = "lg"
	ppsLBOut  = "ls"
	ppsSinkIf = "s0"
)

var (
	ppsVIP     = netip.MustParseAddr("10.3.0.1")
	ppsLBInNet = netip.MustParsePrefix("10.1.255.254/16")
	ppsLBOutIP = netip.MustParsePrefix("10.2.0.1/24")
)

// ppsReal is the address of real k (0-based) on the sink: 10.2.0.11+k.
func ppsReal(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 2, 0, byte(11 + k)}) }

// ppsTopo is the built topology with the generator and the sink loaded.
type ppsTopo struct {
	gen, lb, sink *topo.Netns
	genIdx        int              // ppsGenIf's ifindex (in gen)
	genMAC, lbMAC net.HardwareAddr // ppsGenIf's and ppsLBIn's MACs
	objs          bpf.PktgenObjects
	links         []link.Link // kept: cilium/ebpf detaches a link it garbage-collects
	pass          *ebpf.Program
	passLink      link.Link // XDP_PASS or xvs_pktfwd on ppsLBIn while xvs is detached
	first         []byte    // the frame test_run starts from (rewritten every run)
}

// newPPSTopo builds the namespaces (prefix + role), the veths, addresses
// and permanent neighbours for nreals reals, and attaches the sink's
// counter. setFrames gives the generator its frames.
func newPPSTopo(env topo.Env, prefix string, nreals int) (*ppsTopo, error) {
	p := &ppsTopo{}
	env.Cleanup(p.close)
	var err error
	sfx := topo.RandSuffix(3)
	for _, n := range []struct {
		ns   **topo.Netns
		role string
	}{{&p.gen, "gen"}, {&p.lb, "lb"}, {&p.sink, "sink"}} {
		if *n.ns, err = topo.NewNetns(env, prefix+sfx+"-"+n.role); err != nil {
			return nil, err
		}
	}
	if err := topo.Veth(p.gen, ppsGenIf, "", p.lb, ppsLBIn); err != nil {
		return nil, err
	}
	if err := topo.Veth(p.lb, ppsLBOut, "", p.sink, ppsSinkIf); err != nil {
		return nil, err
	}
	if err := topo.AddAddr(p.lb, ppsLBIn, ppsLBInNet); err != nil {
		return nil, err
	}
	if err := topo.AddAddr(p.lb, ppsLBOut, ppsLBOutIP); err != nil {
		return nil, err
	}
	if err := topo.AddAddr(p.lb, "lo", netip.PrefixFrom(ppsVIP, 32)); err != nil {
		return nil, err
	}
	if err := p.lb.Sysctls(
		"net.ipv4.ip_forward", "1",
		"net.ipv4.conf.all.rp_filter", "0",
		"net.ipv4.conf."+ppsLBIn+".rp_filter", "0",
		"net.ipv4.conf.all.send_redirects", "0",
	); err != nil {
		return nil, err
	}
	mac := func(n *topo.Netns, ifname string) (netlink.Link, error) {
		l, err := n.Netlink().LinkByName(ifname)
		if err != nil {
			return nil, fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
		}
		return l, nil
	}
	g, err := mac(p.gen, ppsGenIf)
	if err != nil {
		return nil, err
	}
	lin, err := mac(p.lb, ppsLBIn)
	if err != nil {
		return nil, err
	}
	lout, err := mac(p.lb, ppsLBOut)
	if err != nil {
		return nil, err
	}
	s, err := mac(p.sink, ppsSinkIf)
	if err != nil {
		return nil, err
	}
	p.genIdx, p.genMAC, p.lbMAC = g.Attrs().Index, g.Attrs().HardwareAddr, lin.Attrs().HardwareAddr
	// The reals on the sink; lb knows their MAC for good (the sink's
	// counter drops what it counts and passes the rest, ARP included).
	for k := range nreals {
		if err := topo.AddAddr(p.sink, ppsSinkIf, netip.PrefixFrom(ppsReal(k), 24)); err != nil {
			return nil, err
		}
		ne := &netlink.Neigh{LinkIndex: lout.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: ppsReal(k).AsSlice(), HardwareAddr: s.Attrs().HardwareAddr}
		if err := p.lb.Netlink().NeighSet(ne); err != nil {
			return nil, fmt.Errorf("netns %s: neighbour %s: %w", p.lb.Name, ppsReal(k), err)
		}
	}
	if err := topo.ReplaceRoute(p.lb, netip.PrefixFrom(ppsVIP, 32), ppsReal(0)); err != nil {
		return nil, err
	}

	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock: %w", err)
	}
	var pass bpf.PassObjects
	if err := bpf.LoadPassObjects(&pass, nil); err != nil {
		return nil, fmt.Errorf("load xvs_pass: %w", err)
	}
	p.pass = pass.XvsPass
	spec, err := bpf.LoadPktgen()
	if err != nil {
		return nil, fmt.Errorf("load pktgen spec: %w", err)
	}
	var dmac [6]byte
	copy(dmac[:], s.Attrs().HardwareAddr)
	for name, v := range map[string]any{
		"xvs_pktsink_vip":    ppsVIP.As4(),
		"xvs_pktfwd_ifindex": uint32(lout.Attrs().Index),
		"xvs_pktfwd_dmac":    dmac,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("load pktgen: %+v", err)
	}
	sl, err := attachXDPIn(p.sink, ppsSinkIf, p.objs.XvsPktsink)
	if err != nil {
		return nil, err
	}
	p.links = append(p.links, sl)
	return p, nil
}

// attachXDPIn attaches prog to ifname of n (native mode) through a bpf_link,
// from a thread inside n (the link's ifindex is resolved there).
func attachXDPIn(n *topo.Netns, ifname string, prog *ebpf.Program) (link.Link, error) {
	l, err := n.Netlink().LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	var lk link.Link
	err = n.Do(func() (err error) {
		lk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.Attrs().Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: attach %s to %s: %w", n.Name, prog, ifname, err)
	}
	return lk, nil
}

// close releases the links and programs (the namespaces go with env).
func (p *ppsTopo) close() {
	if p.passLink != nil {
		p.passLink.Close()
	}
	for _, l := range p.links {
		l.Close()
	}
	if p.pass != nil {
		p.pass.Close()
	}
	p.objs.Close()
}

// passOn attaches XDP_PASS to lb's ingress veth (xvs must be detached): a
// veth delivers frames redirected into it only to an XDP program
// (without one it drops them), here one that hands them to the stack.
func (p *ppsTopo) passOn() error { return p.lbProg(p.pass) }

// floorOn attaches xvs_pktfwd there instead: MAC rewrite and redirect to
// the sink, the least a DR balancer in XDP does.
func (p *ppsTopo) floorOn() error { return p.lbProg(p.objs.XvsPktfwd) }

// lbProg attaches prog to lb's ingress veth, in place of what passOn or
// floorOn attached.
func (p *ppsTopo) lbProg(prog *ebpf.Program) error {
	if err := p.passOff(); err != nil {
		return err
	}
	lk, err := attachXDPIn(p.lb, ppsLBIn, prog)
	if err != nil {
		return err
	}
	p.passLink = lk
	return nil
}

// passOff detaches what passOn or floorOn attached, before xvsadm
// attaches xvs there.
func (p *ppsTopo) passOff() error {
	if p.passLink == nil {
		return nil
	}
	err := p.passLink.Close()
	p.passLink = nil
	return err
}

// setFrames makes the generator cycle over frames (a power of two of them,
// each ppsFrameLen bytes).
func (p *ppsTopo) setFrames(frames [][]byte) error {
	n := len(frames)
	if n == 0 || n&(n-1) != 0 || n > ppsMaxFlows {
		return fmt.Errorf("pktgen: %d frames, want a power of two up to %d", n, ppsMaxFlows)
	}
	var all [ppsMaxFlows][64]byte
	for i, f := range frames {
		if len(f) != ppsFrameLen {
			return fmt.Errorf("pktgen: frame %d is %d bytes, want %d", i, len(f), ppsFrameLen)
		}
		copy(all[i][:], f)
	}
	if err := p.objs.XvsPktgenFrames.Set(all); err != nil {
		return fmt.Errorf("set xvs_pktgen_frames: %w", err)
	}
	if err := p.objs.XvsPktgenMask.Set(uint32(n - 1)); err != nil {
		return fmt.Errorf("set xvs_pktgen_mask: %w", err)
	}
	p.first = frames[0]
	return nil
}

// sunk is the sink's count so far (all CPUs).
func (p *ppsTopo) sunk() (uint64, error) {
	var per []uint64
	if err := p.objs.XvsPktsinkCnt.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("read xvs_pktsink_cnt: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// ppsXdpMD is struct xdp_md, the context of BPF_PROG_TEST_RUN.
type ppsXdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// ppsSample is one generator run: frames sent, frames the sink counted,
// frames the veths dropped because a receive ring was full (into lb, and
// from lb to the sink), and the run's wall time.
type ppsSample struct {
	sent, sunk        uint64
	genDrops, lbDrops uint64
	took              time.Duration
}

// pps is the rate of frames through to the sink.
func (s ppsSample) pps() float64 { return float64(s.sunk) / s.took.Seconds() }

// ppsCounts are the counters generate reads before and after a run.
type ppsCounts struct{ sunk, genDrops, lbDrops uint64 }

func (p *ppsTopo) counts() (ppsCounts, error) {
	var c ppsCounts
	var err error
	if c.sunk, err = p.sunk(); err != nil {
		return c, err
	}
	// A veth's tx_dropped holds the frames its peer's full ring refused,
	// sent by XDP (redirect, XDP_TX) or by the stack.
	if c.genDrops, err = ppsTxDropped(p.gen, ppsGenIf); err != nil {
		return c, err
	}
	c.lbDrops, err = ppsTxDropped(p.lb, ppsLBOut)
	return c, err
}

func ppsTxDropped(n *topo.Netns, ifname string) (uint64, error) {
	l, err := n.Netlink().LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	if st := l.Attrs().Statistics; st != nil {
		return st.TxDropped, nil
	}
	return 0, fmt.Errorf("netns %s: %s: no statistics", n.Name, ifname)
}

// generate sends n frames from gen into lb with BPF_PROG_TEST_RUN in live
// frames mode, from a thread inside gen (the context's ifindex is resolved
// there). The receiving side runs inside the same syscall, on the same
// CPU, so the run's wall time is the whole path's time (serial mode).
func (p *ppsTopo) generate(n uint32) (ppsSample, error) {
	before, err := p.counts()
	if err != nil {
		return ppsSample{}, err
	}
	var took time.Duration
	err = p.gen.Do(func() error {
		opts := &ebpf.RunOptions{
			Data:    p.first,
			Repeat:  n,
			Flags:   unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			Context: ppsXdpMD{DataEnd: uint32(len(p.first)), IngressIfindex: uint32(p.genIdx)},
		}
		start := time.Now()
		_, err := p.objs.XvsPktgen.Run(opts)
		took = time.Since(start)
		return err
	})
	if err != nil {
		return ppsSample{}, fmt.Errorf("generate %d frames: %w", n, err)
	}
	// Frames still in a ring when the syscall returns (softirqs deferred
	// to ksoftirqd) belong to this run: wait until the counts settle.
	after, err := p.counts()
	for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		var again ppsCounts
		if again, err = p.counts(); err == nil && again == after {
			break
		}
		after = again
	}
	if err != nil {
		return ppsSample{}, err
	}
	if after.sunk < before.sunk || after.genDrops < before.genDrops || after.lbDrops < before.lbDrops {
		return ppsSample{}, errors.New("a counter went down")
	}
	return ppsSample{sent: uint64(n), sunk: after.sunk - before.sunk, genDrops: after.genDrops - before.genDrops,
		lbDrops: after.lbDrops - before.lbDrops, took: took}, nil
}
