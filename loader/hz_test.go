package loader

import (
	"strings"
	"testing"
)

func TestParseConfigHZ(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     uint32
		ok       bool
	}{
		{"debian", "CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_SCHED_HRTICK=y\n", 250, true},
		{"1000", "# CONFIG_HZ_250 is not set\nCONFIG_HZ=1000\n", 1000, true},
		{"missing", "CONFIG_HZ_250=y\n", 0, false},
		{"zero", "CONFIG_HZ=0\n", 0, false},
		{"garbage", "CONFIG_HZ=y\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfigHZ(strings.NewReader(tc.in))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("got %d, %v; want %d (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}
