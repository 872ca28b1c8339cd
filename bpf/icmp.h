/* ICMP: errors about VIP flows forwarded to the flow's real; fragmentation needed / packet too big sent for tunnelled packets. */
#ifndef XVS_ICMP_H
#define XVS_ICMP_H

#include "parse.h"
#include "csum.h"

/* linux/icmp.h pulls in libc headers a BPF build can't use: the few fields needed, as on the wire. */
struct xvs_icmphdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 unused;
	__be16 mtu; /* next-hop MTU of "fragmentation needed" (RFC 1191) */
};

struct xvs_icmp6hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be32 mtu;
};

#define XVS_ICMP_DEST_UNREACH 3
#define XVS_ICMP_FRAG_NEEDED 4
#define XVS_ICMPV6_PKT_TOOBIG 2
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

/* Bytes of the offending packet quoted: its IP header and the first 8 bytes of what follows (ports). */
#define XVS_ICMP4_QUOTE (sizeof(struct iphdr) + 8)
#define XVS_ICMP6_QUOTE (sizeof(struct ipv6hdr) + 8)

/*
 * xvs_icmp_too_big turns the frame in place into an ICMP "fragmentation
 * needed" (IPv4) or "packet too big" (IPv6) error back to the sender,
 * announcing mtu, as kernel IPVS does for a tunnel packet that would not fit
 * (icmp_send from ip_vs_tunnel_xmit). The error comes from the address the
 * packet was sent to (the VIP), goes out where the packet came in (MACs
 * swapped), and quotes the packet's IP header and first 8 bytes beyond it.
 * An IPv4 packet with options is passed to the kernel instead.
 */
static __always_inline int xvs_icmp_too_big(struct xdp_md *ctx, const struct xvs_pkt *p, __u32 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l2len = sizeof(*eth), hlen, quote;
	__u8 mac[ETH_ALEN];
	__u32 sum;

	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		l2len += sizeof(struct xvs_vlan_hdr);
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = data + l2len;

		if ((void *)(ip + 1) > end || ip->ihl != 5)
			return xvs_verdict(XVS_V_TOO_BIG, XDP_PASS);
		hlen = sizeof(struct iphdr) + sizeof(struct xvs_icmphdr);
		quote = XVS_ICMP4_QUOTE;
	} else {
		hlen = sizeof(struct ipv6hdr) + sizeof(struct xvs_icmp6hdr);
		quote = XVS_ICMP6_QUOTE;
	}
	if (data + l2len + quote > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);

	/* Room for the new IP and ICMP headers in front, then cut after the quote. */
	if (bpf_xdp_adjust_head(ctx, -(int)hlen))
		return xvs_verdict(XVS_V_TOO_BIG, XDP_PASS);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + hlen + sizeof(struct ethhdr) + sizeof(struct xvs_vlan_hdr) > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, data + hlen, sizeof(struct ethhdr)); /* hlen >= 28: no overlap */
	if (l2len > sizeof(struct ethhdr))
		__builtin_memcpy(data + sizeof(struct ethhdr), data + hlen + sizeof(struct ethhdr), sizeof(struct xvs_vlan_hdr));
	if (bpf_xdp_adjust_tail(ctx, (int)(l2len + hlen + quote) - (int)bpf_xdp_get_buff_len(ctx)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = data + l2len;
		struct xvs_icmphdr *ic = (void *)(ip + 1);
		struct iphdr *orig = (void *)(ic + 1);

		if ((void *)orig + XVS_ICMP4_QUOTE > end)
			return XDP_ABORTED;
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = (orig->tos & 0x1e) | 0xc0; /* IPTOS_PREC_INTERNETCONTROL, as icmp_send */
		ip->tot_len = bpf_htons(hlen + XVS_ICMP4_QUOTE);
		ip->id = 0;
		ip->frag_off = 0;
		ip->ttl = 64;
		ip->protocol = IPPROTO_ICMP;
		ip->check = 0;
		ip->saddr = orig->daddr;
		ip->daddr = orig->saddr;
		ip->check = xvs_ip4_csum(ip);
		ic->type = XVS_ICMP_DEST_UNREACH;
		ic->code = XVS_ICMP_FRAG_NEEDED;
		ic->checksum = 0;
		ic->unused = 0;
		ic->mtu = bpf_htons(mtu);
		sum = xvs_csum_add(0, ic, (sizeof(*ic) + XVS_ICMP4_QUOTE) / 2);
		ic->checksum = ~xvs_csum_fold(sum);
	} else {
		struct ipv6hdr *ip6 = data + l2len;
		struct xvs_icmp6hdr *ic6 = (void *)(ip6 + 1);
		struct ipv6hdr *orig = (void *)(ic6 + 1);
		__u32 plen = sizeof(*ic6) + XVS_ICMP6_QUOTE;

		if ((void *)orig + XVS_ICMP6_QUOTE > end)
			return XDP_ABORTED;
		*(__be32 *)ip6 = bpf_htonl(0x60000000);
		ip6->payload_len = bpf_htons(plen);
		ip6->nexthdr = IPPROTO_ICMPV6;
		ip6->hop_limit = 64;
		__builtin_memcpy(&ip6->saddr, &orig->daddr, 16);
		__builtin_memcpy(&ip6->daddr, &orig->saddr, 16);
		ic6->type = XVS_ICMPV6_PKT_TOOBIG;
		ic6->code = 0;
		ic6->checksum = 0;
		ic6->mtu = bpf_htonl(mtu);
		/* Pseudo-header: addresses, upper-layer length, next header. */
		sum = xvs_csum_add(0, &ip6->saddr, 16);
		sum += bpf_htons(plen) + bpf_htons(IPPROTO_ICMPV6);
		sum = xvs_csum_add(sum, ic6, plen / 2);
		ic6->checksum = ~xvs_csum_fold(sum);
	}
	return xvs_verdict(XVS_V_TOO_BIG, XDP_TX);
}

