//go:build ignore

/*
 * Runs the kernel's own sh and dh schedulers (net/netfilter/ipvs/ip_vs_sh.c
 * and ip_vs_dh.c with include/linux/hash.h, unmodified, compiled by gen.sh
 * against shim/) over IPVS configurations and prints their bucket tables
 * and the dest each lookup gives, for maps/sched_kernel_test.go to compare
 * with maps.ShTable/DhTable and the hash the datapath uses.
 *
 * Dests go to the head of svc->destinations, as ip_vs_ctl.c adds them.
 */
#include "ip_vs_sh.c"
#include "ip_vs_dh.c"

#include <stdio.h>

#define MAX_DESTS 16

static struct ip_vs_dest dests[MAX_DESTS];

/* scenario: af, weights (0 allowed); dest i has id i+1 and address base+i. */
static void run(int af, const int *weights, int n, unsigned int flags)
{
	struct ip_vs_service svc = {.af = af, .flags = flags};
	struct ip_vs_sh_state *sh;
	struct ip_vs_dh_state *dh;
	char buf[64];

	INIT_LIST_HEAD(&svc.destinations);
	memset(dests, 0, sizeof(dests));
	for (int i = 0; i < n; i++) {
		struct ip_vs_dest *d = &dests[i];

		d->af = af;
		d->id = i + 1;
		d->port = htons(80);
		d->cflags = IP_VS_DEST_CF_AVAILABLE;
		atomic_set(&d->weight, weights[i]);
		if (af == AF_INET)
			d->addr.ip = htonl(0x0a000000 + 11 + i);
		else
			d->addr.ip6[3] = htonl(0x11 + i);
		list_add_rcu(&d->n_list, &svc.destinations);
		svc.num_dests++;
	}
	printf("scenario af=%d flags=%u weights=", af == AF_INET ? 4 : 6, flags);
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", weights[i]);
	printf("\n");
	ip_vs_sh_init_svc(&svc);
	sh = svc.sched_data;
	printf("sh");
	for (int i = 0; i < IP_VS_SH_TAB_SIZE; i++)
		printf(" %u", sh->buckets[i].dest ? sh->buckets[i].dest->id : 0);
	printf("\n");
	/* lookups: 300 clients, many addresses and ports */
	for (int c = 0; c < 300; c++) {
		struct sk_buff skb = {.ports = {htons(1024 + c * 211 % 60000), htons(80)}};
		struct ip_vs_iphdr iph = {.protocol = IPPROTO_TCP};
		struct ip_vs_dest *d;

		if (af == AF_INET) {
			iph.saddr.ip = htonl(0x0a010000 + c * 7919);
			inet_ntop(AF_INET, &iph.saddr.ip, buf, sizeof(buf));
		} else {
			iph.saddr.ip6[0] = htonl(0xfd010000);
			iph.saddr.ip6[2] = htonl(c * 104729);
			iph.saddr.ip6[3] = htonl(c);
			inet_ntop(AF_INET6, iph.saddr.ip6, buf, sizeof(buf));
		}
		d = ip_vs_sh_schedule(&svc, &skb, &iph);
		printf("lookup %s %u %u\n", buf, ntohs(skb.ports[0]), d ? d->id : 0);
	}
	ip_vs_sh_done_svc(&svc);

	svc.sched_data = NULL;
	ip_vs_dh_init_svc(&svc);
	dh = svc.sched_data;
	printf("dh");
	for (int i = 0; i < IP_VS_DH_TAB_SIZE; i++)
		printf(" %u", dh->buckets[i].dest ? dh->buckets[i].dest->id : 0);
	printf("\n");
	for (int c = 0; c < 50; c++) {
		struct ip_vs_iphdr iph = {.protocol = IPPROTO_TCP};
		struct ip_vs_dest *d;

		if (af == AF_INET) {
			iph.daddr.ip = htonl(0x0a640000 + c * 104729);
			inet_ntop(AF_INET, &iph.daddr.ip, buf, sizeof(buf));
		} else {
			iph.daddr.ip6[0] = htonl(0xfd000000);
			iph.daddr.ip6[3] = htonl(c * 7919);
			inet_ntop(AF_INET6, iph.daddr.ip6, buf, sizeof(buf));
		}
		d = ip_vs_dh_schedule(&svc, NULL, &iph);
		printf("dlookup %s %u\n", buf, d ? d->id : 0);
	}
	ip_vs_dh_done_svc(&svc);
}

int main(void)
{
	static const int w1[] = {1, 1, 1}, w2[] = {2, 1, 0, 3}, w3[] = {5}, w4[] = {3, 0, 7, 1, 2};
	static const unsigned int flags[] = {0, IP_VS_SVC_F_SCHED_SH_PORT, IP_VS_SVC_F_SCHED_SH_FALLBACK,
					     IP_VS_SVC_F_SCHED_SH_FALLBACK | IP_VS_SVC_F_SCHED_SH_PORT};

	for (int f = 0; f < 4; f++) {
		run(AF_INET, w1, 3, flags[f]);
		run(AF_INET, w2, 4, flags[f]);
		run(AF_INET6, w2, 4, flags[f]);
		run(AF_INET, w4, 5, flags[f]);
	}
	run(AF_INET, w3, 1, 0);
	return 0;
}
