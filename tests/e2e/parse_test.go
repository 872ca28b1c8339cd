package e2e_test

import "testing"

// Outputs of ipvsadm 1.31, the format xvsadm follows.
const (
	sampleList = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.1:443 mh (mh-fallback,mh-port)
  -> 10.1.1.1:443                 Route   1      0          0         
  -> 10.1.1.2:443                 Route   2      3          4         
TCP  [2001:db8::80]:80 rr
  -> [2001:db8::1]:8080           Masq    1      0          0         
TCP  10.0.0.9:80 lc
`
	sampleStats = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  207.175.44.110:80                   4        4        0      240        0
  -> 192.168.10.1:80                     1        1        0       60        0
  -> 192.168.10.3:80                     2        2        0      120        0
TCP  [2001:db8::80]:80                   0        0        0     123K        0
`
)

func TestParseList(t *testing.T) {
	l, err := parseList(sampleList)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.services) != 3 {
		t.Fatalf("got %d services, want 3", len(l.services))
	}
	s := l.service("TCP", "10.0.0.1:443")
	if s == nil || s.sched != "mh" || len(s.dests) != 2 {
		t.Fatalf("TCP 10.0.0.1:443: %+v", s)
	}
	if d := s.dest("10.1.1.2:443"); d == nil || *d != (listedDest{"10.1.1.2:443", "Route", 2, 3, 4}) {
		t.Fatalf("real 10.1.1.2:443: %+v", d)
	}
	if s := l.service("TCP", "[2001:db8::80]:80"); s == nil || s.dest("[2001:db8::1]:8080") == nil {
		t.Fatalf("IPv6 service: %+v", s)
	}
	if s := l.service("TCP", "10.0.0.9:80"); s == nil || len(s.dests) != 0 {
		t.Fatalf("service without reals: %+v", s)
	}
	if _, err := parseList("TCP 1.2.3.4:80 rr\n  -> 5.6.7.8:80 Route x 0 0\n"); err == nil {
		t.Fatal("a bad weight parsed")
	}
}

func TestParseStats(t *testing.T) {
	m, err := parseStats(sampleStats)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]stats{
		"TCP 207.175.44.110:80":                    {4, 4, 0, 240, 0},
		"TCP 207.175.44.110:80 -> 192.168.10.3:80": {2, 2, 0, 120, 0},
		"TCP [2001:db8::80]:80":                    {0, 0, 0, 123000, 0},
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("%s: got %+v (present %v), want %+v", key, got, ok, want)
		}
	}
	if len(m) != 4 {
		t.Errorf("got %d lines, want 4", len(m))
	}
}
