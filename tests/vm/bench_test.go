package vm

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	cfipvs "github.com/cloudflare/ipvs"

	"github.com/xvs-lb/xvs/bpf"
	"github.com/xvs-lb/xvs/loader/ipvs"
	"github.com/xvs-lb/xvs/maps"
)

// restoreInput is -R input for nsvc services of scheduler sched with nreal
// direct-routing reals each.
func restoreInput(nsvc, nreal int, sched string) string {
	var b strings.Builder
	for i := range nsvc {
		vip := fmt.Sprintf("10.%d.%d.1:80", i/256, i%256)
		fmt.Fprintf(&b, "-A -t %s -s %s\n", vip, sched)
		for r := range nreal {
			fmt.Fprintf(&b, "-a -t %s -r 192.168.%d.%d:80 -g -w 1\n", vip, i%256, r+1)
		}
	}
	return b.String()
}

// runTime is what one command cost: wall time, and the CPU time the
// process spent in user space and in the kernel (IPVS's netlink requests
// are served in the kernel, in the sender's context).
type runTime struct{ wall, user, sys time.Duration }

// timed runs a command in b with extra environment env, failing the test
// unless it exits 0 with nothing on stderr, and returns its cost.
func (b *box) timed(stdin string, env []string, name string, args ...string) runTime {
	b.t.Helper()
	rt, stderr, err := b.timedRun(stdin, env, name, args...)
	if err != nil || stderr != "" {
		b.t.Fatalf("%s %s: %v %.500s", name, strings.Join(args, " "), err, stderr)
	}
	return rt
}

// timedFail runs a command meant to fail and returns its cost and error.
func (b *box) timedFail(stdin, name string, args ...string) (runTime, error) {
	b.t.Helper()
	rt, _, err := b.timedRun(stdin, nil, name, args...)
	return rt, err
}

