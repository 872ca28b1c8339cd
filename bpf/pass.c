//go:build ignore

/* A trivial XDP program: the floor for benchmarks, and the receiver a veth peer needs for native XDP_TX. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xvs_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
