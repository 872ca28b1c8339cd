/* IPVS's source hashing (sh) and destination hashing (dh) schedulers over 256-bucket tables. */
#ifndef XVS_SCHED_HASH_H
#define XVS_SCHED_HASH_H

#include "sched_list.h"

/*
 * The control plane builds the 256 buckets exactly as ip_vs_sh_reassign and
 * ip_vs_dh_reassign do (reals in IPVS list order; sh gives each real as many
 * consecutive buckets as its weight); the datapath hashes as
 * ip_vs_sh_hashkey and ip_vs_dh_hashkey: hash_32 of the address (IPv6:
 * the xor of its four words) in host order, plus the source port with
 * sh-port, so a flow lands on the real kernel IPVS would give it.
 */
#define XVS_HASH_TAB_BITS 8
#define XVS_HASH_TAB_SIZE (1 << XVS_HASH_TAB_BITS)

/* hash_32 of include/linux/hash.h. */
static __always_inline __u32 xvs_hash_32(__u32 val, __u32 bits)
{
	return (val * 0x61C88647u) >> (32 - bits);
}

/* xvs_addr_fold is IPVS's addr_fold in host order: the IPv4 address, or the xor of an IPv6 address's words. */
static __always_inline __u32 xvs_addr_fold(__u8 af, const __u8 *a)
{
	__u32 w[4];

	__builtin_memcpy(w, a, 16);
	if (af == XVS_AF_INET6)
		return bpf_ntohl(w[0] ^ w[1] ^ w[2] ^ w[3]);
	return bpf_ntohl(w[0]);
}

/* xvs_hash_usable returns the id in bucket slot when that real takes new flows (is_unavailable is false), else 0. */
static __always_inline __u32 xvs_hash_usable(void *tab, __u32 svc_id, __u32 slot, int *empty)
{
	__u32 id = xvs_tab_get(tab, slot & (XVS_HASH_TAB_SIZE - 1));
	struct xvs_real_conns *n;
	struct xvs_real *r;

	*empty = !id;
	r = xvs_real_get(id, 0, svc_id);
	if (!r || r->weight <= 0)
		return 0;
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	return xvs_overloaded(r, n) ? 0 : id;
}

/* The state of sh-fallback's walk round the table (ip_vs_sh_get_fallback). */
struct xvs_sh_walk {
	__u32 svc_id;
	__u32 ihash;
	__u32 h0; /* hash_32 of the key, before the offset */
	__u32 best;
};

static long xvs_sh_step(__u32 offset, struct xvs_sh_walk *w)
{
	__u32 svc_id = w->svc_id, roffset, id;
	int empty;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 1;
	roffset = (offset + w->ihash) % XVS_HASH_TAB_SIZE;
	id = xvs_hash_usable(tab, svc_id, roffset + w->h0, &empty);
	if (empty)
		return 1;
	if (id) {
		w->best = id;
		return 1;
	}
	return 0;
}

/* xvs_sched_sh picks a real by the flow's source address (and port with sh-port). Returns the real id or 0. */
static __always_inline __u32 xvs_sched_sh(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	struct xvs_sh_walk w = {.svc_id = svc->id};
	__u32 svc_id = svc->id, port = 0, id;
	int empty;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	if (svc->flags & XVS_SVC_F_SCHED2) /* sh-port */
		port = bpf_ntohs(p->key.sport);
	w.h0 = xvs_hash_32(port + xvs_addr_fold(p->key.af, p->key.saddr), XVS_HASH_TAB_BITS);
	w.ihash = w.h0 & (XVS_HASH_TAB_SIZE - 1);
	id = xvs_hash_usable(tab, svc_id, w.ihash, &empty);
	if (id || empty || !(svc->flags & XVS_SVC_F_SCHED1)) /* sh-fallback */
		return id;
	bpf_loop(XVS_HASH_TAB_SIZE, xvs_sh_step, &w, 0);
	return w.best;
}

/* xvs_sched_dh picks a real by the flow's destination address. Returns the real id or 0. */
static __always_inline __u32 xvs_sched_dh(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	__u32 svc_id = svc->id;
	int empty;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	return xvs_hash_usable(tab, svc_id, xvs_hash_32(xvs_addr_fold(p->key.af, p->key.daddr), XVS_HASH_TAB_BITS), &empty);
}

#endif
