/* lblc, locality-based least-connection (ip_vs_lblc.c): per service, destination address -> real. */
#ifndef XVS_SCHED_LBLC_H
#define XVS_SCHED_LBLC_H

#include "sched_list.h"

/* An entry unused this long is forgotten (IPVS's sysctl lblc_expiration, default 24 hours). */
#ifndef XVS_LBLC_EXPIRE_S
#define XVS_LBLC_EXPIRE_S (24 * 60 * 60)
#endif

/* xvs_lblc_underload_step finds a real with activeconns * 2 < weight (is_overloaded's loop). */
static long xvs_lblc_underload_step(__u32 i, struct xvs_walk *w)
{
	struct xvs_cand c;
	__u32 svc_id = w->svc_id;
	void *tab;

	if (i >= w->n)
		return 1;
	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 1;
	if (xvs_cand_get(tab, svc_id, i, &c) && (__s64)c.active * 2 < c.weight) {
		w->best = 1;
		return 1;
	}
	return 0;
}

/*
 * xvs_sched_lblc (ip_vs_lblc_schedule): the real of the destination
 * address's entry while it is configured, has weight and is not overloaded
 * (more active connections than its weight while some real has fewer than
 * half its weight); else wlc's choice, which the entry then names. Returns
 * the real id, or 0. Entries expire XVS_LBLC_EXPIRE_S after their last use
 * (checked when read) or are evicted least recently used past
 * XVS_LBLC_SIZE, where IPVS trims its table to 16,384 entries per service.
 */
static __always_inline __u32 xvs_sched_lblc(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	struct xvs_lblc_key k = {.svc_id = svc->id, .af = p->key.af};
	struct xvs_lblc *e, ne = {};
	__u64 now = bpf_jiffies64();
	struct xvs_real_conns *n;
	struct xvs_walk w = {};
	struct xvs_real *r;
	__u32 id, svc_id = svc->id;
	void *tab;

	__builtin_memcpy(k.addr, p->key.daddr, 16);
	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	w.svc_id = svc->id;
	w.n = xvs_tab_get(tab, 0);
	if (w.n > XVS_SCHED_MAX_REALS)
		w.n = XVS_SCHED_MAX_REALS;
	e = bpf_map_lookup_elem(&xvs_lblc, &k);
	if (e && now - e->lastuse <= (__u64)XVS_LBLC_EXPIRE_S * xvs_hz) {
		e->lastuse = now;
		r = xvs_real_get(e->real_id, e->real_gen, svc->id);
		if (r && r->weight > 0) {
			n = bpf_map_lookup_elem(&xvs_real_conns, &e->real_id);
			if (!n || n->gen != r->gen || n->active <= r->weight)
				return e->real_id;
			bpf_loop(XVS_SCHED_MAX_REALS, xvs_lblc_underload_step, &w, 0);
			if (!w.best)
				return e->real_id;
			w.best = 0;
		}
	}
	w.sched = XVS_SCHED_WLC; /* __ip_vs_lblc_schedule is wlc's loop */
	bpf_loop(XVS_SCHED_MAX_REALS, xvs_least_step, &w, 0);
	id = w.best;
	if (!id)
		return 0;
	r = xvs_real_get(id, 0, svc->id);
	if (!r)
		return 0;
	ne.lastuse = now;
	ne.real_id = id;
	ne.real_gen = r->gen;
	bpf_map_update_elem(&xvs_lblc, &k, &ne, BPF_ANY);
	return id;
}

#endif
