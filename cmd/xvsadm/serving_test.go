package main

import (
	"slices"
	"testing"

	"github.com/xvs-lb/xvs/loader"
)

// serving: what status says serves the traffic.
func TestServing(t *testing.T) {
	native := loader.Attachment{Iface: "eth0", Mode: loader.ModeNative}
	ipvsOnly := loader.Attachment{Iface: "eth1", Mode: loader.ModeIPVS}
	for _, c := range []struct {
		name   string
		att    []loader.Attachment
		noIPVS bool
		want   []string
	}{
		{"nothing attached, IPVS present", nil, false, []string{"kernel IPVS alone: no XDP attached"}},
		{"nothing attached, no IPVS", nil, true, []string{"nothing: no XDP attached and no kernel IPVS"}},
		{"native XDP", []loader.Attachment{native}, false, []string{"XDP (native) on eth0; kernel IPVS takes what it passes"}},
		{"native XDP, no IPVS", []loader.Attachment{native}, true, []string{"XDP (native) on eth0"}},
		{"fallback ipvs", []loader.Attachment{native, ipvsOnly}, false, []string{
			"XDP (native) on eth0; kernel IPVS takes what it passes",
			"kernel IPVS alone on eth1 (native XDP failed; attach --fallback ipvs)"}},
		{"fallback ipvs without IPVS", []loader.Attachment{ipvsOnly}, true, []string{"nothing on eth1: native XDP failed, fallback kernel IPVS is absent"}},
	} {
		if got := serving(c.att, c.noIPVS); !slices.Equal(got, c.want) {
			t.Errorf("%s: serving = %q, want %q", c.name, got, c.want)
		}
	}
}
