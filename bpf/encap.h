/* Tunnel encapsulation (-i): IPIP, IPv6 in IPv6 (and mixed families), GUE and GRE as kernel IPVS builds them. */
#ifndef XVS_ENCAP_H
#define XVS_ENCAP_H

#include "sched.h"
#include "csum.h"

/* Defined in icmp.h (included by fwd.h after the forwarding methods it uses). */
static __always_inline int xvs_icmp_too_big(struct xdp_md *ctx, const struct xvs_pkt *p, __u32 mtu);

/* Tunnel types and encapsulation flags: IPVS's IP_VS_CONN_F_TUNNEL_TYPE_* and IP_VS_TUNNEL_ENCAP_FLAG_*. */
#define XVS_TUN_IPIP 0
#define XVS_TUN_GUE 1
#define XVS_TUN_GRE 2
#define XVS_TUN_F_CSUM 0x1
#define XVS_TUN_F_REMCSUM 0x2

#define XVS_IP_DF 0x4000
#define XVS_GRE_PROTO 47

/* The source port range of GUE packets: the kernel's default ephemeral range, as udp_flow_src_port uses. */
#define XVS_GUE_SPORT_MIN 32768
#define XVS_GUE_SPORT_MAX 61000

/*
 * What a tunnel real needs beyond its MACs (xvs_nexthop): the outer source
 * address (the route's preferred source unless one is configured) and the
 * path MTU towards the real. Cached per CPU by real id, refreshed with the
 * next hop.
 */
struct xvs_tun_nh {
	__u64 expires;
	__u32 real_gen;
	__u32 mtu;
	__u8 saddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xvs_tun_nh);
} xvs_tun_nh SEC(".maps");

struct xvs_gue_hdr {
	__u8 hlen_ver; /* version (2 bits), C, hlen (5 bits): all zero, no options */
	__u8 proto_ctype;
	__be16 flags;
};

struct xvs_udp_gue {
	struct udphdr udp;
	struct xvs_gue_hdr gue;
};

/* xvs_ecn_encap is the outer DS field for an inner one: DSCP copied, ECN as INET_ECN_encapsulate (CE becomes ECT(0)). */
static __always_inline __u8 xvs_ecn_encap(__u8 tos)
{
	return (tos & 3) == 3 ? (tos & ~3) | 2 : tos;
}

/*
 * xvs_tun_nexthop returns the next hop (egress interface, MACs) and the
 * tunnel's outer source and path MTU towards the real, from the per-CPU
 * caches or from bpf_fib_lookup: once with BPF_FIB_LOOKUP_SRC for the
 * route's source address and the neighbour, once with the largest length for
 * the route's MTU.
 */
static __always_inline int xvs_tun_nexthop(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d,
					   __u64 now, struct xvs_nexthop **nhp, struct xvs_tun_nh **tnp)
{
	const struct xvs_real *real = d->real;
	struct bpf_fib_lookup fib = {};
	struct xvs_tun_nh *tn;
	struct xvs_nexthop *nh;
	__u32 id = d->real_id;
	long rc;

	nh = bpf_map_lookup_elem(&xvs_nh_cache, &id);
	tn = bpf_map_lookup_elem(&xvs_tun_nh, &id);
	if (!nh || !tn)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	*nhp = nh;
	*tnp = tn;
	if (nh->real_gen == real->gen && nh->expires > now && tn->real_gen == real->gen && tn->expires > now)
		return XVS_CONTINUE;

	fib.ifindex = ctx->ingress_ifindex;
	if (real->af == XVS_AF_INET) {
		fib.family = AF_INET;
		fib.tos = p->tos;
		__builtin_memcpy(&fib.ipv4_dst, real->addr, 4);
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_dst, real->addr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_SRC);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xvs_verdict(XVS_V_PASS_NO_NEIGH, XDP_PASS);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	nh->expires = now + XVS_NH_TTL;
	nh->real_gen = real->gen;
	nh->ifindex = fib.ifindex;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	__builtin_memset(tn->saddr, 0, 16);
	if (real->af == XVS_AF_INET)
		__builtin_memcpy(tn->saddr, &fib.ipv4_src, 4);
	else
		__builtin_memcpy(tn->saddr, fib.ipv6_src, 16);

	/* The route's MTU: a lookup longer than any MTU fails with it. */
	fib.ifindex = ctx->ingress_ifindex;
	fib.tot_len = 0xffff;
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	tn->mtu = rc == BPF_FIB_LKUP_RET_FRAG_NEEDED ? fib.mtu_result : 0xffff;
	tn->expires = now + XVS_NH_TTL;
	tn->real_gen = real->gen;
	return XVS_CONTINUE;
}

