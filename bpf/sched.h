/* Service lookup, the connection table and scheduling of new flows. */
#ifndef XVS_SCHED_H
#define XVS_SCHED_H

#include "parse.h"
#include "mh.h"
#include "conn.h"

/* Maglev table size; the loader sets it with the inner map's size. mh-fallback walks at most XVS_MH_SIZE_MAX slots. */
#ifndef XVS_MH_SIZE_MAX
#define XVS_MH_SIZE_MAX 65521
#endif
volatile const __u32 xvs_mh_size = XVS_MH_SIZE;

/* The result of scheduling: which real serves the packet. */
struct xvs_dst {
	struct xvs_real *real;
	__u32 real_id;
	__u32 svc_id;
	int is_new; /* a new connection entry was made */
	int cache;  /* the flow may be answered from the flow cache: no packet without SYN/FIN/RST changes its state */
};

/*
 * xvs_svc_lookup finds the packet's service (ip_vs_service_find): the one of
 * its VIP, port and protocol, else its VIP's port-0 service of the protocol
 * (p->port0 = 1), which IPVS looks for only while some port-0 service exists
 * (nullsvc_counter): here xvs_cfg.port0_svcs, so other packets pay no second
 * lookup when there is none. A port-0 service without persistence, which
 * IPVS matches but never schedules (and ipvsadm refuses to make), is not
 * matched: its packets go to the kernel. Nothing after this branches on
 * p->port0 (the template key masks the port with it), so the verifier does
 * not walk the rest of the program twice.
 */
static __always_inline struct xvs_svc *xvs_svc_lookup(struct xvs_pkt *p)
{
	struct xvs_svc_key k = {};
	struct xvs_svc *svc;
	struct xvs_cfg *cfg;
	__u32 zero = 0;
	void *tab;

	__builtin_memcpy(k.addr, p->key.daddr, 16);
	k.port = p->key.dport;
	k.proto = p->key.proto;
	k.af = p->key.af;
	tab = bpf_map_lookup_elem(&xvs_svcs, &zero); /* the live service table (maps.h) */
	if (!tab)
		return NULL;
	svc = bpf_map_lookup_elem(tab, &k);
	if (svc)
		return svc;
	cfg = bpf_map_lookup_elem(&xvs_config, &zero);
	if (!cfg || !cfg->port0_svcs)
		return NULL;
	k.port = 0;
	svc = bpf_map_lookup_elem(tab, &k);
	if (!svc || !(svc->flags & XVS_SVC_F_PERSISTENT))
		return NULL;
	p->port0 = 1;
	return svc;
}

/* xvs_real_get returns the live real with this id and generation in service svc_id, or NULL. */
static __always_inline struct xvs_real *xvs_real_get(__u32 id, __u32 gen, __u32 svc_id)
{
	struct xvs_real *r;

	if (!id)
		return NULL;
	r = bpf_map_lookup_elem(&xvs_reals, &id);
	if (!r || !(r->flags & XVS_REAL_F_INUSE) || r->svc_id != svc_id)
		return NULL;
	if (gen && r->gen != gen)
		return NULL;
	return r;
}

#include "sched_hash.h"
#include "sched_lblc.h"
#include "sched_lblcr.h"

/* xvs_new_syn says whether a TCP packet opens a connection (SYN without ACK). */
static __always_inline int xvs_new_syn(const struct xvs_pkt *p)
{
	return p->key.proto == IPPROTO_TCP && (p->tcp_flags & (XVS_TCP_SYN | XVS_TCP_ACK)) == XVS_TCP_SYN;
}

/* The state of mh-fallback's walk round the table (ip_vs_mh_get_fallback). */
struct xvs_mh_walk {
	__u32 svc_id;
	__u32 fold;
	__u32 ihash;
	__be16 port;
	__u16 pad;
	__u32 best;
};

static long xvs_mh_step(__u32 offset, struct xvs_mh_walk *w)
{
	__u32 svc_id = w->svc_id, slot, id;
	struct xvs_real_conns *n;
	struct xvs_real *r;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab || offset >= xvs_mh_size)
		return 1;
	slot = xvs_mh_hashkey(w->fold, w->port, (offset + w->ihash) % xvs_mh_size) % xvs_mh_size;
	id = xvs_tab_get(tab, slot);
	if (!id)
		return 1;
	r = xvs_real_get(id, 0, svc_id);
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	if (r && r->weight > 0 && !xvs_overloaded(r, n)) {
		w->best = id;
		return 1;
	}
	return 0;
}

