/* lblcr, locality-based least-connection with replication (ip_vs_lblcr.c): per service, destination address -> set of reals. */
#ifndef XVS_SCHED_LBLCR_H
#define XVS_SCHED_LBLCR_H

#include "sched_lblc.h"

/*
 * An entry of xvs_lblcr holds the destination address's set of reals in
 * IPVS's list order (newest first, as list_add_rcu puts each at the head),
 * when it was last used and when the set last changed. A new flow:
 *
 *   - no entry (or one unused for XVS_LBLCR_EXPIRE_S, which IPVS's full
 *     check would have freed): wlc's choice over the service
 *     (__ip_vs_lblcr_schedule) makes an entry whose set is that real;
 *   - else the set's least loaded member (ip_vs_dest_set_min: configured,
 *     weight > 0, not over its -x threshold, least (active << 8) + inactive
 *     per weight, the first on a tie); if the set has more than one member
 *     and has not changed for XVS_LBLCR_EXPIRE_S (sysctl
 *     lblcr_expiration), its most loaded member with weight > 0 is dropped
 *     (ip_vs_dest_set_max); if no member qualified or the chosen one is
 *     overloaded in lblc's sense (more active connections than its weight
 *     while some real of the service has fewer than half its weight), wlc's
 *     choice over the service serves and joins the set (at its head, unless
 *     it is a member already).
 *
 * A set holds at most XVS_LBLCR_SET_MAX members (IPVS's list is unbounded,
 * but a real joins a set once, so only a service with more reals than that
 * can fill it): a real joining a full set pushes the oldest member out.
 * A member whose real was removed (or whose slot was reused) stays in the
 * set and is never chosen, as IPVS keeps a removed dest in its set; it is
 * the first member dropped when the set shrinks (IPVS weighs its leftover
 * connections). Entries are evicted least recently used past XVS_LBLCR_SIZE,
 * where IPVS trims each service's table to 16,384 entries unused for 6
 * minutes. Sets change by whole-value updates of the entry, so a packet
 * never sees a torn set; two CPUs changing one set at once keep one change.
 */
_Static_assert((XVS_LBLCR_SET_MAX & (XVS_LBLCR_SET_MAX - 1)) == 0, "XVS_LBLCR_SET_MAX is a power of 2");

#ifndef XVS_LBLCR_EXPIRE_S
#define XVS_LBLCR_EXPIRE_S (24 * 60 * 60)
#endif

static __always_inline struct xvs_lblcr_work *xvs_lblcr_work(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xvs_lblcr_tmp, &zero);
}

/* xvs_member_get returns member i's real, or NULL when it is gone, with its overhead and whether it is overloaded (-x). */
static __always_inline struct xvs_real *xvs_member_get(const struct xvs_lblcr_work *wk, __u32 i, __s64 *oh, int *over)
{
	struct xvs_real_conns *n;
	struct xvs_real *r;
	__u32 id;

	i &= XVS_LBLCR_SET_MAX - 1; /* callers keep i < size <= XVS_LBLCR_SET_MAX; the mask is for the verifier */
	id = wk->e.set[i].id;
	r = xvs_real_get(id, wk->e.set[i].gen, wk->svc_id);
	if (!r)
		return NULL;
	n = bpf_map_lookup_elem(&xvs_real_conns, &id);
	*oh = 0;
	if (n && n->gen == r->gen) /* ip_vs_dest_conn_overhead */
		*oh = ((__s64)n->active << 8) + (n->total - n->active);
	*over = xvs_overloaded(r, n);
	return r;
}

/* xvs_set_min_step is one member of ip_vs_dest_set_min. */
static long xvs_set_min_step(__u32 i, void *unused)
{
	struct xvs_lblcr_work *wk = xvs_lblcr_work();
	struct xvs_real *r;
	__s64 oh = 0;
	int over = 0;

	if (!wk || i >= wk->e.size)
		return 1;
	r = xvs_member_get(wk, i, &oh, &over);
	if (!r || over)
		return 0;
	if (!wk->best) {
		if (r->weight <= 0)
			return 0;
	} else if (!(wk->best_oh * r->weight > oh * wk->best_w)) {
		return 0;
	}
	wk->best = i + 1;
	wk->best_oh = oh;
	wk->best_w = r->weight;
	return 0;
}

/* xvs_set_max_step is one member of ip_vs_dest_set_max (a gone member is taken at once). */
static long xvs_set_max_step(__u32 i, void *unused)
{
	struct xvs_lblcr_work *wk = xvs_lblcr_work();
	struct xvs_real *r;
	__s64 oh = 0;
	int over = 0;

	if (!wk || i >= wk->e.size)
		return 1;
	r = xvs_member_get(wk, i, &oh, &over);
	if (!r) {
		wk->best = i + 1;
		return 1;
	}
	if (r->weight <= 0)
		return 0;
	if (wk->best && !(wk->best_oh * r->weight < oh * wk->best_w))
		return 0;
	wk->best = i + 1;
	wk->best_oh = oh;
	wk->best_w = r->weight;
	return 0;
}

/* xvs_set_erase_step moves member best + i (1-based best: the one after the erased) down one place. */
static long xvs_set_erase_step(__u32 i, void *unused)
{
	struct xvs_lblcr_work *wk = xvs_lblcr_work();
	__u32 j;

	if (!wk)
		return 1;
	j = wk->best - 1 + i;
	if (j + 1 >= wk->e.size)
		return 1;
	wk->e.set[j & (XVS_LBLCR_SET_MAX - 1)] = wk->e.set[(j + 1) & (XVS_LBLCR_SET_MAX - 1)];
	return 0;
}

