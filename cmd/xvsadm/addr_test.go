package main

import (
	"net/netip"
	"testing"
)

func TestParseService(t *testing.T) {
	ns := newTestNames(t)
	tests := []struct {
		in     string
		proto  uint8
		result int
		af     int
		addr   string
		port   uint16
	}{
		{"207.175.44.110:80", protoTCP, serviceAddr | servicePort, afInet, "207.175.44.110", 80},
		{"192.168.10.1", protoTCP, serviceAddr, afInet, "192.168.10.1", 0},
		{"1.2.3.4:0", protoTCP, serviceAddr | servicePort, afInet, "1.2.3.4", 0},
		{"1.2.3.4:65535", protoTCP, serviceAddr | servicePort, afInet, "1.2.3.4", 65535},
		{"1.2.3.4:+80", protoTCP, serviceAddr | servicePort, afInet, "1.2.3.4", 80},
		{"[2001:db8::80]:80", protoTCP, serviceAddr | servicePort, afInet6, "2001:db8::80", 80},
		{"2001:db8::3", protoTCP, serviceAddr, afInet6, "2001:db8::3", 0},
		{"::ffff:1.2.3.4", protoTCP, serviceAddr, afInet6, "::ffff:1.2.3.4", 0},
		// inet_aton's short and based forms.
		{"1.2.3:80", protoTCP, serviceAddr | servicePort, afInet, "1.2.0.3", 80},
		{"10.1:80", protoTCP, serviceAddr | servicePort, afInet, "10.0.0.1", 80},
		{"0x7f.1:80", protoTCP, serviceAddr | servicePort, afInet, "127.0.0.1", 80},
		{"010.0.0.1:80", protoTCP, serviceAddr | servicePort, afInet, "8.0.0.1", 80},
		// Names, for the service's protocol.
		{"localhost:http", protoTCP, serviceAddr | servicePort, afInet, "127.0.0.1", 80},
		{"1.2.3.4:domain", protoUDP, serviceAddr | servicePort, afInet, "1.2.3.4", 53},
		{"1.2.3.4:www", protoTCP, serviceAddr | servicePort, afInet, "1.2.3.4", 80},
		{"1.2.3.4:sip", protoSCTP, serviceNone, 0, "", 0},
		// A bracketed IPv4 address: ipvsadm forgets the port.
		{"[1.2.3.4]:80", protoTCP, serviceAddr, afInet, "1.2.3.4", 0},
		// Failures.
		{"[2001:db8::3]", protoTCP, serviceNone, 0, "", 0},
		{"[2001:db8::3", protoTCP, serviceNone, 0, "", 0},
		{"1.2.3.4:99999", protoTCP, serviceNone, afInet, "1.2.3.4", 0},
		{"1.2.3.4:", protoTCP, serviceNone, afInet, "1.2.3.4", 0},
		{"1.2.3.4:-1", protoTCP, serviceNone, afInet, "1.2.3.4", 0},
		{"not_an_addr:80", protoTCP, serviceNone, 0, "", 0},
		{"fe80::1%eth0", protoTCP, serviceNone, 0, "", 0},
		{"80", protoTCP, serviceNone, 0, "", 0},
		{"", protoTCP, serviceNone, 0, "", 0},
		{"1.2.3.256", protoTCP, serviceNone, 0, "", 0},
		{"256.1.1.1", protoTCP, serviceNone, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			svc := svcEntry{proto: tt.proto, netmask: 0xffffffff}
			got := parseService(tt.in, &svc, ns)
			if got != tt.result {
				t.Fatalf("parseService(%q) = %d, want %d", tt.in, got, tt.result)
			}
			if got == serviceNone {
				return
			}
			if svc.af != tt.af || svc.addr != netip.MustParseAddr(tt.addr) || svc.port != tt.port {
				t.Errorf("parseService(%q): af %d addr %s port %d, want af %d addr %s port %d",
					tt.in, svc.af, svc.addr, svc.port, tt.af, tt.addr, tt.port)
			}
			wantMask := uint32(0xffffffff)
			if tt.af == afInet6 {
				wantMask = 128
			}
			if svc.netmask != wantMask {
				t.Errorf("parseService(%q): netmask %#x, want %#x", tt.in, svc.netmask, wantMask)
			}
		})
	}
}

