package loader

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/bpf"
)

// decapProgState returns the GUE port and the counters' map id of a decap program.
func decapProgState(t *testing.T, id uint32) (uint16, ebpf.MapID) {
	t.Helper()
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	held, port, err := decapHeld(info)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(held)
	m := held[bpf.DecapMapXvsDecapStats]
	if m == nil {
		t.Fatalf("decap program %d has no %s", id, bpf.DecapMapXvsDecapStats)
	}
	mi, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	mid, _ := mi.ID()
	return port, mid
}

// UpgradeDecap leaves a decap link of this build alone, and with force
// swaps a new program into the same link, with the same GUE port and counters.
func TestUpgradeDecap(t *testing.T) {
	requireRoot(t)
	const iface = "xvsd0"
	dir := "/sys/fs/bpf/xvs-test-decap-upgrade-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(dir) })
	inNS := inNewNetns(t, iface)
	if err := inNS(func() error {
		lk, _, err := AttachDecap(iface, ModeGeneric, DecapOptions{GUEPort: 6080}, dir)
		if err == nil {
			lk.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DetachDecap(iface, dir) })
	linkID, oldProg := linkProgAt(t, filepath.Join(dir, iface))
	port, stats := decapProgState(t, oldProg)
	if port != 6080 {
		t.Fatalf("attached decap has GUE port %d, want 6080", port)
	}
	if up, err := UpgradeDecap(dir, false); err != nil || len(up) != 0 {
		t.Fatalf("upgrade of a decap link of this build: %+v, %v; want nothing done", up, err)
	}
	up, err := UpgradeDecap(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(up) != 1 || up[0].Iface != iface || up[0].LinkID != linkID || up[0].OldProg != oldProg || up[0].NewProg == oldProg {
		t.Fatalf("forced decap upgrade %+v: want link %d of %s moved off program %d", up, linkID, iface, oldProg)
	}
	l, p := linkProgAt(t, filepath.Join(dir, iface))
	if l != linkID || p != up[0].NewProg {
		t.Fatalf("after the upgrade link %d runs %d, want link %d running %d", l, p, linkID, up[0].NewProg)
	}
	if port2, stats2 := decapProgState(t, p); port2 != 6080 || stats2 != stats {
		t.Fatalf("new decap program: GUE port %d, counters map %d; want 6080 and the old map %d", port2, stats2, stats)
	}
}
