package maps

import (
	"encoding/binary"
	"math/bits"
)

// SipHash as the Linux kernel computes it (lib/siphash.c), for the Maglev
// scheduler's hashes. Two variants matter:
//
//   - siphash: SipHash-2-4 with a 128-bit key, 64-bit result.
//   - hsiphash: on 64-bit kernels "HalfSipHash" is really SipHash-1-3 with
//     the same 64-bit state and a key of two unsigned longs (two uint64),
//     its 64-bit result truncated to the low 32 bits. 32-bit kernels run the
//     true HalfSipHash-1-3 instead and get other values; xvs follows 64-bit
//     kernels.
//
// Messages are read as little-endian words, like the kernel on x86-64 and
// arm64 (le64_to_cpu / get_unaligned_le32).

// sipKey is siphash_key_t and, on 64-bit kernels, hsiphash_key_t.
type sipKey [2]uint64

const (
	sipConst0 = 0x736f6d6570736575
	sipConst1 = 0x646f72616e646f6d
	sipConst2 = 0x6c7967656e657261
	sipConst3 = 0x7465646279746573
)

// sipState is v0..v3 of SIPHASH_PERMUTATION.
type sipState struct{ v0, v1, v2, v3 uint64 }

// newSipState is the kernel's PREAMBLE without b.
func newSipState(k sipKey) sipState {
	return sipState{
		v0: sipConst0 ^ k[0],
		v1: sipConst1 ^ k[1],
		v2: sipConst2 ^ k[0],
		v3: sipConst3 ^ k[1],
	}
}

// round is one SIPHASH_PERMUTATION (SIPROUND).
func (s *sipState) round() {
	s.v0 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 13)
	s.v1 ^= s.v0
	s.v0 = bits.RotateLeft64(s.v0, 32)
	s.v2 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 16)
	s.v3 ^= s.v2
	s.v0 += s.v3
	s.v3 = bits.RotateLeft64(s.v3, 21)
	s.v3 ^= s.v0
	s.v2 += s.v1
	s.v1 = bits.RotateLeft64(s.v1, 17)
	s.v1 ^= s.v2
	s.v2 = bits.RotateLeft64(s.v2, 32)
}

// compress absorbs one 8-byte word with c rounds.
func (s *sipState) compress(m uint64, c int) {
	s.v3 ^= m
	for range c {
		s.round()
	}
	s.v0 ^= m
}

// finish absorbs the last block b (length<<56 | tail bytes) and runs the
// finalization: POSTAMBLE (c=2, d=4) or, on 64-bit, HPOSTAMBLE (c=1, d=3).
func (s *sipState) finish(b uint64, c, d int) uint64 {
	s.compress(b, c)
	s.v2 ^= 0xff
	for range d {
		s.round()
	}
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3
}

// sipHash runs SipHash-c-d over data.
func sipHash(data []byte, k sipKey, c, d int) uint64 {
	s := newSipState(k)
	b := uint64(len(data)) << 56
	for len(data) >= 8 {
		s.compress(binary.LittleEndian.Uint64(data), c)
		data = data[8:]
	}
	for i, x := range data {
		b |= uint64(x) << (8 * i)
	}
	return s.finish(b, c, d)
}

// siphash is the kernel's siphash(): SipHash-2-4.
func siphash(data []byte, k sipKey) uint64 { return sipHash(data, k, 2, 4) }

// hsiphash is the kernel's hsiphash() on a 64-bit kernel: SipHash-1-3,
// truncated to 32 bits.
func hsiphash(data []byte, k sipKey) uint32 { return uint32(sipHash(data, k, 1, 3)) }

// hsiphash1u32 is the kernel's hsiphash_1u32 on a 64-bit kernel; it equals
// hsiphash over the 4 little-endian bytes of a. It allocates nothing, for
// the per-slot and per-packet Maglev hashes.
func hsiphash1u32(a uint32, k sipKey) uint32 {
	s := newSipState(k)
	return uint32(s.finish(4<<56|uint64(a), 1, 3))
}
