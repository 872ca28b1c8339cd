package maps

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/xvs-lb/xvs/bpf"
)

// The tables the datapath's schedulers read (bpf/sched_list.h,
// bpf/sched_hash.h), one per service in xvs_mh, built here the way kernel
// IPVS builds its scheduler state.

const (
	// HashTabSize is the bucket count of sh and dh (IP_VS_SH_TAB_SIZE, IP_VS_DH_TAB_SIZE).
	HashTabSize = 256
	// listHdr is the header of a list table: n, version, wrr's gcd, wrr's max weight.
	listHdr = 4
	// SchedMaxReals is the most reals a list-scheduled service (rr, wrr,
	// lc, wlc, sed, nq, fo, ovf, lblc, lblcr) may have in the datapath (XVS_SCHED_MAX_REALS,
	// and no more than the table size minus the header). A service with more
	// gets no table: the datapath passes its packets to the kernel.
	SchedMaxReals = 1024
)

// DatapathScheds are the schedulers the datapath runs.
var DatapathScheds = []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "sh", "dh", "mh"}

// hasTable says whether the datapath schedules sched from a table in xvs_mh.
func hasTable(sched string) bool { return slices.Contains(DatapathScheds, sched) }

// listOrder returns e's reals in IPVS's list order: newest first (ip_vs_add_dest adds at the head).
func listOrder(e *ServiceEntry) []*DestEntry {
	ds := slices.Clone(e.Dests) // oldest first
	slices.Reverse(ds)
	return ds
}

// tableOf builds e's table for a table of size slots, or returns nil when e
// has more reals than a list table holds.
func tableOf(af uint8, e *ServiceEntry, size int) []uint32 {
	switch e.Sched {
	case "mh":
		return MaglevTableAF(af, mhDests(e), size)
	case "sh":
		return pad(ShTable(listOrder(e)), size)
	case "dh":
		return pad(DhTable(listOrder(e)), size)
	}
	return ListTable(listOrder(e), size)
}

func pad(t []uint32, size int) []uint32 {
	out := make([]uint32, max(size, len(t)))
	copy(out, t)
	return out[:size]
}

// ShTable is ip_vs_sh_reassign: buckets filled in list order, each real
// taking as many consecutive buckets as its weight (at least one).
func ShTable(ds []*DestEntry) []uint32 {
	t := make([]uint32, HashTabSize)
	if len(ds) == 0 {
		return t
	}
	p, count := 0, 0
	for i := range t {
		d := ds[p]
		t[i] = d.ID
		count++
		if count >= int(d.Weight) {
			p = (p + 1) % len(ds)
			count = 0
		}
	}
	return t
}

// DhTable is ip_vs_dh_reassign: the reals in list order, round and round.
func DhTable(ds []*DestEntry) []uint32 {
	t := make([]uint32, HashTabSize)
	for i := range t {
		if len(ds) > 0 {
			t[i] = ds[i%len(ds)].ID
		}
	}
	return t
}

// ListTable is a list scheduler's table: header, then the real ids in list
// order. wrr's gcd and max weight are ip_vs_wrr_gcd_weight and
// ip_vs_wrr_max_weight - (gcd - 1). It returns nil past SchedMaxReals.
func ListTable(ds []*DestEntry, size int) []uint32 {
	if len(ds) > SchedMaxReals || len(ds)+listHdr > size {
		return nil
	}
	t := make([]uint32, size)
	g, mw := int32(0), int32(0)
	h := fnv.New32a()
	for i, d := range ds {
		t[listHdr+i] = d.ID
		if d.Weight > 0 {
			if g > 0 {
				g = gcd(d.Weight, g)
			} else {
				g = d.Weight
			}
		}
		mw = max(mw, d.Weight)
		h.Write([]byte{byte(d.ID), byte(d.ID >> 8), byte(d.ID >> 16), byte(d.ID >> 24), byte(d.Gen), byte(d.Weight), byte(d.Weight >> 8), byte(d.UThresh)})
	}
	if g == 0 {
		g = 1
	}
	t[0] = uint32(len(ds))
	t[1] = h.Sum32() | 1
	t[2] = uint32(g)
	t[3] = uint32(mw - (g - 1))
	return t
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sameTableInput says whether o's table is also e's.
func sameTableInput(o, e *ServiceEntry) bool {
	if !sameMhInput(o, e) || o.Flags != e.Flags {
		return false
	}
	if e.Sched == "mh" || e.Sched == "dh" {
		return true // built from ids, addresses and last weights only
	}
	for i := range o.Dests {
		if o.Dests[i].Weight != e.Dests[i].Weight || o.Dests[i].UThresh != e.Dests[i].UThresh {
			return false
		}
	}
	return true
}

// hash32 is the kernel's hash_32(val, 8).
func hash32(v uint32) uint32 { return (v * 0x61C88647) >> 24 }

// addrFold is ip_vs_sh/dh's addr_fold in host order: the IPv4 address, or
// the xor of an IPv6 address's four words.
func addrFold(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	var x uint32
	for i := 0; i < 16; i += 4 {
		x ^= binary.BigEndian.Uint32(b[i:])
	}
	return x
}

// ShLookup is ip_vs_sh_schedule over a table from ShTable: the bucket of
// the client's address (plus its port with sh-port, flags IP_VS_SVC_F_SCHED2),
// and with sh-fallback (IP_VS_SVC_F_SCHED1) a walk round the table while the
// real found is unavailable. It returns 0 when there is no real.
func ShLookup(table []uint32, addr netip.Addr, port uint16, flags uint32, available func(id uint32) bool) uint32 {
	key := addrFold(addr)
	if flags&bpf.SvcSched2 != 0 {
		key += uint32(port)
	}
	ihash := hash32(key)
	id := table[ihash]
	if id == 0 || available(id) {
		return id
	}
	if flags&bpf.SvcSched1 == 0 {
		return 0
	}
	for offset := uint32(0); offset < HashTabSize; offset++ {
		id = table[((offset+ihash)%HashTabSize+ihash)%HashTabSize]
		if id == 0 {
			return 0
		}
		if available(id) {
			return id
		}
	}
	return 0
}

// DhLookup is ip_vs_dh_schedule over a table from DhTable: the bucket of
// the destination address; 0 when that real is unavailable.
func DhLookup(table []uint32, daddr netip.Addr, available func(id uint32) bool) uint32 {
	id := table[hash32(addrFold(daddr))]
	if id == 0 || !available(id) {
		return 0
	}
	return id
}
