/* Tunables (override with -D at build time) and the stage return convention. */
#ifndef XVS_CONSTS_H
#define XVS_CONSTS_H

/* Stages return an XDP action to end processing, or XVS_CONTINUE to go on. */
#define XVS_CONTINUE -1

#ifndef XVS_MAX_SVCS
#define XVS_MAX_SVCS 65536
#endif

#ifndef XVS_MAX_REALS
#define XVS_MAX_REALS 262144
#endif

/* Default connection-table size; the loader sets the real size at load time. */
#ifndef XVS_CONN_SIZE
#define XVS_CONN_SIZE 1048576
#endif

/* Maglev table size: CONFIG_IP_VS_MH_TAB_INDEX 12 in Debian's kernel. The loader may set another prime. */
#ifndef XVS_MH_SIZE
#define XVS_MH_SIZE 4093
#endif

/*
 * Time in the datapath is jiffies (bpf_jiffies64, inlined by the verifier:
 * no helper call). HZ is 100 to 1000, so 256 jiffies is 0.256 s to 2.56 s.
 */
/* How long a next hop (egress interface and MACs) from the FIB is reused. */
#ifndef XVS_NH_TTL
#define XVS_NH_TTL 256
#endif

/* Per-CPU exact-match flow cache: slots (a power of 2), and how often a cached flow refreshes its xvs_conns entry. */
#ifndef XVS_FLOW_CACHE_SIZE
#define XVS_FLOW_CACHE_SIZE 4096
#endif
#ifndef XVS_FLOW_REFRESH
#define XVS_FLOW_REFRESH 64
#endif

#ifndef XVS_MAX_TX_PORTS
#define XVS_MAX_TX_PORTS 256
#endif

/* IPv6 extension headers walked before giving up (hop-by-hop, routing, destination options). */
#ifndef XVS_IPV6_MAX_EXT
#define XVS_IPV6_MAX_EXT 4
#endif

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define XVS_TCP_FIN 0x01
#define XVS_TCP_SYN 0x02
#define XVS_TCP_RST 0x04
#define XVS_TCP_ACK 0x10

#endif
