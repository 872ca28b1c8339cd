/* Types shared by the XDP datapath and the Go control plane (generated into Go by bpf2go). */
#ifndef XVS_TYPES_H
#define XVS_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_timer */

/*
 * Byte order, decided once: addresses and ports are stored exactly as on the
 * wire (network order). An IPv4 address occupies addr[0..3], the rest is zero.
 */

/* Address families as stored in keys and records. */
enum xvs_af {
	XVS_AF_INET = 4,
	XVS_AF_INET6 = 6,
};

/* Service flags: the same values as kernel IPVS (IP_VS_SVC_F_*). */
enum xvs_svc_flag {
	XVS_SVC_F_PERSISTENT = 0x0001,
	XVS_SVC_F_HASHED = 0x0002,
	XVS_SVC_F_ONEPACKET = 0x0004,
	XVS_SVC_F_SCHED1 = 0x0008,
	XVS_SVC_F_SCHED2 = 0x0010,
	XVS_SVC_F_SCHED3 = 0x0020,
};

/* Forwarding methods: the same values as IPVS (IP_VS_CONN_F_* & FWD_MASK). */
enum xvs_fwd {
	XVS_FWD_MASQ = 0,
	XVS_FWD_LOCALNODE = 1,
	XVS_FWD_TUNNEL = 2,
	XVS_FWD_DROUTE = 3,
	XVS_FWD_BYPASS = 4,
};

/* Schedulers. XVS_SCHED_NONE marks a name the datapath does not know. */
enum xvs_sched {
	XVS_SCHED_NONE = 0,
	XVS_SCHED_RR,
	XVS_SCHED_WRR,
	XVS_SCHED_LC,
	XVS_SCHED_WLC,
	XVS_SCHED_LBLC,
	XVS_SCHED_LBLCR,
	XVS_SCHED_DH,
	XVS_SCHED_SH,
	XVS_SCHED_SED,
	XVS_SCHED_NQ,
	XVS_SCHED_FO,
	XVS_SCHED_OVF,
	XVS_SCHED_MH,
};

/* Real server record flags. */
enum xvs_real_flag {
	XVS_REAL_F_INUSE = 0x1, /* slot holds a configured real */
	XVS_REAL_F_PORT0 = 0x2, /* its service has port 0: its connections keep the packet's port (ip_vs_sched_persist) */
};

/* Key of xvs_svcs: (protocol, VIP, port). Fwmark services use proto 0, port 0, addr = mark (be32). */
struct xvs_svc_key {
	__u8 addr[16];
	__be16 port;
	__u8 proto;
	__u8 af;
};
_Static_assert(sizeof(struct xvs_svc_key) == 20, "xvs_svc_key size");

/* Value of xvs_svcs: everything about one virtual service. */
struct xvs_svc {
	__u32 id;       /* index into per-service maps (tables, stats) */
	__u32 flags;    /* XVS_SVC_F_* */
	__u32 timeout;  /* persistence timeout, seconds */
	__u32 netmask;  /* IPv4: mask in network order; IPv6: prefix length */
	__u32 fwmark;   /* firewall mark for -f services */
	__u32 seq;      /* creation order */
	__u8 sched;     /* enum xvs_sched */
	__u8 pad[3];
	char sched_name[16];
	char pe_name[16];
};
_Static_assert(sizeof(struct xvs_svc) == 60, "xvs_svc size");

/* Value of xvs_reals (indexed by real id; id 0 is never used). */
struct xvs_real {
	__u8 addr[16];
	__be16 port;
	__u8 af;
	__u8 fwd;       /* enum xvs_fwd */
	__s32 weight;
	__u32 uthresh;
	__u32 lthresh;
	__u32 svc_id;
	__u32 gen;      /* bumped each time the slot is (re)allocated */
	__u32 flags;    /* XVS_REAL_F_* */
	__u32 seq;      /* order in which the real was added to its service */
	__u8 tun_type;  /* IP_VS_CONN_F_TUNNEL_TYPE_* */
	__u8 pad;
	__be16 tun_port;
	__u16 tun_flags; /* IP_VS_TUNNEL_ENCAP_FLAG_* */
	__u16 pad2;
	__s32 last_weight; /* the last weight > 0 set (or the weight when added): what mh tables use, as IPVS */
};
_Static_assert(sizeof(struct xvs_real) == 60, "xvs_real size");

