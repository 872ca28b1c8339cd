package vm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/topo"
)

// ppsProgCosts runs each path once more with the kernel's BPF run-time
// statistics on and writes the mean run time of each XDP program on the
// path: the generator, lb's program and the sink's. The statistics add
// to every run (two clock reads), so these runs stay out of the pps
// figures; they say where a path's XDP time goes.
func ppsProgCosts(t *testing.T, md *strings.Builder, p *ppsTopo, paths []*ppsPath, n uint32) {
	t.Helper()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		t.Logf("BPF run-time statistics unavailable: %v", err)
		return
	}
	defer stats.Close()
	md.WriteString("Mean run time per packet of each XDP program (one extra run per path with BPF run-time statistics on, which add their own cost):\n\n| path | generator ns | lb's XDP program ns | sink ns |\n|---|---:|---:|---:|\n")
	for _, ph := range paths {
		if err := ph.enter(); err != nil {
			t.Fatal(err)
		}
		lbProg, err := ppsLBProg(p)
		if err != nil {
			t.Fatal(err)
		}
		progs := []*ebpf.Program{p.objs.XvsPktgen, lbProg, p.objs.XvsPktsink}
		before := make([]*ebpf.ProgramStats, len(progs))
		for i, pr := range progs {
			if before[i], err = pr.Stats(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.generate(n); err != nil {
			t.Fatal(err)
		}
		cells := []string{ph.name}
		for i, pr := range progs {
			after, err := pr.Stats()
			if err != nil {
				t.Fatal(err)
			}
			runs := after.RunCount - before[i].RunCount
			if runs == 0 {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.0f", float64(after.Runtime-before[i].Runtime)/float64(runs)))
		}
		lbProg.Close()
		if err := ph.leave(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(md, "| %s |\n", strings.Join(cells, " | "))
	}
	md.WriteString("\n")
}

// ppsLBProg opens the program attached to lb's ingress veth.
func ppsLBProg(p *ppsTopo) (*ebpf.Program, error) {
	_, id, err := topo.XDPAttached(p.lb, ppsLBIn)
	if err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, fmt.Errorf("netns %s: no XDP program on %s", p.lb.Name, ppsLBIn)
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Errorf("open XDP program %d on %s: %w", id, ppsLBIn, err)
	}
	return prog, nil
}
