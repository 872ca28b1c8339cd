/* The BPF maps of the datapath: configuration, connection table, counters. */
#ifndef XVS_MAPS_H
#define XVS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "xvs_types.h"

/*
 * Virtual services by (protocol, VIP, port): a hash table in slot 0 of
 * xvs_svcs. Commits change the table in place; an atomic restore builds a
 * whole new table and swaps it in with one update, so a packet sees the old
 * configuration or the new one, never a mix.
 */
struct xvs_svc_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_MAX_SVCS);
	__uint(key_size, sizeof(struct xvs_svc_key)); /* sizes, not BTF types: an inner map's struct types reach the loader as forward declarations */
	__uint(value_size, sizeof(struct xvs_svc));
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct xvs_svc_table);
} xvs_svcs SEC(".maps");

/* BTF anchors (never read): the inner table gives only sizes, so bpf2go -type finds these types here. */
const volatile struct xvs_svc_key xvs_btf_svc_key;
const volatile struct xvs_svc xvs_btf_svc;

/* Real servers by id (id 0 unused). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xvs_real);
} xvs_reals SEC(".maps");

/*
 * One table per service (slot -> real id), swapped whole by the control
 * plane: mh's Maglev table; sh's and dh's 256 buckets; for the other
 * schedulers the service's reals in IPVS list order after a header
 * (sched_list.h).
 */
struct xvs_mh_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVS_MH_SIZE);
	__type(key, __u32);
	__type(value, __u32);
	__uint(map_flags, BPF_F_MMAPABLE); /* the control plane fills a new table through mmap (one copy, not one syscall per slot) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XVS_MAX_SVCS);
	__type(key, __u32);
	__array(values, struct xvs_mh_table);
} xvs_mh SEC(".maps");

/* Connection table: the client's 5-tuple -> the real it was given. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVS_CONN_SIZE);
	__type(key, struct xvs_conn_key);
	__type(value, struct xvs_conn);
} xvs_conns SEC(".maps");

/* Connection counts per real id (conn.h keeps them; the expiry sweep lowers them). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xvs_real_conns);
} xvs_real_conns SEC(".maps");

/* Per-CPU rr/wrr positions by service id (sched_list.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_SVCS);
	__type(key, __u32);
	__type(value, struct xvs_sched_pos);
} xvs_sched_pos SEC(".maps");

/* lblc's tables (sched_lblc.h): (service, destination address) -> real, least recently used evicted. */
#ifndef XVS_LBLC_SIZE
#define XVS_LBLC_SIZE 65536
#endif
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVS_LBLC_SIZE);
	__type(key, struct xvs_lblc_key);
	__type(value, struct xvs_lblc);
} xvs_lblc SEC(".maps");

/* lblcr's sets (sched_lblcr.h): (service, destination address) -> set of reals, least recently used evicted. */
#ifndef XVS_LBLCR_SIZE
#define XVS_LBLCR_SIZE 65536
#endif
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVS_LBLCR_SIZE);
	__type(key, struct xvs_lblc_key);
	__type(value, struct xvs_lblcr);
} xvs_lblcr SEC(".maps");

/* The lblcr entry being worked on and its key, per CPU (the stack has no room for them; sched_lblcr.h). */
struct xvs_lblcr_work {
	struct xvs_lblcr e;     /* the entry, changed here and written back whole */
	struct xvs_lblc_key k;  /* its key */
	__s64 best_oh;          /* the walks over the set (bpf_loop callbacks read and write here) */
	__s32 best_w;
	__u32 best;             /* index + 1 of the member chosen, 0 for none */
	__u32 svc_id;
	__u32 id, gen, found;   /* the member looked for, and whether it is in the set */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_lblcr_work);
} xvs_lblcr_tmp SEC(".maps");

/* The timer that expires xvs_conns entries (conn.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_sweep);
} xvs_sweep SEC(".maps");

/* Counters per real id, and per service id of the reals it no longer has (see stats.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_SVCS);
	__type(key, __u32);
	__type(value, struct xvs_stats);
} xvs_svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xvs_stats);
} xvs_real_stats SEC(".maps");

/* Next hops from bpf_fib_lookup, cached per CPU by real id for XVS_NH_TTL_NS. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_REALS);
	__type(key, __u32);
	__type(value, struct xvs_nexthop);
} xvs_nh_cache SEC(".maps");

/* Exact-match flow cache per CPU (see sched.h): established flows skip both hash lookups. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_FLOW_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct xvs_flow_ent);
} xvs_flow_cache SEC(".maps");

/* Packets per verdict (enum xvs_verdict). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_V_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xvs_verdicts SEC(".maps");

/* Interfaces the datapath may redirect to (ifindex -> ifindex). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XVS_MAX_TX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} xvs_tx_ports SEC(".maps");

/* Run-time settings (--set timeouts). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvs_cfg);
} xvs_config SEC(".maps");

#endif
