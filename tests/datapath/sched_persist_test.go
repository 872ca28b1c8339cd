package datapath

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/maps"
)

// persistSvc adds a persistent service with timeout and netmask (IPv4 mask or IPv6 prefix length).
func (f *fixture) persistSvc(proto, vip, sched string, timeout, netmask uint32) *maps.Service {
	f.tb.Helper()
	ap := netip.MustParseAddrPort(vip)
	s := maps.Service{Proto: protoNum(proto), Addr: ap.Addr(), Port: ap.Port(), Sched: sched, Flags: bpf.SvcPersistent, Timeout: timeout, Netmask: netmask}
	if _, err := f.cfg.AddService(s); err != nil {
		f.tb.Fatal(err)
	}
	f.commit()
	return &s
}

// TestPersistence: with -p a client keeps its real across connections (rr
// would otherwise alternate); with -M the clients of one network share it.
func TestPersistence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vip     string
		netmask uint32
		clients []string // each opens three connections (ports 1000, 1001, 1002)
		want    []string // the real of each client
	}{
		{"one client per template", "10.0.0.100:80", 0xffffffff,
			[]string{"10.1.0.5", "10.1.0.6", "10.1.0.5", "10.1.0.7"},
			[]string{"10.0.0.12", "10.0.0.11", "10.0.0.12", "10.0.0.12"}},
		{"netmask /24", "10.0.0.100:80", 0xffffff00,
			[]string{"10.1.0.5", "10.1.0.77", "10.1.1.5", "10.1.0.200"},
			[]string{"10.0.0.12", "10.0.0.12", "10.0.0.11", "10.0.0.12"}},
		{"ipv6 prefix 64", "[fd00::100]:80", 64,
			[]string{"fd01::5", "fd01::1:5", "fd01:0:0:1::5", "fd01::9"},
			[]string{"fd00::12", "fd00::12", "fd00::11", "fd00::12"}},
		{"ipv6 prefix 128", "[fd00::100]:80", 128,
			[]string{"fd01::5", "fd01::6", "fd01::5"},
			[]string{"fd00::12", "fd00::11", "fd00::12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.pinCPU()
			s := f.persistSvc("tcp", tc.vip, "rr", 300, tc.netmask)
			port := netip.MustParseAddrPort(tc.vip).Port()
			for _, r := range []string{"11", "12"} {
				a := "10.0.0." + r
				if netip.MustParseAddrPort(tc.vip).Addr().Is6() {
					a = "fd00::" + r
				}
				f.real(s, netip.AddrPortFrom(netip.MustParseAddr(a), port).String(), bpf.FwdDRoute, 1)
			}
			for i, c := range tc.clients {
				for p := range 3 {
					cl := netip.AddrPortFrom(netip.MustParseAddr(c), uint16(1000+p)).String()
					if got := f.pick(pkt{proto: "tcp", src: cl, dst: tc.vip, flags: "S"}); got != tc.want[i] {
						t.Fatalf("client %s connection %d: %q, want %q", c, p, got, tc.want[i])
					}
				}
			}
		})
	}
}

// TestPersistenceListedAndExpires: templates show in -L -c (port 0, state
// NONE) and in PersistConn; a template outlives its -p timeout while it
// controls connections, then goes, and the client may get another real.
func TestPersistenceListedAndExpires(t *testing.T) {
	f := newFixture(t)
	f.pinCPU()
	f.cfg.Timeouts = maps.Timeouts{TCP: 900, TCPFin: 120, UDP: 2}
	f.commit()
	s := f.persistSvc("udp", "10.0.0.100:53", "rr", 1, 0xffffffff)
	f.real(s, "10.0.0.11:53", bpf.FwdDRoute, 1)
	f.real(s, "10.0.0.12:53", bpf.FwdDRoute, 1)
	q := func(port int) string {
		return f.pick(pkt{proto: "udp", src: fmt.Sprintf("10.1.0.5:%d", port), dst: "10.0.0.100:53", payload: []byte("q")})
	}
	if a, b := q(1000), q(1001); a != "10.0.0.12" || b != a {
		t.Fatalf("connections went to %s and %s, want 10.0.0.12 twice", a, b)
	}
	conns, err := f.store.Conns()
	if err != nil {
		t.Fatal(err)
	}
	var tmpl *maps.Conn
	for i := range conns {
		if conns[i].Client.Port() == 0 {
			tmpl = &conns[i]
		}
	}
	if len(conns) != 3 || tmpl == nil || tmpl.State != "NONE" || tmpl.Client.Addr().String() != "10.1.0.5" || tmpl.Dest.String() != "10.0.0.12:53" {
		t.Fatalf("entries %+v: want two UDP entries and one template 10.1.0.5:0 -> 10.0.0.12:53 NONE", conns)
	}
	cfg, err := f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cfg.Service(s).Dests {
		want := uint32(0)
		if d.Addr.String() == "10.0.0.12" {
			want = 1
		}
		if d.PersistConns != want {
			t.Fatalf("%s PersistConn %d, want %d", d.Addr, d.PersistConns, want)
		}
	}
	// The UDP entries expire after 2 s; the template (1 s) only after them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := 0
		var k bpf.ConnKey
		var v bpf.Conn
		for it := f.objs.XvsConns.Iterate(); it.Next(&k, &v); {
			if v.Flags&bpf.ConnTemplate == 0 {
				left++
			}
		}
		tmplLeft := 0
		for it := f.objs.XvsConns.Iterate(); it.Next(&k, &v); {
			if v.Flags&bpf.ConnTemplate != 0 {
				tmplLeft++
				if left == 0 && v.Pad != 0 {
					t.Fatalf("template still controls %d connections after they expired", v.Pad)
				}
			}
		}
		if left > 0 && tmplLeft == 0 {
			t.Fatal("the template went before the connections it controls")
		}
		if left == 0 && tmplLeft == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the deadline: %d entries, %d templates", left, tmplLeft)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cfg, err = f.store.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cfg.Service(s).Dests {
		if d.PersistConns+d.ActiveConns+d.InactConns != 0 {
			t.Fatalf("%s counts %d/%d/%d after expiry", d.Addr, d.PersistConns, d.ActiveConns, d.InactConns)
		}
	}
	// A new template: rr moves on from 10.0.0.12.
	if got := q(2000); got != "10.0.0.11" {
		t.Fatalf("after expiry: %s, want 10.0.0.11", got)
	}
}
