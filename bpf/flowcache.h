/* A per-CPU exact-match flow cache in front of the service and connection lookups. */
#ifndef XVS_FLOWCACHE_H
#define XVS_FLOWCACHE_H

#include "parse.h"

/*
 * Established flows are the common case, and two hash-map lookups (service,
 * then connection) are most of their cost. Each CPU keeps a direct-mapped
 * array of recent flows: a slot is found by a cheap hash of the 5-tuple,
 * checked against the whole key, and holds the flow's real by id and
 * generation. A hit is valid only while that real is configured, in the same
 * service, with the same generation (deleting a service frees its reals), so
 * the cache never outlives the configuration. It holds no state of its own:
 * xvs_conns stays the table of record and is refreshed from a hit every
 * XVS_FLOW_REFRESH jiffies, so it keeps hot flows and their last-seen times.
 */

/* xvs_flow_hash hashes a flow key to 32 bits; its top bits index a table (natcache.h uses it too). */
static __always_inline __u32 xvs_flow_hash(const struct xvs_conn_key *k)
{
	const __u64 *w = (const void *)k;
	__u64 h = w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4];

	h ^= h >> 32;
	return (__u32)h * 0x9e3779b1u;
}

/* xvs_flow_slot hashes a flow key to a cache slot. */
static __always_inline __u32 xvs_flow_slot(const struct xvs_conn_key *k)
{
	return xvs_flow_hash(k) >> (32 - __builtin_ctz(XVS_FLOW_CACHE_SIZE));
}

static __always_inline int xvs_flow_key_eq(const struct xvs_conn_key *a, const struct xvs_conn_key *b)
{
	const __u64 *x = (const void *)a, *y = (const void *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]));
}

/* xvs_flow_lookup returns the packet's cache slot (hit or not), or NULL. */
static __always_inline struct xvs_flow_ent *xvs_flow_lookup(const struct xvs_pkt *p)
{
	__u32 slot = xvs_flow_slot(&p->key);

	return bpf_map_lookup_elem(&xvs_flow_cache, &slot);
}

/* xvs_flow_store remembers the packet's flow and real in its slot. */
static __always_inline void xvs_flow_store(struct xvs_flow_ent *e, const struct xvs_pkt *p, const struct xvs_dst *d,
					   __u64 now)
{
	if (!e)
		return;
	if (!d->cache) { /* a state that a plain ACK may change: keep the flow out of the cache */
		if (xvs_flow_key_eq(&e->key, &p->key))
			e->real_id = 0;
		return;
	}
	__builtin_memcpy(&e->key, &p->key, sizeof(e->key));
	e->real_id = d->real_id;
	e->real_gen = d->real->gen;
	e->svc_id = d->svc_id;
	e->touched = now;
}

/*
 * xvs_flow_hit fills d from a cache hit and returns 1, or returns 0 when the
 * packet must take the full path: a miss, a real that is gone, or a TCP
 * packet that may change the entry's state (SYN, FIN, RST). Only flows in a
 * state a plain ACK cannot change (ESTABLISHED, or UDP) are stored.
 */
static __always_inline int xvs_flow_hit(struct xvs_flow_ent *e, const struct xvs_pkt *p, struct xvs_dst *d, __u64 now)
{
	struct xvs_conn *c;

	if (!e || xvs_state_changing(p) || !xvs_flow_key_eq(&e->key, &p->key))
		return 0; /* SYN, FIN and RST take the full path, where the entry's state moves */
	d->real = xvs_real_get(e->real_id, e->real_gen, e->svc_id);
	if (!d->real) /* (a SYN never gets here, so quiesced reals keep their flows) */
		return 0;
	d->real_id = e->real_id;
	d->svc_id = e->svc_id;
	d->is_new = 0;
	if ((__u32)now - e->touched >= XVS_FLOW_REFRESH) {
		c = bpf_map_lookup_elem(&xvs_conns, &p->key);
		if (!c || c->real_id != e->real_id || c->real_gen != e->real_gen)
			return 0; /* the table of record disagrees (evicted, rescheduled): take the full path */
		c->last_seen = now;
		e->touched = now;
	}
	return 1;
}

#endif
