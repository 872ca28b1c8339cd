package e2e_test

import (
	"net/netip"
	"testing"
)

// connections are the distinct client (address, port) pairs each real saw
// through the balancer: the connections xvs counts (Conns). A client that
// binds src:0 may be given a port it used in an earlier round; the
// balancer's entry of that pair (FIN_WAIT: the client closed last) then
// carries the new connection on the same real, as kernel IPVS's does with
// conn_reuse_mode=1 (which schedules again only TIME_WAIT entries), and
// that request is no new connection. Expected counts come from what the
// reals saw, so they are exact however the client's ports fall.
type connections struct {
	byReal   map[string]map[netip.AddrPort]bool
	requests int
}

// add records one request that real answered from client (as the real saw
// it). A pair answered by two reals fails the test: its entry should have
// kept it on one.
func (c *connections) add(t *testing.T, real string, client netip.AddrPort) {
	t.Helper()
	if c.byReal == nil {
		c.byReal = map[string]map[netip.AddrPort]bool{}
	}
	for other, set := range c.byReal {
		if other != real && set[client] {
			t.Errorf("client %s answered by %s, and by %s before: a reused (address, port) continues its entry on the same real", client, real, other)
		}
	}
	if c.byReal[real] == nil {
		c.byReal[real] = map[netip.AddrPort]bool{}
	}
	c.byReal[real][client] = true
	c.requests++
}

// addRound records the requests of rr from the sources keep accepts.
func (c *connections) addRound(t *testing.T, rr roundResult, keep func(netip.Addr) bool) {
	t.Helper()
	for src, client := range rr.client {
		if keep == nil || keep(src) {
			c.add(t, rr.bySrc[src], client)
		}
	}
}

// counts returns the connections per real.
func (c *connections) counts() map[string]int {
	m := map[string]int{}
	for real, set := range c.byReal {
		m[real] = len(set)
	}
	return m
}

// total returns the connections over all reals.
func (c *connections) total() int {
	n := 0
	for _, set := range c.byReal {
		n += len(set)
	}
	return n
}

// log says how many requests reused an earlier request's (address, port).
func (c *connections) log(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d requests, %d connections (%d requests reused a client address and port): %v", what, c.requests, c.total(), c.requests-c.total(), c.counts())
}
