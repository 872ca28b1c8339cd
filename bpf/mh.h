/* The Maglev (mh) packet hash: kernel IPVS's ip_vs_mh_hashkey, so xvs and IPVS pick the same real. */
#ifndef XVS_MH_H
#define XVS_MH_H

#include "siphash.h"

/* xvs_mh_hash hashes a client address (and port with mh-port, else 0) as ip_vs_mh_get does. */
static __always_inline __u32 xvs_mh_hash(__u8 af, const __u8 *addr, __be16 port)
{
	__be32 w[4];

	__builtin_memcpy(w, addr, 16);
	if (af == XVS_AF_INET)
		return xvs_mh_hashkey(xvs_mh_fold4(w[0]), port, 0);
	return xvs_mh_hashkey(xvs_mh_fold6(w), port, 0);
}

#endif
