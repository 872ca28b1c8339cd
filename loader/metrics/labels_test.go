package metrics

import (
	"slices"
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// Label values as node_exporter gets them from /proc/net/ip_vs through
// procfs: the kernel prints addresses in hex (IPv6 in full), procfs turns
// them into net.IP, node_exporter prints that.
func TestServiceValues(t *testing.T) {
	for _, c := range []struct {
		name string
		svc  maps.Service
		want []string
	}{
		{"IPv4 TCP", tcp("192.168.0.22:3306"), []string{"192.168.0.22", "3306", "TCP", ""}},
		{"IPv6 compressed", tcp("[2001:0db8:0000:0000:0000:0000:0000:0010]:443"), []string{"2001:db8::10", "443", "TCP", ""}},
		{"IPv6 v4-mapped prints as IPv4", udp("[::ffff:10.0.0.1]:53"), []string{"10.0.0.1", "53", "UDP", ""}},
		{"SCTP as the kernel names it", sctp("10.0.0.1:3868"), []string{"10.0.0.1", "3868", "SCTP", ""}},
		{"fwmark: no address, port 0, %08X mark", fwm(0x10001000, false), []string{"", "0", "FWM", "10001000"}},
		{"fwmark upper-case hex", fwm(0xabc, true), []string{"", "0", "FWM", "00000ABC"}},
		{"largest fwmark", fwm(0xffffffff, false), []string{"", "0", "FWM", "FFFFFFFF"}},
		{"other protocol", maps.Service{Proto: 99, Addr: tcp("10.0.0.1:1").Addr, Port: 1}, []string{"10.0.0.1", "1", "IP_99", ""}},
	} {
		if got := serviceValues(&c.svc); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBackendValuesOrder(t *testing.T) {
	s := tcp("192.168.0.22:3306")
	d := real("[2001:db8::1]:80", 1, 0, 0, maps.Stats{})
	want := []string{"192.168.0.22", "3306", "2001:db8::1", "80", "TCP", ""} // backendLabels' order
	if got := backendValues(&s, &d.Dest); !slices.Equal(got, want) {
		t.Errorf("backendValues = %q, want %q", got, want)
	}
}
