//go:build ignore

/*
 * Runs the kernel's own Maglev code (net/netfilter/ipvs/ip_vs_mh.c and
 * lib/siphash.c, unmodified, compiled by gen.sh against shim/) over a set of
 * IPVS configurations and prints what it computes, for maps/maglev_test.go
 * to compare with the Go implementation. Also checks bpf/siphash.h against
 * the kernel's ip_vs_mh_hashkey.
 *
 * Operations follow ip_vs_ctl.c: an added dest goes to the head of
 * svc->destinations (list_add_rcu in __ip_vs_update_dest); last_weight takes
 * the weight on add, and on edit only when the new weight is not 0; after
 * each change the scheduler's add_dest/upd_dest/del_dest hook runs.
 */
#include "ip_vs_mh.c"
#include "../../../bpf/siphash.h"

#include <stdio.h>

#define MAX_DESTS 300

static struct ip_vs_dest dests[MAX_DESTS];
static int ndests;

static void parse_addr(int *af, union nf_inet_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->ip) == 1) {
		*af = AF_INET;
		return;
	}
	if (inet_pton(AF_INET6, s, &a->in6) == 1) {
		*af = AF_INET6;
		return;
	}
	fprintf(stderr, "bad address %s\n", s);
	exit(2);
}

static struct ip_vs_dest *find_dest(const char *addr, int port)
{
	union nf_inet_addr a;
	int af;

	parse_addr(&af, &a, addr);
	for (int i = 0; i < ndests; i++)
		if (dests[i].af == af && ntohs(dests[i].port) == port &&
		    !memcmp(&dests[i].addr, &a, sizeof(a)))
			return &dests[i];
	return NULL;
}

static bool on_list(struct ip_vs_service *svc, struct ip_vs_dest *d)
{
	struct ip_vs_dest *x;

	list_for_each_entry(x, &svc->destinations, n_list)
		if (x == d)
			return true;
	return false;
}

/* op: "add ADDR PORT W", "edit ADDR PORT W", "del ADDR PORT", "overload ADDR PORT" */
static void apply(struct ip_vs_service *svc, const char *op)
{
	char verb[16], addr[64];
	int port = 0, w = 0;
	struct ip_vs_dest *d;

	if (sscanf(op, "%15s %63s %d %d", verb, addr, &port, &w) < 3) {
		fprintf(stderr, "bad op %s\n", op);
		exit(2);
	}
	printf("op %s\n", op);
	d = find_dest(addr, port);
	if (!strcmp(verb, "add")) {
		if (d && on_list(svc, d)) {
			fprintf(stderr, "dest exists: %s\n", op);
			exit(2);
		}
		if (!d) { /* new dest; a deleted one comes back from the trash */
			if (ndests == MAX_DESTS)
				exit(2);
			d = &dests[ndests++];
			memset(d, 0, sizeof(*d));
			d->id = ndests;
			{
				int af;
				parse_addr(&af, &d->addr, addr);
				d->af = af;
			}
			d->port = htons(port);
		}
		atomic_set(&d->last_weight, w);
		atomic_set(&d->weight, w);
		d->flags = 0;
		list_add_rcu(&d->n_list, &svc->destinations);
		svc->num_dests++;
		ip_vs_mh_dest_changed(svc, d);
	} else if (!strcmp(verb, "edit")) {
		if (w != 0)
			atomic_set(&d->last_weight, w);
		atomic_set(&d->weight, w);
		ip_vs_mh_dest_changed(svc, d);
	} else if (!strcmp(verb, "del")) {
		list_del_rcu(&d->n_list);
		svc->num_dests--;
		ip_vs_mh_dest_changed(svc, d);
	} else if (!strcmp(verb, "overload")) {
		d->flags |= IP_VS_DEST_F_OVERLOAD;
	} else {
		fprintf(stderr, "bad op %s\n", op);
		exit(2);
	}
}

static u32 id_of(struct ip_vs_dest *d) { return d ? d->id : 0; }

static void print_table(struct ip_vs_mh_state *s)
{
	u64 h = 0xcbf29ce484222325ULL; /* FNV-1a 64 over the IDs, little-endian u32 */
	u32 counts[MAX_DESTS + 1] = {0};

	for (int i = 0; i < IP_VS_MH_TAB_SIZE; i++) {
		u32 id = id_of(s->lookup[i].dest);

		counts[id]++;
		for (int b = 0; b < 4; b++) {
			h ^= (id >> (8 * b)) & 0xff;
			h *= 0x100000001b3ULL;
		}
	}
	printf("table fnv=%016llx counts=", (unsigned long long)h);
	for (int id = 0, first = 1; id <= MAX_DESTS; id++) {
		if (!counts[id])
			continue;
		printf("%s%u:%u", first ? "" : ",", id, counts[id]);
		first = 0;
	}
	printf(" head=");
	for (int i = 0; i < 16; i++)
		printf("%s%u", i ? "," : "", id_of(s->lookup[i].dest));
	printf("\n");
}

