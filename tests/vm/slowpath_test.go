package vm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestInVMSlowPath: packets the XDP program passes up to the kernel meet
// the same configuration in kernel IPVS (xvsadm's mirror), with XDP
// attached the whole time:
//   - fragments: UDP datagrams larger than the MTU reach the balancer as
//     IPv4 and IPv6 fragments, which the datapath passes up (pass_fragment); the
//     kernel reassembles them and IPVS schedules them through the same mh
//     service, to the real xvs picks for that source's small datagrams
//     (xvs's mh is IPVS's);
//   - SCTP, which the datapath does not balance (pass_protocol): an
//     --sctp-service configured with xvsadm carries associations through
//     kernel IPVS to the reals;
//   - metrics count what kernel IPVS carried (checkKernelMetrics);
//   - fwmark services, which XDP cannot match (the mark is set after it,
//     here by a tc ingress filter on the balancer, as iptables would):
//     HTTP to the VIP's port 8080 (no xvs service: pass_no_vip) is marked
//     5 and served by the fwmark service -f 5 made with xvsadm.
//
// Topology: tests/topo's direct-routing segment; the balancer holds the
// VIPs on lo so that IPVS (LOCAL_IN) sees what XDP passes up.
func TestInVMSlowPath(t *testing.T) {
	requireVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, lb := drBox(ctx, t, topo.DROptions{Reals: 3, Sources: 12})
	vip, state := topo.VIP4, lb.state
	lb.xvsadm("", "attach", topo.Iface, "--mode", "native")
	t.Cleanup(func() { lb.run("", "/usr/sbin/xvsadm", "--state", state, "detach", topo.Iface) })

	const udpPort, sctpPort = 5353, 9999
	udpSvc, sctpSvc := netip.AddrPortFrom(vip, udpPort).String(), netip.AddrPortFrom(vip, sctpPort).String()
	vip6 := topo.VIP6
	udpSvc6 := netip.AddrPortFrom(vip6, udpPort).String()
	if err := topo.AddAddr(d.LB.NS, "lo", netip.PrefixFrom(vip6, 128)); err != nil {
		t.Fatal(err)
	}
	lb.xvsadm("", "-A", "-u", udpSvc, "-s", "mh")
	lb.xvsadm("", "-A", "-u", udpSvc6, "-s", "mh")
	lb.xvsadm("", "-A", "--sctp-service", sctpSvc, "-s", "mh")
	for _, r := range d.Reals {
		lb.xvsadm("", "-a", "-u", udpSvc, "-r", netip.AddrPortFrom(r.Addr4, udpPort).String(), "-g")
		lb.xvsadm("", "-a", "-u", udpSvc6, "-r", netip.AddrPortFrom(r.Addr6, udpPort).String(), "-g")
		lb.xvsadm("", "-a", "--sctp-service", sctpSvc, "-r", netip.AddrPortFrom(r.Addr4, sctpPort).String(), "-g")
		serveUDPSize(t, r, netip.AddrPortFrom(vip, udpPort))
		serveUDPSize(t, r, netip.AddrPortFrom(vip6, udpPort))
		serveSCTP(t, r, netip.AddrPortFrom(vip, sctpPort))
	}
	lb.sameSave("configuration")
	before := verdicts(t, lb)

	// Fragments: per source, a small datagram (XDP) and a large one (IPVS:
	// the kernel reassembles IPv4 before LOCAL_IN, and IPv6 in
	// nf_defrag_ipv6, which IPVS turns on with its first IPv6 service).
	const big = 4000
	srcs := d.Sources4
	for _, fam := range []struct {
		name string
		vip  netip.Addr
		srcs []netip.Addr
	}{{"IPv4", vip, d.Sources4}, {"IPv6", vip6, d.Sources6[:len(srcs)]}} {
		sameReal := 0
		for _, s := range fam.srcs {
			c, err := dialUDP(d.Client.NS, s, netip.AddrPortFrom(fam.vip, udpPort))
			if err != nil {
				t.Fatal(err)
			}
			small, err := ask(c, make([]byte, 64))
			if err != nil {
				t.Fatalf("%s: small datagram from %s: %v", fam.name, s, err)
			}
			large, err := ask(c, make([]byte, big))
			c.Close()
			if err != nil {
				t.Fatalf("%s: %d-byte datagram (fragments) from %s: %v", fam.name, big, s, err)
			}
			sr, sn, _ := strings.Cut(small, " ")
			lr, ln, _ := strings.Cut(large, " ")
			if sn != "64" || ln != strconv.Itoa(big) {
				t.Errorf("%s: from %s: the reals got %s and %s bytes, want 64 and %d", fam.name, s, sn, ln, big)
			}
			if sr == lr {
				sameReal++
			} else {
				t.Errorf("%s: from %s: small datagram on %s (XDP), large on %s (IPVS): mh should agree", fam.name, s, sr, lr)
			}
		}
		t.Logf("fragments, %s: %d sources, on the same real for small (XDP) and large (IPVS) datagrams: %d", fam.name, len(fam.srcs), sameReal)
	}
	after := verdicts(t, lb)
	if n := after["pass_fragment"] - before["pass_fragment"]; n < uint64(2*3*len(srcs)) {
		t.Errorf("XDP passed %d fragments up, want at least %d (3 per %d-byte datagram, both families)", n, 2*3*len(srcs), big)
	}
	conns := lb.ipvsadm("", "-L", "-n", "-c")
	if n4, n6 := countUDP(conns, false), countUDP(conns, true); n4 < len(srcs) || n6 < len(srcs) {
		t.Errorf("kernel IPVS holds UDP connections: %d IPv4, %d IPv6, want one per source (%d each): the fragments went elsewhere\n%s", n4, n6, len(srcs), conns)
	}

	// SCTP: an association per source, served by kernel IPVS.
	seen := map[string]int{}
	for _, s := range srcs {
		name, err := sctpHello(d.Client.NS, s, netip.AddrPortFrom(vip, sctpPort))
		if err != nil {
			t.Fatalf("SCTP association from %s: %v", s, err)
		}
		seen[name]++
	}
	if len(seen) < 2 {
		t.Errorf("SCTP: every association on %v, want mh to spread %d sources", seen, len(srcs))
	}
	after2 := verdicts(t, lb)
	if n := after2["pass_protocol"] - after["pass_protocol"]; n < uint64(2*len(srcs)) {
		t.Errorf("XDP passed %d SCTP packets up, want at least %d (INIT and COOKIE ECHO per association)", n, 2*len(srcs))
	}
	if conns := lb.ipvsadm("", "-L", "-n", "-c"); strings.Count(conns, "SCTP ") < len(srcs) {
		t.Errorf("kernel IPVS holds %d SCTP connections, want %d\n%s", strings.Count(conns, "SCTP "), len(srcs), conns)
	}
	t.Logf("SCTP: associations per real %v", seen)
	checkKernelMetrics(t, lb, netip.AddrPortFrom(vip, sctpPort), len(srcs))

	// fwmark: tc marks TCP to VIP:8080 after XDP passed it up.
	const markPort = 8080
	for _, r := range d.Reals {
		if _, err := topo.Serve(t, r.NS, r.Name, markPort); err != nil {
			t.Fatal(err)
		}
	}
	tc := func(args ...string) {
		t.Helper()
		if _, e, err := lb.run("", "/usr/sbin/tc", args...); err != nil {
			t.Fatalf("tc %s: %v %s", strings.Join(args, " "), err, e)
		}
	}
	tc("qdisc", "add", "dev", topo.Iface, "clsact")
	tc("filter", "add", "dev", topo.Iface, "ingress", "protocol", "ip", "u32",
		"match", "ip", "dst", vip.String()+"/32", "match", "ip", "dport", strconv.Itoa(markPort), "0xffff",
		"action", "skbedit", "mark", "5")
	lb.xvsadm("", "-A", "-f", "5", "-s", "rr")
	for _, r := range d.Reals {
		lb.xvsadm("", "-a", "-f", "5", "-r", r.Addr4.String(), "-g")
	}
	lb.sameSave("fwmark service")
	marked := map[string]int{}
	for _, s := range srcs {
		name, err := topo.Get(ctx, d.Client.NS, s, netip.AddrPortFrom(vip, markPort))
		if err != nil {
			t.Fatalf("HTTP to %s:%d (fwmark 5) from %s: %v", vip, markPort, s, err)
		}
		marked[name]++
	}
	if len(marked) != len(d.Reals) {
		t.Errorf("fwmark service (rr): requests per real %v, want all %d reals", marked, len(d.Reals))
	}
	after3 := verdicts(t, lb)
	if n := after3["pass_no_vip"] - after2["pass_no_vip"]; n < uint64(3*len(srcs)) {
		t.Errorf("XDP passed %d packets for no service up, want at least %d (a connection's SYN, ACK, request...)", n, 3*len(srcs))
	}
	// Its connection entries (its counters reach -L --stats only with the
	// estimator, every 2 s).
	to := netip.AddrPortFrom(vip, markPort).String()
	if conns := lb.ipvsadm("", "-L", "-n", "-c"); strings.Count(conns, " "+to+" ") < len(srcs) {
		t.Errorf("kernel IPVS holds %d connections to %s, want %d (one per request)\n%s", strings.Count(conns, " "+to+" "), to, len(srcs), conns)
	}
	t.Logf("fwmark: requests per real %v", marked)
}

