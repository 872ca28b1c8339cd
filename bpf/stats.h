/* Counter updates: verdicts, per-service and per-real statistics. */
#ifndef XVS_STATS_H
#define XVS_STATS_H

#include "maps.h"

/* xvs_verdict counts one packet under verdict v and returns action. */
static __always_inline int xvs_verdict(__u32 v, int action)
{
	__u64 *cnt = bpf_map_lookup_elem(&xvs_verdicts, &v);

	if (cnt)
		*cnt += 1;
	return action;
}

/*
 * xvs_account adds one forwarded packet of len bytes (and a connection when
 * is_new) to a real. A service's counters are the sum of its reals' plus
 * xvs_svc_stats, where the control plane folds the counters of reals it
 * removes: the packet path updates one counter, not two.
 */
static __always_inline void xvs_account(__u32 real_id, __u32 len, int is_new)
{
	struct xvs_stats *st;

	st = bpf_map_lookup_elem(&xvs_real_stats, &real_id);
	if (st) {
		st->conns += is_new;
		st->inpkts++;
		st->inbytes += len;
	}
}

#endif
