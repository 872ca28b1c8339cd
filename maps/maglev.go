package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
)

// Maglev hashing (scheduler "mh") computed exactly as Linux IPVS's
// net/netfilter/ipvs/ip_vs_mh.c does on a 64-bit little-endian kernel, so
// that xvs and kernel IPVS send the same client to the same real server.
//
// The table. Each dest gets a preference list of slots from two hashes of
// its own address and port (offset, skip), and dests take turns claiming
// their next free slot until every slot is taken (ip_vs_mh_populate). A turn
// lets a dest claim as many slots in a row as its weight allows:
//
//	g      = gcd of all weights > 0                   (ip_vs_mh_gcd_weight)
//	shift  = max(0, bits.Len(maxWeight/g) - tabBits)  (ip_vs_mh_shift_weight)
//	turns  = (w/g) >> shift, or 1 if that is 0 and w > 0
//
// where tabBits is CONFIG_IP_VS_MH_TAB_INDEX/2 (6 for the default 4093
// slots): weights are reduced to at most tabBits significant bits, so with a
// large spread between weights (say 100 and 1) the shares follow turns, not
// the weights themselves. A dest whose weight is 0 claims no slot (nor one
// with a negative weight, which IPVS refuses); if no weight is > 0 the
// table is empty (all IDs 0).
//
// The weight. The kernel builds the table from dest->last_weight, not the
// current weight: last_weight is set when a dest is added (even to 0) and
// when it is edited to a non-zero weight, so a dest edited to weight 0 keeps
// its slots (its flows are then refused, or moved on with the mh-fallback
// flag; see MaglevLookup). MaglevDest.Weight must be that last weight.
//
// The order. Dests take turns in svc->destinations list order, and the
// kernel adds a new dest at the head of that list (list_add_rcu in
// __ip_vs_update_dest, ip_vs_ctl.c), also when it comes back from the trash;
// editing a dest keeps its place. So dests must be passed NEWEST FIRST: the
// reverse of the order in which they were added (ServiceEntry.Dests holds
// them oldest first). The same dests in another order give another table:
// offsets and skips do not depend on the order, but which dest wins a
// contested slot does.

// MaglevDefaultSize is the table size of Debian's and most distributions'
// kernels (CONFIG_IP_VS_MH_TAB_INDEX=12).
const MaglevDefaultSize = 4093

// maglevPrimes are the table sizes IPVS can be built with
// (CONFIG_IP_VS_MH_TAB_INDEX 8..17 picks primes[index-8]).
var maglevPrimes = [...]int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}

// The keys of generate_hash_secret: hash1 places a dest's first slot and
// hashes clients, hash2 gives a dest's skip. Both words of each key are the
// same; on 64-bit kernels they are unsigned long, so zero-extended.
var (
	maglevKey1 = sipKey{2654435761, 2654435761}
	maglevKey2 = sipKey{2654446892, 2654446892}
)

// ErrMaglevSize reports a table size that no IPVS build uses.
var ErrMaglevSize = errors.New("maglev table size is not one of IPVS's primes")

// MaglevSizes returns the table sizes IPVS can be built with, ascending.
func MaglevSizes() []int { return slices.Clone(maglevPrimes[:]) }

// CheckMaglevSize returns ErrMaglevSize (wrapped) unless size is one of
// MaglevSizes.
func CheckMaglevSize(size int) error {
	if _, err := maglevTabBits(size); err != nil {
		return err
	}
	return nil
}

// maglevTabBits returns IP_VS_MH_TAB_BITS for a table size.
func maglevTabBits(size int) (int, error) {
	i := slices.Index(maglevPrimes[:], size)
	if i < 0 {
		return 0, fmt.Errorf("size %d: %w", size, ErrMaglevSize)
	}
	return (i + 8) / 2, nil
}

// MaglevDest is one real server of an mh service as the table sees it.
type MaglevDest struct {
	Addr   netip.Addr // an IPv4 address, or IPv6 (IPv4-mapped stays IPv6, as the kernel keeps it)
	Port   uint16     // the real's port, always part of its hash
	Weight int32      // the kernel's last_weight: the last non-zero weight set, or 0 if never
	ID     uint32     // what the table holds for this dest; must not be 0
}

// MaglevTable returns the size slots of an mh service's lookup table, each
// holding the ID of a dest, or 0 when no dest has a weight > 0. dests must be
// in IPVS list order, newest first (see the comment at the top of this file).
// It panics if size is not one of MaglevSizes (check with CheckMaglevSize).
//
// It is exact for every IPv6 service and for IPv4 services whose dests are
// all IPv4; an IPv4 service with IPv6 (tunnel) dests needs MaglevTableAF.
// A service with more dests than slots is refused by kernel IPVS, which then
// keeps its previous table; callers must not configure one.
func MaglevTable(dests []MaglevDest, size int) []uint32 {
	return MaglevTableAF(6, dests, size)
}

