package topo

import "testing"

func TestSNMPField(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL ForwDatagrams\nIp: 1 64 7\n" +
		"Tcp: RtoAlgorithm ActiveOpens PassiveOpens InSegs\nTcp: 1 2 3 44\n"
	for _, c := range []struct {
		section, field string
		want           uint64
		err            bool
	}{
		{"Ip:", "ForwDatagrams", 7, false},
		{"Tcp:", "PassiveOpens", 3, false},
		{"Tcp:", "InSegs", 44, false},
		{"Tcp:", "OutSegs", 0, true},
		{"Udp:", "InDatagrams", 0, true},
	} {
		got, err := snmpField(snmp, c.section, c.field)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s %s: %d, %v; want %d, error %v", c.section, c.field, got, err, c.want, c.err)
		}
	}
}