func (b *box) timedRun(stdin string, env []string, name string, args ...string) (runTime, string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.ns.Command(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var e strings.Builder
	cmd.Stderr = &e
	start := time.Now()
	err := cmd.Run()
	rt := runTime{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		rt.user, rt.sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	}
	b.t.Logf("$ %s %s %s: %.2f s (user %.2f, sys %.2f)", strings.Join(env, " "), name, strings.Join(args, " "), rt.wall.Seconds(), rt.user.Seconds(), rt.sys.Seconds())
	return rt, e.String(), err
}

// mirrorOff turns xvsadm's kernel-IPVS mirror off for one command.
var mirrorOff = []string{"XVS_IPVS_MIRROR=off"}

// restoreRounds is how many times each restore is timed; the table gives
// the median (the machine is shared: single runs vary up to 2x).
const restoreRounds = 3

// TestInVMBenchRestore times restoring 1,000 services x 10 reals, for wlc
// (what a plain ipvsadm -A gives, as in a keepalived setup) and mh: with
// ipvsadm -R, and with xvsadm -R into a loaded datapath with the
// kernel-IPVS mirror on (the product: every change reaches kernel IPVS
// too) and off, and on a fresh state directory (loading and verifying the
// datapath first, paid once); and kernel IPVS alone, the same changes sent
// from the test process by the mirror (the floor of a mirrored restore)
// and one request at a time. Each runs in a new namespace (an empty
// kernel IPVS table) and a new state directory, the rows in turn, each
// restoreRounds times. It writes the table to /out/restore.md. TestVM
// runs it only with XVS_VM_BENCH=1.
func TestInVMBenchRestore(t *testing.T) {
	requireVM(t)
	const nsvc, nreal = 1000, 10
	xvsadm := func(b *box, env []string, in string, args ...string) runTime {
		return b.timed(in, env, "/usr/sbin/xvsadm", append([]string{"--state", b.state}, args...)...)
	}
	loaded := func(b *box) { b.timed("", mirrorOff, "/usr/sbin/xvsadm", "--state", b.state, "-C") }
	var md strings.Builder
	fmt.Fprintf(&md, "Restore of %d services x %d reals (%d lines, direct routing), each into an empty network namespace and a new state directory, in one run of the test VM (Debian's 6.1 kernel under qemu TCG, %d vCPUs; TCG makes everything slow: compare only within this table). Median of %d runs (min in brackets); user and sys are the process's CPU times (kernel IPVS serves netlink requests in the sender's context, so its work is sys).\n\n",
		nsvc, nreal, nsvc*(nreal+1), runtime.NumCPU(), restoreRounds)
	fmt.Fprintf(&md, "| scheduler | command | seconds | user | sys | x ipvsadm -R |\n|---|---|---:|---:|---:|---:|\n")
	for _, sched := range []string{"wlc", "mh"} {
		in := restoreInput(nsvc, nreal, sched)
		cfg := restoreConfig(t, nsvc, nreal, sched)
		rows := []*restoreRow{
			{what: "ipvsadm -R (kernel IPVS)", kernel: true, run: func(b *box, in string) runTime { return b.timed(in, nil, "/usr/sbin/ipvsadm", "-R") }},
			{what: "xvsadm -R into a loaded datapath, mirror on (XDP maps + kernel IPVS)", xvs: true, kernel: true, setup: loaded, run: func(b *box, in string) runTime { return xvsadm(b, nil, in, "-R") }},
			{what: "xvsadm -R into a loaded datapath, mirror off (XDP maps only)", xvs: true, setup: loaded, run: func(b *box, in string) runTime { return xvsadm(b, mirrorOff, in, "-R") }},
			{what: "xvsadm -R on a fresh state directory (load and verify the datapath, then as above, mirror on)", xvs: true, kernel: true, run: func(b *box, in string) runTime { return xvsadm(b, nil, in, "-R") }},
			{what: "kernel IPVS alone: the file's changes sent by the mirror (pipelined) from the test process; no parsing, no maps", kernel: true, run: func(b *box, _ string) runTime { return applyAlone(t, b, cfg, false) }},
			{what: "kernel IPVS alone, one request at a time (github.com/cloudflare/ipvs's calls: the mirror before pipelining)", kernel: true, run: func(b *box, _ string) runTime { return applyAlone(t, b, cfg, true) }},
		}
		for round := range restoreRounds {
			for _, r := range rows {
				b := newBox(t)
				if r.setup != nil {
					r.setup(b)
				}
				r.times = append(r.times, r.run(b, in))
				if round == 0 {
					r.check(t, b, sched, nsvc*(nreal+1))
				}
				// Free the namespace's IPVS table and the state directory's
				// 1M-entry maps now: the VM's memory holds only a few.
				b.ipvsadm("", "-C")
				if err := os.RemoveAll(b.state); err != nil {
					t.Fatal(err)
				}
			}
		}
		base := median(rows[0].times).wall
		for _, r := range rows {
			m := median(r.times)
			lo := slices.MinFunc(r.times, func(a, b runTime) int { return int(a.wall - b.wall) })
			cpu := fmt.Sprintf("%.2f | %.2f", m.user.Seconds(), m.sys.Seconds())
			if m.user == 0 && m.sys == 0 {
				cpu = "- | -" // measured inside the test process
			}
			fmt.Fprintf(&md, "| %s | %s | %.2f (%.2f) | %s | %.2f |\n", sched, r.what, m.wall.Seconds(), lo.wall.Seconds(), cpu, base.Seconds()/m.wall.Seconds())
		}
	}
	t.Log("\n" + md.String())
	if err := os.WriteFile("/out/restore.md", []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// restoreRow is one way of restoring the file, and its times.
type restoreRow struct {
	what        string
	xvs, kernel bool         // the restore goes to the maps, to kernel IPVS
	setup       func(b *box) // before the clock starts
	run         func(b *box, in string) runTime
	times       []runTime
}

// check fails the test unless the restore reached what it should: every
// line in the maps and, with the mirror on, the same in kernel IPVS byte
// for byte; with the mirror off, nothing in kernel IPVS.
func (r *restoreRow) check(t *testing.T, b *box, sched string, lines int) {
	t.Helper()
	k := b.ipvsadm("", "-S", "-n")
	if !r.xvs {
		if n := strings.Count(k, "\n"); n != lines {
			t.Errorf("%s, %s: ipvsadm -S -n has %d lines, want %d", sched, r.what, n, lines)
		}
		return
	}
	x := b.xvsadm("", "-S", "-n")
	if n := strings.Count(x, "\n"); n != lines {
		t.Errorf("%s, %s: xvsadm -S -n has %d lines, want %d", sched, r.what, n, lines)
	}
	if r.kernel && k != x || !r.kernel && k != "" {
		t.Errorf("%s, %s: kernel IPVS holds %d lines, the maps %d", sched, r.what, strings.Count(k, "\n"), strings.Count(x, "\n"))
	}
}

// median returns the run of median wall time.
func median(ts []runTime) runTime {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b runTime) int { return int(a.wall - b.wall) })
	return s[len(s)/2]
}

// restoreConfig is restoreInput's configuration, built with the model's edits.
func restoreConfig(t *testing.T, nsvc, nreal int, sched string) *maps.Config {
	t.Helper()
	cfg := &maps.Config{Timeouts: maps.DefaultTimeouts}
	for i := range nsvc {
		s := maps.Service{Proto: 6, Addr: netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 1}), Port: 80, Sched: sched, Netmask: 0xffffffff}
		if _, err := cfg.AddService(s); err != nil {
			t.Fatal(err)
		}
		for r := range nreal {
			d := maps.Dest{Addr: netip.AddrFrom4([4]byte{192, 168, byte(i % 256), byte(r + 1)}), Port: 80, Fwd: bpf.FwdDRoute, Weight: 1}
			if _, err := cfg.AddDest(&s, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cfg
}

// applyAlone sends cfg to the kernel IPVS of b's namespace from this
// process through the mirror (pipelined), or, with oneByOne, through
// github.com/cloudflare/ipvs's calls, one request at a time (the mirror
// before pipelining), and returns the time Apply took.
func applyAlone(t *testing.T, b *box, cfg *maps.Config, oneByOne bool) runTime {
	t.Helper()
	var d time.Duration
	err := b.ns.Do(func() error {
		var m *ipvs.Mirror
		if oneByOne {
			c, err := cfipvs.New()
			if err != nil {
				return err
			}
			m = ipvs.New(c)
		} else {
			var err error
			if m, err = ipvs.Open(); err != nil {
				return err
			}
		}
		defer m.Close()
		m.Seed(&maps.Config{Timeouts: cfg.Timeouts})
		start := time.Now()
		err := m.Apply(cfg)
		d = time.Since(start)
		return err
	})
	if err != nil {
		t.Fatalf("apply to kernel IPVS: %v", err)
	}
	return runTime{wall: d}
}