/* xvs_set_find_step says whether member i is the real looked for (id, gen). */
static long xvs_set_find_step(__u32 i, void *unused)
{
	struct xvs_lblcr_work *wk = xvs_lblcr_work();

	if (!wk || i >= wk->e.size)
		return 1;
	i &= XVS_LBLCR_SET_MAX - 1;
	if (wk->e.set[i].id == wk->id && wk->e.set[i].gen == wk->gen) {
		wk->found = 1;
		return 1;
	}
	return 0;
}

/* xvs_set_insert puts real (id, gen) at the head of the set unless it is a member; returns 1 when the set changed. */
static __always_inline int xvs_set_insert(struct xvs_lblcr_work *wk, __u32 id, __u32 gen)
{
	wk->id = id;
	wk->gen = gen;
	wk->found = 0;
	bpf_loop(XVS_LBLCR_SET_MAX, xvs_set_find_step, NULL, 0);
	if (wk->found)
		return 0;
	__builtin_memmove(&wk->e.set[1], &wk->e.set[0], sizeof(wk->e.set) - sizeof(wk->e.set[0]));
	wk->e.set[0].id = id;
	wk->e.set[0].gen = gen;
	if (wk->e.size < XVS_LBLCR_SET_MAX)
		wk->e.size++;
	return 1;
}

/*
 * xvs_sched_lblcr_run (ip_vs_lblcr_schedule) returns the real id for a new
 * flow to the entry key in xvs_lblcr_tmp, or 0. A global function: the
 * verifier checks it once, not once per path that schedules.
 */
__noinline __u32 xvs_sched_lblcr_run(void)
{
	__u64 now = bpf_jiffies64(), exp = (__u64)XVS_LBLCR_EXPIRE_S * xvs_hz;
	struct xvs_lblcr_work *wk = xvs_lblcr_work();
	__u32 id = 0, svc_id, changed = 0;
	struct xvs_walk w = {};
	struct xvs_real_conns *n;
	struct xvs_lblcr *e;
	struct xvs_real *r;
	void *tab;

	if (!wk)
		return 0;
	svc_id = wk->k.svc_id;
	wk->svc_id = svc_id;
	w.svc_id = svc_id;
	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	w.n = xvs_tab_get(tab, 0);
	if (w.n > XVS_SCHED_MAX_REALS)
		w.n = XVS_SCHED_MAX_REALS;
	e = bpf_map_lookup_elem(&xvs_lblcr, &wk->k);
	if (e && now - e->lastuse < exp) {
		e->lastuse = now;
		__builtin_memcpy(&wk->e, e, sizeof(wk->e));
		if (wk->e.size > XVS_LBLCR_SET_MAX)
			wk->e.size = XVS_LBLCR_SET_MAX;
		wk->best = 0;
		bpf_loop(XVS_LBLCR_SET_MAX, xvs_set_min_step, NULL, 0);
		if (wk->best > 0)
			id = wk->e.set[(wk->best - 1) & (XVS_LBLCR_SET_MAX - 1)].id;
		if (wk->e.size > 1 && now - wk->e.lastmod > exp) {
			wk->best = 0;
			bpf_loop(XVS_LBLCR_SET_MAX, xvs_set_max_step, NULL, 0);
			if (wk->best) {
				bpf_loop(XVS_LBLCR_SET_MAX, xvs_set_erase_step, NULL, 0);
				wk->e.size--;
				wk->e.lastmod = now;
				changed = 1;
			}
		}
		if (id) { /* is_overloaded: more active than its weight while some real has under half its own */
			r = xvs_real_get(id, 0, svc_id);
			n = bpf_map_lookup_elem(&xvs_real_conns, &id);
			if (r && (!n || n->gen != r->gen || n->active <= r->weight))
				goto out;
			bpf_loop(XVS_SCHED_MAX_REALS, xvs_lblc_underload_step, &w, 0);
			if (!w.best)
				goto out;
			w.best = 0;
		}
	} else {
		__builtin_memset(&wk->e, 0, sizeof(wk->e));
		wk->e.lastuse = now;
	}
	w.sched = XVS_SCHED_WLC; /* __ip_vs_lblcr_schedule is wlc's loop */
	bpf_loop(XVS_SCHED_MAX_REALS, xvs_least_step, &w, 0);
	id = w.best;
	if (!id)
		goto out;
	r = xvs_real_get(id, 0, svc_id);
	if (!r) {
		id = 0;
		goto out;
	}
	if (xvs_set_insert(wk, id, r->gen)) {
		wk->e.lastmod = now;
		changed = 1;
	}
out:
	if (changed && wk->e.size)
		bpf_map_update_elem(&xvs_lblcr, &wk->k, &wk->e, BPF_ANY);
	return id;
}

/* xvs_sched_lblcr picks the real of a new flow of lblcr service svc. */
static __always_inline __u32 xvs_sched_lblcr(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	struct xvs_lblcr_work *wk = xvs_lblcr_work();

	if (!wk)
		return 0;
	wk->k.svc_id = svc->id;
	wk->k.af = p->key.af;
	__builtin_memset(wk->k.pad, 0, sizeof(wk->k.pad));
	__builtin_memcpy(wk->k.addr, p->key.daddr, 16);
	return xvs_sched_lblcr_run();
}

#endif
