/* NAT (-m): destination rewrite to the real, and the real's replies rewritten back to the VIP. */
#ifndef XVS_NAT_H
#define XVS_NAT_H

#include "sched.h"
#include "csum.h"
#include "natcache.h"

#ifndef XVS_NAT_SIZE
#define XVS_NAT_SIZE 262144
#endif

/*
 * The reverse mapping of NAT connections: a reply's 5-tuple as the real
 * sends it (real address and port -> client address and port) gives the
 * VIP and port to put back as its source. Written when the client's packets
 * are forwarded, it lives as long as the flow does in an LRU table of its
 * own (sized like xvs_conns by the loader), so the connection table's layout
 * is untouched.
 */
struct xvs_nat_rev {
	__u8 vaddr[16];
	__be16 vport;
	__u16 pad;
	__u32 real_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVS_NAT_SIZE);
	__type(key, struct xvs_conn_key);
	__type(value, struct xvs_nat_rev);
} xvs_nat_rev SEC(".maps");

/* The packet's L3 and L4 headers, found again after parsing (NAT rewrites them). */
struct xvs_l34 {
	void *l3;
	void *l4;
	__u32 l2len;
};

/*
 * xvs_nat_hdrs finds the L3 and L4 headers. IPv6 packets with extension
 * headers are not translated (XDP_PASS, pass_unsupported): the datapath
 * rewrites plain TCP and UDP over IPv4 (any IHL) or IPv6.
 */
