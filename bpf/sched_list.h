/* The list schedulers of IPVS: rr, wrr, lc, wlc, sed, nq, fo, ovf, over a service's reals in IPVS order. */
#ifndef XVS_SCHED_LIST_H
#define XVS_SCHED_LIST_H

#include "conn.h"

/*
 * A list service's table (its xvs_mh inner map) holds a header and then its
 * reals' ids in IPVS's list order (newest first, as ip_vs_add_dest puts
 * each at the head):
 *   [0] n, [1] version (changes with every new table), [2] wrr's gcd,
 *   [3] wrr's max weight - (gcd - 1), [XVS_LIST_HDR + i] real i.
 * Up to XVS_SCHED_MAX_REALS reals (and at most the table size minus the
 * header); the control plane gives a service with more no table, and its
 * packets go to the kernel. Each real is looked up per new flow (bpf_loop),
 * so a new flow costs O(n).
 */
#define XVS_LIST_HDR 4
#ifndef XVS_SCHED_MAX_REALS
#define XVS_SCHED_MAX_REALS 1024
#endif
/* wrr's walk stops after this many steps (weights whose ratio to their gcd is huge): the packet goes to the kernel. */
#ifndef XVS_WRR_MAX_STEPS
#define XVS_WRR_MAX_STEPS 65536
#endif

/* One real of the list as the schedulers see it. */
struct xvs_cand {
	__s32 weight;
	__s32 active;
	__s32 inact;
	int usable; /* configured, weight > 0, not overloaded */
};

static __always_inline __u32 xvs_tab_get(void *tab, __u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(tab, &slot);

	return v ? *v : 0;
}

/* xvs_cand_get reads real i of service svc_id's list into c and returns its id (0 when none). */
static __always_inline __u32 xvs_cand_get(void *tab, __u32 svc_id, __u32 i, struct xvs_cand *c)
{
	__u32 id = xvs_tab_get(tab, XVS_LIST_HDR + i);
	struct xvs_real_conns *n;
	struct xvs_real *r;

	c->usable = 0;
	r = xvs_real_get(id, 0, svc_id);
	if (!r)
		return 0;
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	c->weight = r->weight;
	c->active = 0;
	c->inact = 0;
	if (n && n->gen == r->gen) {
		c->active = n->active;
		c->inact = n->total - n->active;
	}
	c->usable = r->weight > 0 && !xvs_overloaded(r, n);
	return id;
}

/* The state of a walk over the list (bpf_loop callbacks get no map pointers: they look the table up again). */
struct xvs_walk {
	__u32 svc_id;
	__u32 n;
	__u32 sched;
	__u32 best;     /* id chosen so far */
	__s64 best_oh;  /* its overhead */
	__s32 best_w;   /* its weight */
	/* rr and wrr */
	__s32 pos, last, stop, cw, di, mw;
	int last_pass, restarted, done;
};

/* xvs_least_step is one real of lc, wlc, sed, nq, fo and ovf (ip_vs_<sched>_schedule's loop body). */
static long xvs_least_step(__u32 i, struct xvs_walk *w)
{
	struct xvs_cand c;
	__u32 id, svc_id = w->svc_id;
	__s64 oh;
	void *tab;

	if (i >= w->n)
		return 1;
	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 1;
	id = xvs_cand_get(tab, svc_id, i, &c);
	if (!id || !c.usable)
		return 0;
	switch (w->sched) {
	case XVS_SCHED_LC: /* ip_vs_dest_conn_overhead */
		oh = ((__s64)c.active << 8) + c.inact;
		if (!w->best || oh < w->best_oh)
			goto pick;
		return 0;
	case XVS_SCHED_WLC:
		oh = ((__s64)c.active << 8) + c.inact;
		break;
	case XVS_SCHED_SED:
		oh = (__s64)c.active + 1;
		break;
	case XVS_SCHED_NQ:
		oh = (__s64)c.active + 1;
		if (c.active == 0) { /* an idle real is taken at once */
			w->best = id;
			return 1;
		}
		break;
	case XVS_SCHED_FO:
		if (c.weight > w->best_w) {
			w->best = id;
			w->best_w = c.weight;
		}
		return 0;
	case XVS_SCHED_OVF:
		if (c.active > c.weight)
			return 0;
		if (!w->best || c.weight > w->best_w) {
			w->best = id;
			w->best_w = c.weight;
		}
		return 0;
	default:
		return 1;
	}
	/* wlc, sed, nq: the least overhead per weight, first one on a tie */
	if (w->best && w->best_oh * c.weight <= oh * w->best_w)
		return 0;
pick:
	w->best = id;
	w->best_oh = oh;
	w->best_w = c.weight;
	return 0;
}

