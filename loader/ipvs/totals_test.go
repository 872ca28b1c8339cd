package ipvs

import (
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// The kernel's ip_vs_stats layout (ip_vs_stats_show): headings, hex totals,
// a blank line, then the rate estimates.
func TestParseTotals(t *testing.T) {
	good := "   Total Incoming Outgoing         Incoming         Outgoing\n" +
		"   Conns  Packets  Packets            Bytes            Bytes\n" +
		"     3E8     2710       1F     51D8C8883AB3                0\n" +
		"\n" +
		" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n" +
		"       4    1FB3C        0          1282A8F                0\n"
	for _, c := range []struct {
		name, in string
		want     maps.Stats
		err      bool
	}{
		{"kernel layout", good, maps.Stats{Conns: 1000, InPkts: 10000, OutPkts: 31, InBytes: 0x51D8C8883AB3}, false},
		{"truncated", "   Total Incoming\n   Conns\n", maps.Stats{}, true},
		{"four totals", "a\nb\n 1 2 3 4\n\n", maps.Stats{}, true},
		{"not hex", "a\nb\n 1 2 3 4 XYZ\n\n", maps.Stats{}, true},
	} {
		got, err := parseTotals([]byte(c.in))
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: parseTotals = %+v, %v; want %+v, error %v", c.name, got, err, c.want, c.err)
		}
	}
}
