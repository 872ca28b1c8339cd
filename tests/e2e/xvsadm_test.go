package e2e_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// xvsadm runs the built xvsadm inside a namespace with one --state
// directory, logging each command and its output like a shell transcript.
type xvsadm struct {
	t     *testing.T
	ns    *topo.Netns
	state string
}

// newXvsadm picks a fresh state directory under /sys/fs/bpf for ns and
// registers, in this order of running: detach from topo.Iface (if still
// attached), then removal of the state directory.
func newXvsadm(t *testing.T, ns *topo.Netns) *xvsadm {
	t.Helper()
	return newXvsadmPrefix(t, ns, "xvs-test-")
}

// newXvsadmPrefix is newXvsadm with the state directory's name prefix.
func newXvsadmPrefix(t *testing.T, ns *topo.Netns, prefix string) *xvsadm {
	t.Helper()
	state, err := topo.StateDir(t, prefix)
	if err != nil {
		t.Fatal(err)
	}
	x := &xvsadm{t: t, ns: ns, state: state}
	t.Cleanup(func() {
		if mode, _, err := topo.XDPAttached(ns, topo.Iface); err == nil && mode != topo.XDPNone {
			if _, err := x.try("detach", topo.Iface); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return x
}

// try runs xvsadm --state S args... and returns its stdout.
func (x *xvsadm) try(args ...string) (string, error) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"--state", x.state}, args...)
	start := time.Now()
	stdout, stderr, err := x.ns.Run(ctx, xvsadmBin, full...)
	var b strings.Builder
	fmt.Fprintf(&b, "$ xvsadm %s    # %v", strings.Join(full, " "), time.Since(start).Round(time.Millisecond))
	if s := strings.TrimRight(stdout, "\n"); s != "" {
		b.WriteString("\n" + s)
	}
	if s := strings.TrimRight(stderr, "\n"); s != "" {
		b.WriteString("\n[stderr] " + s)
	}
	if err != nil {
		fmt.Fprintf(&b, "\n[%v]", err)
	}
	x.t.Log(b.String())
	return stdout, err
}

// run is try, failing the test on error.
func (x *xvsadm) run(args ...string) string {
	x.t.Helper()
	out, err := x.try(args...)
	if err != nil {
		x.t.Fatalf("xvsadm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// listing is what xvsadm -L -n (ipvsadm's format) shows.
type listing struct {
	services []*listedService
}

type listedService struct {
	proto, addr string // "TCP", "10.0.0.200:80" or "[fd00::200]:80"
	sched       string
	dests       []listedDest
}

type listedDest struct {
	addr        string
	fwd         string // Route, Masq, Tunnel...
	weight      int
	active, ina int
}

func (l *listing) service(proto, addr string) *listedService {
	for _, s := range l.services {
		if s.proto == proto && s.addr == addr {
			return s
		}
	}
	return nil
}

func (s *listedService) dest(addr string) *listedDest {
	for i := range s.dests {
		if s.dests[i].addr == addr {
			return &s.dests[i]
		}
	}
	return nil
}

func isProto(f string) bool {
	switch f {
	case "TCP", "UDP", "SCTP", "FWM":
		return true
	}
	return false
}

// parseList parses the output of -L -n.
func parseList(out string) (*listing, error) {
	l := &listing{}
	var cur *listedService
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0, strings.HasPrefix(line, "IP Virtual Server"), f[0] == "Prot",
			len(f) > 1 && f[0] == "->" && f[1] == "RemoteAddress:Port":
		case isProto(f[0]) && len(f) >= 3:
			cur = &listedService{proto: f[0], addr: f[1], sched: f[2]}
			l.services = append(l.services, cur)
		case f[0] == "->" && len(f) == 6 && cur != nil:
			d := listedDest{addr: f[1], fwd: f[2]}
			var err error
			for j, p := range []*int{&d.weight, &d.active, &d.ina} {
				if *p, err = strconv.Atoi(f[3+j]); err != nil {
					return nil, fmt.Errorf("line %d %q: %v", i+1, line, err)
				}
			}
			cur.dests = append(cur.dests, d)
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+1, line)
		}
	}
	return l, nil
}

// stats are the counters of one line of -L -n --stats.
type stats struct {
	conns, inPkts, outPkts, inBytes, outBytes uint64
}

// statsListing maps "TCP 10.0.0.200:80" to the service's counters and
// "TCP 10.0.0.200:80 -> 10.0.0.11:80" to a real's.
type statsListing map[string]stats

// parseLargeNum parses ipvsadm's print_largenum: digits, or digits with
// a K, M, G or T suffix above 10^8 (approximate).
func parseLargeNum(s string) (uint64, error) {
	mult := uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1e3
		case 'M':
			mult = 1e6
		case 'G':
			mult = 1e9
		case 'T':
			mult = 1e12
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v * mult, err
}

// parseStats parses the output of -L -n --stats.
func parseStats(out string) (statsListing, error) {
	m := statsListing{}
	var svc string
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		var key string
		var nums []string
		switch {
		case len(f) == 0, strings.HasPrefix(line, "IP Virtual Server"), f[0] == "Prot",
			len(f) == 2 && f[0] == "->" && f[1] == "RemoteAddress:Port":
			continue
		case isProto(f[0]) && len(f) == 7:
			svc = f[0] + " " + f[1]
			key, nums = svc, f[2:]
		case f[0] == "->" && len(f) == 7 && svc != "":
			key, nums = svc+" -> "+f[1], f[2:]
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", i+1, line)
		}
		var s stats
		for j, p := range []*uint64{&s.conns, &s.inPkts, &s.outPkts, &s.inBytes, &s.outBytes} {
			v, err := parseLargeNum(nums[j])
			if err != nil {
				return nil, fmt.Errorf("line %d %q: %v", i+1, line, err)
			}
			*p = v
		}
		m[key] = s
	}
	return m, nil
}