func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"255.255.255.0", 0xffffff00, true},
		{"1.2.3.4", 0x01020304, true},
		{"1.2.3", 0x01020003, true},
		{"1.2", 0x01000002, true},
		{"16909060", 0x01020304, true},
		{"0x01020304", 0x01020304, true},
		{"0377.0.0.1", 0xff000001, true},
		{"1.2.3.4 trailing", 0x01020304, true},
		{"1.2.65535", 0x0102ffff, true},
		{"1.2.65536", 0, false},
		{"1.16777215", 0x01ffffff, true},
		{"4294967295", 0xffffffff, true},
		{"4294967296", 0, false},
		{"1.2.3.4.5", 0, false},
		{"256.0.0.0", 0, false},
		{"08", 0, false},
		{"0x", 0, false},
		{"1.", 0, false},
		{".1", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"1.2.3.4x", 0, false},
	}
	for _, tt := range tests {
		got, ok := inetAton(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("inetAton(%q) = %#x, %v; want %#x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseNetmask(t *testing.T) {
	ns := newTestNames(t)
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"255.255.255.0", 0xffffff00, true},
		{"255.0.255.0", 0xff00ff00, true},
		{"255.255.255.255", 0xffffffff, true},
		{"24", 24, true}, // inet_aton: the address 0.0.0.24, not a prefix
		{"localhost", 0x7f000001, true},
		{"bogus", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNetmask(tt.in, ns)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseNetmask(%q) = %#x, %v; want %#x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIPv6Netmask(t *testing.T) {
	// -M after an IPv6 service is a prefix length (atoi); before it the
	// service's address resets it to 128.
	e := newTestEnv(t)
	for _, tt := range []struct {
		line, save string
		rc         int
		err        string
	}{
		{"-A -u [2001:db8::53]:53 -p 120 -M 64", "-A -u [2001:db8::53]:53 -s wlc -p 120 -M 64\n", 0, ""},
		{"-E -u [2001:db8::53]:53 -p 120 -M 64abc", "-A -u [2001:db8::53]:53 -s wlc -p 120 -M 64\n", 0, ""},
		{"-E -u [2001:db8::53]:53 -M 48 -p 120", "-A -u [2001:db8::53]:53 -s wlc -p 120 -M 48\n", 0, ""},
		{"-E -M 64 -u [2001:db8::53]:53 -p 120", "-A -u [2001:db8::53]:53 -s wlc -p 120\n", 0, ""},
		{"-E -u [2001:db8::53]:53 -p 120 -M 129", "", 2, "illegal ipv6 netmask specified\n"},
		{"-E -u [2001:db8::53]:53 -p 120 -M 0", "", 2, "illegal ipv6 netmask specified\n"},
		{"-E -u [2001:db8::53]:53 -p 120 -M x", "", 2, "illegal ipv6 netmask specified\n"},
	} {
		_, errs, rc := e.runLine("", tt.line)
		if rc != tt.rc || errs != tt.err {
			t.Errorf("%s: rc %d stderr %q, want %d %q", tt.line, rc, errs, tt.rc, tt.err)
		}
		if tt.save == "" {
			continue
		}
		if out, _, _ := e.runLine("", "-S -n"); out != tt.save {
			t.Errorf("%s: saved %q, want %q", tt.line, out, tt.save)
		}
	}
}

func TestStringToNumber(t *testing.T) {
	tests := []struct {
		in       string
		min, max int64
		want     int64
	}{
		{"5", 0, 10, 5},
		{" 5", 0, 10, 5},
		{"+5", 0, 10, 5},
		{"-0", 0, 10, 0},
		{"5 ", 0, 10, -1},
		{"11", 0, 10, -1},
		{"-1", 0, 10, -1},
		{"", 0, 10, -1},
		{"0x5", 0, 10, -1},
		{"99999999999999999999", 0, intMax, -1},
		{"2147483647", 0, intMax, intMax},
		{"2147483648", 0, intMax, -1},
	}
	for _, tt := range tests {
		if got := stringToNumber(tt.in, tt.min, tt.max); got != tt.want {
			t.Errorf("stringToNumber(%q, %d, %d) = %d, want %d", tt.in, tt.min, tt.max, got, tt.want)
		}
	}
}

func TestParseFwmark(t *testing.T) {
	for in, want := range map[string]uint32{"1": 1, "4294967295": 4294967295, "0": 0, "-1": 0, "4294967296": 0, "1x": 0, "": 0, " 7": 7} {
		got, err := parseFwmark(in)
		if (err == nil) != (want != 0) || got != want {
			t.Errorf("parseFwmark(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestInetNtop(t *testing.T) {
	tests := map[string]string{
		"1.2.3.4":                  "1.2.3.4",
		"::":                       "::",
		"::1":                      "::1",
		"2001:db8::80":             "2001:db8::80",
		"fe80::1":                  "fe80::1",
		"::ffff:1.2.3.4":           "::ffff:1.2.3.4",
		"::2.3.4.5":                "::2.3.4.5",
		"1:0:0:1:0:0:0:1":          "1:0:0:1::1",
		"1:0:1:0:1:0:1:0":          "1:0:1:0:1:0:1:0",
		"2001:db8:0:0:1:0:0:1":     "2001:db8::1:0:0:1",
		"2001:db8::":               "2001:db8::",
		"ff02::1":                  "ff02::1",
		"1:2:3:4:5:6:7:8":          "1:2:3:4:5:6:7:8",
		"0:0:0:0:0:ffff:0:1":       "::ffff:0.0.0.1",
		"0:0:0:0:0:fffe:102:304":   "::fffe:102:304",
		"abcd:ef01:0:0:0:0:0:abcd": "abcd:ef01::abcd",
	}
	for in, want := range tests {
		if got := inetNtop(netip.MustParseAddr(in)); got != want {
			t.Errorf("inetNtop(%s) = %s, want %s", in, got, want)
		}
	}
}
