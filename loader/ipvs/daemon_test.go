package ipvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// littleEndian skips tests whose byte layouts spell integers in a
// little-endian host's order (netlink integers are in host order).
func littleEndian(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("byte layouts are written for a little-endian host")
	}
}

// The layouts follow the kernel's ip_vs_daemon_policy (ip_vs_ctl.c) and what
// ipvsadm 1.31's libipvs sends: a 4-byte attribute header (length, type),
// data, padding to 4 bytes. The nest carries NLA_F_NESTED as libnl 3.7's
// nla_nest_start sets it (the kernel accepts it with or without).
func TestEncodeDaemon(t *testing.T) {
	littleEndian(t)
	tests := []struct {
		name string
		stop bool
		d    Daemon
		want []byte
	}{
		{
			name: "start master, kernel defaults",
			d:    Daemon{State: DaemonMaster, McastIfn: "eth0", SyncID: 7},
			want: []byte{
				0x20, 0x00, 0x03, 0x80, // IPVS_CMD_ATTR_DAEMON, NLA_F_NESTED, 32 bytes
				0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // STATE u32 1 (master)
				0x09, 0x00, 0x02, 0x00, 'e', 't', 'h', '0', 0x00, 0x00, 0x00, 0x00, // MCAST_IFN "eth0\0", 3 padding
				0x08, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, // SYNC_ID u32 7
			},
		},
		{
			name: "start backup, every option, IPv4 group",
			d: Daemon{State: DaemonBackup, McastIfn: "t0", SyncID: 5, SyncMaxlen: 1000,
				McastGroup: netip.MustParseAddr("239.1.2.3"), McastPort: 9000, McastTTL: 3},
			want: []byte{
				0x3c, 0x00, 0x03, 0x80, // IPVS_CMD_ATTR_DAEMON, NLA_F_NESTED, 60 bytes
				0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // STATE u32 2 (backup)
				0x07, 0x00, 0x02, 0x00, 't', '0', 0x00, 0x00, // MCAST_IFN "t0\0", 1 padding
				0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00, // SYNC_ID u32 5
				0x06, 0x00, 0x04, 0x00, 0xe8, 0x03, 0x00, 0x00, // SYNC_MAXLEN u16 1000, 2 padding
				0x06, 0x00, 0x07, 0x00, 0x28, 0x23, 0x00, 0x00, // MCAST_PORT u16 9000 (host order), 2 padding
				0x05, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, // MCAST_TTL u8 3, 3 padding
				0x08, 0x00, 0x05, 0x00, 239, 1, 2, 3, // MCAST_GROUP u32, network order
			},
		},
		{
			name: "start master, IPv6 group",
			d:    Daemon{State: DaemonMaster, McastIfn: "lo", SyncID: 0, McastGroup: netip.MustParseAddr("ff02::81")},
			want: []byte{
				0x30, 0x00, 0x03, 0x80, // IPVS_CMD_ATTR_DAEMON, NLA_F_NESTED, 48 bytes
				0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // STATE u32 1
				0x07, 0x00, 0x02, 0x00, 'l', 'o', 0x00, 0x00, // MCAST_IFN "lo\0"
				0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // SYNC_ID u32 0 (always sent)
				0x14, 0x00, 0x06, 0x00, // MCAST_GROUP6, 16 bytes
				0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81,
			},
		},
		{
			name: "stop: state, interface and sync ID only",
			stop: true,
			d:    Daemon{State: DaemonBackup, SyncID: 1, McastPort: 9000},
			want: []byte{
				0x1c, 0x00, 0x03, 0x80, // IPVS_CMD_ATTR_DAEMON, NLA_F_NESTED, 28 bytes
				0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // STATE u32 2
				0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // MCAST_IFN "" (just the NUL)
				0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, // SYNC_ID u32 1
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encodeStartDaemon
			if tt.stop {
				enc = encodeStopDaemon
			}
			got, err := enc(&tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("encoded\n% x\nwant\n% x", got, tt.want)
			}
		})
	}
}

// kernelDump is a daemon as ip_vs_genl_fill_daemon writes it: the nest
// without NLA_F_NESTED, every setting, the group last.
var kernelDump = []byte{
	0x40, 0x00, 0x03, 0x00, // IPVS_CMD_ATTR_DAEMON, 64 bytes
	0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, // STATE 1
	0x09, 0x00, 0x02, 0x00, 'e', 't', 'h', '0', 0x00, 0x00, 0x00, 0x00, // MCAST_IFN "eth0\0"
	0x08, 0x00, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, // SYNC_ID 7
	0x06, 0x00, 0x04, 0x00, 0xc0, 0x05, 0x00, 0x00, // SYNC_MAXLEN 1472
	0x06, 0x00, 0x07, 0x00, 0x90, 0x22, 0x00, 0x00, // MCAST_PORT 8848
	0x05, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, // MCAST_TTL 1
	0x08, 0x00, 0x05, 0x00, 224, 0, 0, 81, // MCAST_GROUP 224.0.0.81
}

