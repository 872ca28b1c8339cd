/* Service lookup, the connection table and scheduling of new flows. */
#ifndef XVS_SCHED_H
#define XVS_SCHED_H

#include "parse.h"
#include "mh.h"

/* Maglev table size; the loader sets it with the inner map's size. */
volatile const __u32 xvs_mh_size = XVS_MH_SIZE;

/* The result of scheduling: which real serves the packet. */
struct xvs_dst {
	struct xvs_real *real;
	__u32 real_id;
	__u32 svc_id;
	int is_new; /* a new connection entry was made */
};

static __always_inline struct xvs_svc *xvs_svc_lookup(const struct xvs_pkt *p)
{
	struct xvs_svc_key k = {};

	__builtin_memcpy(k.addr, p->key.daddr, 16);
	k.port = p->key.dport;
	k.proto = p->key.proto;
	k.af = p->key.af;
	return bpf_map_lookup_elem(&xvs_svcs, &k);
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

/* xvs_new_syn says whether a TCP packet opens a connection (SYN without ACK). */
static __always_inline int xvs_new_syn(const struct xvs_pkt *p)
{
	return p->key.proto == IPPROTO_TCP && (p->tcp_flags & (XVS_TCP_SYN | XVS_TCP_ACK)) == XVS_TCP_SYN;
}

/* xvs_sched_mh picks a real from the service's Maglev table. Returns the real id or 0. */
static __always_inline __u32 xvs_sched_mh(const struct xvs_pkt *p, const struct xvs_svc *svc)
{
	__u32 svc_id = svc->id, slot, *id;
	__be16 port = 0;
	void *tab;

	tab = bpf_map_lookup_elem(&xvs_mh, &svc_id);
	if (!tab)
		return 0;
	if (svc->flags & XVS_SVC_F_SCHED2) /* mh-port */
		port = p->key.sport;
	slot = xvs_mh_hash(p->key.af, p->key.saddr, port) % xvs_mh_size;
	id = bpf_map_lookup_elem(tab, &slot);
	return id ? *id : 0;
}

/* xvs_schedule picks a real for a new flow by the service's scheduler. */
static __always_inline int xvs_schedule(const struct xvs_pkt *p, const struct xvs_svc *svc, struct xvs_dst *d)
{
	__u32 id;

	switch (svc->sched) {
	case XVS_SCHED_MH:
		id = xvs_sched_mh(p, svc);
		break;
	default:
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);
	}
	d->real = xvs_real_get(id, 0, svc->id);
	if (!d->real || d->real->weight <= 0)
		return xvs_verdict(XVS_V_PASS_NO_REAL, XDP_PASS);
	d->real_id = id;
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

	if (svc->flags & XVS_SVC_F_PERSISTENT) /* persistence templates: not in the datapath yet */
		return xvs_verdict(XVS_V_PASS_UNSUPPORTED, XDP_PASS);

	c = bpf_map_lookup_elem(&xvs_conns, &p->key);
	if (c && c->svc_id == svc->id) {
		d->real = xvs_real_get(c->real_id, c->real_gen, svc->id);
		if (d->real && !(syn && d->real->weight <= 0)) {
			d->real_id = c->real_id;
			d->is_new = 0;
			d->svc_id = svc->id;
			c->last_seen = now;
			return XVS_CONTINUE;
		}
	}
	ret = xvs_schedule(p, svc, d);
	if (ret != XVS_CONTINUE)
		return ret;
	nc.last_seen = now;
	nc.real_id = d->real_id;
	nc.real_gen = d->real->gen;
	nc.svc_id = svc->id;
	bpf_map_update_elem(&xvs_conns, &p->key, &nc, BPF_ANY);
	d->svc_id = svc->id;
	d->is_new = 1;
	return XVS_CONTINUE;
}

#include "flowcache.h"

#endif
