package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/bpf"
)

// notIPFrame is an Ethernet frame of an unknown ethertype: the datapath
// counts it as pass_not_ip.
var notIPFrame = append([]byte{
	0x02, 0, 0, 0, 0, 1, // destination MAC
	0x02, 0, 0, 0, 0, 2, // source MAC
	0x88, 0xb5, // ethertype: local experimental
}, make([]byte, 50)...)

const notIP = uint32(bpf.XvsXvsVerdictXVS_V_PASS_NOT_IP)

// variantBump is what the variant program adds to verdict notIP per packet.
const variantBump = 1000

// variantSpec is this build's datapath with another xvs_xdp: a program that
// adds variantBump to xvs_verdicts[notIP] and passes. Only the maps it
// shares with the pinned state can show its work.
func variantSpec(t *testing.T) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := bpf.LoadXvs()
	if err != nil {
		t.Fatal(err)
	}
	spec.Programs["xvs_xdp"].Instructions = asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference(bpf.XvsMapXvsVerdicts),
		asm.StoreImm(asm.RFP, -4, int64(notIP), asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, variantBump),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), // XDP_PASS
		asm.Return(),
	}
	return spec
}

// inNewNetns runs f on a thread in a fresh network namespace holding a
// veth pair (iface and iface+"p"), and returns a function that runs more in
// the same namespace; the namespace goes at the test's end.
func inNewNetns(t *testing.T, iface string) func(func() error) error {
	t.Helper()
	var nsFD int
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		nsFD = fd
		// No IPv6: no router solicitations through the program, only the test's frames.
		for _, f := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0o644); err != nil {
				errc <- err
				return
			}
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: iface}, PeerName: iface + "p"}
		if err := netlink.LinkAdd(v); err != nil {
			errc <- err
			return
		}
		if err := netlink.LinkSetUp(v); err != nil {
			errc <- err
			return
		}
		p, err := netlink.LinkByName(iface + "p")
		if err != nil {
			errc <- err
			return
		}
		errc <- netlink.LinkSetUp(p)
	}()
	if err := <-errc; err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() { unix.Close(nsFD) })
	return func(f func() error) error {
		done := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
				done <- err
				return
			}
			done <- f()
		}()
		return <-done
	}
}

// verdict sums verdict v over CPUs, read through the pinned map.
func verdict(t *testing.T, dir string, v uint32) uint64 {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, bpf.XvsMapXvsVerdicts), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var per []uint64
	if err := m.Lookup(v, &per); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, x := range per {
		n += x
	}
	return n
}

// linkProg returns the ids of the pinned link of iface and of the program it runs.
func linkProg(t *testing.T, dir, iface string) (linkID, progID uint32) {
	t.Helper()
	return linkProgAt(t, filepath.Join(dir, linksDir, iface))
}

