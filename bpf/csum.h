/* Checksums: IPv4 header checksum, one's-complement folding, incremental updates. */
#ifndef XVS_CSUM_H
#define XVS_CSUM_H

#include <linux/types.h>

/* xvs_csum_fold folds a 32-bit one's-complement sum to 16 bits (not inverted). */
static __always_inline __u16 xvs_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* xvs_csum_add sums n 16-bit words at p into sum (n a constant: unrolled). */
static __always_inline __u32 xvs_csum_add(__u32 sum, const void *p, int n)
{
	const __u16 *w = p;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/* xvs_ip4_csum computes the checksum of a 20-byte IPv4 header whose check field is zero. */
static __always_inline __u16 xvs_ip4_csum(const void *iph)
{
	return ~xvs_csum_fold(xvs_csum_add(0, iph, 10));
}

/*
 * xvs_csum_replace returns check updated (RFC 1624: HC' = ~(~HC + ~m + m'))
 * for n 16-bit words changed from old to new (n a constant). Call it before
 * writing the new words when old points into the packet.
 */
static __always_inline __u16 xvs_csum_replace(__u16 check, const void *old, const void *new, int n)
{
	const __u16 *o = old, *w = new;
	__u32 sum = (__u16)~check;
	int i;

#pragma unroll
	for (i = 0; i < n; i++)
		sum += (__u16)~o[i] + w[i];
	return ~xvs_csum_fold(sum);
}

#endif