static const char *clients4[] = {
	"0.0.0.0", "1.2.3.4", "10.1.1.1", "10.1.1.2", "192.168.0.77",
	"172.16.5.9", "255.255.255.255", "203.0.113.200", "8.8.8.8", "100.64.0.1",
};
static const char *clients6[] = {
	"::", "::1", "2001:db8::1", "2001:db8::2", "fe80::1234:5678",
	"2001:db8:ffff:1::abcd", "::ffff:10.1.1.1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	"2606:4700::6810:84e5", "fd00:1:2:3:4:5:6:7",
};
static const int client_ports[] = {0, 1, 80, 12345, 65535};

static void print_lookups(struct ip_vs_service *svc)
{
	struct ip_vs_mh_state *s = svc->sched_data;
	const char **cl = svc->af == AF_INET ? clients4 : clients6;

	for (int i = 0; i < 10; i++) {
		for (int p = 0; p < 5; p++) {
			union nf_inet_addr a;
			int af;

			parse_addr(&af, &a, cl[i]);
			printf("lookup %s %d get=%u fallback=%u\n", cl[i], client_ports[p],
			       id_of(ip_vs_mh_get(svc, s, &a, htons(client_ports[p]))),
			       id_of(ip_vs_mh_get_fallback(svc, s, &a, htons(client_ports[p]))));
		}
	}
}

static void scenario(const char *name, int af, const char **ops, int nops)
{
	struct ip_vs_service svc = {0};

	svc.af = af == 4 ? AF_INET : AF_INET6;
	INIT_LIST_HEAD(&svc.destinations);
	ndests = 0;
	if (ip_vs_mh_init_svc(&svc)) {
		fprintf(stderr, "init_svc failed\n");
		exit(1);
	}
	printf("scenario %s size=%d af=%d\n", name, IP_VS_MH_TAB_SIZE, af);
	for (int i = 0; i < nops; i++)
		apply(&svc, ops[i]);
	print_table(svc.sched_data);
	print_lookups(&svc);
	printf("end\n");
	ip_vs_mh_done_svc(&svc);
}

#define SCENARIO(name, af, ...)                                                 \
	do {                                                                    \
		static const char *ops[] = {__VA_ARGS__};                      \
		scenario(name, af, ops, sizeof(ops) / sizeof(ops[0]));         \
	} while (0)

static char genbuf[MAX_DESTS][64];
static const char *genops[MAX_DESTS];

/* n IPv4 or IPv6 dests with weights from a small LCG, all on port 80+i%3. */
static void generated(const char *name, int af, int n, int maxw, u32 seed)
{
	for (int i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		int w = maxw ? (int)((seed >> 8) % maxw) + 1 : 1;
		if (af == 4)
			snprintf(genbuf[i], 64, "add 10.%d.%d.%d %d %d", i / 65536, (i / 256) % 256, i % 256 + 1, 80 + i % 3, w);
		else
			snprintf(genbuf[i], 64, "add 2001:db8:%x::%x %d %d", i / 7, i + 1, 80 + i % 3, w);
		genops[i] = genbuf[i];
	}
	scenario(name, af, genops, n);
}

/* Compare bpf/siphash.h with ip_vs_mh_hashkey over many inputs. */
static void check_bpf_header(void)
{
	u32 x = 1;

	for (int i = 0; i < 200000; i++) {
		union nf_inet_addr a;
		__be16 port;
		u32 off;

		for (int w = 0; w < 4; w++) {
			x = x * 1664525 + 1013904223;
			a.ip6[w] = x;
		}
		x = x * 1664525 + 1013904223;
		port = x >> 16;
		off = i % 3 == 0 ? 0 : x % 131071;
		if (ip_vs_mh_hashkey(AF_INET, &a, port, &((hsiphash_key_t){{XVS_MH_KEY1, XVS_MH_KEY1}}), off) !=
			    xvs_mh_hashkey(xvs_mh_fold4(a.ip), port, off) ||
		    ip_vs_mh_hashkey(AF_INET6, &a, port, &((hsiphash_key_t){{XVS_MH_KEY1, XVS_MH_KEY1}}), off) !=
			    xvs_mh_hashkey(xvs_mh_fold6(a.ip6), port, off) ||
		    hsiphash(&x, 4, &((hsiphash_key_t){{XVS_MH_KEY2, XVS_MH_KEY2}})) !=
			    xvs_hsiphash_1u32(x, XVS_MH_KEY2, XVS_MH_KEY2)) {
			fprintf(stderr, "bpf/siphash.h differs from the kernel at input %d\n", i);
			exit(1);
		}
	}
}