static __always_inline int xvs_nat_hdrs(struct xdp_md *ctx, const struct xvs_pkt *p, struct xvs_l34 *h)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 need = p->key.proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);

	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	h->l2len = sizeof(*eth);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		h->l2len += sizeof(struct xvs_vlan_hdr);
	h->l3 = data + h->l2len;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = h->l3;

		if ((void *)(ip + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		h->l4 = h->l3 + (ip->ihl & 0xf) * 4;
	} else {
		struct ipv6hdr *ip6 = h->l3;

		if ((void *)(ip6 + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		if (ip6->nexthdr != p->key.proto)
			return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
		h->l4 = ip6 + 1;
	}
	if (h->l4 + need > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	return XVS_CONTINUE;
}

/*
 * xvs_nat_rewrite replaces one address (16 bytes, or the first 4 for IPv4)
 * and one port of the packet, saddr/sport when src, else daddr/dport, with
 * incremental updates of the IPv4 header checksum and the TCP or UDP
 * checksum. A zero UDP checksum over IPv4 (none computed) stays zero; a
 * computed one that comes out zero is sent as 0xffff (RFC 768).
 */
static __always_inline int xvs_nat_rewrite(struct xdp_md *ctx, const struct xvs_pkt *p, struct xvs_l34 *h,
					   int src, const __u8 *addr, __be16 port)
{
	void *end = (void *)(long)ctx->data_end;
	__u16 *check;
	__be16 *pp;
	__u8 *ap;
	int udp = p->key.proto == IPPROTO_UDP;

	if (udp) {
		struct udphdr *uh = h->l4;

		if ((void *)(uh + 1) > end)
			return XDP_ABORTED;
		check = &uh->check;
		pp = src ? &uh->source : &uh->dest;
	} else {
		struct tcphdr *th = h->l4;

		if ((void *)(th + 1) > end)
			return XDP_ABORTED;
		check = &th->check;
		pp = src ? &th->source : &th->dest;
	}

	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = h->l3;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		ap = src ? (__u8 *)&ip->saddr : (__u8 *)&ip->daddr;
		if (!(udp && *check == 0)) {
			*check = xvs_csum_replace(*check, ap, addr, 2);
			*check = xvs_csum_replace(*check, pp, &port, 1);
			if (udp && *check == 0)
				*check = 0xffff;
		}
		ip->check = xvs_csum_replace(ip->check, ap, addr, 2);
		__builtin_memcpy(ap, addr, 4);
	} else {
		struct ipv6hdr *ip6 = h->l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		ap = src ? (__u8 *)&ip6->saddr : (__u8 *)&ip6->daddr;
		*check = xvs_csum_replace(*check, ap, addr, 8);
		*check = xvs_csum_replace(*check, pp, &port, 1);
		if (udp && *check == 0)
			*check = 0xffff;
		__builtin_memcpy(ap, addr, 16);
	}
	*pp = port;
	return XVS_CONTINUE;
}

/*
 * xvs_fwd_nat sends a client's packet to a NAT real: destination address
 * and port become the real's, as ip_vs_nat_xmit does, and the reply's
 * tuple is remembered. Families must match (IPVS does not translate between
 * them).
 */
static __always_inline int xvs_fwd_nat(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d, __u64 now)
{
	const struct xvs_real *real = d->real;
	struct xvs_nexthop *nh = NULL;
	struct xvs_conn_key rk = {};
	struct xvs_nat_rev *rv, nrv = {};
	struct xvs_l34 h;
	__be16 rport;
	int ret;

	if (real->af != p->key.af)
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	ret = xvs_nat_hdrs(ctx, p, &h);
	if (ret != XVS_CONTINUE)
		return ret;
	ret = xvs_nexthop(ctx, p, d, now, &nh);
	if (ret != XVS_CONTINUE)
		return ret;
	rport = real->port && !(real->flags & XVS_REAL_F_PORT0) ? real->port : p->key.dport; /* port 0: the packet's */

	__builtin_memcpy(rk.saddr, real->addr, 16);
	__builtin_memcpy(rk.daddr, p->key.saddr, 16);
	rk.sport = rport;
	rk.dport = p->key.sport;
	rk.proto = p->key.proto;
	rk.af = p->key.af;
	rv = bpf_map_lookup_elem(&xvs_nat_rev, &rk);
	if (!rv || rv->real_id != d->real_id || rv->vport != p->key.dport ||
	    __builtin_memcmp(rv->vaddr, p->key.daddr, 16)) {
		__builtin_memcpy(nrv.vaddr, p->key.daddr, 16);
		nrv.vport = p->key.dport;
		nrv.real_id = d->real_id;
		bpf_map_update_elem(&xvs_nat_rev, &rk, &nrv, BPF_ANY);
		xvs_nat_epoch_bump(&rk); /* no CPU answers this reply from its cache any more */
	}

	ret = xvs_nat_rewrite(ctx, p, &h, 0, real->addr, rport);
	if (ret != XVS_CONTINUE)
		return ret;
	return xvs_send_to(ctx, nh->ifindex, nh->dmac, nh->smac);
}

/*
 * xvs_nat_real returns the real reverse entry rv (of reply tuple k) names
 * while it is configured where the reply comes from: its address, and its
 * port unless its connections keep the client's. A removed real's replies,
 * or a reused slot's, are not translated (the client's direction schedules
 * such a flow again).
 */
static __always_inline struct xvs_real *xvs_nat_real(const struct xvs_nat_rev *rv, const struct xvs_conn_key *k)
{
	__u32 id = rv->real_id;
	struct xvs_real *r = bpf_map_lookup_elem(&xvs_reals, &id);

	if (!r || !(r->flags & XVS_REAL_F_INUSE) || r->af != k->af || __builtin_memcmp(r->addr, k->saddr, 16))
		return NULL;
	if (r->port && !(r->flags & XVS_REAL_F_PORT0) && r->port != k->sport)
		return NULL;
	return r;
}

/*
 * xvs_nat_fill asks the FIB for the next hop of a reply (from the VIP
 * towards the client) and fills cache slot e from it and from the reverse
 * entry rv of real r, under the epoch read before rv.
 */
static __always_inline int xvs_nat_fill(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_nat_rev *rv,
					const struct xvs_real *r, struct xvs_nat_ent *e, __u32 epoch, __u64 now)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = p->key.proto;
	fib.sport = rv->vport;
	fib.dport = p->key.dport;
	fib.tot_len = p->l3_len;
	if (p->key.af == XVS_AF_INET) {
		fib.family = AF_INET;
		fib.tos = p->tos;
		__builtin_memcpy(&fib.ipv4_src, rv->vaddr, 4);
		__builtin_memcpy(&fib.ipv4_dst, p->key.daddr, 4);
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, rv->vaddr, 16);
		__builtin_memcpy(fib.ipv6_dst, p->key.daddr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		if (rc != BPF_FIB_LKUP_RET_FRAG_NEEDED && xvs_flow_key_eq(&e->key, &p->key))
			e->expires = now; /* the route or neighbour went away: shorter packets may not use it either */
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
			return xvs_verdict(XVS_V_PASS_NO_NEIGH, XDP_PASS);
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	}
	__builtin_memcpy(&e->key, &p->key, sizeof(e->key));
	__builtin_memcpy(e->vaddr, rv->vaddr, 16);
	e->vport = rv->vport;
	e->real_id = rv->real_id;
	e->real_gen = r->gen;
	e->epoch = epoch;
	e->expires = now + XVS_NAT_CACHE_TTL;
	e->in_ifindex = ctx->ingress_ifindex;
	e->tos = p->tos;
	e->max_len = p->l3_len;
	e->ifindex = fib.ifindex;
	__builtin_memcpy(e->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(e->smac, fib.smac, ETH_ALEN);
	return XVS_CONTINUE;
}

/*
 * xvs_nat_reply translates a real's reply back to the VIP and port the
 * client spoke to and forwards it (TTL or hop limit decremented, as the
 * kernel forwards IPVS NAT replies). The reverse entry and the next hop
 * come from the per-CPU reply cache (natcache.h), else from xvs_nat_rev and
 * bpf_fib_lookup, which fill it. A packet that belongs to no NAT
 * connection of a configured real is not for xvs: XDP_PASS, counted as
 * pass_no_vip.
 */
static __always_inline int xvs_nat_reply(struct xdp_md *ctx, const struct xvs_pkt *p, __u64 now)
{
	struct xvs_nat_rev *rv = NULL;
	struct xvs_real *r = NULL;
	struct xvs_nat_ent *e;
	struct xvs_stats *st;
	struct xvs_cfg *cfg;
	struct xvs_l34 h;
	__u32 zero = 0, epoch = 0, id, *ep;
	void *end;
	int ret, hit;

	/* Without NAT reals no packet can be a reply: skip the lookups. */
	cfg = bpf_map_lookup_elem(&xvs_config, &zero);
	if (!cfg || !cfg->nat_reals)
		return xvs_verdict(XVS_V_PASS_NO_VIP, XDP_PASS);
	e = xvs_nat_cache_slot(p);
	if (!e)
		return xvs_verdict(XVS_V_PASS_NO_VIP, XDP_PASS);
	hit = xvs_nat_cache_hit(ctx, e, p, now);
	if (!hit) {
		ep = xvs_nat_epoch_of(&p->key);
		if (!ep)
			return xvs_verdict(XVS_V_PASS_NO_VIP, XDP_PASS);
		epoch = *(volatile __u32 *)ep; /* before the reverse entry: a write racing the fill leaves a slot that never hits */
		rv = bpf_map_lookup_elem(&xvs_nat_rev, &p->key);
		if (!rv)
			return xvs_verdict(XVS_V_PASS_NO_VIP, XDP_PASS);
		r = xvs_nat_real(rv, &p->key);
		if (!r)
			return xvs_verdict(XVS_V_PASS_NO_VIP, XDP_PASS);
	}
	ret = xvs_nat_hdrs(ctx, p, &h);
	if (ret != XVS_CONTINUE)
		return ret;
	end = (void *)(long)ctx->data_end;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = h.l3;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		if (ip->ttl <= 1)
			return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS); /* the kernel sends time exceeded */
	} else {
		struct ipv6hdr *ip6 = h.l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		if (ip6->hop_limit <= 1)
			return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	}
	if (!hit) {
		if (!rv || !r)
			return XDP_ABORTED; /* not reached: the verifier's view */
		ret = xvs_nat_fill(ctx, p, rv, r, e, epoch, now);
		if (ret != XVS_CONTINUE)
			return ret;
	}

	ret = xvs_nat_rewrite(ctx, p, &h, 1, e->vaddr, e->vport);
	if (ret != XVS_CONTINUE)
		return ret;
	end = (void *)(long)ctx->data_end;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = h.l3;
		__u16 old, new;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		old = *(__u16 *)&ip->ttl;
		ip->ttl--;
		new = *(__u16 *)&ip->ttl;
		ip->check = xvs_csum_replace(ip->check, &old, &new, 1);
	} else {
		struct ipv6hdr *ip6 = h.l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		ip6->hop_limit--;
	}
	id = e->real_id;
	ret = xvs_send_to(ctx, e->ifindex, e->dmac, e->smac);
	if (ret == XDP_TX || ret == XDP_REDIRECT) {
		st = bpf_map_lookup_elem(&xvs_real_stats, &id);
		if (st) {
			st->outpkts++;
			st->outbytes += p->l3_len;
		}
	}
	return ret;
}

#endif
