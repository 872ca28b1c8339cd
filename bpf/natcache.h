/* A per-CPU exact-match cache of NAT replies: the reverse entry and the next hop towards the client. */
#ifndef XVS_NATCACHE_H
#define XVS_NATCACHE_H

#include "sched.h"

/*
 * A real's reply to a NAT client misses the flow cache and the service
 * lookup; without this cache it then costs an LRU hash lookup of
 * xvs_nat_rev and a bpf_fib_lookup towards the client per packet. Each CPU
 * keeps a direct-mapped array of recent replies, found by the flow cache's
 * hash of the reply's 5-tuple and checked against the whole key, holding
 * what xvs_nat_rev gave (VIP, port, real) and what the FIB gave (egress
 * interface, MACs) for exactly that tuple, so clients behind different
 * routes never share a next hop. A hit is served only while:
 *
 * - the real is configured with the same generation (removed: no longer
 *   translated, as the full path decides);
 * - the reverse entry was not written since: the client's direction bumps
 *   an epoch of the tuple's bucket (xvs_nat_epoch, shared by all CPUs)
 *   whenever it writes a reverse entry, and a hit needs the epoch it was
 *   filled under (read before the reverse entry, so a write racing the fill
 *   leaves an entry that never hits);
 * - the FIB's inputs are the same: ingress interface, TOS, and a length
 *   no longer than one the FIB accepted (its MTU check);
 * - XVS_NAT_CACHE_TTL jiffies have not passed since the fill (routes and
 *   neighbours, and a reverse entry the LRU evicted, are seen again then).
 *
 * A TCP SYN (the real's SYN-ACK of a new connection) always takes the full
 * path. The cache holds no state of its own: xvs_nat_rev stays the table of
 * record.
 */

#ifndef XVS_NAT_CACHE_SIZE
#define XVS_NAT_CACHE_SIZE 4096
#endif
#ifndef XVS_NAT_EPOCHS
#define XVS_NAT_EPOCHS 65536
#endif
#ifndef XVS_NAT_CACHE_TTL
#define XVS_NAT_CACHE_TTL XVS_NH_TTL
#endif

/* One slot of xvs_nat_cache. */
struct xvs_nat_ent {
	struct xvs_conn_key key; /* the reply's 5-tuple: real -> client */
	__u8 vaddr[16];          /* the VIP and port the reply leaves from (xvs_nat_rev) */
	__u64 expires;           /* jiffies after which the slot is filled again */
	__u32 real_id;           /* the real it was filled for, by id and generation */
	__u32 real_gen;
	__u32 epoch;             /* xvs_nat_epoch of the key's bucket at the fill */
	__u32 in_ifindex;        /* the FIB's inputs: ingress interface, TOS, a length it accepted */
	__u32 ifindex;           /* egress interface */
	__u32 max_len;
	__be16 vport;
	__u8 tos;
	__u8 pad;
	__u8 dmac[6];
	__u8 smac[6];
};
_Static_assert(sizeof(struct xvs_nat_ent) == 104, "xvs_nat_ent size");

/* Recent NAT replies per CPU, direct-mapped by the reply's 5-tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_NAT_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xvs_nat_ent);
} xvs_nat_cache SEC(".maps");

/* Write counts of xvs_nat_rev per bucket of reply tuples, shared by all CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVS_NAT_EPOCHS);
	__type(key, __u32);
	__type(value, __u32);
} xvs_nat_epoch SEC(".maps");

/* xvs_nat_epoch_of returns the epoch counter of reply tuple k's bucket. */
static __always_inline __u32 *xvs_nat_epoch_of(const struct xvs_conn_key *k)
{
	__u32 b = xvs_flow_hash(k) >> (32 - __builtin_ctz(XVS_NAT_EPOCHS));

	return bpf_map_lookup_elem(&xvs_nat_epoch, &b);
}

/* xvs_nat_epoch_bump invalidates every CPU's cached reply of tuple k: call it after writing k's reverse entry. */
static __always_inline void xvs_nat_epoch_bump(const struct xvs_conn_key *k)
{
	__u32 *ep = xvs_nat_epoch_of(k);

	if (ep)
		__sync_fetch_and_add(ep, 1);
}

/* xvs_nat_cache_slot returns the packet's cache slot (hit or not), or NULL. */
static __always_inline struct xvs_nat_ent *xvs_nat_cache_slot(const struct xvs_pkt *p)
{
	__u32 slot = xvs_flow_hash(&p->key) >> (32 - __builtin_ctz(XVS_NAT_CACHE_SIZE));

	return bpf_map_lookup_elem(&xvs_nat_cache, &slot);
}

/* xvs_nat_cache_hit says whether slot e may answer packet p. */
static __always_inline int xvs_nat_cache_hit(struct xdp_md *ctx, const struct xvs_nat_ent *e, const struct xvs_pkt *p,
					     __u64 now)
{
	struct xvs_real *r;
	__u32 id, *ep;

	if (!e || !xvs_flow_key_eq(&e->key, &p->key))
		return 0;
	if (p->key.proto == IPPROTO_TCP && (p->tcp_flags & XVS_TCP_SYN))
		return 0; /* a new connection's SYN-ACK: its reverse entry may be new */
	ep = xvs_nat_epoch_of(&p->key); /* only now: other packets never touch the shared array on a hit's behalf */
	if (!ep || (__s64)(e->expires - now) <= 0 || e->epoch != *ep)
		return 0;
	if (e->in_ifindex != ctx->ingress_ifindex || e->tos != p->tos || p->l3_len > e->max_len)
		return 0;
	id = e->real_id;
	r = bpf_map_lookup_elem(&xvs_reals, &id);
	return r && (r->flags & XVS_REAL_F_INUSE) && r->gen == e->real_gen;
}

#endif
