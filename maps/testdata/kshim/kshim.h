/*
 * The kernel shim shared by the maps/testdata kernel harnesses: just enough
 * of the kernel's headers to compile unmodified IPVS scheduler code
 * (ip_vs_mh.c with lib/siphash.c; ip_vs_sh.c and ip_vs_dh.c) in user space,
 * as a 64-bit little-endian kernel with CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS
 * (x86-64). Nothing here computes a hash.
 */
#ifndef KSHIM_H
#define KSHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef uint16_t __be16;
typedef uint32_t __be32;
typedef uint32_t __le32;
typedef uint64_t __le64;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint8_t __u8;
typedef uint64_t __u64;

#define BITS_PER_LONG 64
#define CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS 1
#define CONFIG_IP_VS_IPV6 1
#define IS_ENABLED(x) (x + 0)
#define IS_ALIGNED(x, a) (((x) & ((typeof(x))(a)-1)) == 0)
#define __force
#define __rcu
#define __init
#define __exit
#define fallthrough __attribute__((__fallthrough__))
#define EXPORT_SYMBOL(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_LICENSE(x)
#define MODULE_AUTHOR(x)
#define THIS_MODULE NULL
#define module_init(x)
#define module_exit(x)
#define unlikely(x) (x)
#define likely(x) (x)
#define pr_err(...)
#define pr_info(...)

static inline u64 rol64(u64 w, unsigned int s) { return (w << (s & 63)) | (w >> ((-s) & 63)); }
static inline u32 rol32(u32 w, unsigned int s) { return (w << (s & 31)) | (w >> ((-s) & 31)); }
#define le64_to_cpu(x) (x)
#define le32_to_cpu(x) (x)
static inline u64 le64_to_cpup(const void *p) { u64 v; memcpy(&v, p, 8); return v; }
static inline u32 le32_to_cpup(const void *p) { u32 v; memcpy(&v, p, 4); return v; }
static inline u16 le16_to_cpup(const void *p) { u16 v; memcpy(&v, p, 2); return v; }
#define get_unaligned_le64(p) le64_to_cpup(p)
#define get_unaligned_le32(p) le32_to_cpup(p)
#define get_unaligned_le16(p) le16_to_cpup(p)

/* lists, RCU, atomics: single-threaded stand-ins */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each_entry(pos, head, member) \
	for (pos = list_entry((head)->next, typeof(*pos), member); \
	     &pos->member != (head); \
	     pos = list_entry(pos->member.next, typeof(*pos), member))
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline void list_add_rcu(struct list_head *n, struct list_head *head)
{
	n->next = head->next; n->prev = head; head->next->prev = n; head->next = n;
}
static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
	n->prev = head->prev; n->next = head; head->prev->next = n; head->prev = n;
}
static inline void list_del_rcu(struct list_head *e)
{
	e->prev->next = e->next; e->next->prev = e->prev;
}
struct rcu_head { int unused; };
#define rcu_dereference_protected(p, c) (p)
#define rcu_dereference(p) (p)
#define RCU_INIT_POINTER(p, v) ((p) = (v))
#define call_rcu(head, fn) (fn)(head)
#define rcu_barrier()
typedef struct { int counter; } atomic_t;
#define ATOMIC_INIT(i) { (i) }
#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))

/* memory and bitmaps */
#define GFP_KERNEL 0
#define kzalloc(n, f) calloc(1, (n))
#define kcalloc(n, s, f) calloc((n), (s))
#define kfree(p) free(p)
static inline unsigned long *bitmap_zalloc(unsigned int nbits, int f)
{
	return calloc((nbits + 63) / 64, sizeof(unsigned long));
}
#define bitmap_free(p) free(p)
static inline bool test_bit(int nr, const unsigned long *a) { return (a[nr / 64] >> (nr % 64)) & 1; }
static inline void __set_bit(int nr, unsigned long *a) { a[nr / 64] |= 1UL << (nr % 64); }
static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
static inline unsigned long gcd(unsigned long a, unsigned long b)
{
	while (b) { unsigned long t = a % b; a = b; b = t; }
	return a;
}

/* IPVS */
union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
	__be32 ip6[4];
	struct in_addr in;
	struct in6_addr in6;
};
#define IP_VS_SVC_F_SCHED1 0x0008
#define IP_VS_SVC_F_SCHED2 0x0010
#define IP_VS_DEST_F_OVERLOAD 0x0002
struct ip_vs_service {
	u16 af;
	__be16 port;
	union nf_inet_addr addr;
	unsigned int flags;
	struct list_head destinations;
	u32 num_dests;
	void *sched_data;
};
struct ip_vs_dest {
	struct list_head n_list;
	u16 af;
	__be16 port;
	union nf_inet_addr addr;
	volatile unsigned int flags;
	unsigned int cflags;
	atomic_t weight;
	atomic_t last_weight;
	u32 id; /* the harness's own name for the dest */
};
struct sk_buff { __be16 ports[2]; }; /* the harness's packet: its source and destination ports */
struct ip_vs_iphdr { int len; u16 protocol; union nf_inet_addr saddr, daddr; };
static inline bool ip_vs_iph_inverse(const struct ip_vs_iphdr *iph) { return false; }
static inline void *skb_header_pointer(const struct sk_buff *skb, int off, int len, void *buf) { return skb ? (void *)skb->ports : NULL; }
struct ip_vs_scheduler {
	const char *name;
	atomic_t refcnt;
	void *module;
	struct list_head n_list;
	int (*init_service)(struct ip_vs_service *svc);
	void (*done_service)(struct ip_vs_service *svc);
	int (*add_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	int (*del_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	int (*upd_dest)(struct ip_vs_service *svc, struct ip_vs_dest *dest);
	struct ip_vs_dest *(*schedule)(struct ip_vs_service *svc, const struct sk_buff *skb, struct ip_vs_iphdr *iph);
};
static inline int register_ip_vs_scheduler(struct ip_vs_scheduler *s) { return 0; }
static inline int unregister_ip_vs_scheduler(struct ip_vs_scheduler *s) { return 0; }
static inline void ip_vs_scheduler_err(struct ip_vs_service *svc, const char *msg) {}
static inline void ip_vs_dest_hold(struct ip_vs_dest *d) {}
static inline void ip_vs_dest_put(struct ip_vs_dest *d) {}
#define IP_VS_DBG(...)
#define IP_VS_DEST_CF_AVAILABLE 0x0001
#define IP_VS_SVC_F_SCHED_SH_FALLBACK IP_VS_SVC_F_SCHED1
#define IP_VS_SVC_F_SCHED_SH_PORT IP_VS_SVC_F_SCHED2
#define kfree_rcu(p, f) free(p)
#define synchronize_rcu()
static inline int list_empty(const struct list_head *h) { return h->next == h; }
#define IP_VS_DBG_BUF(...)

#endif