/*
 * xvs_rr_step is one step of ip_vs_rr_schedule: the first usable real after
 * the last one chosen, going round the list once.
 */
static long xvs_rr_step(__u32 i, struct xvs_walk *w)
{
	struct xvs_cand c;
	__u32 id, svc_id = w->svc_id;
	void *tab;

	if (i >= w->n)
		return 1;
	w->pos++;
	if (w->pos >= (__s32)w->n)
		w->pos = 0;
	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab || w->pos < 0)
		return 1;
	id = xvs_cand_get(tab, svc_id, w->pos, &c);
	if (id && c.usable) {
		w->best = id;
		return 1;
	}
	return 0;
}

/*
 * xvs_wrr_step is one step of ip_vs_wrr_schedule: look at the next real
 * (pos), or, past the list's end, lower the current weight by the gcd and
 * start again from the head, stopping where IPVS stops.
 */
static long xvs_wrr_step(__u32 i, struct xvs_walk *w)
{
	struct xvs_cand c;
	__u32 id, svc_id = w->svc_id;
	void *tab;

	w->pos++;
	if (w->pos < (__s32)w->n && w->pos >= 0) {
		tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
		if (!tab)
			return 1;
		id = xvs_cand_get(tab, svc_id, w->pos, &c);
		if (id && c.usable && c.weight >= w->cw) {
			w->best = id;
			return 1;
		}
		if (w->pos == w->stop) {
			w->done = 1;
			return 1;
		}
		return 0;
	}
	w->pos = -1; /* the head */
	w->cw -= w->di;
	if (w->cw <= 0) {
		w->cw = w->mw;
		if (w->last_pass || w->last == -1) {
			w->done = 1;
			return 1;
		}
		w->restarted = 1;
	}
	w->last_pass = w->cw <= w->di;
	if (w->last_pass && w->restarted && w->last != -1)
		w->stop = w->last;
	return 0;
}

/* xvs_sched_list picks a real for a new flow of a list service. Returns the real id or 0. */
static __always_inline __u32 xvs_sched_list(const struct xvs_svc *svc)
{
	struct xvs_walk w = {.svc_id = svc->id, .sched = svc->sched, .stop = -2};
	__u32 svc_id = svc->id, version;
	struct xvs_sched_pos *pos;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	w.n = xvs_tab_get(tab, 0);
	if (w.n > XVS_SCHED_MAX_REALS)
		w.n = XVS_SCHED_MAX_REALS;
	if (svc->sched != XVS_SCHED_RR && svc->sched != XVS_SCHED_WRR) {
		bpf_loop(XVS_SCHED_MAX_REALS, xvs_least_step, &w, 0);
		return w.best;
	}
	/* rr and wrr keep their place per CPU; a new table starts from the head, as IPVS's dest_changed */
	pos = bpf_map_lookup_elem(&xvs_sched_pos, &svc_id);
	if (!pos)
		return 0;
	version = xvs_tab_get(tab, 1);
	w.di = xvs_tab_get(tab, 2);
	w.mw = xvs_tab_get(tab, 3);
	if (pos->version != version) {
		pos->version = version;
		pos->cl = -1;
		if (pos->cw > w.mw || !w.di)
			pos->cw = 0;
	}
	w.pos = pos->cl;
	if (w.pos >= (__s32)w.n)
		w.pos = -1;
	w.last = w.pos;
	w.cw = pos->cw;
	if (svc->sched == XVS_SCHED_RR) {
		if (w.pos < 0)
			w.pos = -1;
		bpf_loop(XVS_SCHED_MAX_REALS, xvs_rr_step, &w, 0);
		if (w.best)
			pos->cl = w.pos;
		return w.best;
	}
	if (w.mw == 0)
		return 0;
	bpf_loop(XVS_WRR_MAX_STEPS, xvs_wrr_step, &w, 0);
	pos->cl = w.pos;
	pos->cw = w.cw;
	return w.best;
}

#endif
