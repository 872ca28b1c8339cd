/* Connection states and counts as kernel IPVS keeps them, and the timer that expires xvs_conns. */
#ifndef XVS_CONN_H
#define XVS_CONN_H

#include "parse.h"
#include "persist.h"

/*
 * States follow ip_vs_proto_tcp.c. With direct routing and tunnelling only
 * client-to-server packets pass the balancer, so, like IPVS for a connection
 * with IP_VS_CONN_F_NOOUTPUT, every TCP entry moves through the INPUT-ONLY
 * table. A UDP entry has one state. Counts follow ip_vs_bind_dest and
 * set_tcp_state: an entry adds 1 to its real's total when made and is
 * "active" while its TCP state is ESTABLISHED, SYN_SENT, SYN_RECV or SYNACK;
 * IPVS's InActConn is total - active.
 *
 * Expiry needs no daemon: a bpf_timer in xvs_sweep runs every XVS_SWEEP_NS,
 * walks xvs_conns, deletes the entries idle longer than their state's
 * timeout (the --set values for ESTABLISHED, FIN_WAIT and UDP, IPVS's fixed
 * ones otherwise) and lowers their reals' counts. The timer lives as long as
 * xvs_sweep has a user (a pin or an open fd); the datapath arms it again on
 * a new flow when it has not run for two periods, so it also restarts after
 * its map was reopened. Cost: one pass over the table each period (about
 * 50-100 ns per entry here), in softirq context.
 */

/* The kernel's HZ (jiffies per second); the loader sets it from the kernel's config. */
volatile const __u32 xvs_hz = 250;

#ifndef XVS_SWEEP_NS
#define XVS_SWEEP_NS 1000000000ULL
#endif

#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1
#endif

#define S_NO XVS_TCP_S_NONE
#define S_ES XVS_TCP_S_ESTABLISHED
#define S_SS XVS_TCP_S_SYN_SENT
#define S_SR XVS_TCP_S_SYN_RECV
#define S_FW XVS_TCP_S_FIN_WAIT
#define S_TW XVS_TCP_S_TIME_WAIT
#define S_CL XVS_TCP_S_CLOSE
#define S_CW XVS_TCP_S_CLOSE_WAIT
#define S_LA XVS_TCP_S_LAST_ACK
#define S_LI XVS_TCP_S_LISTEN
#define S_SA XVS_TCP_S_SYNACK

/* IPVS's tcp_states, INPUT-ONLY part: [event: syn, fin, ack, rst][state]. */
static const __u8 xvs_tcp_input_only[4][XVS_TCP_S_LAST] = {
	/*        sNO   sES   sSS   sSR   sFW   sTW   sCL   sCW   sLA   sLI   sSA */
	/*syn*/ {S_SR, S_ES, S_ES, S_SR, S_SR, S_SR, S_SR, S_SR, S_SR, S_SR, S_SR},
	/*fin*/ {S_CL, S_FW, S_SS, S_TW, S_FW, S_TW, S_CL, S_CW, S_LA, S_LI, S_TW},
	/*ack*/ {S_ES, S_ES, S_SS, S_ES, S_FW, S_TW, S_CL, S_CW, S_CL, S_LI, S_ES},
	/*rst*/ {S_CL, S_CL, S_CL, S_SR, S_CL, S_CL, S_CL, S_CL, S_LA, S_LI, S_CL},
};

/* IPVS's tcp_timeouts in seconds; ESTABLISHED and FIN_WAIT come from --set. */
static const __u16 xvs_tcp_timeouts[XVS_TCP_S_LAST] = {
	[S_NO] = 2, [S_ES] = 900, [S_SS] = 120, [S_SR] = 60, [S_FW] = 120, [S_TW] = 120,
	[S_CL] = 10, [S_CW] = 60, [S_LA] = 30, [S_LI] = 120, [S_SA] = 120,
};

/* xvs_tcp_active is IPVS's tcp_state_active_table. */
static __always_inline int xvs_tcp_active(__u8 state)
{
	return state == S_ES || state == S_SS || state == S_SR || state == S_SA;
}

/* xvs_tcp_event is IPVS's tcp_state_idx: rst, then syn, fin, ack; -1 for none. */
static __always_inline int xvs_tcp_event(__u8 flags)
{
	if (flags & XVS_TCP_RST)
		return 3;
	if (flags & XVS_TCP_SYN)
		return 0;
	if (flags & XVS_TCP_FIN)
		return 1;
	if (flags & XVS_TCP_ACK)
		return 2;
	return -1;
}

