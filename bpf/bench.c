//go:build ignore

/*
 * Benchmark wrapper: makes every run of BPF_PROG_TEST_RUN a new flow by
 * writing a fresh client address and port into the frame, then tail-calls
 * the program under test (slot 0 of xvs_bench_next). Frames are Ethernet +
 * IPv4 (IHL 5) + TCP/UDP.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xvs_bench_next SEC(".maps");

__u32 xvs_bench_seq;

SEC("xdp")
int xvs_bench_newflow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u16 *ports = (void *)(ip + 1);
	__u32 seq = ++xvs_bench_seq;

	if ((void *)(ports + 2) > end)
		return XDP_ABORTED;
	/* A distinct (address, port) per run: 2^32 flows before repeating. */
	ip->saddr = (ip->saddr & 0xffff) | ((seq & 0xffff) << 16);
	ports[0] = seq >> 16;
	bpf_tail_call(ctx, &xvs_bench_next, 0);
	return XDP_ABORTED;
}

/* The same wrapper without work beyond the tail call, to measure its own cost. */
SEC("xdp")
int xvs_bench_floor(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &xvs_bench_next, 0);
	return XDP_ABORTED;
}

/*
 * The frame-restoring wrapper (encapsulation and NAT rows): BPF_PROG_TEST_RUN
 * reuses one buffer across repeats, so a program that encapsulates or
 * rewrites would see its own output next time. Before each run this puts
 * the original frame back: the data start where it was (undoing
 * bpf_xdp_adjust_head) and the bytes of xvs_bench_frame (set from Go).
 */
#define XVS_BENCH_FRAME_MAX 256
__u8 xvs_bench_frame[XVS_BENCH_FRAME_MAX];
__u32 xvs_bench_len;

SEC("xdp")
int xvs_bench_restore(struct xdp_md *ctx)
{
	__u32 len = xvs_bench_len;
	int cur = bpf_xdp_get_buff_len(ctx);

	if (len == 0 || len > XVS_BENCH_FRAME_MAX)
		return XDP_ABORTED;
	if (cur != (int)len && bpf_xdp_adjust_head(ctx, cur - (int)len))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, xvs_bench_frame, len))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &xvs_bench_next, 0);
	return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
