package vm

import (
	"context"
	"net/netip"
	"testing"

	"github.com/xvs-lb/xvs/tests/topo"
)

// drBox builds tests/topo's direct-routing segment with its reals'
// neighbours resolved, puts the IPv4 VIP on the balancer's lo too (kernel
// IPVS serves from LOCAL_IN what XDP passes up, or all of it when no XDP
// is attached) and returns it with a box for xvsadm and ipvsadm on the
// balancer, with its own state directory.
func drBox(ctx context.Context, t *testing.T, opt topo.DROptions) (*topo.DR, *box) {
	t.Helper()
	d, err := topo.NewDR(t, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddAddr(d.LB.NS, "lo", netip.PrefixFrom(topo.VIP4, 32)); err != nil {
		t.Fatal(err)
	}
	state, err := topo.StateDir(t, "xvs-vm-")
	if err != nil {
		t.Fatal(err)
	}
	return d, &box{t: t, ns: d.LB.NS, state: state}
}
