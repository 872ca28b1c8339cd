package e2e_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestNATICMP: a NAT real with nothing listening on the real port answers
// the client's UDP datagram with an ICMP port unreachable about
// client -> real:5353. xvs translates it back (from the VIP, quoting
// client -> VIP:53), so the client's connected socket gets "connection
// refused"; passed untranslated to the balancer's kernel, it would be
// forwarded as it is and match no socket of the client's. IPv4 and IPv6.
func TestNATICMP(t *testing.T) {
	requireXvsadm(t)
	eachFamily(t, testNATICMP)
}

func testNATICMP(t *testing.T, vip netip.Addr) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := topo.NewDR(t, topo.DROptions{Reals: 1, Sources: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.RouteRepliesViaLB(); err != nil {
		t.Fatal(err)
	}
	client := d.Client.Addr(vip)
	if err := topo.ResolveNeighbours(ctx, d.LB.NS, topo.Iface, []netip.Addr{client}); err != nil {
		t.Fatal(err)
	}
	svc := netip.AddrPortFrom(vip, 53)
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	x.run("-A", "-u", svc.String(), "-s", "rr")
	x.run("-a", "-u", svc.String(), "-r", hostPort(d.Reals[0].Addr(vip), 5353), "-m") // nothing listens there

	v4, v6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0))}
	conn, err := d.Client.NS.DialContext(ctx, dialer, "udp", svc.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	refused := false
	buf := make([]byte, 64)
	for try := 0; try < 10 && !refused; try++ {
		if _, err := conn.Write([]byte("query")); err != nil {
			refused = errors.Is(err, syscall.ECONNREFUSED)
			if !refused {
				t.Fatalf("write: %v", err)
			}
			break
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := conn.Read(buf)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			refused = true
		case err == nil:
			t.Fatalf("got an answer from %s, where nothing listens", svc)
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, syscall.EAGAIN) && !isTimeout(err):
			t.Fatalf("read: %v", err)
		}
	}
	if !refused {
		x.try("-L", "-n", "--stats")
		x.try("status")
		t.Fatalf("the client's socket to %s was never refused: the real's port unreachable did not come back translated", svc)
	}
	w4, w6, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	if n := (w4 - v4) + (w6 - v6); n != 0 {
		t.Errorf("the balancer's kernel forwarded %d packets: xvs passed the datagram or the ICMP error to it", n)
	}
	m, err := parseStats(x.run("-L", "-n", "--stats"))
	if err != nil {
		t.Fatal(err)
	}
	if s := m["UDP "+svc.String()]; s.inPkts == 0 || s.outPkts == 0 {
		t.Errorf("UDP %s: InPkts %d OutPkts %d: want the datagram in and the translated error out", svc, s.inPkts, s.outPkts)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
