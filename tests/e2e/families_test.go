package e2e_test

import (
	"net/netip"
	"testing"

	"github.com/xvs-lb/xvs/tests/topo"
)

// families are the address families the end-to-end tests run over: the
// subtest name and the topology's VIP of that family.
var families = []struct {
	name string
	vip  netip.Addr
}{
	{"IPv4", topo.VIP4},
	{"IPv6", topo.VIP6},
}

// eachFamily runs test once per address family, as parallel subtests.
func eachFamily(t *testing.T, test func(t *testing.T, vip netip.Addr)) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			test(t, f.vip)
		})
	}
}