/*
 * xvs_icmp_nat rewrites an ICMP error about a NAT flow as ip_vs_nat_icmp
 * does. in (an error about a reply the client got from VIP:vport): the
 * outer destination and the quoted source address and port become the
 * real's. Otherwise (an error the real sent about a packet to real:rport):
 * the outer source and the quoted destination address and port become the
 * VIP's. The quoted IPv4 header checksum and the ICMP checksum are updated
 * incrementally (the ICMPv6 one covers the outer addresses too); the
 * quoted TCP/UDP checksum is left alone, as IPVS leaves it.
 */
static __always_inline int xvs_icmp_nat(void *end, __u8 af, void *l3, __u8 *icmp, void *iip, __be16 *ports, int in,
					const __u8 *addr, __be16 port)
{
	__u16 *check = (__u16 *)(icmp + 2);
	__be16 *pp = in ? &ports[0] : &ports[1];
	__u8 *oap, *iap;

	if ((void *)(icmp + 8) > end || (void *)(ports + 2) > end)
		return XDP_ABORTED;
	if (af == XVS_AF_INET) {
		struct iphdr *ip = l3, *qip = iip;
		__u16 qcheck;

		if ((void *)(ip + 1) > end || (void *)(qip + 1) > end)
			return XDP_ABORTED;
		oap = in ? (__u8 *)&ip->daddr : (__u8 *)&ip->saddr;
		iap = in ? (__u8 *)&qip->saddr : (__u8 *)&qip->daddr;
		qcheck = xvs_csum_replace(qip->check, iap, addr, 2);
		*check = xvs_csum_replace(*check, iap, addr, 2);
		*check = xvs_csum_replace(*check, &qip->check, &qcheck, 1);
		*check = xvs_csum_replace(*check, pp, &port, 1);
		qip->check = qcheck;
		__builtin_memcpy(iap, addr, 4);
		ip->check = xvs_csum_replace(ip->check, oap, addr, 2);
		__builtin_memcpy(oap, addr, 4);
	} else {
		struct ipv6hdr *ip6 = l3, *qip6 = iip;

		if ((void *)(ip6 + 1) > end || (void *)(qip6 + 1) > end)
			return XDP_ABORTED;
		oap = in ? (__u8 *)&ip6->daddr : (__u8 *)&ip6->saddr;
		iap = in ? (__u8 *)&qip6->saddr : (__u8 *)&qip6->daddr;
		*check = xvs_csum_replace(*check, oap, addr, 8);
		*check = xvs_csum_replace(*check, iap, addr, 8);
		*check = xvs_csum_replace(*check, pp, &port, 1);
		__builtin_memcpy(iap, addr, 16);
		__builtin_memcpy(oap, addr, 16);
	}
	*pp = port;
	return XVS_CONTINUE;
}

