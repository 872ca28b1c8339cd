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

char _license[] SEC("license") = "GPL";
