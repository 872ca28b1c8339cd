package vm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
	"github.com/xvs-lb/xvs/tests/topo"
)

// The differential test: the same configuration, made by the same restore
// script, in kernel IPVS (ipvsadm -R) and in xvs's maps (xvsadm -R, mirror
// off), and the same flows through both. Kernel IPVS gets real frames from
// a client namespace (TCP SYNs, UDP datagrams from many source addresses
// and ports) and its choices are read from ipvsadm -L -n -c; the xvs XDP
// program gets the same frames with BPF_PROG_TEST_RUN and its choices are
// read from its connection table. Every flow must get the same real, or no
// real on both sides (a flow hashed to a weight-0 real without fallback).

// diffFlowsPerConfig is the number of flows sent per configuration.
const diffFlowsPerConfig = 320

// diffConfig is one scheduler configuration under test.
type diffConfig struct {
	sched string // sh, dh, mh
	flags string // -b value ("" for none)
	v6    bool
	proto string // "tcp" or "udp"
	vips  int    // services (dh hashes the destination: many VIPs)
	index int    // distinguishes the configurations' VIPs
	port0 bool   // persistent services of port 0 (flows to any port), each with an exact-port service on port 80 beside it
}

// diffExactPort is the port of the exact-port service beside each port-0
// service (two reals of its own): a quarter of the flows go to it.
const diffExactPort = 80

func (c diffConfig) String() string {
	af := "ipv4"
	if c.v6 {
		af = "ipv6"
	}
	s := fmt.Sprintf("%s/%s/%s", c.sched, af, c.proto)
	if c.flags != "" {
		s += "/" + c.flags
	}
	if c.weights()[0] != diffWeights[0] {
		s += "/big-weights"
	}
	if c.port0 {
		s += "/port0-persistent"
	}
	return s
}

// vip returns the configuration's j-th virtual service address.
func (c diffConfig) vip(j int) netip.AddrPort {
	port := uint16(1000 + c.index)
	if c.port0 {
		port = 0
	}
	if c.v6 {
		return netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("fd00:9::%x:%x", c.index+1, j+1)), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 9, byte(1 + c.index*8 + j)}), port)
}

// real returns the k-th real server address (on the balancer's link).
func (c diffConfig) real(k int) netip.Addr {
	if c.v6 {
		return netip.MustParseAddr(fmt.Sprintf("fd00:1::%x", 0x10+k))
	}
	return netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + k)})
}

// diffWeights are the reals' weights, in the order added: a real added
// with weight 0 and, below, one edited down to 0 (mh keeps its last
// weight in the table, sh and dh do not look at it).
var diffWeights = []int{3, 1, 2, 0, 1, 4, 2}

// diffBigWeights are the weights of half the mh configurations: their
// ratio to their gcd needs more than IP_VS_MH_TAB_BITS bits, so mh shifts
// them down (ip_vs_mh_shift_weight).
var diffBigWeights = []int{1000, 300, 70, 0, 128, 4000, 9}

// diffEdited is the real set to weight 0 after all were added.
const diffEdited = 4

// weights returns the reals' weights of c.
func (c diffConfig) weights() []int {
	if c.sched == "mh" && c.index%2 == 1 {
		return diffBigWeights
	}
	return diffWeights
}

// script is the restore input creating the configuration's services.
func (c diffConfig) script() string {
	var b strings.Builder
	opt := map[string]string{"tcp": "-t", "udp": "-u"}[c.proto]
	for j := range c.vips {
		vip := c.vip(j)
		fmt.Fprintf(&b, "-A %s %s -s %s", opt, vip, c.sched)
		if c.flags != "" {
			fmt.Fprintf(&b, " -b %s", c.flags)
		}
		if c.port0 {
			b.WriteString(" -p 300")
		}
		b.WriteString("\n")
		for k, w := range c.weights() {
			fmt.Fprintf(&b, "-a %s %s -r %s -g -w %d\n", opt, vip, netip.AddrPortFrom(c.real(k), vip.Port()), w)
		}
		fmt.Fprintf(&b, "-e %s %s -r %s -g -w 0\n", opt, vip, netip.AddrPortFrom(c.real(diffEdited), vip.Port()))
		if c.port0 {
			exact := netip.AddrPortFrom(vip.Addr(), diffExactPort)
			fmt.Fprintf(&b, "-A %s %s -s %s\n", opt, exact, c.sched)
			for _, k := range []int{0, 2} {
				fmt.Fprintf(&b, "-a %s %s -r %s -g -w 1\n", opt, exact, netip.AddrPortFrom(c.real(k), diffExactPort))
			}
		}
	}
	return b.String()
}