/* Key of xvs_conns: the flow's 5-tuple as seen from the client. */
struct xvs_conn_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 af;
	__u8 pad[2];
};
_Static_assert(sizeof(struct xvs_conn_key) == 40, "xvs_conn_key size");

/* Value of xvs_conns. */
struct xvs_conn {
	__u64 last_seen; /* jiffies (bpf_jiffies64) of the last packet */
	__u32 real_id;
	__u32 real_gen; /* the real's gen when the flow was scheduled */
	__u32 svc_id;
	__u8 state;     /* enum xvs_conn_state */
	__u8 flags;     /* XVS_CONN_F_* */
	__u16 pad;
};
_Static_assert(sizeof(struct xvs_conn) == 24, "xvs_conn size");

/* Connection states: IPVS's TCP states (IP_VS_TCP_S_*); a UDP entry is always 0 ("UDP"). */
enum xvs_conn_state {
	XVS_TCP_S_NONE = 0,
	XVS_TCP_S_ESTABLISHED,
	XVS_TCP_S_SYN_SENT,
	XVS_TCP_S_SYN_RECV,
	XVS_TCP_S_FIN_WAIT,
	XVS_TCP_S_TIME_WAIT,
	XVS_TCP_S_CLOSE,
	XVS_TCP_S_CLOSE_WAIT,
	XVS_TCP_S_LAST_ACK,
	XVS_TCP_S_LISTEN,
	XVS_TCP_S_SYNACK,
	XVS_TCP_S_LAST,
};

/* Connection entry flags (xvs_conn.flags). */
enum xvs_conn_flag {
	XVS_CONN_F_INACTIVE = 0x1, /* not counted in activeconns (IP_VS_CONN_F_INACTIVE) */
	XVS_CONN_F_TEMPLATE = 0x2, /* a persistence template (IP_VS_CONN_F_TEMPLATE; key pad[0] = 1, pad = n_control) */
	XVS_CONN_F_PERSIST = 0x4,  /* a connection a template controls */
};

/* Connection counts of a real (xvs_real_conns): IPVS's activeconns, totalconns (inactive = total - active), persistconns. */
struct xvs_real_conns {
	__u32 gen; /* the real's generation the counts belong to */
	__s32 active;
	__s32 total;
	__s32 persist;
	__u32 overload; /* IP_VS_DEST_F_OVERLOAD: total reached the upper threshold, not yet below the lower */
	__u32 pad;
};
_Static_assert(sizeof(struct xvs_real_conns) == 24, "xvs_real_conns size");

/* Per-CPU position of rr and wrr in a service's real list (xvs_sched_pos). */
struct xvs_sched_pos {
	__u32 version; /* the table's version this position belongs to */
	__s32 cl;      /* index of the last real chosen, -1 for the list head */
	__s32 cw;      /* wrr's current weight */
	__u32 pad;
};
_Static_assert(sizeof(struct xvs_sched_pos) == 16, "xvs_sched_pos size");

