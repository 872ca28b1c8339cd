//go:build ignore

/*
 * Traffic generator and sink for the packets-per-second benchmark
 * (tests/vm/pps_test.go).
 *
 * xvs_pktgen runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 * every run writes the whole frame of the next of xvs_pktgen_nflows flows
 * (templates set from Go) and sends it out of the context's ingress
 * interface (XDP_TX, a veth: the frame arrives at its peer). Live frames
 * reuse page-pool buffers without copying the original again, so the
 * frame is rewritten every time.
 *
 * xvs_pktsink counts the IPv4 frames to xvs_pktsink_vip per CPU and drops
 * them; everything else passes.
 *
 * xvs_pktfwd is the balancer's floor: it sets the destination MAC and
 * redirects every frame out of one interface, the least an XDP direct-
 * routing balancer does (no parsing, no lookup).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef XVS_PKTGEN_FLOWS
#define XVS_PKTGEN_FLOWS 1024 /* template slots, a power of two */
#endif
#define XVS_PKTGEN_LEN 60 /* bytes written per frame: Ethernet's minimum without FCS */

/* One frame's bytes (the first XVS_PKTGEN_LEN are sent), 8-byte aligned. */
struct xvs_pktgen_frame {
	__u64 w[8];
};

/* The flows' frames, set from Go before load (an ordinary global: clang may fold a const one). */
struct xvs_pktgen_frame xvs_pktgen_frames[XVS_PKTGEN_FLOWS];
/* How many of the slots are used, minus one (a power of two minus one). */
__u32 xvs_pktgen_mask;
/* Frames generated so far (one CPU runs the generator: no atomics). */
__u32 xvs_pktgen_seq;

SEC("xdp")
int xvs_pktgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 i = xvs_pktgen_seq++ & xvs_pktgen_mask & (XVS_PKTGEN_FLOWS - 1);
	const __u64 *src = xvs_pktgen_frames[i].w;
	__u64 *dst = data;

	if (data + XVS_PKTGEN_LEN > end)
		return XDP_ABORTED;
#pragma unroll
	for (int k = 0; k < XVS_PKTGEN_LEN / 8; k++)
		dst[k] = src[k];
	*(__u32 *)&dst[XVS_PKTGEN_LEN / 8] = *(const __u32 *)&src[XVS_PKTGEN_LEN / 8];
	return XDP_TX;
}

/* The sink's count of frames to the VIP, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xvs_pktsink_cnt SEC(".maps");

/* The destination address counted, in network order (set from Go). */
volatile const __u32 xvs_pktsink_vip;

SEC("xdp")
int xvs_pktsink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 key = 0;
	__u64 *cnt;

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->daddr != xvs_pktsink_vip)
		return XDP_PASS;
	cnt = bpf_map_lookup_elem(&xvs_pktsink_cnt, &key);
	if (cnt)
		*cnt += 1;
	return XDP_DROP;
}

/* Where xvs_pktfwd sends frames: the interface and the next hop's MAC (set from Go). */
volatile const __u32 xvs_pktfwd_ifindex;
__u8 xvs_pktfwd_dmac[ETH_ALEN];

SEC("xdp")
int xvs_pktfwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, xvs_pktfwd_dmac, ETH_ALEN);
	return bpf_redirect(xvs_pktfwd_ifindex, 0);
}

char _license[] SEC("license") = "GPL";
