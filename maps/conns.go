package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
)

// The datapath keeps the connection table, its states and the per-real
// counts itself, and expires entries with a timer (bpf/conn.h): no daemon is
// needed. These read them for -L (ActiveConn, InActConn, PersistConn) and
// -L -c.

// loadConnCounts fills the connection counts of c's reals from xvs_real_conns.
// Counts belong to a real's generation; a slot's counts from an earlier
// occupant read as zero.
func (s *BPFStore) loadConnCounts(c *Config) error {
	if s.m.RealConns == nil {
		return nil
	}
	for _, e := range c.Services {
		for _, d := range e.Dests {
			var n bpf.RealConns
			if err := s.m.RealConns.Lookup(d.ID, &n); err != nil {
				return fmt.Errorf("read connection counts of real %d: %w", d.ID, err)
			}
			d.ActiveConns, d.InactConns, d.PersistConns = 0, 0, 0
			if n.Gen != d.Gen {
				continue
			}
			d.ActiveConns = clampCount(n.Active)
			d.InactConns = clampCount(n.Total - n.Active)
			d.PersistConns = clampCount(n.Persist)
		}
	}
	return nil
}

// clampCount shows a count that a race drove below zero as zero.
func clampCount(v int32) uint32 { return uint32(max(v, 0)) }

// jiffiesNow estimates the kernel's jiffies from the sweep's last record and
// CLOCK_MONOTONIC (what bpf_ktime_get_ns reads), and returns it with HZ.
func (s *BPFStore) jiffiesNow() (now uint64, hz uint64, err error) {
	var sw bpf.Sweep
	if err := s.m.Sweep.Lookup(uint32(0), &sw); err != nil {
		return 0, 0, fmt.Errorf("read sweep state: %w", err)
	}
	if sw.Hz == 0 { // never armed: no flow has been made
		return 0, 0, nil
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, 0, fmt.Errorf("read clock: %w", err)
	}
	mono := uint64(ts.Nano())
	now = sw.Jiffies
	if mono > sw.Ns {
		now += (mono - sw.Ns) * uint64(sw.Hz) / 1e9
	}
	return now, uint64(sw.Hz), nil
}

// connTimeout returns an entry's timeout in seconds, as conn.h's xvs_conn_timeout.
func connTimeout(proto, state uint8, t Timeouts) uint64 {
	if proto != unix.IPPROTO_TCP {
		return uint64(t.UDP)
	}
	switch state {
	case uint8(bpf.XvsXvsConnStateXVS_TCP_S_ESTABLISHED):
		return uint64(t.TCP)
	case uint8(bpf.XvsXvsConnStateXVS_TCP_S_FIN_WAIT):
		return uint64(t.TCPFin)
	}
	if int(state) < len(tcpFixedTimeouts) {
		return tcpFixedTimeouts[state]
	}
	return 2
}

// tcpFixedTimeouts are IPVS's tcp_timeouts in seconds (ESTABLISHED and FIN_WAIT come from --set).
var tcpFixedTimeouts = [...]uint64{2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120}

// connStateName is the state as ipvsadm -L -c names it.
func connStateName(proto, state uint8) string {
	switch {
	case proto == unix.IPPROTO_UDP:
		return "UDP"
	case proto != unix.IPPROTO_TCP:
		return "NONE"
	case int(state) < len(bpf.TCPStateNames):
		return bpf.TCPStateNames[state]
	}
	return "ERR!"
}

// Conns lists the connection entries of the datapath (ipvsadm -L -c): those
// not yet past their timeout, whose real is still configured.
func (s *BPFStore) Conns() ([]Conn, error) {
	if s.m.Conns == nil || s.m.Sweep == nil {
		return nil, nil
	}
	var cfg bpf.Cfg
	if err := s.m.Config.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	t := Timeouts{TCP: cfg.TcpTimeout, TCPFin: cfg.TcpfinTimeout, UDP: cfg.UdpTimeout}
	now, hz, err := s.jiffiesNow()
	if err != nil || hz == 0 {
		return nil, err
	}
	reals := map[uint32]*bpf.Real{}
	realOf := func(id, gen uint32) *bpf.Real {
		r, ok := reals[id]
		if !ok {
			r = new(bpf.Real)
			if err := s.m.Reals.Lookup(id, r); err != nil || r.Flags&bpf.RealInUse == 0 {
				r = nil
			}
			reals[id] = r
		}
		if r == nil || r.Gen != gen {
			return nil
		}
		return r
	}
	var out []Conn
	var k bpf.ConnKey
	var v bpf.Conn
	it := s.m.Conns.Iterate()
	for it.Next(&k, &v) {
		r := realOf(v.RealId, v.RealGen)
		if r == nil {
			continue
		}
		state, timeout := connStateName(k.Proto, v.State), connTimeout(k.Proto, v.State, t)
		tmpl := v.Flags&bpf.ConnTemplate != 0
		if tmpl { // a persistence template: its service's -p timeout, state NONE, as IPVS lists it
			state, timeout = "NONE", s.persistTimeout(&k)
		}
		end := v.LastSeen + timeout*hz
		left := int64(end - now)
		if left <= 0 {
			if !tmpl || v.Pad == 0 {
				continue // expired; the next sweep removes it
			}
			left = 0 // a template lives while it controls connections
		}
		out = append(out, Conn{
			Proto:   k.Proto,
			Client:  netip.AddrPortFrom(addrFrom(k.Saddr, k.Af), be16(k.Sport)),
			Virtual: netip.AddrPortFrom(addrFrom(k.Daddr, k.Af), be16(k.Dport)),
			Dest:    connDest(r, tmpl, be16(k.Dport)),
			State:   state,
			Expires: uint32(uint64(left) / hz),
		})
	}
	if err := it.Err(); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read connections: %w", err)
	}
	slices.SortFunc(out, func(a, b Conn) int { return compareConn(&a, &b) })
	return out, nil
}

// persistTimeout returns the -p timeout of the service a template key names (0 when it is gone).
func (s *BPFStore) persistTimeout(k *bpf.ConnKey) uint64 {
	sk := bpf.SvcKey{Addr: k.Daddr, Port: k.Dport, Proto: k.Proto, Af: k.Af}
	tab, err := s.svcTable()
	if err != nil {
		return 0
	}
	defer tab.Close()
	var v bpf.Svc
	if err := tab.Lookup(&sk, &v); err != nil {
		return 0
	}
	return uint64(v.Timeout)
}

// compareConn orders entries by virtual address, client, then protocol, so listings are stable.
func compareConn(a, b *Conn) int {
	if c := a.Virtual.Compare(b.Virtual); c != 0 {
		return c
	}
	if c := a.Client.Compare(b.Client); c != 0 {
		return c
	}
	return int(a.Proto) - int(b.Proto)
}

var _ ConnLister = (*BPFStore)(nil)
