//go:build ignore

/*
 * The real server's decapsulation program: strips the IPIP, IPv6-in-IPv6,
 * GUE or GRE header a balancer in tunnel mode (-i) adds, for hosts without
 * the ipip/ip6tnl/fou/gre modules, and passes the inner packet to the stack
 * as if it had arrived bare. Attach it on end hosts only: it decapsulates
 * every tunnel packet it sees, whoever it is addressed to.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* GUE's UDP port (--tun-port of the balancer's reals), host order; 0: no GUE. Set from Go before load. */
volatile const __u16 xvs_decap_gue_port = 0;

/* Counters (per CPU): packets decapsulated, by outer type. */
enum xvs_decap_stat {
	XVS_DECAP_IPIP = 0,
	XVS_DECAP_GUE,
	XVS_DECAP_GRE,
	XVS_DECAP_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_DECAP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xvs_decap_stats SEC(".maps");

#define XVS_GRE_PROTO 47
#define XVS_GRE_CSUM 0x8000
#define XVS_GRE_KEY 0x2000
#define XVS_GRE_SEQ 0x1000

const enum xvs_decap_stat *xvs_unused_decap_stat __attribute__((unused));

/* The inner packet a tunnel header announces: its ethertype, or 0 for none we know. */
static __always_inline __be16 xvs_inner_type(__u8 ipproto)
{
	if (ipproto == IPPROTO_IPIP)
		return bpf_htons(ETH_P_IP);
	if (ipproto == IPPROTO_IPV6)
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

/*
 * xvs_tun_len returns the length of the UDP+GUE or GRE header at l4 (proto
 * the outer IP protocol) and sets *type to the inner ethertype and *stat to
 * the counter; 0 when the packet is not a tunnel packet we strip.
 */
static __always_inline __u32 xvs_tun_len(__u8 proto, void *l4, void *end, __be16 *type, __u32 *stat)
{
	if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6) {
		*type = xvs_inner_type(proto);
		*stat = XVS_DECAP_IPIP;
		return 0;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		__u8 *gue = (void *)(uh + 1);

		if (!xvs_decap_gue_port || (void *)(gue + 4) > end)
			return 0xffff;
		if (uh->dest != bpf_htons(xvs_decap_gue_port))
			return 0xffff;
		if (gue[0] & 0xe0) /* version 0, data message (C clear) */
			return 0xffff;
		*type = xvs_inner_type(gue[1]);
		*stat = XVS_DECAP_GUE;
		return sizeof(*uh) + 4 + (gue[0] & 0x1f) * 4;
	}
	if (proto == XVS_GRE_PROTO) {
		__be16 *gre = l4;
		__u16 flags;
		__u32 len = 4;

		if ((void *)(gre + 2) > end)
			return 0xffff;
		flags = bpf_ntohs(gre[0]);
		if (flags & ~(XVS_GRE_CSUM | XVS_GRE_KEY | XVS_GRE_SEQ)) /* routing, version != 0 */
			return 0xffff;
		len += (flags & XVS_GRE_CSUM) ? 4 : 0;
		len += (flags & XVS_GRE_KEY) ? 4 : 0;
		len += (flags & XVS_GRE_SEQ) ? 4 : 0;
		*type = gre[1] == bpf_htons(ETH_P_IP) || gre[1] == bpf_htons(ETH_P_IPV6) ? gre[1] : 0;
		*stat = XVS_DECAP_GRE;
		return len;
	}
	return 0xffff;
}

SEC("xdp")
int xvs_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 l2len = sizeof(*eth), strip, tlen, stat = 0;
	__be16 proto, inner = 0;
	void *l3;
	__u64 *cnt;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		__be16 *vh = (void *)(eth + 1);

		if ((void *)(vh + 2) > end)
			return XDP_PASS;
		proto = vh[1];
		l2len += 4;
	}
	l3 = data + l2len;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->version != 4)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff)) /* fragments: the kernel reassembles (and can't decapsulate) */
			return XDP_PASS;
		tlen = xvs_tun_len(ip->protocol, ip + 1, end, &inner, &stat);
		strip = sizeof(*ip);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return XDP_PASS;
		tlen = xvs_tun_len(ip6->nexthdr, ip6 + 1, end, &inner, &stat);
		strip = sizeof(*ip6);
	} else {
		return XDP_PASS;
	}
	if (!inner || tlen > 64)
		return XDP_PASS;
	strip += tlen;

	/* The inner packet must at least hold its IP header: else the kernel judges the frame as it is. */
	if (data + l2len + strip + (inner == bpf_htons(ETH_P_IP) ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) > end)
		return XDP_PASS;
	/* Move the L2 header over the outer headers, then drop them. */
	if (data + strip + l2len > end)
		return XDP_PASS;
	if (l2len > sizeof(*eth)) {
		__builtin_memcpy(data + strip + sizeof(*eth), data + sizeof(*eth), 4);
		((__be16 *)(data + strip + sizeof(*eth)))[1] = inner;
	}
	/* Copy backwards-safe: strip >= 20 > l2len, the two never overlap. */
	__builtin_memcpy(data + strip, data, 12);
	if (l2len == sizeof(*eth))
		*(__be16 *)(data + strip + 12) = inner;
	else
		*(__be16 *)(data + strip + 12) = eth->h_proto;
	if (bpf_xdp_adjust_head(ctx, (int)strip))
		return XDP_PASS;
	cnt = bpf_map_lookup_elem(&xvs_decap_stats, &stat);
	if (cnt)
		*cnt += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