// diffFlow is one flow: its key and the frame that opens it.
type diffFlow struct {
	cfg   int
	proto string
	src   netip.AddrPort
	dst   netip.AddrPort
	frame []byte
	ack   []byte // lblc, lblcr: an ACK after the SYN makes the connection active (nil: none)
}

func (f *diffFlow) key() string { return diffKey(f.proto, f.src, f.dst) }

func diffKey(proto string, src, dst netip.AddrPort) string {
	return strings.ToLower(proto) + " " + src.String() + " " + dst.String()
}

// flows returns n distinct flows of c from random client addresses and ports.
func (c diffConfig) flows(r *rand.Rand, cfg, n int, srcMAC, dstMAC net.HardwareAddr) ([]diffFlow, error) {
	seen := map[string]bool{}
	var out []diffFlow
	for len(out) < n {
		var a netip.Addr
		if c.v6 {
			var b [16]byte
			b[0], b[1] = 0xfd, 0x01
			for i := 8; i < 16; i++ {
				b[i] = byte(r.IntN(256))
			}
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{10, byte(64 + r.IntN(64)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		}
		f := diffFlow{cfg: cfg, proto: c.proto, src: netip.AddrPortFrom(a, uint16(1024+r.IntN(64512))), dst: c.vip(r.IntN(c.vips))}
		if c.port0 { // any port: a quarter to the exact-port service beside
			port := uint16(diffExactPort)
			if r.IntN(4) != 0 {
				port = uint16(1 + r.IntN(65535))
			}
			f.dst = netip.AddrPortFrom(f.dst.Addr(), port)
		}
		if seen[f.key()] {
			continue
		}
		seen[f.key()] = true
		var err error
		if f.frame, err = diffFrame(&f, true, srcMAC, dstMAC); err != nil {
			return nil, err
		}
		if (c.sched == "lblc" || c.sched == "lblcr") && len(out)%3 == 1 {
			if f.ack, err = diffFrame(&f, false, srcMAC, dstMAC); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// diffFrame builds the flow's first packet: a TCP SYN or a UDP datagram
// (or, with first false, the TCP ACK that follows the SYN).
func diffFrame(f *diffFlow, first bool, srcMAC, dstMAC net.HardwareAddr) ([]byte, error) {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	var l3 gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if f.proto == "udp" {
		proto = layers.IPProtocolUDP
	}
	if f.src.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice()}
		ip, l3 = v6, v6
	} else {
		v4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: f.src.Addr().AsSlice(), DstIP: f.dst.Addr().AsSlice()}
		ip, l3 = v4, v4
	}
	var l4 gopacket.SerializableLayer
	var payload gopacket.Payload
	if f.proto == "udp" {
		u := &layers.UDP{SrcPort: layers.UDPPort(f.src.Port()), DstPort: layers.UDPPort(f.dst.Port())}
		_ = u.SetNetworkLayerForChecksum(ip)
		l4, payload = u, gopacket.Payload("xvs-diff")
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.src.Port()), DstPort: layers.TCPPort(f.dst.Port()), SYN: first, ACK: !first, Seq: 1, Window: 64240}
		if !first {
			tcp.Seq, tcp.Ack = 2, 1
		}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, l3, l4, payload)
	return buf.Bytes(), err
}

// diffConfigs are sh, dh and mh with every flag, lblc and lblcr, and
// persistent sh services of port 0 (with an exact-port service beside),
// IPv4 and IPv6.
func diffConfigs() []diffConfig {
	var out []diffConfig
	for _, v6 := range []bool{false, true} {
		for _, s := range []struct{ sched, flags string }{
			{"sh", ""}, {"sh", "sh-fallback"}, {"sh", "sh-port"}, {"sh", "sh-fallback,sh-port"},
			{"dh", ""},
			{"mh", ""}, {"mh", "mh-fallback"}, {"mh", "mh-port"}, {"mh", "mh-fallback,mh-port"},
			{"lblc", ""}, {"lblcr", ""}, {"sh", "port0"},
		} {
			c := diffConfig{sched: s.sched, flags: s.flags, v6: v6, vips: 1, index: len(out)}
			if s.flags == "port0" {
				c.flags, c.port0, c.vips = "", true, 2
			}
			c.proto = []string{"tcp", "udp"}[len(out)%2]
			if c.port0 && !v6 {
				c.proto = "tcp" // port 0: TCP on IPv4, UDP on IPv6
			}
			switch s.sched {
			case "dh":
				c.vips = 8 // dh hashes the destination address
			case "lblc", "lblcr":
				c.vips = 8 // lblc and lblcr keep a real (a set) per destination address
				c.proto = "tcp"
			}
			out = append(out, c)
		}
	}
	return out
}

