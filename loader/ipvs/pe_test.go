package ipvs

import (
	"bytes"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	cfipvs "github.com/cloudflare/ipvs"

	xmaps "github.com/xvs-lb/xvs/maps"
)

// sipKernelDump is the kernel's answer to GET_SERVICE for
// "-A -u 10.1.0.1:5060 -s rr -p 60 --pe sip" (ip_vs_genl_fill_service;
// little-endian host; the stats, nested, shortened).
var sipKernelDump = []byte{
	0x01, 0x01, 0x00, 0x00, // genl: IPVS_CMD_NEW_SERVICE (the dump's answers), version 1
	0x88, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 136 bytes
	0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF_INET
	0x06, 0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00, // PROTOCOL UDP
	0x14, 0x00, 0x03, 0x00, 10, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR: union nf_inet_addr
	0x06, 0x00, 0x04, 0x00, 0x13, 0xc4, 0x00, 0x00, // PORT 5060
	0x07, 0x00, 0x06, 0x00, 'r', 'r', 0x00, 0x00, // SCHED_NAME "rr"
	0x08, 0x00, 0x0b, 0x00, 's', 'i', 'p', 0x00, // PE_NAME "sip"
	0x0c, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // FLAGS persistent
	0x08, 0x00, 0x08, 0x00, 0x3c, 0x00, 0x00, 0x00, // TIMEOUT 60
	0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK
	0x2c, 0x00, 0x0a, 0x80, // STATS, nested
	0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
}

func sipService() xmaps.Service {
	return xmaps.Service{Proto: 17, Addr: netip.MustParseAddr("10.1.0.1"), Port: 5060, Sched: "rr",
		Flags: uint32(cfipvs.ServicePersistent), Timeout: 60, Netmask: 0xffffffff, PE: "sip"}
}

// TestEncodePE: creates and updates carry the persistence engine; without
// one (which clears it on an update, as ipvsadm -E does), no attribute.
func TestEncodePE(t *testing.T) {
	littleEndian(t)
	s := sipService()
	v := serviceOf(&s)
	peAttr := []byte{0x08, 0x00, 0x0b, 0x00, 's', 'i', 'p', 0x00}
	for _, tc := range []struct {
		op   op
		want bool
	}{
		{op{cmd: cmdNewService, svc: v, pe: "sip"}, true},
		{op{cmd: cmdSetService, svc: v, pe: "sip"}, true},
		{op{cmd: cmdSetService, svc: v}, false},
		{op{cmd: cmdDelService, svc: v, pe: "sip"}, false},
	} {
		b, err := tc.op.appendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(b, peAttr); got != tc.want {
			t.Errorf("command %d, pe %q: PE_NAME sent %v, want %v (% x)", tc.op.cmd, tc.op.pe, got, tc.want, b)
		}
		// The message decodes as the kernel's answer would.
		if k, pe, err := decodeServicePE(b); err != nil || k != keyOf(&v) || (pe == "sip") != tc.want {
			t.Errorf("command %d: decoded %+v %q %v", tc.op.cmd, k, pe, err)
		}
	}
}

func TestDecodeServicePE(t *testing.T) {
	littleEndian(t)
	fwm6 := xmaps.Service{FwMark: 9, Addr: netip.IPv6Unspecified(), Sched: "sh", Flags: 1, Netmask: 64}
	fwm6v := serviceOf(&fwm6)
	plain := tcp("[2001:db8::1]:443")
	plainv := serviceOf(&plain)
	enc := func(v cfipvs.Service, pe string) []byte {
		return appendService([]byte{cmdNewService, genlVersion, 0, 0}, &v, pe)
	}
	tests := []struct {
		name    string
		msg     []byte
		key     svcKey
		pe      string
		wantErr bool
	}{
		{name: "kernel answer, udp sip", msg: sipKernelDump,
			key: svcKey{af: cfipvs.INET, proto: cfipvs.UDP, addr: netip.MustParseAddr("10.1.0.1"), port: 5060}, pe: "sip"},
		{name: "fwmark v6", msg: enc(fwm6v, "sip"), key: svcKey{fwmark: 9, af: cfipvs.INET6}, pe: "sip"},
		{name: "no engine", msg: enc(plainv, ""), key: keyOf(&plainv)},
		{name: "engine without NUL", msg: append([]byte{1, 1, 0, 0, 0x1c, 0, 1, 0}, append(
			[]byte{6, 0, 1, 0, 10, 0, 0, 0, 8, 0, 5, 0, 1, 0, 0, 0}, []byte{7, 0, 11, 0, 'a', 'b', 'c', 0}...)...),
			key: svcKey{fwmark: 1, af: cfipvs.INET6}, pe: "abc"},
		{name: "short", msg: []byte{1, 1}, wantErr: true},
		{name: "no service attribute", msg: []byte{1, 1, 0, 0, 8, 0, 2, 0, 0, 0, 0, 0}, wantErr: true},
		{name: "attribute past the end", msg: []byte{1, 1, 0, 0, 0x40, 0, 1, 0, 0, 0, 0, 0}, wantErr: true},
		{name: "attribute shorter than its header", msg: []byte{1, 1, 0, 0, 2, 0, 1, 0}, wantErr: true},
		{name: "family of 4 bytes", msg: []byte{1, 1, 0, 0, 0x0c, 0, 1, 0, 8, 0, 1, 0, 2, 0, 0, 0}, wantErr: true},
		{name: "v6 with a v4 address", msg: []byte{1, 1, 0, 0, 0x14, 0, 1, 0,
			6, 0, 1, 0, 10, 0, 0, 0, 8, 0, 3, 0, 10, 0, 0, 1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, pe, err := decodeServicePE(tc.msg)
			if tc.wantErr {
				if !errors.Is(err, errBadService) {
					t.Errorf("decode: %+v %q %v, want errBadService", k, pe, err)
				}
				return
			}
			if err != nil || k != tc.key || pe != tc.pe {
				t.Errorf("decode: %+v %q %v, want %+v %q", k, pe, err, tc.key, tc.pe)
			}
		})
	}
}