/* xvs_state_changing says whether a packet may change its entry's state once ESTABLISHED (SYN, FIN or RST). */
static __always_inline int xvs_state_changing(const struct xvs_pkt *p)
{
	return p->tcp_flags & (XVS_TCP_SYN | XVS_TCP_FIN | XVS_TCP_RST);
}

/* xvs_counts returns real id's counts for generation gen, restarting them when the slot was reused. */
static __always_inline struct xvs_real_conns *xvs_counts(__u32 id, __u32 gen)
{
	struct xvs_real_conns *n = bpf_map_lookup_elem(&xvs_real_conns, &id);

	if (n && n->gen != gen) {
		n->active = 0;
		n->total = 0;
		n->persist = 0;
		n->overload = 0;
		n->gen = gen;
	}
	return n;
}

/* xvs_conn_state moves entry c (of real id/gen) by packet p, adjusting the real's active count as IPVS. */
static __always_inline void xvs_conn_state(struct xvs_conn *c, const struct xvs_pkt *p, __u32 id, __u32 gen)
{
	struct xvs_real_conns *n;
	__u8 old = c->state, ns = S_CL;
	int ev;

	if (p->key.proto != IPPROTO_TCP)
		return;
	ev = xvs_tcp_event(p->tcp_flags);
	if (old >= XVS_TCP_S_LAST)
		old = S_CL;
	if (ev >= 0 && ev < 4)
		ns = xvs_tcp_input_only[ev][old];
	if (ns == c->state)
		return;
	c->state = ns;
	if ((c->flags & XVS_CONN_F_INACTIVE) == !xvs_tcp_active(ns))
		return;
	n = xvs_counts(id, gen);
	if (c->flags & XVS_CONN_F_INACTIVE) {
		c->flags &= ~XVS_CONN_F_INACTIVE;
		if (n && n->gen == gen)
			__sync_fetch_and_add(&n->active, 1);
	} else {
		c->flags |= XVS_CONN_F_INACTIVE;
		if (n && n->gen == gen)
			__sync_fetch_and_add(&n->active, -1);
	}
}

/*
 * Thresholds (-x, -y) as ip_vs_dest_update_overload: a real is overloaded
 * from the moment its total reaches the upper threshold until it drops below
 * the lower one (or 3/4 of the upper when -y is 0); overloaded reals get no
 * new connections. An upper threshold of 0 means none.
 */
static __always_inline __u32 xvs_lower_threshold(const struct xvs_real *r)
{
	return r->lthresh ? r->lthresh : r->uthresh - (r->uthresh >> 2);
}

/* xvs_overloaded says whether real r (with counts n) takes no new connections. */
static __always_inline int xvs_overloaded(const struct xvs_real *r, const struct xvs_real_conns *n)
{
	return r->uthresh && n && n->gen == r->gen && n->overload;
}

/* xvs_conn_bind makes c a new entry of real r (id) for packet p and counts it (ip_vs_bind_dest, then the state). */
static __always_inline void xvs_conn_bind(struct xvs_conn *c, const struct xvs_pkt *p, __u32 id, const struct xvs_real *r)
{
	struct xvs_real_conns *n = xvs_counts(id, r->gen);
	__s32 tc;

	c->state = S_NO;
	c->flags = XVS_CONN_F_INACTIVE;
	if (n) {
		__sync_fetch_and_add(&n->total, 1);
		tc = n->total; /* a racing CPU may be counted too: the flag only moves earlier */
		if (r->uthresh && tc >= (__s32)r->uthresh)
			n->overload = 1;
	}
	xvs_conn_state(c, p, id, r->gen);
}

/* xvs_conn_unbind takes entry c (key k) out of its real's counts (ip_vs_unbind_dest) and its template's control count. */
static __always_inline void xvs_conn_unbind(const struct xvs_conn_key *k, const struct xvs_conn *c)
{
	__u32 id = c->real_id;
	struct xvs_real_conns *n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	struct xvs_real *r;
	__s32 tc;

	if (c->flags & XVS_CONN_F_PERSIST)
		xvs_persist_release(k, c->svc_id);
	if (!n || n->gen != c->real_gen)
		return;
	if (c->flags & XVS_CONN_F_TEMPLATE) {
		__sync_fetch_and_add(&n->persist, -1);
		return;
	}
	__sync_fetch_and_add(&n->total, -1);
	tc = n->total;
	if (!(c->flags & XVS_CONN_F_INACTIVE))
		__sync_fetch_and_add(&n->active, -1);
	if (!n->overload)
		return;
	r = bpf_map_lookup_elem(&xvs_reals, &id);
	if (!r || r->gen != c->real_gen || !r->uthresh || (tc < (__s32)xvs_lower_threshold(r) && tc < (__s32)r->uthresh))
		n->overload = 0;
}

