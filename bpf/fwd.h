/* Forwarding: direct routing (MAC rewrite) with the next hop from the kernel's FIB and neighbour table. */
#ifndef XVS_FWD_H
#define XVS_FWD_H

#include "sched.h"

/* Flags for bpf_fib_lookup: a normal (ingress-perspective) lookup. */
#ifndef XVS_FIB_FLAGS
#define XVS_FIB_FLAGS 0
#endif

/*
 * xvs_fwd_dr sends the frame unchanged but for its MACs to the real: XDP_TX
 * when the real is reached through the ingress interface, a devmap redirect
 * when through another attached one. An unresolved neighbour or a route the
 * datapath can't use passes the packet to the kernel.
 */
static __always_inline int xvs_fwd_dr(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_real *real)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	__u32 ifindex;
	long rc;

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
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), XVS_FIB_FLAGS);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xvs_verdict(XVS_V_PASS_NO_NEIGH, XDP_PASS);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);

	ifindex = fib.ifindex;
	if (ifindex != ctx->ingress_ifindex && !bpf_map_lookup_elem(&xvs_tx_ports, &ifindex))
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	if (ifindex == ctx->ingress_ifindex)
		return xvs_verdict(XVS_V_TX, XDP_TX);
	xvs_verdict(XVS_V_REDIRECT, 0);
	return bpf_redirect_map(&xvs_tx_ports, ifindex, XDP_PASS);
}

/* xvs_forward sends the packet to its real by the real's forwarding method. */
static __always_inline int xvs_forward(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_real *real)
{
	switch (real->fwd) {
	case XVS_FWD_DROUTE:
		return xvs_fwd_dr(ctx, p, real);
	default:
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	}
}

#endif