// FuzzDecodeServicePE: the decoder never panics, fails only with
// errBadService, and what it accepts encodes to a message it decodes the
// same.
func FuzzDecodeServicePE(f *testing.F) {
	f.Add(sipKernelDump)
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0, 0x0c, 0, 1, 0x80, 8, 0, 5, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, pe, err := decodeServicePE(b)
		if err != nil {
			if !errors.Is(err, errBadService) {
				t.Fatalf("error %v is not errBadService", err)
			}
			return
		}
		v := cfipvs.Service{Family: k.af, FWMark: k.fwmark, Protocol: k.proto, Address: k.addr, Port: k.port, Scheduler: "rr"}
		if k.fwmark == 0 && k.af == cfipvs.INET6 {
			v.Address = netip.AddrFrom16(k.addr.As16()) // 16 bytes, as the kernel sends a v6 address
		}
		if k.fwmark == 0 && k.af != cfipvs.INET && k.af != cfipvs.INET6 {
			t.Fatalf("decoded family %d with an address", k.af)
		}
		enc := appendService([]byte{cmdNewService, genlVersion, 0, 0}, &v, pe)
		k2, pe2, err := decodeServicePE(enc)
		if err != nil || k2 != k || pe2 != pe {
			t.Fatalf("decoded %+v %q; re-encoded and decoded: %+v %q %v", k, pe, k2, pe2, err)
		}
	})
}

// peKernel is batchKernel keeping each service's persistence engine, as
// the kernel does from the pipe's messages.
type peKernel struct {
	*fakeKernel
	pes map[svcKey]string
}

func (p *peKernel) do(ops []op) []error {
	errs := make([]error, len(ops))
	for i := range ops {
		o := &ops[i]
		if errs[i] = call(p.fakeKernel, o); errs[i] != nil {
			continue
		}
		k := keyOf(&o.svc)
		switch o.cmd {
		case cmdNewService, cmdSetService:
			delete(p.pes, k)
			if o.pe != "" {
				p.pes[k] = o.pe
			}
		case cmdDelService:
			delete(p.pes, k)
		}
	}
	return errs
}

func (p *peKernel) peNames() (map[svcKey]string, error) { return maps.Clone(p.pes), nil }

// TestMirrorPE: the engine reaches the kernel on create and update (and
// is cleared by an update without one), an unchanged engine sends
// nothing, drift and import see the kernel's.
func TestMirrorPE(t *testing.T) {
	f := newFake()
	pk := &peKernel{fakeKernel: f, pes: map[svcKey]string{}}
	m := New(pk)
	s := sipService()
	v := serviceOf(&s)
	k := keyOf(&v)
	cfg := config(t, func(c *xmaps.Config) error { _, err := c.AddService(s); return err })
	step := func(name string, wantCalls []string, wantPE string) {
		t.Helper()
		f.calls = nil
		if err := m.Apply(cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(f.calls, wantCalls) || pk.pes[k] != wantPE {
			t.Errorf("%s: calls %q, kernel pe %q; want %q, %q", name, f.calls, pk.pes[k], wantCalls, wantPE)
		}
		kc, err := m.Read()
		if err != nil {
			t.Fatal(err)
		}
		if d := Diff(cfg, kc); len(d) != 0 {
			t.Errorf("%s: drift %q", name, d)
		}
	}
	step("create", []string{"create UDP 10.1.0.1:5060 rr"}, "sip")
	step("again", nil, "sip")
	cfg.Services[0].PE = ""
	step("drop the engine", []string{"update UDP 10.1.0.1:5060 rr"}, "")
	cfg.Services[0].PE = "sip"
	step("add it back", []string{"update UDP 10.1.0.1:5060 rr"}, "sip")

	// Behind the mirror's back (ipvsadm -E without --pe): drift, then sync.
	delete(pk.pes, k)
	d, err := m.Drift(cfg)
	want := "UDP 10.1.0.1:5060: settings differ (maps: scheduler rr, flags 0x1, timeout 60, netmask /32, pe sip; kernel: scheduler rr, flags 0x1, timeout 60, netmask /32)"
	if err != nil || !slices.Equal(d, []string{want}) {
		t.Errorf("drift: %q %v, want %q", d, err, want)
	}
	f.calls = nil
	if err := m.Sync(cfg); err != nil || pk.pes[k] != "sip" || !slices.Equal(f.calls, []string{"update UDP 10.1.0.1:5060 rr"}) {
		t.Errorf("sync: %v, calls %q, kernel pe %q", err, f.calls, pk.pes[k])
	}

	// Import: the kernel's engine reaches the configuration.
	kc, err := m.Read()
	if err != nil {
		t.Fatal(err)
	}
	cur := config(t, func(c *xmaps.Config) error { s := sipService(); s.PE = ""; _, err := c.AddService(s); return err })
	next, err := Merge(cur, kc)
	if err != nil || len(next.Services) != 1 || next.Services[0].PE != "sip" {
		t.Errorf("merge: %v, %+v", err, next.Services)
	}
	if !strings.Contains(settings(&v, "sip"), "pe sip") {
		t.Error("settings omit the engine")
	}
}