// MaglevTableAF is MaglevTable for a service of family af (4 or 6, as in
// xvs keys). The family matters only for an IPv4 service with IPv6 dests:
// the kernel then hashes only the first 32 bits of their addresses.
func MaglevTableAF(af uint8, dests []MaglevDest, size int) []uint32 {
	tabBits, err := maglevTabBits(size)
	if err != nil {
		panic(err)
	}
	table := make([]uint32, size)

	// ip_vs_mh_gcd_weight and ip_vs_mh_shift_weight.
	var g, maxw int32
	for _, d := range dests {
		if d.Weight > 0 {
			if g > 0 {
				g = gcd32(d.Weight, g)
			} else {
				g = d.Weight
			}
		}
		maxw = max(maxw, d.Weight)
	}
	if g < 1 {
		return table
	}
	shift := max(bits.Len32(uint32(maxw/g))-tabBits, 0)

	// ip_vs_mh_permutate.
	type setup struct {
		perm, skip uint32
		turns      int32
	}
	m := uint32(size)
	ds := make([]setup, len(dests))
	for i, d := range dests {
		ds[i].perm = maglevHashKey(af, d.Addr, d.Port, maglevKey1, 0) % m
		ds[i].skip = maglevHashKey(af, d.Addr, d.Port, maglevKey2, 0)%(m-1) + 1
		// The kernel's ((lw / gcd) >> rshift) ?: (lw != 0). IPVS refuses
		// negative weights (-ERANGE); the kernel's formula would give one
		// turn to a small negative one, so they count as 0 here.
		if d.Weight > 0 {
			ds[i].turns = max((d.Weight/g)>>shift, 1)
		}
	}

	// ip_vs_mh_populate: dests take turns, each claiming turns slots in a
	// row, until all size slots are taken. g >= 1 means at least one dest
	// has turns >= 1, so this ends.
	taken := make([]uint64, (size+63)/64)
	n := 0
	for {
		for i := range ds {
			s := &ds[i]
			for range s.turns { // no iteration when turns < 1
				c := s.perm
				for taken[c/64]&(1<<(c%64)) != 0 {
					s.perm += s.skip
					if s.perm >= m {
						s.perm -= m
					}
					c = s.perm
				}
				taken[c/64] |= 1 << (c % 64)
				table[c] = dests[i].ID
				if n++; n == size {
					return table
				}
			}
		}
	}
}

// gcd32 is the greatest common divisor of two positive numbers.
func gcd32(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// maglevFold is the 32 bits of addr that ip_vs_mh_hashkey hashes, in host
// order: the IPv4 address, or the XOR of the four words of an IPv6 one. It
// reads the address as the kernel's union nf_inet_addr holds it (an IPv4
// address in the first word, the rest zero) and folds by the service's
// family af: an IPv4 service (af 4) takes the first word only.
func maglevFold(af uint8, addr netip.Addr) uint32 {
	if addr.Is4() {
		a := addr.As4()
		return binary.BigEndian.Uint32(a[:])
	}
	a := addr.As16()
	w0 := binary.BigEndian.Uint32(a[0:])
	if af == 4 {
		return w0
	}
	return w0 ^ binary.BigEndian.Uint32(a[4:]) ^ binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[12:])
}

// maglevHashKey is ip_vs_mh_hashkey: hsiphash of the 32-bit sum
// offset + port + folded address, all in host order.
func maglevHashKey(af uint8, addr netip.Addr, port uint16, k sipKey, offset uint32) uint32 {
	return hsiphash1u32(offset+uint32(port)+maglevFold(af, addr), k)
}

// MaglevHash returns the hash IPVS's mh scheduler computes for a client:
// ip_vs_mh_hashkey with the first key and offset 0. af is the service's
// family (4 or 6, as in xvs keys), addr the client's address (the packet's
// source; for an ICMP error about a flow, its inner destination), port the
// client's port when the service has the mh-port flag (IP_VS_SVC_F_SCHED2,
// TCP, UDP and SCTP only), else 0. The slot is MaglevHash % table size.
func MaglevHash(af uint8, addr netip.Addr, port uint16) uint32 {
	return maglevHashKey(af, addr, port, maglevKey1, 0)
}

// MaglevLookup returns the ID that kernel IPVS's mh scheduler picks from
// table for a client, or 0 when it finds none (the packet is then refused).
// af, addr and port are as for MaglevHash. available says whether a dest may
// take new flows: the kernel refuses a dest whose current weight is <= 0 or
// that is overloaded (above its upper threshold). Without fallback
// (ip_vs_mh_get) an unavailable dest means no dest. With the mh-fallback
// flag (IP_VS_SVC_F_SCHED1, ip_vs_mh_get_fallback) it rehashes the client
// with offsets ihash, ihash+1, ... and takes the first available dest, for
// at most len(table) tries.
func MaglevLookup(table []uint32, af uint8, addr netip.Addr, port uint16, fallback bool, available func(id uint32) bool) uint32 {
	m := uint32(len(table))
	if m == 0 {
		return 0
	}
	ihash := MaglevHash(af, addr, port) % m
	id := table[ihash]
	if id == 0 || available(id) {
		return id
	}
	if !fallback {
		return 0
	}
	for offset := range m {
		roffset := (offset + ihash) % m
		id = table[maglevHashKey(af, addr, port, maglevKey1, roffset)%m]
		if id == 0 {
			return 0
		}
		if available(id) {
			return id
		}
	}
	return 0
}