/* xvs_gue_sport spreads flows over the source port range, as udp_flow_src_port does with the flow hash. */
static __always_inline __be16 xvs_gue_sport(const struct xvs_pkt *p)
{
	const __u32 *w = (const void *)&p->key;
	__u32 h = w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4] ^ w[5] ^ w[6] ^ w[7] ^ w[8] ^ w[9];

	h *= 0x9e3779b1u;
	return bpf_htons((__u16)((((__u64)h * (XVS_GUE_SPORT_MAX - XVS_GUE_SPORT_MIN)) >> 32) + XVS_GUE_SPORT_MIN));
}

/*
 * xvs_inner_sum returns in *out the one's-complement sum of the whole inner
 * IP packet computed from its headers alone, for the outer checksums of
 * --tun-csum (GUE's UDP checksum, GRE's checksum), as local checksum
 * offload does: an IPv4 header adds its own words, and a TCP, UDP or ICMPv6
 * segment whose checksum is valid sums to the complement of its
 * pseudo-header (an ICMP message to zero). A packet whose sum can't be known
 * that way (IPv4 options, IPv6 extension headers, an IPv4 UDP datagram
 * without checksum) returns -1. A client's corrupt checksum makes the outer
 * one wrong too: the real drops the packet either way.
 */
static __always_inline int xvs_inner_sum(const struct xvs_pkt *p, void *l3, void *end, __u32 *out)
{
	__u32 sum, pseudo = 0, l4len;

	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->ihl != 5)
			return -1;
		if (p->key.proto == IPPROTO_UDP) {
			struct udphdr *uh = (void *)(ip + 1);

			if ((void *)(uh + 1) > end || uh->check == 0)
				return -1;
		}
		l4len = bpf_ntohs(ip->tot_len) - sizeof(*ip);
		sum = xvs_csum_add(0, ip, sizeof(*ip) / 2);
		if (p->key.proto != IPPROTO_ICMP)
			pseudo = xvs_csum_add(0, &ip->saddr, 4) + bpf_htons(p->key.proto) + bpf_htons(l4len);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != p->key.proto)
			return -1;
		l4len = bpf_ntohs(ip6->payload_len);
		sum = xvs_csum_add(0, ip6, sizeof(*ip6) / 2);
		pseudo = xvs_csum_add(0, &ip6->saddr, 16) + bpf_htons(l4len) + bpf_htons(p->key.proto);
	}
	if (pseudo)
		sum += (__u16)~xvs_csum_fold(pseudo);
	*out = sum;
	return 0;
}

/*
 * xvs_fwd_tun encapsulates the packet for a tunnel real, as ip_vs_tunnel_xmit
 * does: the outer header's family is the real's, its source the route's (or
 * configured) address, DF set, TTL and DS field from the inner header (ECN
 * as RFC 6040). A packet the path MTU can't carry once encapsulated gets an
 * ICMP error back (icmp.h). The L2 header (and a VLAN tag) is kept, with the next hop's
 * MACs.
 */
