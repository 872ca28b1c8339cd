/* The Maglev (mh) packet hash. Placeholder until the IPVS-compatible hsiphash lands. */
#ifndef XVS_MH_H
#define XVS_MH_H

static __always_inline __u32 xvs_mh_hash(__u8 af, const __u8 *addr, __be16 port)
{
	__u32 h = 2654435761u, w;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		if (i > 0 && af == XVS_AF_INET)
			break;
		__builtin_memcpy(&w, addr + 4 * i, 4);
		h ^= w;
		h *= 0x9e3779b1;
		h ^= h >> 15;
	}
	h ^= port;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	return h;
}

#endif