// TestInVMSchedDifferential: sh, dh and mh (every flag, weights, weight-0
// reals, IPv4 and IPv6), lblc, lblcr and port-0 persistent services choose the same real in kernel IPVS and in
// xvs for every flow.
func TestInVMSchedDifferential(t *testing.T) {
	requireVM(t)
	start := time.Now()
	lb := newBox(t)
	client, err := topo.NewNetns(t, "xvsvm-dc-"+topo.RandSuffix(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(lb.ns, "vc", "", client, "eth0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ip := func(n *topo.Netns, args ...string) {
		t.Helper()
		if _, _, err := n.Run(ctx, "/usr/sbin/ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	ip(lb.ns, "link", "set", "lo", "up")
	ip(lb.ns, "addr", "add", "10.0.1.1/24", "dev", "vc")
	ip(lb.ns, "-6", "addr", "add", "fd00:1::1/64", "dev", "vc", "nodad")
	ip(lb.ns, "route", "add", "local", "10.0.9.0/24", "dev", "lo") // the VIPs are local: IPVS sees them in LOCAL_IN
	ip(lb.ns, "-6", "route", "add", "local", "fd00:9::/64", "dev", "lo")
	if err := lb.ns.Sysctls("net.ipv4.conf.all.rp_filter", "0", "net.ipv4.conf.vc.rp_filter", "0"); err != nil {
		t.Fatal(err)
	}
	// A burst of frames must not overflow the receive backlog.
	const backlog = "/proc/sys/net/core/netdev_max_backlog" // not per namespace: put back afterwards
	old, err := os.ReadFile(backlog)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backlog, []byte("100000"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(backlog, old, 0o644) })
	vc, err := lb.ns.Netlink().LinkByName("vc")
	if err != nil {
		t.Fatal(err)
	}
	eth0, err := client.Netlink().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}

	// The same commands through both: ipvsadm -R into kernel IPVS, xvsadm -R
	// (mirror off) into the maps; both then save the same configuration.
	cfgs := diffConfigs()
	var script strings.Builder
	for _, c := range cfgs {
		script.WriteString(c.script())
	}
	lb.ipvsadm(script.String(), "-R")
	t.Setenv("XVS_IPVS_MIRROR", "off") // inherited by xvsadm
	lb.xvsadm(script.String(), "-R")
	lb.sameSave("restore")

	r := rand.New(rand.NewPCG(3, 5))
	var flows []diffFlow
	for i, c := range cfgs {
		fl, err := c.flows(r, i, diffFlowsPerConfig, eth0.Attrs().HardwareAddr, vc.Attrs().HardwareAddr)
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, fl...)
	}

	// Kernel IPVS: real frames from the client's link.
	send := func(fl []diffFlow) error {
		return client.Do(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			// One CPU: the frames reach IPVS in the order sent (lblc's and lblcr's choices depend on it).
			var set unix.CPUSet
			set.Set(0)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return err
			}
			to := &unix.SockaddrLinklayer{Ifindex: eth0.Attrs().Index, Halen: 6}
			copy(to.Addr[:], vc.Attrs().HardwareAddr)
			for i := range fl {
				for _, fr := range [][]byte{fl[i].frame, fl[i].ack} {
					if fr == nil {
						continue
					}
					if err := unix.Sendto(fd, fr, 0, to); err != nil {
						return fmt.Errorf("send frame %d: %w", i, err)
					}
				}
				if i%200 == 199 {
					time.Sleep(2 * time.Millisecond) // let the backlog drain
				}
			}
			return nil
		})
	}
	if err := send(flows); err != nil {
		t.Fatal(err)
	}
	kernel := diffKernelConns(t, lb)
	// Frames the link dropped are sent again once; a flow that IPVS refuses
	// (weight-0 real, no fallback) stays without an entry either way.
	var missing []diffFlow
	for _, f := range flows {
		if _, ok := kernel[f.key()]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		if err := send(missing); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		kernel = diffKernelConns(t, lb)
	}
	t.Logf("kernel IPVS: %d flows sent, %d connection entries (%d flows sent twice), %v", len(flows), len(kernel), len(missing), time.Since(start).Round(time.Millisecond))

	// xvs: the same frames through the XDP program (BPF_PROG_TEST_RUN).
	st, err := loader.Open(lb.state, loader.Options{})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer st.Close()
	err = lb.ns.Do(func() error {
		for i := range flows {
			for _, fr := range [][]byte{flows[i].frame, flows[i].ack} {
				if fr == nil {
					continue
				}
				opts := &ebpf.RunOptions{
					Data: fr, DataOut: make([]byte, len(fr)+256),
					Context: diffXdpMD{DataEnd: uint32(len(fr)), IngressIfindex: uint32(vc.Attrs().Index)},
				}
				if _, err := st.Objs.XvsXdp.Run(opts); err != nil {
					return fmt.Errorf("test run of flow %s: %w", flows[i].key(), err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conns, err := maps.NewBPFStore(loader.StoreMaps(st.Objs)).Conns()
	if err != nil {
		t.Fatal(err)
	}
	xvs := map[string]netip.Addr{}
	for _, c := range conns {
		xvs[diffKey(map[uint8]string{6: "tcp", 17: "udp"}[c.Proto], c.Client, c.Virtual)] = c.Dest.Addr()
	}

	// Compare flow by flow.
	type tally struct{ agree, total, none int }
	per := make([]tally, len(cfgs))
	reals := make([]map[string]int, len(cfgs)) // the kernel's choices: real -> flows ("none": no real)
	var agree int
	var shown int
	for _, f := range flows {
		k, x := kernel[f.key()], xvs[f.key()]
		tl := &per[f.cfg]
		tl.total++
		if reals[f.cfg] == nil {
			reals[f.cfg] = map[string]int{}
		}
		reals[f.cfg][diffName(k)]++
		if k == x {
			tl.agree++
			agree++
			if !k.IsValid() {
				tl.none++
			}
		} else if shown < 20 {
			shown++
			t.Errorf("%s: flow %s: kernel IPVS chose %s, xvs %s", cfgs[f.cfg], f.key(), diffName(k), diffName(x))
		}
	}
	for i, c := range cfgs {
		tl := per[i]
		t.Logf("agreement %-28s %d/%d flows (%.2f%%), %d with no real on both sides, kernel's reals %v",
			c, tl.agree, tl.total, 100*float64(tl.agree)/float64(tl.total), tl.none, reals[i])
		if tl.total < 300 {
			t.Errorf("%s: only %d flows", c, tl.total)
		}
		// A check that can fail: the flows must spread over several reals.
		if got := len(reals[i]) - diffBoolInt(reals[i]["none"] > 0); got < 2 {
			t.Errorf("%s: kernel IPVS used %d reals: the test does not discriminate", c, got)
		}
	}
	// Persistence templates (client port 0; here only the port-0 services'):
	// the same entries on both sides, virtual port 0, the same real.
	tmpls, tmplAgree := 0, 0
	for k, a := range kernel {
		f := strings.Fields(k)
		if len(f) != 3 || !strings.HasSuffix(f[1], ":0") {
			continue
		}
		tmpls++
		if !strings.HasSuffix(f[2], ":0") {
			t.Errorf("kernel template %s: virtual port not 0", k)
		}
		if x, ok := xvs[k]; ok && x == a {
			tmplAgree++
		} else if shown < 40 {
			shown++
			t.Errorf("template %s: kernel IPVS names %s, xvs %s (listed: %v)", k, diffName(a), diffName(x), ok)
		}
	}
	t.Logf("persistence templates: %d/%d agree", tmplAgree, tmpls)
	if tmpls < 100 {
		t.Errorf("only %d templates in kernel IPVS: the port-0 configurations did not run", tmpls)
	}
	pct := 100 * float64(agree) / float64(len(flows))
	t.Logf("agreement overall: %d/%d flows (%.2f%%) over %d configurations, %v", agree, len(flows), pct, len(cfgs), time.Since(start).Round(time.Millisecond))
	if agree != len(flows) {
		t.Errorf("kernel IPVS and xvs disagree on %d of %d flows (goal: 100%%)", len(flows)-agree, len(flows))
	}
}

// diffName names a choice: the real's address, or "none".
func diffName(a netip.Addr) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}

func diffBoolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// diffXdpMD is struct xdp_md, the context BPF_PROG_TEST_RUN takes.
type diffXdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// diffKernelConns reads kernel IPVS's connection entries (ipvsadm -L -n -c):
// flow key -> the real's address.
func diffKernelConns(t *testing.T, b *box) map[string]netip.Addr {
	t.Helper()
	o, e, err := b.run("", "/usr/sbin/ipvsadm", "-L", "-n", "-c")
	if err != nil {
		t.Fatalf("ipvsadm -L -n -c: %v %s", err, e)
	}
	out := map[string]netip.Addr{}
	for _, line := range strings.Split(o, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || (f[0] != "TCP" && f[0] != "UDP") {
			continue
		}
		src, err1 := netip.ParseAddrPort(f[3])
		vip, err2 := netip.ParseAddrPort(f[4])
		dst, err3 := netip.ParseAddrPort(f[5])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("ipvsadm -L -n -c: cannot parse %q", line)
		}
		out[diffKey(f[0], src, vip)] = dst.Addr()
	}
	return out
}
