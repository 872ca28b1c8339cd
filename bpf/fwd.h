/* Forwarding: direct routing (MAC rewrite) tunnels (encap.h) and NAT (nat.h) with the next hop from the kernel's FIB and neighbour table. */
#ifndef XVS_FWD_H
#define XVS_FWD_H

#include "encap.h"

/*
 * xvs_nexthop finds how to reach a real: egress interface and MACs from
 * bpf_fib_lookup (routes and the kernel's neighbour table), cached per CPU
 * for XVS_NH_TTL jiffies so established flows skip the lookup. An unresolved
 * neighbour or a route the datapath can't use passes the packet to the kernel.
 */
static __always_inline int xvs_nexthop(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d,
				       __u64 now, struct xvs_nexthop **out)
{
	const struct xvs_real *real = d->real;
	struct bpf_fib_lookup fib = {};
	struct xvs_nexthop *nh;
	__u32 id = d->real_id;
	long rc;

	nh = bpf_map_lookup_elem(&xvs_nh_cache, &id);
	if (!nh)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	if (nh->real_gen == real->gen && nh->expires > now) {
		*out = nh;
		return XVS_CONTINUE;
	}

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = p->key.proto;
	fib.sport = p->key.sport;
	fib.dport = p->key.dport;
	fib.tot_len = p->l3_len;
	if (p->key.af == XVS_AF_INET) {
		fib.family = AF_INET;
		fib.tos = p->tos;
		__builtin_memcpy(&fib.ipv4_src, p->key.saddr, 4);
		__builtin_memcpy(&fib.ipv4_dst, real->addr, 4);
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, p->key.saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, real->addr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xvs_verdict(XVS_V_PASS_NO_NEIGH, XDP_PASS);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	nh->expires = now + XVS_NH_TTL;
	nh->real_gen = real->gen;
	nh->ifindex = fib.ifindex;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	*out = nh;
	return XVS_CONTINUE;
}

/*
 * xvs_send_to sets the frame's MACs and sends it out of ifindex: XDP_TX when
 * that is the ingress interface, else a devmap redirect, which must be an
 * attached interface (in xvs_tx_ports) or the frame passes to the kernel
 * untouched. bpf_redirect_map itself says whether ifindex is there (it
 * returns its flags' action, XDP_PASS, when not), so the frame needs no
 * separate xvs_tx_ports lookup: a helper call less, on every kernel. It
 * only records the target; the frame leaves after the program returns.
 */
static __always_inline int xvs_send_to(struct xdp_md *ctx, __u32 ifindex, const __u8 *dmac, const __u8 *smac)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int ret = XDP_TX;

	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (ifindex != ctx->ingress_ifindex) {
		ret = bpf_redirect_map(&xvs_tx_ports, ifindex, XDP_PASS);
		if (ret != XDP_REDIRECT)
			return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	}
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	return ret;
}

/*
 * xvs_fwd_dr sends the frame unchanged but for its MACs to the real: XDP_TX
 * when the real is reached through the ingress interface, a devmap redirect
 * when through another attached one.
 */
static __always_inline int xvs_fwd_dr(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d, __u64 now)
{
	struct xvs_nexthop *nh = NULL;
	int ret;

	ret = xvs_nexthop(ctx, p, d, now, &nh);
	if (ret != XVS_CONTINUE)
		return ret;
	return xvs_send_to(ctx, nh->ifindex, nh->dmac, nh->smac);
}

#include "nat.h" /* uses xvs_nexthop */

/* xvs_forward sends the packet to its real by the real's forwarding method. */
static __always_inline int xvs_forward(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d, __u64 now)
{
	switch (d->real->fwd) {
	case XVS_FWD_DROUTE:
		return xvs_fwd_dr(ctx, p, d, now);
	case XVS_FWD_TUNNEL:
		return xvs_fwd_tun(ctx, p, d, now);
	case XVS_FWD_MASQ:
		return xvs_fwd_nat(ctx, p, d, now);
	default:
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	}
}

#include "icmp.h" /* ICMP errors about VIP flows: forwarded like their flow */

#endif
