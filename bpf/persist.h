/* Persistence (-p, -M): templates that keep a client (masked) on its real across connections, as ip_vs_sched_persist. */
#ifndef XVS_PERSIST_H
#define XVS_PERSIST_H

#include "maps.h"
#include <bpf/bpf_endian.h>

/*
 * A template is an xvs_conns entry keyed by the client's address masked by
 * the service's netmask (-M; IPv4 mask, IPv6 prefix length), source port 0,
 * the VIP and the service's port (0 for a port-0 service, whose template
 * covers every port of the VIP, as ip_vs_sched_persist's port-zero
 * template), with XVS_CONN_KEY_TEMPLATE in pad[0] so no flow's key can
 * equal it. Its value names the real (id, generation) and counts the
 * connections it controls (n_control in the pad field, as IPVS's
 * cp->n_control). A new connection of a persistent service takes the
 * template's real while that real is configured, whatever its weight (IPVS
 * with expire_quiescent_template = 0), else is scheduled and makes the
 * template. The sweep removes a template idle for the service's -p timeout
 * once it controls no connection; its real's persist count (PersistConn)
 * goes with it.
 */
#define XVS_CONN_KEY_TEMPLATE 1

/* xvs_svc_by_key looks a service up by key in the live service table (slot 0 of xvs_svcs). */
static __always_inline struct xvs_svc *xvs_svc_by_key(const struct xvs_svc_key *sk)
{
	__u32 zero = 0;
	void *tab = bpf_map_lookup_elem(&xvs_svcs, &zero);

	return tab ? bpf_map_lookup_elem(tab, sk) : NULL;
}

/* xvs_tmpl_key makes the template key of flow key k for service svc (port0: svc is its VIP's port-0 service). */
static __always_inline void xvs_tmpl_key(struct xvs_conn_key *t, const struct xvs_conn_key *k, const struct xvs_svc *svc,
					 int port0)
{
	__u32 w[4], bits = svc->netmask, i;

	__builtin_memcpy(t, k, sizeof(*t));
	t->sport = 0;
	t->dport &= (__u16)(port0 - 1); /* port0 (0 or 1) keeps no port; no branch, so the verifier need not tell them apart */
	t->pad[0] = XVS_CONN_KEY_TEMPLATE;
	__builtin_memcpy(w, k->saddr, 16);
	if (k->af == XVS_AF_INET) {
		w[0] &= bpf_htonl(svc->netmask);
	} else {
		if (bits > 128)
			bits = 128;
#pragma unroll
		for (i = 0; i < 4; i++) {
			if (bits >= 32)
				bits -= 32;
			else {
				w[i] &= bits ? bpf_htonl(~0u << (32 - bits)) : 0;
				bits = 0;
			}
		}
	}
	__builtin_memcpy(t->saddr, w, 16);
}

/*
 * xvs_persist_release lowers the control count of the template of
 * persistent connection k of service svc_id (ending): the service of its
 * VIP and port, or else its VIP's port-0 service when that is svc_id.
 */
static __always_inline void xvs_persist_release(const struct xvs_conn_key *k, __u32 svc_id)
{
	struct xvs_svc_key sk = {};
	struct xvs_conn_key tk;
	struct xvs_svc *svc, *s0;
	struct xvs_conn *t;
	int port0 = 0;

	__builtin_memcpy(sk.addr, k->daddr, 16);
	sk.port = k->dport;
	sk.proto = k->proto;
	sk.af = k->af;
	svc = xvs_svc_by_key(&sk);
	if (!svc || svc->id != svc_id) {
		sk.port = 0;
		s0 = xvs_svc_by_key(&sk);
		if (s0 && s0->id == svc_id) {
			svc = s0;
			port0 = 1;
		}
	}
	if (!svc)
		return;
	xvs_tmpl_key(&tk, k, svc, port0);
	t = bpf_map_lookup_elem(&xvs_conns, &tk);
	if (t && t->pad > 0)
		t->pad--;
}

#endif
