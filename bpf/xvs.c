//go:build ignore

/* The xvs XDP balancer: parse, find the service, find or schedule the flow's real, forward. */
#include "fwd.h"

/* Force the shared enums into BTF so bpf2go generates them for Go. */
const enum xvs_af *xvs_unused_af __attribute__((unused));
const enum xvs_svc_flag *xvs_unused_svc_flag __attribute__((unused));
const enum xvs_fwd *xvs_unused_fwd __attribute__((unused));
const enum xvs_sched *xvs_unused_sched __attribute__((unused));
const enum xvs_real_flag *xvs_unused_real_flag __attribute__((unused));
const enum xvs_verdict *xvs_unused_verdict __attribute__((unused));
const enum xvs_conn_state *xvs_unused_conn_state __attribute__((unused));
const enum xvs_conn_flag *xvs_unused_conn_flag __attribute__((unused));
const struct xvs_nexthop *xvs_unused_nexthop __attribute__((unused));
const struct xvs_flow_ent *xvs_unused_flow_ent __attribute__((unused));

SEC("xdp")
int xvs_xdp(struct xdp_md *ctx)
{
	struct xvs_pkt p = {};
	struct xvs_dst d = {};
	struct xvs_flow_ent *fe;
	struct xvs_svc *svc;
	__u64 now;
	int ret;

	ret = xvs_parse(ctx, &p);
	if (ret == XVS_PARSE_ICMP)
		return xvs_icmp_in(ctx, &p, bpf_jiffies64());
	if (ret != XVS_CONTINUE)
		return ret;
	now = bpf_jiffies64();
	fe = xvs_flow_lookup(&p);
	if (!xvs_flow_hit(fe, &p, &d, now)) {
		svc = xvs_svc_lookup(&p);
		if (!svc)
			return xvs_nat_reply(ctx, &p, now); /* a NAT real's reply, or not for us (pass_no_vip) */
		ret = xvs_conn_dst(&p, svc, &d, now);
		if (ret != XVS_CONTINUE)
			return ret;
		xvs_flow_store(fe, &p, &d, now);
	}
	ret = xvs_forward(ctx, &p, &d, now);
	if (ret == XDP_TX || ret == XDP_REDIRECT)
		xvs_account(d.real_id, p.l3_len, d.is_new);
	return ret;
}

char _license[] SEC("license") = "GPL";