/* An lblc entry's key (xvs_lblc): the service and the packet's destination address. */
struct xvs_lblc_key {
	__u32 svc_id;
	__u8 af;
	__u8 pad[3];
	__u8 addr[16]; /* network order; IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct xvs_lblc_key) == 24, "xvs_lblc_key size");

/* An lblc entry (ip_vs_lblc_entry): the real last chosen for the address and when it was last used. */
struct xvs_lblc {
	__u64 lastuse; /* jiffies */
	__u32 real_id;
	__u32 real_gen;
};
_Static_assert(sizeof(struct xvs_lblc) == 16, "xvs_lblc size");

/* Most members of an lblcr set (the kernel's list is unbounded; see sched_lblcr.h for what happens past it). */
#ifndef XVS_LBLCR_SET_MAX
#define XVS_LBLCR_SET_MAX 16
#endif

/* A member of an lblcr set: a real by id and generation. */
struct xvs_lblcr_member {
	__u32 id;
	__u32 gen;
};

/* An lblcr entry (ip_vs_lblcr_entry, key struct xvs_lblc_key): the destination address's set of reals, newest first. */
struct xvs_lblcr {
	__u64 lastuse; /* jiffies of the last lookup */
	__u64 lastmod; /* jiffies of the set's last change (ip_vs_dest_set.lastmod) */
	__u32 size;    /* members in set[0..size) */
	__u32 pad;
	struct xvs_lblcr_member set[XVS_LBLCR_SET_MAX];
};
_Static_assert(sizeof(struct xvs_lblcr) == 24 + 8 * XVS_LBLCR_SET_MAX, "xvs_lblcr size");

/* The expiry sweep of xvs_conns (xvs_sweep, one entry; see conn.h). */
struct xvs_sweep {
	struct bpf_timer timer;
	__u64 jiffies; /* bpf_jiffies64 at the last run (or arming) */
	__u64 ns;      /* bpf_ktime_get_ns (CLOCK_MONOTONIC) at the same moment */
	__u64 runs;
	__u64 expired; /* entries removed so far */
	__u64 run_ns;  /* how long the last pass took */
	__u64 seen;    /* entries the last pass looked at */
	__u32 hz;      /* the kernel's HZ the datapath was loaded with */
	__u32 pad;
};
_Static_assert(sizeof(struct xvs_sweep) == 72, "xvs_sweep size");

/* Counters per service and per real (per-CPU; summed in Go). */
struct xvs_stats {
	__u64 conns;
	__u64 inpkts;
	__u64 outpkts;
	__u64 inbytes;
	__u64 outbytes;
};
_Static_assert(sizeof(struct xvs_stats) == 40, "xvs_stats size");

/* A cached next hop of a real (xvs_nh_cache, per CPU, by real id). */
struct xvs_nexthop {
	__u64 expires;    /* jiffies after which the FIB is asked again */
	__u32 real_gen;   /* the real it was looked up for */
	__u32 ifindex;    /* egress interface */
	__u8 dmac[6];
	__u8 smac[6];
	__u32 pad;
};
_Static_assert(sizeof(struct xvs_nexthop) == 32, "xvs_nexthop size");

/* One slot of xvs_flow_cache: a per-CPU, direct-mapped exact-match cache in front of xvs_conns. */
struct xvs_flow_ent {
	struct xvs_conn_key key;
	__u32 real_id;
	__u32 real_gen;
	__u32 svc_id;
	__u32 touched; /* low 32 bits of jiffies when xvs_conns was last refreshed for this flow */
};
_Static_assert(sizeof(struct xvs_flow_ent) == 56, "xvs_flow_ent size");

/* Datapath counters of verdicts, for status and debugging (xvs_verdicts index). */
enum xvs_verdict {
	XVS_V_PASS_NOT_IP = 0,
	XVS_V_PASS_NO_VIP,
	XVS_V_PASS_FRAG,
	XVS_V_PASS_PROTO,
	XVS_V_PASS_UNSUPPORTED, /* service or method the datapath does not implement */
	XVS_V_PASS_NO_REAL,
	XVS_V_PASS_NO_NEIGH,
	XVS_V_PASS_FIB,
	XVS_V_PASS_MALFORMED, /* truncated or invalid headers: the kernel judges them */
	XVS_V_TOO_BIG,        /* too big for the path MTU once encapsulated: ICMP sent back (or passed) */
	XVS_V_MAX,            /* forwarded packets are counted per real (xvs_real_stats) */
};

/* Runtime configuration (xvs_cfg, one entry). */
struct xvs_cfg {
	__u32 tcp_timeout;    /* seconds; --set */
	__u32 tcpfin_timeout;
	__u32 udp_timeout;
	__u32 mh_size;        /* Maglev table size the datapath was loaded with */
	__u32 nat_reals;      /* configured -m reals: 0 spares other packets the NAT reply lookup */
	__u32 port0_svcs;     /* configured TCP/UDP services of port 0: 0 spares other packets the port-0 lookup */
};
_Static_assert(sizeof(struct xvs_cfg) == 24, "xvs_cfg size");

#endif
