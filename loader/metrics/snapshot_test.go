package metrics

import (
	"net/netip"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/maps"
)

// Builders of test snapshots.

func tcp(vip string) maps.Service  { return svcOf(6, vip) }
func udp(vip string) maps.Service  { return svcOf(17, vip) }
func sctp(vip string) maps.Service { return svcOf(132, vip) }

func svcOf(proto uint8, vip string) maps.Service {
	ap := netip.MustParseAddrPort(vip)
	return maps.Service{Proto: proto, Addr: ap.Addr(), Port: ap.Port(), Sched: "wlc"}
}

func fwm(mark uint32, v6 bool) maps.Service {
	a := netip.IPv4Unspecified()
	if v6 {
		a = netip.IPv6Unspecified()
	}
	return maps.Service{Addr: a, FwMark: mark, Sched: "wlc"}
}

// real is a real server with its weight, connection counts and counters.
func real(rip string, weight int32, active, inactive uint32, st maps.Stats) *maps.DestEntry {
	ap := netip.MustParseAddrPort(rip)
	return &maps.DestEntry{Dest: maps.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: weight}, ActiveConns: active, InactConns: inactive, Stats: st}
}

// entry is a service whose counters are its reals' plus folded, what a
// service's counters are in the maps (reals removed earlier left folded).
func entry(s maps.Service, folded maps.Stats, ds ...*maps.DestEntry) *maps.ServiceEntry {
	e := &maps.ServiceEntry{Service: s, Stats: folded, Dests: ds}
	for _, d := range ds {
		addStats(&e.Stats, &d.Stats)
	}
	return e
}

func stats(conns, inPkts, outPkts, inBytes, outBytes uint64) maps.Stats {
	return maps.Stats{Conns: conns, InPkts: inPkts, OutPkts: outPkts, InBytes: inBytes, OutBytes: outBytes}
}

// nodeExporterFixture is node_exporter's own test input
// (collector/fixtures/proc/net/ip_vs and ip_vs_stats) as kernel IPVS
// alone would give it: no XDP service, mirroring off. Its node_ipvs_*
// output must be node_exporter's expected output for it
// (collector/fixtures/ip_vs_result.txt).
func nodeExporterFixture() *Snapshot {
	none := maps.Stats{}
	return &Snapshot{
		Verdicts: map[string]uint64{},
		Kernel: Kernel{
			State: KernelNotMirrored,
			Services: []*maps.ServiceEntry{
				entry(tcp("192.168.0.22:3306"), none,
					real("192.168.82.22:3306", 100, 248, 2, none),
					real("192.168.83.24:3306", 100, 248, 2, none),
					real("192.168.83.21:3306", 100, 248, 1, none)),
				entry(tcp("192.168.0.57:3306"), none,
					real("192.168.84.22:3306", 0, 0, 0, none),
					real("192.168.82.21:3306", 100, 1499, 0, none),
					real("192.168.50.21:3306", 100, 1498, 0, none)),
				entry(tcp("192.168.0.55:3306"), none,
					real("192.168.50.26:3306", 0, 0, 0, none),
					real("192.168.49.32:3306", 100, 0, 0, none)),
				entry(fwm(0x10001000, false), none,
					real("192.168.50.26:3306", 20, 64, 1, none),
					real("192.168.49.32:3306", 100, 321, 5, none)),
			},
			Totals: stats(0x16AA370, 0xE33656E5, 0, 0x51D8C8883AB3, 0),
		},
	}
}

// mixedSnapshot has every case the labels and the accounting distinguish:
// services XDP serves and kernel IPVS mirrors (each counting its own
// packets), a service only the kernel has, fwmark services of both
// families, IPv6 addresses, an IPv4 and a v4-mapped IPv6 service that
// print the same labels (summed), SCTP, a real of weight 0, counters of
// removed services and reals.
func mixedSnapshot() *Snapshot {
	none := maps.Stats{}
	return &Snapshot{
		Services: []*maps.ServiceEntry{
			entry(tcp("198.51.100.10:80"), stats(2, 8, 0, 480, 0),
				real("10.1.0.1:80", 1, 3, 7, stats(100, 1000, 0, 64000, 0)),
				real("10.1.0.2:80", 0, 0, 1, stats(5, 40, 0, 2400, 0))),
			entry(fwm(1, false), none, real("10.1.0.3:0", 2, 0, 0, none)), // XDP passes marks up
			entry(fwm(0xabc, true), none, real("[2001:db8:1::3]:0", 1, 0, 0, none)),
			entry(tcp("[2001:db8::10]:443"), none,
				real("[2001:db8:1::1]:443", 1, 4, 0, stats(40, 400, 0, 36000, 0)),
				real("[2001:db8:1:0:0:0:0:2]:443", 1, 2, 2, stats(30, 300, 0, 27000, 0))),
			entry(udp("198.51.100.20:53"), none, real("10.1.0.4:53", 1, 0, 3, stats(3, 3, 3, 180, 240))),
			entry(udp("[::ffff:198.51.100.20]:53"), none, real("[::ffff:10.1.0.4]:53", 2, 0, 4, stats(4, 4, 4, 240, 320))),
			entry(sctp("198.51.100.30:3868"), none, real("10.1.0.5:3868", 1, 1, 0, stats(1, 20, 0, 2000, 0))),
		},
		Retired:   stats(50, 500, 5, 30000, 300),
		Verdicts:  map[string]uint64{"pass_no_vip": 1234, "pass_fragment": 2, "pass_no_neighbour": 3, "too_big": 1},
		ConnTable: loader.ConnTable{Entries: 42, Capacity: 1 << 20, Expired: 999, Sweeps: 3600},
		Attached: []loader.Attachment{
			{Iface: "eth0", Mode: loader.ModeNative},
			{Iface: "eth1", Mode: loader.ModeGeneric},
			{Iface: "eth2", Mode: loader.ModeIPVS},
		},
		NextHops: []loader.NextHop{
			{Iface: "eth0", Addr: netip.MustParseAddr("10.1.0.1"), State: "reachable"},
			{Iface: "eth0", Addr: netip.MustParseAddr("10.1.0.2"), State: "failed"},
			{Iface: "eth1", Addr: netip.MustParseAddr("fe80::1"), State: "stale"}, // the IPv6 reals' router
		},
		Kernel: Kernel{
			State: KernelMirrored,
			Services: []*maps.ServiceEntry{
				// The mirror of the first service: what XDP passed up.
				entry(tcp("198.51.100.10:80"), none,
					real("10.1.0.1:80", 1, 1, 0, stats(1, 6, 0, 9000, 0)),
					real("10.1.0.2:80", 0, 0, 0, none)),
				// The fwmark service: the kernel matches marks, so it carries it all.
				entry(fwm(1, false), none, real("10.1.0.3:0", 2, 5, 5, stats(20, 200, 0, 12000, 0))),
				// Configured in the kernel by another tool.
				entry(tcp("198.51.100.99:22"), none, real("10.1.0.9:22", 1, 1, 0, stats(7, 70, 0, 4200, 0))),
			},
			Totals:        stats(28, 276, 0, 25200, 0), // its services' sums
			DriftServices: 1,
		},
	}
}