// linkProgAt is linkProg of the link pinned at pin.
func linkProgAt(t *testing.T, pin string) (linkID, progID uint32) {
	t.Helper()
	lk, err := link.LoadPinnedLink(pin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	info, err := lk.Info()
	if err != nil {
		t.Fatal(err)
	}
	return uint32(info.ID), uint32(info.Program)
}

// runLinked runs one frame through the program the link of iface runs.
func runLinked(t *testing.T, dir, iface string, frame []byte) {
	t.Helper()
	_, id := linkProg(t, dir, iface)
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(&ebpf.RunOptions{Data: frame, Repeat: 1}); err != nil {
		t.Fatalf("run program %d: %v", id, err)
	}
}

// pinnedProgID is the id of the program pinned in dir.
func pinnedProgID(t *testing.T, dir string) uint32 {
	t.Helper()
	p, err := ebpf.LoadPinnedProgram(filepath.Join(dir, progPin), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return uint32(id)
}

// Upgrade swaps another program into the pinned link, keeping every map:
// entries and counters written before stay, the new program's writes land
// in the same pinned maps, the link id stays; a failed load (verifier, a
// map of another layout) changes nothing; upgrading back to this build
// makes status say so.
func TestUpgradeKeepsMaps(t *testing.T) {
	requireRoot(t)
	const iface = "xvsu0"
	dir := "/sys/fs/bpf/xvs-test-upgrade-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := Open(dir, Options{ConnSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	inNS := inNewNetns(t, iface)
	if err := inNS(func() error { _, err := st.Attach(iface, ModeGeneric); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Detach(iface) })
	pb, err := st.ProgramBuild()
	if err != nil {
		t.Fatal(err)
	}
	if !pb.ThisBuild || pb.Recorded == "" {
		t.Fatalf("fresh state: %+v, want this build recorded", pb)
	}
	linkID, oldProg := linkProg(t, dir, iface)

	// State before: a connection entry and counters.
	key := bpf.ConnKey{Proto: 6, Sport: 1234, Dport: 80}
	key.Saddr[0], key.Daddr[0] = 10, 10
	if err := st.Objs.XvsConns.Put(&key, &bpf.XvsXvsConn{RealId: 7, SvcId: 3}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		runLinked(t, dir, iface, notIPFrame)
	}
	if n := verdict(t, dir, notIP); n != 3 {
		t.Fatalf("pass_not_ip %d before the upgrade, want 3", n)
	}
	mapIDs := pinnedMapIDs(t, st)

	// A program the verifier refuses, then a map of another layout: nothing changes.
	bad := variantSpec(t)
	bad.Programs["xvs_xdp"].Instructions = asm.Instructions{asm.Return()} // R0 never set
	if _, err := st.UpgradeTo(bad, false); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("upgrade to a program the verifier refuses: %v, want a load error", err)
	}
	bad = variantSpec(t)
	bad.Maps[bpf.XvsMapXvsReals].MaxEntries++
	bad.Maps[bpf.XvsMapXvsNatRev].ValueSize += 8
	_, err = st.UpgradeTo(bad, false)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), bpf.XvsMapXvsReals) || !strings.Contains(err.Error(), bpf.XvsMapXvsNatRev) {
		t.Fatalf("upgrade to other map layouts: %v, want ErrIncompatible naming %s and %s", err, bpf.XvsMapXvsReals, bpf.XvsMapXvsNatRev)
	}
	t.Logf("refused: %v", err)
	if l, p := linkProg(t, dir, iface); l != linkID || p != oldProg || pinnedProgID(t, dir) != oldProg {
		t.Fatalf("after failed upgrades link %d runs %d (pinned %d), want link %d running %d", l, p, pinnedProgID(t, dir), linkID, oldProg)
	}

	// The variant: swapped into the same link, writing the same maps.
	res, err := st.UpgradeTo(variantSpec(t), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upgrade: %+v", res)
	if res.UpToDate || res.OldProg != oldProg || res.NewProg == oldProg || len(res.Links) != 1 || res.Links[0].LinkID != linkID {
		t.Fatalf("upgrade result %+v: want link %d moved from program %d to a new one", res, linkID, oldProg)
	}
	if l, p := linkProg(t, dir, iface); l != linkID || p != res.NewProg {
		t.Fatalf("after the upgrade link %d runs %d, want link %d running %d", l, p, linkID, res.NewProg)
	}
	if p := pinnedProgID(t, dir); p != res.NewProg {
		t.Fatalf("pinned program %d, want the new %d", p, res.NewProg)
	}
	if !slices.Contains(res.Carried, bpf.XvsMapXvsNatRev) || !slices.Contains(res.Carried, bpf.XvsMapXvsLblc) {
		t.Errorf("carried %v, want the maps the old program held unpinned (%s, %s...)", res.Carried, bpf.XvsMapXvsNatRev, bpf.XvsMapXvsLblc)
	}
	if !res.OldFreed {
		t.Errorf("the old program %d was not freed", oldProg)
	}
	runLinked(t, dir, iface, notIPFrame)
	if n := verdict(t, dir, notIP); n != 3+variantBump {
		t.Fatalf("pass_not_ip %d after one packet through the variant, want %d: the counters were reset or not shared", n, 3+variantBump)
	}
	var c bpf.XvsXvsConn
	if err := st.Objs.XvsConns.Lookup(&key, &c); err != nil || c.RealId != 7 {
		t.Fatalf("connection entry after the upgrade: %+v, %v", c, err)
	}
	if got := pinnedMapIDs(t, st); !slices.Equal(got, mapIDs) {
		t.Fatalf("map ids %v after the upgrade, want the same maps %v", got, mapIDs)
	}
	if pb, err := st.ProgramBuild(); err != nil || pb.ThisBuild {
		t.Fatalf("after an upgrade to a variant ProgramBuild says %+v, %v: want another build", pb, err)
	}

	// Back to this build's program, from another process's view (a fresh Open).
	st.Close()
	if st, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	res, err = st.Upgrade(false)
	if err != nil {
		t.Fatal(err)
	}
	runLinked(t, dir, iface, notIPFrame)
	if n := verdict(t, dir, notIP); n != 3+variantBump+1 {
		t.Fatalf("pass_not_ip %d after one packet through this build again, want %d", n, 3+variantBump+1)
	}
	if l, p := linkProg(t, dir, iface); l != linkID || p != res.NewProg {
		t.Fatalf("after upgrading back link %d runs %d, want link %d running %d", l, p, linkID, res.NewProg)
	}
	if pb, err := st.ProgramBuild(); err != nil || !pb.ThisBuild {
		t.Fatalf("after upgrading back ProgramBuild says %+v, %v: want this build", pb, err)
	}
	if res, err := st.Upgrade(false); err != nil || !res.UpToDate {
		t.Fatalf("second upgrade: %+v, %v: want nothing to do", res, err)
	}
}

// pinnedMapIDs lists the kernel ids of the pinned maps, in mapFields order.
func pinnedMapIDs(t *testing.T, st *State) []string {
	t.Helper()
	var out []string
	for _, f := range mapFields(st.Objs) {
		info, err := (*f.m).Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		out = append(out, fmt.Sprintf("%s=%d", f.name, id))
	}
	return out
}

// Two loads of the same spec have the same build id; another program, another id.
func TestBuildID(t *testing.T) {
	a, err := BuildID()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := bpf.LoadXvs()
	if err != nil {
		t.Fatal(err)
	}
	b, err := SpecBuildID(spec)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) != 32 {
		t.Fatalf("build ids %q and %q of the same datapath", a, b)
	}
	if err := spec.Variables["xvs_hz"].Set(uint32(1000)); err != nil {
		t.Fatal(err)
	}
	if c, _ := SpecBuildID(spec); c == a {
		t.Fatalf("another .rodata value kept build id %s", a)
	}
	if d, _ := SpecBuildID(variantSpec(t)); d == a {
		t.Fatalf("another program kept build id %s", a)
	}
}