/*
 * xvs_icmp_nat_out sends an error a NAT real sent about a packet of the
 * client's (the reverse mapping names the flow) on to the client, from
 * the VIP and quoting VIP:vport, the TTL or hop limit decremented and the
 * next hop from the FIB, as xvs_nat_reply does for the flow's replies
 * (ip_vs_out_icmp). Counted as the real's OutPkts/OutBytes.
 */
static __always_inline int xvs_icmp_nat_out(struct xdp_md *ctx, const struct xvs_pkt *p, const struct xvs_nat_rev *rv,
					    void *l3, __u8 *icmp, void *iip, __be16 *ports)
{
	void *end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct xvs_stats *st;
	__u32 id = rv->real_id;
	long rc;
	int ret;

	fib.ifindex = ctx->ingress_ifindex;
	fib.l4_protocol = p->key.proto;
	fib.tot_len = p->l3_len;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		if (ip->ttl <= 1)
			return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
		fib.family = AF_INET;
		fib.tos = p->tos;
		__builtin_memcpy(&fib.ipv4_src, rv->vaddr, 4);
		__builtin_memcpy(&fib.ipv4_dst, p->key.daddr, 4);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		if (ip6->hop_limit <= 1)
			return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, rv->vaddr, 16);
		__builtin_memcpy(fib.ipv6_dst, p->key.daddr, 16);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return xvs_verdict(XVS_V_PASS_NO_NEIGH, XDP_PASS);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return xvs_verdict(XVS_V_PASS_FIB, XDP_PASS);
	ret = xvs_icmp_nat(end, p->key.af, l3, icmp, iip, ports, 0, rv->vaddr, rv->vport);
	if (ret != XVS_CONTINUE)
		return ret;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = l3;
		__u16 old, new;

		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		old = *(__u16 *)&ip->ttl;
		ip->ttl--;
		new = *(__u16 *)&ip->ttl;
		ip->check = xvs_csum_replace(ip->check, &old, &new, 1);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end)
			return XDP_ABORTED;
		ip6->hop_limit--;
	}
	ret = xvs_send_to(ctx, fib.ifindex, fib.dmac, fib.smac);
	if (ret == XDP_TX || ret == XDP_REDIRECT) {
		st = bpf_map_lookup_elem(&xvs_real_stats, &id);
		if (st) {
			st->outpkts++;
			st->outbytes += p->l3_len;
		}
	}
	return ret;
}

/*
 * xvs_icmp_in handles an ICMP or ICMPv6 packet, as ip_vs_in_icmp and
 * ip_vs_out_icmp do. An error (destination unreachable, fragmentation
 * needed / packet too big, time exceeded) quoting a packet of a VIP flow,
 * one the client got from the VIP, goes to the real that holds the flow
 * (the connection table, looked up with the quoted header reversed), by
 * the real's method: direct routing or a tunnel, the packet unchanged; NAT,
 * the outer destination and the quoted source translated to the real's
 * (xvs_icmp_nat). An error a NAT real sent about a packet of the client's
 * (the reverse NAT table, looked up with the same reversed header) goes to
 * the client translated back to the VIP (xvs_icmp_nat_out). Everything else
 * goes to the kernel, counted as pass_protocol.
 */