func TestDecodeDaemon(t *testing.T) {
	littleEndian(t)
	head := []byte{0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // STATE 2
		0x07, 0x00, 0x02, 0x00, 't', '0', 0x00, 0x00, // MCAST_IFN "t0\0"
		0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00} // SYNC_ID 5
	nest := func(attrs ...[]byte) []byte {
		b := bytes.Join(attrs, nil)
		return append([]byte{byte(4 + len(b)), 0x00, 0x03, 0x00}, b...)
	}
	tests := []struct {
		name string
		in   []byte
		want Daemon
		bad  bool
	}{
		{name: "kernel dump", in: kernelDump, want: Daemon{State: DaemonMaster, McastIfn: "eth0", SyncID: 7,
			SyncMaxlen: 1472, McastGroup: netip.MustParseAddr("224.0.0.81"), McastPort: 8848, McastTTL: 1}},
		{name: "nest with NLA_F_NESTED", in: func() []byte { b := nest(head); b[3] = 0x80; return b }(),
			want: Daemon{State: DaemonBackup, McastIfn: "t0", SyncID: 5}},
		{name: "IPv6 group", in: nest(head, []byte{0x14, 0x00, 0x06, 0x00, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81}),
			want: Daemon{State: DaemonBackup, McastIfn: "t0", SyncID: 5, McastGroup: netip.MustParseAddr("ff05::81")}},
		{name: "IPv4 group wins over IPv6", in: nest(head,
			[]byte{0x14, 0x00, 0x06, 0x00, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81},
			[]byte{0x08, 0x00, 0x05, 0x00, 239, 0, 0, 1}),
			want: Daemon{State: DaemonBackup, McastIfn: "t0", SyncID: 5, McastGroup: netip.MustParseAddr("239.0.0.1")}},
		{name: "interface name ends at the first NUL", in: nest(
			[]byte{0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00},
			[]byte{0x0a, 0x00, 0x02, 0x00, 'a', 'b', 0x00, 'c', 'd', 0x00, 0x00, 0x00},
			[]byte{0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00}),
			want: Daemon{State: DaemonMaster, McastIfn: "ab"}},
		{name: "unknown attributes skipped", in: append(nest(head, []byte{0x08, 0x00, 0x09, 0x00, 1, 2, 3, 4}), 0x04, 0x00, 0x07, 0x00),
			want: Daemon{State: DaemonBackup, McastIfn: "t0", SyncID: 5}},
		{name: "no sync ID", in: nest(head[:16]), bad: true},
		{name: "no daemon attribute", in: []byte{0x08, 0x00, 0x04, 0x00, 1, 0, 0, 0}, bad: true},
		{name: "empty", in: nil, bad: true},
		{name: "truncated header", in: []byte{0x08, 0x00}, bad: true},
		{name: "state of 2 bytes", in: nest([]byte{0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00}, head[8:]), bad: true},
		{name: "IPv4 group of 16 bytes", in: nest(head, []byte{0x14, 0x00, 0x05, 0x00, 0xff, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81}), bad: true},
		{name: "IPv6 group of 4 bytes", in: nest(head, []byte{0x08, 0x00, 0x06, 0x00, 239, 0, 0, 1}), bad: true},
		{name: "ttl of 2 bytes", in: nest(head, []byte{0x06, 0x00, 0x08, 0x00, 1, 0, 0, 0}), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeDaemon(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadDaemonMessage) {
					t.Fatalf("decoded %+v, %v; want ErrBadDaemonMessage", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDaemonRoundTrip: what the encoder sends, the decoder reads back.
func TestDaemonRoundTrip(t *testing.T) {
	for _, d := range []Daemon{
		{State: DaemonMaster, McastIfn: "eth0", SyncID: 255},
		{State: DaemonBackup, McastIfn: "abcdefghijklmno", SyncID: 1, SyncMaxlen: 65487, McastGroup: netip.MustParseAddr("ff02::1:2"), McastPort: 65535, McastTTL: 255},
		{State: DaemonMaster, McastIfn: "x", McastGroup: netip.MustParseAddr("224.0.0.81")},
	} {
		b, err := encodeStartDaemon(&d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeDaemon(b)
		if err != nil || got != d {
			t.Errorf("round trip of %+v: %+v, %v", d, got, err)
		}
	}
}

// FuzzDecodeDaemon: the decoder never panics, and what it accepts encodes
// to bytes it decodes to the same daemon.
func FuzzDecodeDaemon(f *testing.F) {
	f.Add(kernelDump)
	f.Add([]byte{})
	f.Add([]byte{0x04, 0x00, 0x03, 0x80})
	for _, d := range []Daemon{
		{State: DaemonBackup, McastIfn: "t0", SyncID: 5, McastGroup: netip.MustParseAddr("ff05::81"), McastTTL: 9},
		{State: 7, McastIfn: "", SyncID: 1 << 31, SyncMaxlen: 1, McastPort: 1},
	} {
		b, _ := encodeStartDaemon(&d)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDaemon(b)
		if err != nil {
			if !errors.Is(err, ErrBadDaemonMessage) {
				t.Fatalf("error %v is not ErrBadDaemonMessage", err)
			}
			return
		}
		enc, err := encodeStartDaemon(&d)
		if err != nil {
			t.Fatalf("encode %+v: %v", d, err)
		}
		again, err := decodeDaemon(enc)
		if err != nil || again != d {
			t.Fatalf("decoded %+v; re-encoded and decoded: %+v, %v", d, again, err)
		}
	})
}
