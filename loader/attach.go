package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Mode is how XDP is attached to an interface.
type Mode string

// Attach modes. ModeAuto tries native (driver) XDP, then its fallback
// (generic XDP by default). ModeIPVS is a fallback only: no XDP program on
// the interface, kernel IPVS (mirrored) serves its traffic alone.
const (
	ModeAuto    Mode = "auto"
	ModeNative  Mode = "native"
	ModeGeneric Mode = "generic"
	ModeIPVS    Mode = "ipvs"
)

// ErrAttached means the interface already has the xvs program attached.
var ErrAttached = errors.New("already attached")

// ErrNotAttached means the interface has no xvs link in the state directory.
var ErrNotAttached = errors.New("not attached")

func (s *State) linkPin(iface string) string { return filepath.Join(s.Dir, linksDir, iface) }

// ipvsOnlyDir holds one empty directory per interface left to kernel IPVS
// by attach --mode auto --fallback ipvs (bpffs holds no regular files).
const ipvsOnlyDir = "ipvs-only"

func (s *State) ipvsOnlyMark(iface string) string { return filepath.Join(s.Dir, ipvsOnlyDir, iface) }

// Attach attaches the datapath to iface through a bpf_link pinned in the
// state directory, so it stays after the process exits. It adds iface to the
// redirect targets and turns on IP forwarding on iface (bpf_fib_lookup
// refuses to route for an interface that does not forward). It returns the
// mode used.
func (s *State) Attach(iface string, mode Mode) (Mode, error) {
	return s.AttachFallback(iface, mode, ModeGeneric)
}

// AttachFallback is Attach with the fallback of ModeAuto when native XDP
// fails: ModeGeneric attaches generic XDP; ModeIPVS attaches nothing and
// records that kernel IPVS alone serves iface (Attachments lists it with
// ModeIPVS and the native error; Detach forgets it).
func (s *State) AttachFallback(iface string, mode, fallback Mode) (Mode, error) {
	if fallback != ModeGeneric && fallback != ModeIPVS {
		return "", fmt.Errorf("attach %s: unknown fallback %q (generic or ipvs)", iface, fallback)
	}
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return "", fmt.Errorf("attach %s: %w", iface, err)
	}
	if _, err := os.Stat(s.linkPin(iface)); err == nil {
		return "", fmt.Errorf("attach %s: %w", iface, ErrAttached)
	}
	idx := l.Attrs().Index
	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative}
		if fallback == ModeGeneric {
			try = append(try, ModeGeneric)
		}
	}
	lk, used, err := attachXDP(s.Objs.XvsXdp, idx, try)
	if err != nil && mode == ModeAuto && fallback == ModeIPVS {
		if merr := os.MkdirAll(s.ipvsOnlyMark(iface), 0o700); merr != nil {
			return "", fmt.Errorf("attach %s: record kernel IPVS fallback: %w", iface, merr)
		}
		return ModeIPVS, nil
	}
	if err != nil {
		return "", fmt.Errorf("attach xdp to %s: %w", iface, err)
	}
	_ = os.Remove(s.ipvsOnlyMark(iface)) // XDP serves it now
	defer lk.Close()
	if err := s.Objs.XvsTxPorts.Put(uint32(idx), uint32(idx)); err != nil {
		return "", fmt.Errorf("add %s to redirect targets: %w", iface, err)
	}
	if err := enableForwarding(iface); err != nil {
		return "", err
	}
	if err := lk.Pin(s.linkPin(iface)); err != nil {
		return "", fmt.Errorf("pin link of %s: %w", iface, err)
	}
	return used, nil
}

// Detach removes the xvs program from iface.
func (s *State) Detach(iface string) error {
	if err := os.Remove(s.ipvsOnlyMark(iface)); err == nil {
		return nil // left to kernel IPVS: nothing attached
	}
	lk, err := link.LoadPinnedLink(s.linkPin(iface), nil)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detach %s: %w", iface, ErrNotAttached)
	}
	if err != nil {
		return fmt.Errorf("detach %s: %w", iface, err)
	}
	defer lk.Close()
	info, err := lk.Info()
	if err == nil {
		if x := info.XDP(); x != nil {
			_ = s.Objs.XvsTxPorts.Delete(x.Ifindex)
		}
	}
	if err := lk.Unpin(); err != nil {
		return fmt.Errorf("detach %s: %w", iface, err)
	}
	// Closing the last reference to an unpinned link detaches the program.
	return nil
}

// Attachment is one interface the datapath is attached to.
type Attachment struct {
	Iface   string `json:"interface"`
	Ifindex uint32 `json:"ifindex"`
	Mode    Mode   `json:"mode"`
	LinkID  uint32 `json:"link_id"`
	ProgID  uint32 `json:"prog_id"`
}

// Attachments lists the interfaces with a pinned xvs link.
func (s *State) Attachments() ([]Attachment, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, linksDir))
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []Attachment
	for _, e := range ents {
		a := Attachment{Iface: e.Name()}
		lk, err := link.LoadPinnedLink(s.linkPin(e.Name()), nil)
		if err != nil {
			return nil, fmt.Errorf("load link %s: %w", e.Name(), err)
		}
		if info, err := lk.Info(); err == nil {
			a.LinkID, a.ProgID = uint32(info.ID), uint32(info.Program)
			if x := info.XDP(); x != nil {
				a.Ifindex = x.Ifindex
			}
		}
		lk.Close()
		a.Mode = xdpMode(int(a.Ifindex))
		out = append(out, a)
	}
	ipvsOnly, _ := os.ReadDir(filepath.Join(s.Dir, ipvsOnlyDir)) // absent: none
	for _, e := range ipvsOnly {
		a := Attachment{Iface: e.Name(), Mode: ModeIPVS}
		if l, err := netlink.LinkByName(e.Name()); err == nil {
			a.Ifindex = uint32(l.Attrs().Index)
		}
		out = append(out, a)
	}
	return out, nil
}

// xdpMode asks the kernel how XDP is attached to ifindex.
func xdpMode(ifindex int) Mode {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil || l.Attrs().Xdp == nil {
		return "unknown"
	}
	switch l.Attrs().Xdp.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return ModeNative
	case 2: // XDP_ATTACHED_SKB
		return ModeGeneric
	}
	return "unknown"
}

// enableForwarding turns on IPv4 and IPv6 forwarding on iface.
func enableForwarding(iface string) error {
	for _, f := range []string{"/proc/sys/net/ipv4/conf/" + iface + "/forwarding", "/proc/sys/net/ipv6/conf/" + iface + "/forwarding"} {
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("enable forwarding on %s: %w", iface, err)
		}
	}
	return nil
}

// ProgramInfo returns the kernel's id of the pinned program.
func (s *State) ProgramInfo() (*ebpf.ProgramInfo, error) { return s.Objs.XvsXdp.Info() }