/* What one sweep needs, copied from xvs_config (callbacks cannot keep map pointers). */
struct xvs_sweep_ctx {
	__u64 now;
	__u64 hz;
	__u64 expired;
	__u64 seen;
	__u32 tcp, tcpfin, udp;
};

/* xvs_conn_timeout returns an entry's timeout in seconds. */
static __always_inline __u64 xvs_conn_timeout(__u8 proto, __u8 state, const struct xvs_sweep_ctx *x)
{
	if (proto != IPPROTO_TCP)
		return x->udp;
	if (state == S_ES)
		return x->tcp;
	if (state == S_FW)
		return x->tcpfin;
	if (state >= XVS_TCP_S_LAST)
		return 2;
	return xvs_tcp_timeouts[state];
}

/* xvs_tmpl_timeout returns a template's timeout in seconds: its service's -p timeout (0 when the service is gone). */
static __always_inline __u64 xvs_tmpl_timeout(const struct xvs_conn_key *k)
{
	struct xvs_svc_key sk = {};
	struct xvs_svc *svc;

	__builtin_memcpy(sk.addr, k->daddr, 16);
	sk.port = k->dport;
	sk.proto = k->proto;
	sk.af = k->af;
	svc = xvs_svc_by_key(&sk);
	return svc ? svc->timeout : 0;
}

static long xvs_expire_one(void *map, struct xvs_conn_key *k, struct xvs_conn *c, struct xvs_sweep_ctx *x)
{
	__s64 idle = x->now - c->last_seen;
	struct xvs_conn old = *c;
	struct xvs_conn_key kc;
	__u64 to;

	x->seen++;
	if (c->flags & XVS_CONN_F_TEMPLATE) {
		if (c->pad) /* it controls connections: it lives on (ip_vs_conn_expire's n_control) */
			return 0;
		to = xvs_tmpl_timeout(k);
	} else {
		to = xvs_conn_timeout(k->proto, c->state, x);
	}
	if (idle <= (__s64)(to * x->hz))
		return 0;
	kc = *k; /* the element's own key goes with it */
	if (bpf_map_delete_elem(&xvs_conns, &kc) == 0) {
		xvs_conn_unbind(&kc, &old);
		x->expired++;
	}
	return 0;
}

/* xvs_sweep_run is the timer's callback: one pass over xvs_conns, then the next period. */
static int xvs_sweep_run(void *map, __u32 *key, struct xvs_sweep *s)
{
	struct xvs_sweep_ctx x = {.tcp = 900, .tcpfin = 120, .udp = 300};
	struct xvs_cfg *cfg;
	__u64 start;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&xvs_config, &zero);
	if (cfg) {
		x.tcp = cfg->tcp_timeout;
		x.tcpfin = cfg->tcpfin_timeout;
		x.udp = cfg->udp_timeout;
	}
	x.now = bpf_jiffies64();
	x.hz = xvs_hz;
	start = bpf_ktime_get_ns();
	bpf_for_each_map_elem(&xvs_conns, xvs_expire_one, &x, 0);
	s->jiffies = x.now;
	s->ns = start;
	s->run_ns = bpf_ktime_get_ns() - start;
	s->seen = x.seen;
	s->hz = xvs_hz;
	s->runs++;
	s->expired += x.expired;
	bpf_timer_start(&s->timer, XVS_SWEEP_NS, 0);
	return 0;
}

/* xvs_sweep_arm starts the sweep when it has not run for two periods (first flow, or the timer was freed). */
static __always_inline void xvs_sweep_arm(__u64 now)
{
	struct xvs_sweep *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&xvs_sweep, &zero);
	if (!s || (__s64)(now - s->jiffies) < 2 * (__s64)xvs_hz)
		return;
	s->jiffies = now;
	s->ns = bpf_ktime_get_ns();
	s->hz = xvs_hz;
	bpf_timer_init(&s->timer, &xvs_sweep, CLOCK_MONOTONIC); /* -EBUSY when it exists: fine */
	bpf_timer_set_callback(&s->timer, xvs_sweep_run);
	bpf_timer_start(&s->timer, XVS_SWEEP_NS, 0);
}

#undef S_NO
#undef S_ES
#undef S_SS
#undef S_SR
#undef S_FW
#undef S_TW
#undef S_CL
#undef S_CW
#undef S_LA
#undef S_LI
#undef S_SA

#endif
