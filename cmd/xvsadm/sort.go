package main

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/xvs-lb/xvs/maps"
)

// Listings come in the order ipvsadm shows: the kernel's order (what
// --nosort prints), then sorted with glibc's merge sort and libipvs's
// comparisons, which subtract addresses as unsigned numbers and read the
// difference as a signed int. That order is not transitive (207.x sorts
// before 10.x), so both the algorithm and its input order matter.

// svcTabBits is log2 of IPVS's service hash table size.
const svcTabBits = 8

// svcBucket is kernel IPVS's ip_vs_svc_hashkey (non-fwmark services) or
// ip_vs_svc_fwm_hashkey: the bucket a service hangs in, salted by the
// namespace's address.
func svcBucket(e *maps.ServiceEntry, salt uint32) uint32 {
	const mask = 1<<svcTabBits - 1
	if e.FwMark != 0 {
		return (salt ^ e.FwMark) & mask
	}
	var fold uint32
	if e.Addr.Is4() {
		fold = binary.BigEndian.Uint32(e.Addr.AsSlice())
	} else {
		b := e.Addr.As16()
		for i := 0; i < 16; i += 4 {
			fold ^= binary.BigEndian.Uint32(b[i:])
		}
	}
	porth := uint32(e.Port)
	return (uint32(e.Proto) ^ fold ^ salt ^ (porth >> svcTabBits) ^ porth) & mask
}

// kernelServiceOrder is the order kernel IPVS dumps services in: the
// address table's buckets then the fwmark table's, each bucket newest
// first.
func kernelServiceOrder(services []*maps.ServiceEntry, salt uint32) []*maps.ServiceEntry {
	out := slices.Clone(services)
	slices.SortStableFunc(out, func(a, b *maps.ServiceEntry) int {
		if c := cmp.Compare(boolInt(a.FwMark != 0), boolInt(b.FwMark != 0)); c != 0 {
			return c
		}
		if c := cmp.Compare(svcBucket(a, salt), svcBucket(b, salt)); c != 0 {
			return c
		}
		return cmp.Compare(b.Seq, a.Seq)
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// orderServices is the order of services in a listing.
func orderServices(services []*maps.ServiceEntry, salt uint32, sorted bool) []*maps.ServiceEntry {
	out := kernelServiceOrder(services, salt)
	if sorted {
		msort(out, cmpServices)
	}
	return out
}

// orderDests is the order of a service's reals in a listing: the kernel
// keeps the newest first.
func orderDests(dests []*maps.DestEntry, sorted bool) []*maps.DestEntry {
	out := slices.Clone(dests)
	slices.SortStableFunc(out, func(a, b *maps.DestEntry) int { return cmp.Compare(b.Seq, a.Seq) })
	if sorted {
		msort(out, cmpDests)
	}
	return out
}

// inetWords is an address as the words of union nf_inet_addr in host
// order: an IPv4 address is the first word, the rest zero.
func inetWords(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		w[0] = binary.BigEndian.Uint32(a.AsSlice())
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return w
}

// cmpAddr compares as libipvs does: word differences read as signed, all
// four words for IPv6 (by the first operand's family), one for IPv4.
func cmpAddr(af int, a, b netip.Addr) int {
	wa, wb := inetWords(a), inetWords(b)
	n := 1
	if af == afInet6 {
		n = 4
	}
	for i := 0; i < n; i++ {
		if r := int32(wa[i] - wb[i]); r != 0 {
			return int(r)
		}
	}
	return 0
}

// cmpServices is libipvs's ipvs_cmp_services.
func cmpServices(a, b *maps.ServiceEntry) int {
	if r := int32(a.FwMark - b.FwMark); r != 0 {
		return int(r)
	}
	afa, afb := afOf(a.Addr), afOf(b.Addr)
	if r := afa - afb; r != 0 {
		return r
	}
	if r := int(a.Proto) - int(b.Proto); r != 0 {
		return r
	}
	if r := cmpAddr(afa, a.Addr, b.Addr); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// cmpDests is libipvs's ipvs_cmp_dests.
func cmpDests(a, b *maps.DestEntry) int {
	if r := cmpAddr(afOf(a.Addr), a.Addr, b.Addr); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// msort is glibc's qsort (msort_with_tmp): a top-down merge sort that
// splits at n/2 and takes from the left run on ties.
func msort[T any](b []T, cmp func(a, b T) int) {
	if len(b) > 1 {
		msortTmp(b, make([]T, len(b)), cmp)
	}
}

func msortTmp[T any](b, tmp []T, cmp func(a, b T) int) {
	n := len(b)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := b[:n1], b[n1:]
	msortTmp(b1, tmp, cmp)
	msortTmp(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(b1[i], b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	copy(b, tmp[:k])
}