/*
 * xvs_sched_mh picks a real from the service's Maglev table. Returns the
 * real id or 0. With mh-fallback an unavailable real (weight 0 or
 * overloaded) sends the walk round the table as IPVS does.
 */
static __always_inline __u32 xvs_sched_mh(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	struct xvs_mh_walk w = {.svc_id = svc->id};
	__u32 svc_id = svc->id, slot, id;
	struct xvs_real_conns *n;
	struct xvs_real *r;
	__be16 port = 0;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	if (svc->flags & XVS_SVC_F_SCHED2) /* mh-port */
		port = p->key.sport;
	slot = xvs_mh_hash(p->key.af, p->key.saddr, port) % xvs_mh_size;
	id = xvs_tab_get(tab, slot);
	if (!id || !(svc->flags & XVS_SVC_F_SCHED1)) /* mh-fallback */
		return id;
	r = xvs_real_get(id, 0, svc_id);
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	if (r && r->weight > 0 && !xvs_overloaded(r, n))
		return id;
	{
		__be32 a[4];

		__builtin_memcpy(a, p->key.saddr, 16);
		w.fold = p->key.af == XVS_AF_INET ? xvs_mh_fold4(a[0]) : xvs_mh_fold6(a);
	}
	w.port = port;
	w.ihash = slot;
	bpf_loop(XVS_MH_SIZE_MAX, xvs_mh_step, &w, 0);
	return w.best;
}

/* xvs_schedule picks a real for a new flow by the service's scheduler. */
static __always_inline int xvs_schedule(const struct xvs_pkt *p, const struct xvs_svc *svc, struct xvs_dst *d)
{
	__u32 id;

	struct xvs_real_conns *n;

	switch (svc->sched) {
	case XVS_SCHED_MH:
		id = xvs_sched_mh(p, svc);
		break;
	case XVS_SCHED_SH:
		id = xvs_sched_sh(p, svc);
		break;
	case XVS_SCHED_DH:
		id = xvs_sched_dh(p, svc);
		break;
	case XVS_SCHED_RR:
	case XVS_SCHED_WRR:
	case XVS_SCHED_LC:
	case XVS_SCHED_WLC:
	case XVS_SCHED_SED:
	case XVS_SCHED_NQ:
	case XVS_SCHED_FO:
	case XVS_SCHED_OVF:
		id = xvs_sched_list(svc);
		break;
	case XVS_SCHED_LBLC:
		/* its entry's real is kept at its upper threshold, as IPVS keeps it: no overload check here */
		id = xvs_sched_lblc(p, svc);
		d->real = xvs_real_get(id, 0, svc->id);
		if (!d->real)
			return xvs_verdict(XVS_V_PASS_NO_REAL, XDP_PASS);
		d->real_id = id;
		return XVS_CONTINUE;
	case XVS_SCHED_LBLCR: /* its choices have weight and are under their -x threshold */
		id = xvs_sched_lblcr(p, svc);
		break;
	default:
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	}
	d->real = xvs_real_get(id, 0, svc->id);
	if (!d->real || d->real->weight <= 0)
		return xvs_verdict(XVS_V_PASS_NO_REAL, XDP_PASS);
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	if (xvs_overloaded(d->real, n)) /* mh: is_unavailable */
		return xvs_verdict(XVS_V_PASS_NO_REAL, XDP_PASS);
	d->real_id = id;
	return XVS_CONTINUE;
}

/*
 * xvs_schedule_persist picks the real of a new connection of a persistent
 * service (ip_vs_sched_persist): its client's template's real while that
 * real is configured, whatever its weight (IPVS's default
 * expire_quiescent_template = 0), else one the scheduler picks, with a new
 * template (persist.h). The connection is added to the template's control
 * count.
 */