static __always_inline int xvs_icmp_in(struct xdp_md *ctx, struct xvs_pkt *p, __u64 now)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct xvs_conn_key k = {};
	struct xvs_dst d = {};
	struct xvs_nexthop *nh = NULL;
	struct xvs_nat_rev *rv;
	struct xvs_conn *c;
	__u32 l2len = sizeof(*eth);
	void *l3, *iip;
	__u8 *icmp;
	__be16 *ports;
	int ret;

	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) || eth->h_proto == bpf_htons(ETH_P_8021AD))
		l2len += sizeof(struct xvs_vlan_hdr);
	l3 = data + l2len;
	if (p->key.af == XVS_AF_INET) {
		struct iphdr *ip = l3, *qip;

		if ((void *)(ip + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		icmp = (void *)ip + (ip->ihl & 0xf) * 4;
		if ((void *)(icmp + 8) > end)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		if (icmp[0] != XVS_ICMP_DEST_UNREACH && icmp[0] != 11 /* time exceeded */)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		qip = (void *)(icmp + 8);
		if ((void *)(qip + 1) > end || qip->version != 4 || qip->ihl < 5)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		iip = qip;
		ports = (void *)qip + (qip->ihl & 0xf) * 4;
		k.proto = qip->protocol;
		__builtin_memcpy(k.saddr, &qip->daddr, 4);
		__builtin_memcpy(k.daddr, &qip->saddr, 4);
	} else {
		struct ipv6hdr *ip6 = l3, *qip6;

		if ((void *)(ip6 + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		if (ip6->nexthdr != IPPROTO_ICMPV6)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		icmp = (void *)(ip6 + 1);
		if ((void *)(icmp + 8) > end)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		if (icmp[0] != 1 /* unreachable */ && icmp[0] != XVS_ICMPV6_PKT_TOOBIG && icmp[0] != 3 /* time exceeded */)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		qip6 = (void *)(icmp + 8);
		if ((void *)(qip6 + 1) > end || qip6->version != 6)
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		iip = qip6;
		ports = (void *)(qip6 + 1);
		k.proto = qip6->nexthdr; /* quoted extension headers: not followed */
		__builtin_memcpy(k.saddr, &qip6->daddr, 16);
		__builtin_memcpy(k.daddr, &qip6->saddr, 16);
	}
	if (k.proto != IPPROTO_TCP && k.proto != IPPROTO_UDP)
		return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
	if ((void *)(ports + 2) > end)
		return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
	k.sport = ports[1];
	k.dport = ports[0];
	k.af = p->key.af;

	c = bpf_map_lookup_elem(&xvs_conns, &k);
	if (!c) {
		/* An error from a NAT real about the client's packet to it. */
		rv = bpf_map_lookup_elem(&xvs_nat_rev, &k);
		if (!rv || !xvs_nat_real(rv, &k))
			return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
		return xvs_icmp_nat_out(ctx, p, rv, l3, icmp, iip, ports);
	}
	d.real = xvs_real_get(c->real_id, c->real_gen, c->svc_id);
	if (!d.real)
		return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
	d.real_id = c->real_id;
	d.svc_id = c->svc_id;
	p->key.sport = k.sport; /* the flow's ports: a GUE source port like the flow's */
	p->key.dport = k.dport;
	switch (d.real->fwd) {
	case XVS_FWD_DROUTE:
	case XVS_FWD_TUNNEL:
		ret = xvs_forward(ctx, p, &d, now);
		break;
	case XVS_FWD_MASQ:
		if (d.real->af != p->key.af)
			return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
		ret = xvs_nexthop(ctx, p, &d, now, &nh);
		if (ret != XVS_CONTINUE)
			return ret;
		ret = xvs_icmp_nat(end, p->key.af, l3, icmp, iip, ports, 1, d.real->addr,
				   d.real->port && !(d.real->flags & XVS_REAL_F_PORT0) ? d.real->port : k.dport);
		if (ret != XVS_CONTINUE)
			return ret;
		ret = xvs_send_to(ctx, nh->ifindex, nh->dmac, nh->smac);
		break;
	default:
		return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
	}
	if (ret == XDP_TX || ret == XDP_REDIRECT)
		xvs_account(d.real_id, p->l3_len, 0);
	return ret;
}

#endif
