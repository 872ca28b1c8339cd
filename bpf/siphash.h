/* hsiphash as 64-bit Linux computes it, and the client hash of IPVS's Maglev scheduler (mh). */
#ifndef XVS_SIPHASH_H
#define XVS_SIPHASH_H

#include <linux/types.h>

/*
 * On 64-bit kernels hsiphash() is SipHash-1-3 with a key of two 64-bit
 * words, truncated to 32 bits (lib/siphash.c, HPREAMBLE/HPOSTAMBLE). IPVS mh
 * (net/netfilter/ipvs/ip_vs_mh.c, ip_vs_mh_hashkey) hashes one 32-bit
 * number, in host order:
 *
 *     offset + ntohs(port) + ntohl(fold(addr))
 *
 * where fold is the IPv4 address, or the XOR of the four 32-bit words of an
 * IPv6 address, for the service's family. A client's slot is
 * xvs_mh_hashkey(...) % table size with offset 0; port is the client's source
 * port when the service has the mh-port flag (IP_VS_SVC_F_SCHED2), else 0.
 * The mh-fallback flag (IP_VS_SVC_F_SCHED1) rehashes with offset
 * (ihash + i) % size, i = 0, 1, ... while the dest found is unavailable.
 *
 * Straight-line code: no loops, a few u64 of stack. maps/maglev.go
 * computes the same in Go, and maps/testdata/maglev_kernel checks both
 * against the kernel's own source.
 */

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The keys of ip_vs_mh.c's generate_hash_secret (both words of each key are equal). */
#define XVS_MH_KEY1 2654435761ULL /* first slot of a dest; the client hash */
#define XVS_MH_KEY2 2654446892ULL /* skip of a dest */

static __always_inline __u64 xvs_rol64(__u64 w, unsigned int s)
{
	return (w << s) | (w >> (64 - s));
}

static __always_inline __u32 xvs_ntohl(__be32 x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(x);
#else
	return x;
#endif
}

static __always_inline __u16 xvs_ntohs(__be16 x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(x);
#else
	return x;
#endif
}

/* SIPHASH_PERMUTATION of include/linux/siphash.h. */
#define XVS_SIPROUND(v0, v1, v2, v3)                                             \
	do {                                                                     \
		v0 += v1; v1 = xvs_rol64(v1, 13); v1 ^= v0; v0 = xvs_rol64(v0, 32); \
		v2 += v3; v3 = xvs_rol64(v3, 16); v3 ^= v2;                      \
		v0 += v3; v3 = xvs_rol64(v3, 21); v3 ^= v0;                      \
		v2 += v1; v1 = xvs_rol64(v1, 17); v1 ^= v2; v2 = xvs_rol64(v2, 32); \
	} while (0)

/* hsiphash_1u32(first, {k0, k1}) of a 64-bit kernel. */
static __always_inline __u32 xvs_hsiphash_1u32(__u32 first, __u64 k0, __u64 k1)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ k0;
	__u64 v1 = 0x646f72616e646f6dULL ^ k1;
	__u64 v2 = 0x6c7967656e657261ULL ^ k0;
	__u64 v3 = 0x7465646279746573ULL ^ k1;
	__u64 b = ((__u64)4 << 56) | first;

	v3 ^= b;
	XVS_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	XVS_SIPROUND(v0, v1, v2, v3);
	XVS_SIPROUND(v0, v1, v2, v3);
	XVS_SIPROUND(v0, v1, v2, v3);
	return (__u32)((v0 ^ v1) ^ (v2 ^ v3));
}

/* The folded address of an IPv4 client (as on the wire). */
static __always_inline __u32 xvs_mh_fold4(__be32 addr)
{
	return xvs_ntohl(addr);
}

/* The folded address of an IPv6 client (four words as on the wire). */
static __always_inline __u32 xvs_mh_fold6(const __be32 *addr)
{
	return xvs_ntohl(addr[0] ^ addr[1] ^ addr[2] ^ addr[3]);
}

/* ip_vs_mh_hashkey with the first key: fold from xvs_mh_fold4/6, port as on the wire. */
static __always_inline __u32 xvs_mh_hashkey(__u32 fold, __be16 port, __u32 offset)
{
	return xvs_hsiphash_1u32(offset + xvs_ntohs(port) + fold, XVS_MH_KEY1, XVS_MH_KEY1);
}

#endif /* XVS_SIPHASH_H */
