/* Packet parsing: Ethernet (one 802.1Q/802.1ad tag), IPv4 (any IHL), IPv6 (extension headers), TCP, UDP. */
#ifndef XVS_PARSE_H
#define XVS_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "stats.h"

/*
 * Verdicts decided here, one rule: anything that is not a well-formed,
 * unfragmented TCP or UDP packet over IPv4/IPv6 is passed to the kernel
 * untouched (XDP_PASS). The kernel's own stack validates and drops
 * malformed packets and reassembles fragments; kernel IPVS, when present,
 * serves what the datapath does not.
 */

/* xvs_parse's return for ICMP and ICMPv6 (addresses and protocol filled, no ports): see icmp.h. */
#define XVS_PARSE_ICMP -2

/* A parsed packet. */
struct xvs_pkt {
	struct xvs_conn_key key; /* addresses, ports, protocol, family (network order) */
	__u32 l3_len;            /* IP datagram length (header + payload) */
	__u8 tcp_flags;
	__u8 tos;                /* IPv4 TOS / IPv6 traffic class */
	__u8 port0;              /* the service matched is its VIP's port-0 service (set by xvs_svc_lookup) */
	__u8 pad;
} __attribute__((aligned(8))); /* the key is read as 64-bit words by the flow cache */

struct xvs_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* IPv6 extension header common prefix (hop-by-hop, routing, destination options). */
struct xvs_ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-octet units, not counting the first 8 */
	__u8 pad[6];
};

static __always_inline int xvs_parse_l4(struct xvs_pkt *p, void *l4, void *end)
{
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		if (th->doff < 5)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		p->key.sport = th->source;
		p->key.dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		return XVS_CONTINUE;
	}
	if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		p->key.sport = uh->source;
		p->key.dport = uh->dest;
		return XVS_CONTINUE;
	}
	if (p->key.proto == IPPROTO_ICMP || p->key.proto == 58 /* IPPROTO_ICMPV6 */)
		return XVS_PARSE_ICMP; /* an error about a VIP flow goes to its real (icmp.h) */
	return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS);
}

static __always_inline int xvs_parse_ip4(struct xvs_pkt *p, void *l3, void *end)
{
	struct iphdr *ip = l3;
	__u32 hlen;

	if ((void *)(ip + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (ip->version != 4 || ip->ihl < 5)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	hlen = ip->ihl * 4;
	if (l3 + hlen > end || bpf_ntohs(ip->tot_len) < hlen)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or a fragment offset */
		return xvs_verdict(XVS_V_PASS_FRAG, XDP_PASS);

	p->key.af = XVS_AF_INET;
	p->key.proto = ip->protocol;
	__builtin_memcpy(p->key.saddr, &ip->saddr, 4);
	__builtin_memcpy(p->key.daddr, &ip->daddr, 4);
	p->l3_len = bpf_ntohs(ip->tot_len);
	p->tos = ip->tos;
	return xvs_parse_l4(p, l3 + hlen, end);
}

static __always_inline int xvs_parse_ip6(struct xvs_pkt *p, void *l3, void *end)
{
	struct ipv6hdr *ip6 = l3;
	void *l4 = (void *)(ip6 + 1);
	__u8 nexthdr;
	int i;

	if ((void *)(ip6 + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	if (ip6->version != 6)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	nexthdr = ip6->nexthdr;

#pragma unroll
	for (i = 0; i < XVS_IPV6_MAX_EXT; i++) {
		struct xvs_ip6_ext *ext = l4;

		if (nexthdr == IPPROTO_FRAGMENT)
			return xvs_verdict(XVS_V_PASS_FRAG, XDP_PASS);
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING && nexthdr != IPPROTO_DSTOPTS)
			break;
		if ((void *)(ext + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		nexthdr = ext->nexthdr;
		l4 += (ext->hdrlen + 1) * 8;
	}
	if (nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_DSTOPTS ||
	    nexthdr == IPPROTO_FRAGMENT)
		return xvs_verdict(XVS_V_PASS_PROTO, XDP_PASS); /* more extension headers than we walk */

	p->key.af = XVS_AF_INET6;
	p->key.proto = nexthdr;
	__builtin_memcpy(p->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.daddr, &ip6->daddr, 16);
	p->l3_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	p->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	return xvs_parse_l4(p, l4, end);
}

/* xvs_parse fills p from the frame, or returns the packet's verdict. */
static __always_inline int xvs_parse(struct xdp_md *ctx, struct xvs_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3 = (void *)(eth + 1);
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct xvs_vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > end)
			return xvs_verdict(XVS_V_PASS_MALFORMED, XDP_PASS);
		proto = vh->proto;
		l3 = (void *)(vh + 1);
	}
	if (proto == bpf_htons(ETH_P_IP))
		return xvs_parse_ip4(p, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return xvs_parse_ip6(p, l3, end);
	return xvs_verdict(XVS_V_PASS_NOT_IP, XDP_PASS);
}

#endif
