package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// TestUpgradeKeepsConnections runs long-lived keep-alive HTTP connections
// through a direct-routing balancer while xvsadm upgrade swaps the program
// under them: a state directory that says another build pinned its program
// must show as such in status, and after the upgrade every request must
// have been answered on the connection it started on (none failed, none
// reconnected, none moved to another real), with the connection table and
// the counters not reset, the link ids unchanged, the program id changed,
// the old program freed (its expiry timer handed over), and nothing passed
// to the balancer's kernel.
func TestUpgradeKeepsConnections(t *testing.T) {
	requireXvsadm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const clients = 8
	d, err := topo.NewDR(t, topo.DROptions{Sources: clients})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("topology %s: namespaces xvs-%s-{sw,lb,client,r1,r2,r3}", d.Suffix, d.Suffix)
	if err := d.ResolveReals(ctx); err != nil {
		t.Fatal(err)
	}
	vip := topo.VIP4
	svc := hostPort(vip, 80)
	x := newXvsadm(t, d.LB.NS)
	x.run("attach", topo.Iface, "--mode", "native")
	x.run("-A", "-t", svc, "-s", "rr")
	for _, r := range d.Reals {
		x.run("-a", "-t", svc, "-r", hostPort(r.Addr(vip), 80), "-g", "-w", "1")
	}

	// As if an older xvsadm had created the state: another build recorded.
	rec := filepath.Join(x.state, "build_id")
	if err := os.Remove(rec); err != nil {
		t.Fatalf("state directory without a build record: %v", err)
	}
	if err := os.Symlink("0123456789abcdef0123456789abcdef", rec); err != nil {
		t.Fatal(err)
	}
	if out := x.run("status", "--no-count"); !strings.Contains(out, "other build, run xvsadm upgrade") {
		t.Fatalf("status with another build's program does not say so")
	}

	loop := startKeepAlive(ctx, t, d, vip, clients)
	defer loop.stop()
	loop.waitEach(ctx, t, 5)
	fwd4, _, err := d.LB.NS.Forwarded()
	if err != nil {
		t.Fatal(err)
	}
	before := upgradeSnapshot(t, x, svc)

	// The swap, with the request loop running across it.
	mark := loop.count()
	time.Sleep(300 * time.Millisecond)
	duringStart, start := loop.count(), time.Now()
	noDecap := x.state + "-no-decap" // never created: leave the host's decap links alone
	out := x.run("--format", "json", "upgrade", "--decap-state", noDecap)
	took, during := time.Since(start), loop.count()-duringStart
	time.Sleep(300 * time.Millisecond)
	window := loop.count() - mark
	var res struct {
		State struct {
			OldProg  uint32 `json:"old_prog_id"`
			NewProg  uint32 `json:"new_prog_id"`
			OldFreed bool   `json:"old_prog_freed"`
			Links    []struct {
				Iface  string `json:"interface"`
				LinkID uint32 `json:"link_id"`
			} `json:"links"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("xvsadm upgrade --format json: %v", err)
	}
	loop.waitEach(ctx, t, loop.perClientMin()+5) // every connection still answers after the swap
	after := upgradeSnapshot(t, x, svc)          // connections still open: active
	loop.stop()

	failed, dials := loop.failures(), loop.dials.Load()
	t.Logf("%d requests in total; %d from 300 ms before the upgrade to 300 ms after it, %d while xvsadm upgrade ran (%v); %d failed; %d connections dialled for %d clients",
		loop.count(), window, during, took.Round(time.Millisecond), len(failed), dials, clients)
	if len(failed) > 0 {
		t.Errorf("%d requests failed across the upgrade:\n%s", len(failed), strings.Join(failed[:min(len(failed), 8)], "\n"))
	}
	if during == 0 {
		t.Errorf("no request was answered while xvsadm upgrade ran: the loop did not cover the swap")
	}
	if dials != clients {
		t.Errorf("%d connections dialled for %d keep-alive clients: connections were dropped and re-established", dials, clients)
	}
	for i, m := range loop.moved() {
		t.Errorf("client %d: %s", i, m)
	}
	if res.State.NewProg == 0 || res.State.NewProg == res.State.OldProg || res.State.OldProg != before.progID {
		t.Errorf("upgrade: program %d -> %d, want a new program in place of %d", res.State.OldProg, res.State.NewProg, before.progID)
	}
	if !res.State.OldFreed {
		t.Errorf("upgrade: the old program %d was not freed (its expiry timer not handed over?)", res.State.OldProg)
	}
	if len(res.State.Links) != 1 || res.State.Links[0].LinkID != before.linkID {
		t.Errorf("upgrade swapped links %+v, want the link %d of %s", res.State.Links, before.linkID, topo.Iface)
	}
	if after.linkID != before.linkID || after.progID != res.State.NewProg || after.linkProg != res.State.NewProg {
		t.Errorf("after the upgrade link %d runs program %d (pinned %d); before link %d: want the same link running %d", after.linkID, after.linkProg, after.progID, before.linkID, res.State.NewProg)
	}
	if !after.thisBuild {
		t.Errorf("status after the upgrade does not say this build")
	}
	if after.connEntries < before.connEntries || after.connEntries < clients {
		t.Errorf("xvs_conns holds %d entries after the upgrade, %d before: the connection table was reset", after.connEntries, before.connEntries)
	}
	if after.conns != before.conns || after.conns != clients {
		t.Errorf("Conns %d after the upgrade, %d before, want %d (one per keep-alive client): counters reset or connections scheduled again", after.conns, before.conns, clients)
	}
	if after.inPkts <= before.inPkts {
		t.Errorf("InPkts %d after the upgrade, %d before: counters reset or not counted by the new program", after.inPkts, before.inPkts)
	}
	if after.active != before.active || after.active != clients {
		t.Errorf("ActiveConn sums %d after the upgrade, %d before, want %d", after.active, before.active, clients)
	}
	if w4, _, err := d.LB.NS.Forwarded(); err != nil {
		t.Fatal(err)
	} else if w4 != fwd4 {
		t.Errorf("the balancer's kernel forwarded %d packets around the upgrade: xvs passed traffic to it", w4-fwd4)
	}
	if out := x.run("upgrade", "--decap-state", noDecap); !strings.Contains(out, "nothing to do") {
		t.Errorf("a second upgrade of the same build did something")
	}
}

// snapshot is what the test compares before and after an upgrade.
type snapshot struct {
	linkID, linkProg, progID uint32
	thisBuild                bool
	connEntries              int
	conns, inPkts            uint64
	active                   int
}

func upgradeSnapshot(t *testing.T, x *xvsadm, svc string) snapshot {
	t.Helper()
	var st struct {
		ProgID   uint32 `json:"prog_id"`
		Attached []struct {
			Iface  string `json:"interface"`
			LinkID uint32 `json:"link_id"`
			ProgID uint32 `json:"prog_id"`
		} `json:"attached"`
		Maps []struct {
			Name    string `json:"name"`
			Entries int    `json:"entries"`
		} `json:"maps"`
		Build struct {
			ThisBuild bool `json:"this_build"`
		} `json:"program_build"`
	}
	if err := json.Unmarshal([]byte(x.run("--format", "json", "status")), &st); err != nil {
		t.Fatalf("xvsadm status --format json: %v", err)
	}
	s := snapshot{progID: st.ProgID, thisBuild: st.Build.ThisBuild}
	for _, a := range st.Attached {
		if a.Iface == topo.Iface {
			s.linkID, s.linkProg = a.LinkID, a.ProgID
		}
	}
	for _, m := range st.Maps {
		if m.Name == "xvs_conns" {
			s.connEntries = m.Entries
		}
	}
	m, err := parseStats(x.run("-L", "-n", "--stats"))
	if err != nil {
		t.Fatalf("xvsadm -L -n --stats: %v", err)
	}
	s.conns, s.inPkts = m["TCP "+svc].conns, m["TCP "+svc].inPkts
	l, err := parseList(x.run("-L", "-n"))
	if err != nil {
		t.Fatalf("xvsadm -L -n: %v", err)
	}
	if ls := l.service("TCP", svc); ls != nil {
		for _, dst := range ls.dests {
			s.active += dst.active
		}
	}
	return s
}

// keepAlive is a request loop: one client per source address, each with
// one keep-alive connection to the VIP, sending requests one after another.
type keepAlive struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dials  atomic.Int64
	total  atomic.Int64

	mu     sync.Mutex
	done   []int    // requests answered per client
	real   []string // the real that answered a client first
	moves  []string // a client answered by another real than its first
	failed []string // errors, with the client and the time
	begin  time.Time
}

func startKeepAlive(ctx context.Context, t *testing.T, d *topo.DR, vip netip.Addr, n int) *keepAlive {
	ctx, cancel := context.WithCancel(ctx)
	k := &keepAlive{cancel: cancel, done: make([]int, n), real: make([]string, n), begin: time.Now()}
	target := "http://" + netip.AddrPortFrom(vip, 80).String() + "/"
	for i, src := range d.Sources(vip)[:n] {
		tr := &http.Transport{
			MaxIdleConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				k.dials.Add(1)
				dl := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
				return d.Client.NS.DialContext(ctx, dl, network, addr)
			},
		}
		c := &http.Client{Transport: tr, Timeout: 3 * time.Second}
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer tr.CloseIdleConnections()
			for ctx.Err() == nil {
				name, err := keepAliveGet(ctx, c, target)
				k.record(i, name, err, ctx.Err() != nil)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return k
}

func keepAliveGet(ctx context.Context, c *http.Client, target string) (string, error) {
	// POST, not GET: the transport retries a GET on a new connection when
	// its connection breaks, which would hide the failure.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader("ping"))
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return strings.TrimSuffix(string(body), "\n"), nil
}

func (k *keepAlive) record(i int, name string, err error, stopping bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case err != nil && stopping: // cancelled by stop
	case err != nil:
		k.failed = append(k.failed, fmt.Sprintf("client %d at %v: %v", i, time.Since(k.begin).Round(time.Millisecond), err))
	default:
		k.done[i]++
		k.total.Add(1)
		if k.real[i] == "" {
			k.real[i] = name
		} else if k.real[i] != name {
			k.moves = append(k.moves, fmt.Sprintf("answered by %s, then %s", k.real[i], name))
			k.real[i] = name
		}
	}
}

func (k *keepAlive) count() int64 { return k.total.Load() }

func (k *keepAlive) failures() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.failed...)
}

func (k *keepAlive) moved() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.moves...)
}

func (k *keepAlive) perClientMin() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.done[0]
	for _, n := range k.done {
		m = min(m, n)
	}
	return m
}

// waitEach polls until every client has n answered requests, failing the
// test at ctx's deadline or when requests fail.
func (k *keepAlive) waitEach(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for k.perClientMin() < n {
		if f := k.failures(); len(f) > 0 {
			t.Fatalf("requests failed:\n%s", strings.Join(f[:min(len(f), 8)], "\n"))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("clients did not each get %d answers: %v", n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop ends the loop and waits for its clients (idempotent).
func (k *keepAlive) stop() {
	k.cancel()
	k.wg.Wait()
}