/* ip_vs_mh_hashkey for a few inputs, both keys. */
static void print_hashes(void)
{
	hsiphash_key_t k1, k2;
	static const char *addrs[] = {"0.0.0.0", "10.0.0.1", "192.0.2.255", "::", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1:2:3:4"};
	static const int ports[] = {0, 80, 65535};
	static const u32 offsets[] = {0, 1, 4092, 0xffffffff};

	generate_hash_secret(&k1, &k2);
	for (int i = 0; i < 7; i++)
		for (int svcaf = 4; svcaf <= 6; svcaf += 2)
			for (int p = 0; p < 3; p++)
				for (int o = 0; o < 4; o++) {
					union nf_inet_addr a;
					int af;

					parse_addr(&af, &a, addrs[i]);
					int kaf = svcaf == 4 ? AF_INET : AF_INET6;
					printf("hash af=%d %s %d %u h1=%08x h2=%08x\n", svcaf, addrs[i], ports[p], offsets[o],
					       ip_vs_mh_hashkey(kaf, &a, htons(ports[p]), &k1, offsets[o]),
					       ip_vs_mh_hashkey(kaf, &a, htons(ports[p]), &k2, offsets[o]));
				}
}

int main(void)
{
	check_bpf_header();
	if (IP_VS_MH_TAB_SIZE == 4093)
		print_hashes();

	SCENARIO("empty", 4, "add 10.0.0.1 80 1", "del 10.0.0.1 80");
	SCENARIO("all-zero", 4, "add 10.0.0.1 80 0", "add 10.0.0.2 80 0");
	SCENARIO("one", 4, "add 10.0.0.1 80 1");
	SCENARIO("three-equal", 4, "add 10.0.0.1 80 1", "add 10.0.0.2 80 1", "add 10.0.0.3 80 1");
	SCENARIO("three-equal-reversed", 4, "add 10.0.0.3 80 1", "add 10.0.0.2 80 1", "add 10.0.0.1 80 1");
	SCENARIO("cilium-weights", 4, "add 10.0.0.1 80 2", "add 10.0.0.3 80 13", "add 10.0.0.4 80 111",
		 "add 10.0.0.5 80 10");
	SCENARIO("shifted", 4, "add 10.0.0.1 80 100", "add 10.0.0.2 80 1", "add 10.0.0.3 80 37");
	SCENARIO("large-weights", 4, "add 10.0.0.1 80 65535", "add 10.0.0.2 80 1", "add 10.0.0.3 80 30000",
		 "add 10.0.0.4 80 7", "add 10.0.0.5 80 2147483647");
	SCENARIO("gcd", 4, "add 10.0.0.1 80 10", "add 10.0.0.2 80 20", "add 10.0.0.3 80 30", "add 10.0.0.4 80 40");
	SCENARIO("zero-weight-added", 4, "add 10.0.0.1 80 1", "add 10.0.0.2 80 0", "add 10.0.0.3 80 2");
	SCENARIO("quiesced", 4, "add 10.0.0.1 80 3", "add 10.0.0.2 80 3", "add 10.0.0.3 80 3", "edit 10.0.0.2 80 0");
	SCENARIO("quiesced-then-reweighted", 4, "add 10.0.0.1 80 3", "add 10.0.0.2 80 5", "edit 10.0.0.2 80 0",
		 "edit 10.0.0.1 80 1", "add 10.0.0.3 80 2");
	SCENARIO("overloaded", 4, "add 10.0.0.1 80 1", "add 10.0.0.2 80 1", "add 10.0.0.3 80 1",
		 "overload 10.0.0.1 80");
	SCENARIO("all-unavailable", 4, "add 10.0.0.1 80 1", "add 10.0.0.2 80 1", "edit 10.0.0.1 80 0",
		 "overload 10.0.0.2 80");
	SCENARIO("removed-and-back", 4, "add 10.0.0.1 80 1", "add 10.0.0.2 80 2", "add 10.0.0.3 80 3",
		 "del 10.0.0.1 80", "add 10.0.0.4 80 1", "add 10.0.0.1 80 4");
	SCENARIO("same-ip-ports", 4, "add 10.0.0.1 80 1", "add 10.0.0.1 81 1", "add 10.0.0.1 8080 2",
		 "add 10.0.0.1 0 1");
	SCENARIO("ipv6", 6, "add 2001:db8::1 80 1", "add 2001:db8::2 80 2", "add 2001:db8:1::1 443 3",
		 "add ::ffff:10.0.0.1 80 1", "add fe80::1 80 5");
	SCENARIO("ipv6-svc-ipv4-dests", 6, "add 10.0.0.1 80 1", "add 2001:db8::2 80 1", "add 10.0.0.3 80 2");
	SCENARIO("ipv4-svc-ipv6-dests", 4, "add 2001:db8::1 80 1", "add 2001:db8::2 80 1", "add 10.0.0.3 80 1",
		 "add 2001:db8:0:0:1::1 80 1");
	generated("gen-10", 4, 10, 5, 1);
	generated("gen-100-equal", 4, 100, 0, 2);
	generated("gen-100", 4, 100, 20, 3);
	generated("gen6-50", 6, 50, 1000, 4);
	generated("gen-251", 4, 251, 3, 5);
	return 0;
}