static __always_inline int xvs_fwd_tun(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_dst *d, __u64 now)
{
	const struct xvs_real *real = d->real;
	struct xvs_nexthop *nh = NULL;
	struct xvs_tun_nh *tn = NULL;
	void *data, *end, *outer;
	struct ethhdr *eth;
	__u32 olen, l2len = sizeof(struct ethhdr), ifindex, plen;
	__u8 inner_proto, outer_proto, ttl, tos;
	__be16 ethertype;
	__u32 isum = 0;
	int ret, csum;

	/*
	 * Outer checksums: GUE with --tun-csum or --tun-remcsum gets a full UDP
	 * checksum, as IPVS gives it (the remote checksum option is only for
	 * CHECKSUM_PARTIAL packets, which XDP never sees); GRE with --tun-csum
	 * the GRE checksum. Without, GUE's UDP checksum is 0.
	 */
	if (real->tun_type == XVS_TUN_IPIP)
		olen = 0;
	else if (real->tun_type == XVS_TUN_GUE)
		olen = sizeof(struct xvs_udp_gue);
	else if (real->tun_type == XVS_TUN_GRE)
		olen = real->tun_flags & XVS_TUN_F_CSUM ? 8 : 4;
	else
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	csum = (real->tun_type == XVS_TUN_GUE && (real->tun_flags & (XVS_TUN_F_CSUM | XVS_TUN_F_REMCSUM))) ||
	       (real->tun_type == XVS_TUN_GRE && (real->tun_flags & XVS_TUN_F_CSUM));
	olen += real->af == XVS_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);

	ret = xvs_tun_nexthop(ctx, p, d, now, &nh, &tn);
	if (ret != XVS_CONTINUE)
		return ret;
	ifindex = nh->ifindex;
	if (ifindex != ctx->ingress_ifindex && !bpf_map_lookup_elem(&xvs_tx_ports, &ifindex))
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	if (p->l3_len + olen > tn->mtu) {
		/* What fits once encapsulated; a real route's MTU is never below 1280 for IPv6. */
		if (ifindex != ctx->ingress_ifindex) /* the error goes back where the packet came in */
			return xvs_verdict(XVS_V_TOO_BIG, XDP_PASS);
		if (p->key.proto == IPPROTO_ICMP || p->key.proto == 58) /* never an error about an ICMP error */
			return xvs_verdict(XVS_V_TOO_BIG, XDP_PASS);
		return xvs_icmp_too_big(ctx, p, tn->mtu - olen);
	}

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		l2len += sizeof(struct xvs_vlan_hdr);
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = data + l2len;

		if ((void *)(ip + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		ttl = ip->ttl;
		inner_proto = IPPROTO_IPIP;
		ethertype = bpf_htons(ETH_P_IP);
	} else {
		struct ipv6hdr *ip6 = data + l2len;

		if ((void *)(ip6 + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		ttl = ip6->hop_limit;
		inner_proto = IPPROTO_IPV6;
		ethertype = bpf_htons(ETH_P_IPV6);
	}
	tos = xvs_ecn_encap(p->tos);
	if (csum && xvs_inner_sum(p, data + l2len, end, &isum))
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);

	if (bpf_xdp_adjust_head(ctx, -(int)olen))
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + olen + sizeof(struct ethhdr) + sizeof(struct xvs_vlan_hdr) > end)
		return XDP_ABORTED; /* cannot happen: the frame held at least that before */
	/* Move the L2 header to the new start (no overlap: olen >= 20 > 18). */
	__builtin_memcpy(data, data + olen, sizeof(struct ethhdr));
	eth = data;
	if (l2len > sizeof(struct ethhdr)) {
		struct xvs_vlan_hdr *vh = data + sizeof(struct ethhdr);

		__builtin_memcpy(vh, data + olen + sizeof(struct ethhdr), sizeof(*vh));
	}
	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);

	outer_proto = inner_proto;
	if (real->tun_type == XVS_TUN_GUE)
		outer_proto = IPPROTO_UDP;
	else if (real->tun_type == XVS_TUN_GRE)
		outer_proto = XVS_GRE_PROTO;

	outer = data + l2len;
	if (real->af == XVS_AF_INET) {
		struct iphdr *oip = outer;

		if ((void *)(oip + 1) > end)
			return XDP_ABORTED;
		oip->version = 4;
		oip->ihl = 5;
		oip->tos = tos;
		oip->tot_len = bpf_htons(p->l3_len + olen);
		oip->id = 0;
		oip->frag_off = bpf_htons(XVS_IP_DF);
		oip->ttl = ttl;
		oip->protocol = outer_proto;
		oip->check = 0;
		__builtin_memcpy(&oip->saddr, tn->saddr, 4);
		__builtin_memcpy(&oip->daddr, real->addr, 4);
		oip->check = xvs_ip4_csum(oip);
		outer = oip + 1;
		ethertype = bpf_htons(ETH_P_IP);
	} else {
		struct ipv6hdr *oip6 = outer;

		if ((void *)(oip6 + 1) > end)
			return XDP_ABORTED;
		*(__be32 *)oip6 = bpf_htonl(0x60000000 | ((__u32)tos << 20));
		oip6->payload_len = bpf_htons(p->l3_len + olen - sizeof(*oip6));
		oip6->nexthdr = outer_proto;
		oip6->hop_limit = ttl;
		__builtin_memcpy(&oip6->saddr, tn->saddr, 16);
		__builtin_memcpy(&oip6->daddr, real->addr, 16);
		outer = oip6 + 1;
		ethertype = bpf_htons(ETH_P_IPV6);
	}
	if (l2len > sizeof(struct ethhdr))
		((struct xvs_vlan_hdr *)(data + sizeof(struct ethhdr)))->proto = ethertype;
	else
		eth->h_proto = ethertype;

	plen = p->l3_len;
	if (real->tun_type == XVS_TUN_GUE) {
		struct xvs_udp_gue *ug = outer;

		if ((void *)(ug + 1) > end)
			return XDP_ABORTED;
		ug->udp.source = xvs_gue_sport(p);
		ug->udp.dest = real->tun_port;
		ug->udp.len = bpf_htons(plen + sizeof(*ug));
		ug->udp.check = 0; /* --tun-nocsum: zero on IPv4, and on IPv6 as RFC 6935 allows tunnels */
		ug->gue.hlen_ver = 0;
		ug->gue.proto_ctype = inner_proto;
		ug->gue.flags = 0;
		if (csum) {
			__u32 sum = isum + xvs_csum_add(0, ug, sizeof(*ug) / 2) + bpf_htons(IPPROTO_UDP) + ug->udp.len;

			if (real->af == XVS_AF_INET) {
				sum = xvs_csum_add(sum, tn->saddr, 2);
				sum = xvs_csum_add(sum, real->addr, 2);
			} else {
				sum = xvs_csum_add(sum, tn->saddr, 8);
				sum = xvs_csum_add(sum, real->addr, 8);
			}
			ug->udp.check = ~xvs_csum_fold(sum);
			if (!ug->udp.check)
				ug->udp.check = 0xffff;
		}
	} else if (real->tun_type == XVS_TUN_GRE) {
		__be16 *gre = outer;

		if ((void *)(gre + 4) > end)
			return XDP_ABORTED;
		gre[0] = csum ? bpf_htons(0x8000) : 0; /* C bit; no key or sequence; version 0 */
		gre[1] = inner_proto == IPPROTO_IPIP ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
		if (csum) {
			gre[2] = 0;
			gre[3] = 0; /* reserved */
			gre[2] = ~xvs_csum_fold(isum + xvs_csum_add(0, gre, 4));
		}
	}

	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect_map(&xvs_tx_ports, ifindex, XDP_PASS);
}

#endif