static __always_inline int xvs_schedule_persist(const struct xvs_pkt *p, const struct xvs_svc *svc, struct xvs_dst *d,
						__u64 now)
{
	struct xvs_conn *t, nt = {};
	struct xvs_real_conns *n;
	struct xvs_conn_key tk;
	int ret;

	xvs_tmpl_key(&tk, &p->key, svc, p->port0);
	t = bpf_map_lookup_elem(&xvs_conns, &tk);
	if (t && t->svc_id == svc->id) {
		d->real = xvs_real_get(t->real_id, t->real_gen, svc->id);
		if (d->real) {
			d->real_id = t->real_id;
			t->last_seen = now;
			if (t->pad < 0xffff)
				t->pad++;
			return XVS_CONTINUE;
		}
	}
	ret = xvs_schedule(p, svc, d);
	if (ret != XVS_CONTINUE)
		return ret;
	if (t) /* a stale template: its real is gone */
		xvs_conn_unbind(&tk, t);
	nt.last_seen = now;
	nt.real_id = d->real_id;
	nt.real_gen = d->real->gen;
	nt.svc_id = svc->id;
	nt.flags = XVS_CONN_F_TEMPLATE;
	nt.pad = 1;
	n = xvs_counts(d->real_id, d->real->gen);
	if (n)
		__sync_fetch_and_add(&n->persist, 1);
	bpf_map_update_elem(&xvs_conns, &tk, &nt, BPF_ANY);
	return XVS_CONTINUE;
}

/*
 * xvs_conn_dst finds the real of the packet's flow, scheduling a new flow.
 * An existing entry keeps its real while that real is configured, whatever
 * its weight (weight 0 quiesces: no new flows, established ones go on). A TCP
 * SYN (a new connection reusing the tuple) on a quiesced real, or any packet
 * whose real is gone, is scheduled again.
 */
static __always_inline int xvs_conn_dst(const struct xvs_pkt *p, const struct xvs_svc *svc, struct xvs_dst *d, __u64 now)
{
	int syn = xvs_new_syn(p);
	struct xvs_conn *c, nc = {};
	int ret;

	if ((svc->flags & XVS_SVC_F_ONEPACKET) && p->key.proto == IPPROTO_UDP) {
		/* -o: every UDP packet is scheduled on its own and leaves no entry (IP_VS_CONN_F_ONE_PACKET) */
		ret = xvs_schedule(p, svc, d);
		if (ret != XVS_CONTINUE)
			return ret;
		d->svc_id = svc->id;
		d->is_new = 1;
		d->cache = 0;
		return XVS_CONTINUE;
	}

	c = bpf_map_lookup_elem(&xvs_conns, &p->key);
	if (c && c->svc_id == svc->id) {
		d->real = xvs_real_get(c->real_id, c->real_gen, svc->id);
		if (d->real && !(syn && d->real->weight <= 0)) {
			d->real_id = c->real_id;
			d->is_new = 0;
			d->svc_id = svc->id;
			xvs_conn_state(c, p, c->real_id, c->real_gen);
			d->cache = p->key.proto != IPPROTO_TCP || c->state == XVS_TCP_S_ESTABLISHED;
			c->last_seen = now;
			return XVS_CONTINUE;
		}
	}
	if (svc->flags & XVS_SVC_F_PERSISTENT)
		ret = xvs_schedule_persist(p, svc, d, now);
	else
		ret = xvs_schedule(p, svc, d);
	if (ret != XVS_CONTINUE) {
		/* No real (the packet goes to the kernel): the tuple's old entry ends too,
		 * so the rest of a new connection follows its SYN instead of the old real */
		if (c) {
			xvs_conn_unbind(&p->key, c);
			bpf_map_delete_elem(&xvs_conns, &p->key);
		}
		return ret;
	}
	if (c) /* the tuple's old entry (real gone, or a new connection leaving a quiesced real) ends */
		xvs_conn_unbind(&p->key, c);
	nc.last_seen = now;
	nc.real_id = d->real_id;
	nc.real_gen = d->real->gen;
	nc.svc_id = svc->id;
	xvs_conn_bind(&nc, p, nc.real_id, d->real);
	if (svc->flags & XVS_SVC_F_PERSISTENT)
		nc.flags |= XVS_CONN_F_PERSIST;
	bpf_map_update_elem(&xvs_conns, &p->key, &nc, BPF_ANY);
	xvs_sweep_arm(now);
	d->svc_id = svc->id;
	d->is_new = 1;
	d->cache = p->key.proto != IPPROTO_TCP || nc.state == XVS_TCP_S_ESTABLISHED;
	return XVS_CONTINUE;
}

#include "flowcache.h"

#endif