var verdictRe = regexp.MustCompile(`(\w+)=(\d+)`)

// verdicts reads the datapath's verdict counters from xvsadm status.
func verdicts(t *testing.T, lb *box) map[string]uint64 {
	t.Helper()
	out := lb.xvsadm("", "status", "--no-count")
	_, line, ok := strings.Cut(out, "packets by verdict:")
	if !ok {
		t.Fatalf("status has no verdict counters:\n%s", out)
	}
	line, _, _ = strings.Cut(line, "\n")
	v := map[string]uint64{}
	for _, m := range verdictRe.FindAllStringSubmatch(line, -1) {
		v[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	return v
}

// serveUDPSize answers every datagram to addr in r's namespace with the
// real's name and the datagram's size.
func serveUDPSize(t *testing.T, r *topo.Real, addr netip.AddrPort) {
	t.Helper()
	var pc net.PacketConn
	if err := r.NS.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(fmt.Sprintf("%s %d", r.Name, n)), from)
		}
	}()
}

func dialUDP(n *topo.Netns, src netip.Addr, to netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", &net.UDPAddr{IP: src.AsSlice()}, net.UDPAddrFromAddrPort(to))
		return err
	})
	return c, err
}

// ask sends b and returns the answer, retrying twice (UDP).
func ask(c *net.UDPConn, b []byte) (string, error) {
	buf := make([]byte, 256)
	var err error
	for range 3 {
		if _, err = c.Write(b); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		var n int
		if n, err = c.Read(buf); err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", err
}

// serveSCTP accepts SCTP associations to addr in r's namespace (a
// one-to-one socket) and answers each one's first message with the real's
// name. Go's net package has no SCTP: plain socket calls.
func serveSCTP(t *testing.T, r *topo.Real, addr netip.AddrPort) {
	t.Helper()
	var fd int
	if err := r.NS.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP); err != nil {
			return fmt.Errorf("SCTP socket: %w", err)
		}
		if err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err == nil {
			err = unix.Listen(fd, 64)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Shutdown(fd, unix.SHUT_RDWR); unix.Close(fd) })
	go func() {
		for {
			c, _, err := unix.Accept(fd)
			if err != nil {
				return
			}
			go func() {
				defer unix.Close(c)
				buf := make([]byte, 256)
				if _, err := unix.Read(c, buf); err == nil {
					_, _ = unix.Write(c, []byte(r.Name))
				}
			}()
		}
	}()
}

// sctpHello opens an SCTP association from src to to, sends one message
// and returns the answer (the real's name).
func sctpHello(n *topo.Netns, src netip.Addr, to netip.AddrPort) (string, error) {
	var fd int
	if err := n.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_SCTP)
		return err
	}); err != nil {
		return "", fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 10}
	for _, opt := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} { // connect waits up to SO_SNDTIMEO
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return "", err
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		return "", fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}); err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	if _, err := unix.Write(fd, []byte("hello")); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 64)
	nr, err := unix.Read(fd, buf)
	if err != nil {
		return "", fmt.Errorf("receive: %w", err)
	}
	return string(buf[:nr]), nil
}

// countUDP counts the UDP entries of an ipvsadm -L -n -c listing, IPv6
// ([addr]:port) or IPv4.
func countUDP(listing string, v6 bool) int {
	n := 0
	for _, line := range strings.Split(listing, "\n") {
		if strings.HasPrefix(line, "UDP ") && strings.Contains(line, "[") == v6 {
			n++
		}
	}
	return n
}
