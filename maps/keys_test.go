package maps

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/xvs-lb/xvs/bpf"
)

// rawBytes returns the memory of v as the kernel sees it.
func rawBytes[T any](v *T) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)) }

func TestSvcKeyBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  Service
		want []byte
	}{
		{"tcp v4", Service{Proto: 6, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}, []byte{
			10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // addr: IPv4 in the first 4 bytes
			0x00, 0x50, // port 80, network order
			6, // TCP
			4, // XVS_AF_INET
		}},
		{"udp v6", Service{Proto: 17, Addr: netip.MustParseAddr("2001:db8::1"), Port: 0x1234}, []byte{
			0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
			0x12, 0x34,
			17,
			6,
		}},
		// Kernel IPVS keeps the IPv6 service [::ffff:a.b.c.d] apart from the IPv4 a.b.c.d.
		{"v4-mapped is v6", Service{Proto: 6, Addr: netip.MustParseAddr("::ffff:192.0.2.7"), Port: 443}, []byte{
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7,
			0x01, 0xbb,
			6,
			6,
		}},
		{"fwmark", Service{FwMark: 0x01020304, Addr: netip.IPv4Unspecified()}, []byte{
			1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0,
			0,
			4,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := SvcKey(&tc.svc)
			if got := rawBytes(&k); string(got) != string(tc.want) {
				t.Fatalf("got % x\nwant % x", got, tc.want)
			}
		})
	}
}

func TestConnKeyBytes(t *testing.T) {
	k := ConnKey(6, netip.MustParseAddrPort("10.1.2.3:40000"), netip.MustParseAddrPort("10.0.0.1:80"))
	want := []byte{
		10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // saddr
		10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // daddr
		0x9c, 0x40, // sport 40000
		0x00, 0x50, // dport 80
		6, 4, 0, 0, // proto, af, pad
	}
	if got := rawBytes(&k); string(got) != string(want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
	if s := ConnKeyString(&k); s != "6 10.1.2.3:40000 -> 10.0.0.1:80" {
		t.Fatalf("String: %q", s)
	}
}

// The generated Go types must match the C layout the datapath uses.
func TestTypeSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"xvs_svc_key", unsafe.Sizeof(bpf.SvcKey{}), 20},
		{"xvs_svc", unsafe.Sizeof(bpf.Svc{}), 60},
		{"xvs_real", unsafe.Sizeof(bpf.Real{}), 60},
		{"xvs_conn_key", unsafe.Sizeof(bpf.ConnKey{}), 40},
		{"xvs_conn", unsafe.Sizeof(bpf.Conn{}), 24},
		{"xvs_stats", unsafe.Sizeof(bpf.Stats{}), 40},
		{"xvs_cfg", unsafe.Sizeof(bpf.Cfg{}), 24},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: Go size %d, C size %d", tc.name, tc.got, tc.want)
		}
	}
	spec, err := bpf.LoadXvs()
	if err != nil {
		t.Fatal(err)
	}
	// xvs_svcs holds its table as slot 0 (maps.h): the key and value are the inner map's.
	if in := spec.Maps["xvs_svcs"].InnerMap; in == nil || in.KeySize != 20 || in.ValueSize != 60 {
		t.Errorf("map xvs_svcs: inner table %+v, want key 20 value 60", in)
	}
	for name, kv := range map[string][2]uintptr{
		"xvs_reals":     {4, 60},
		"xvs_conns":     {40, 24},
		"xvs_svc_stats": {4, 40},
		"xvs_config":    {4, 24},
	} {
		m := spec.Maps[name]
		if uintptr(m.KeySize) != kv[0] || uintptr(m.ValueSize) != kv[1] {
			t.Errorf("map %s: key %d value %d, want %d %d", name, m.KeySize, m.ValueSize, kv[0], kv[1])
		}
	}
}
