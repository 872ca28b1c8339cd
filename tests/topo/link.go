package topo

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Veth creates a veth pair with end aName in a and end bName in b, both
// up. When master is not empty, aName is enslaved to the bridge of that
// name in a. The pair goes away with either namespace.
func Veth(a *Netns, aName, master string, b *Netns, bName string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = aName
	if master != "" {
		br, err := a.nl.LinkByName(master)
		if err != nil {
			return fmt.Errorf("netns %s: find bridge %s: %w", a.Name, master, err)
		}
		attrs.MasterIndex = br.Attrs().Index
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: bName, PeerNamespace: netlink.NsFd(b.handle)}
	if err := a.nl.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s/%s - %s/%s: %w", a.Name, aName, b.Name, bName, err)
	}
	if err := SetUp(a, aName); err != nil {
		return err
	}
	return SetUp(b, bName)
}

// SetUp brings the interface ifname of n up.
func SetUp(n *Netns, ifname string) error {
	l, err := n.nl.LinkByName(ifname)
	if err == nil {
		err = n.nl.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("netns %s: set %s up: %w", n.Name, ifname, err)
	}
	return nil
}

// Bridge creates an up Linux bridge in n, with multicast snooping off so
// that IPv6 neighbour discovery always floods.
func Bridge(n *Netns, name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	off := false
	if err := n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &off}); err != nil {
		return fmt.Errorf("netns %s: add bridge %s: %w", n.Name, name, err)
	}
	return SetUp(n, name)
}

var memlock sync.Once

// passInsns is a whole XDP program: return XDP_PASS.
var passInsns = asm.Instructions{
	asm.Mov.Imm(asm.R0, 2), // XDP_PASS
	asm.Return(),
}

// AttachXDPPass attaches a program returning XDP_PASS to ifname in n, in
// native (driver) mode. On veth, a frame sent by native XDP_TX or
// redirect from the peer is delivered only if this end has an XDP
// program. The attachment holds the program and goes with the interface.
func AttachXDPPass(n *Netns, ifname string) error {
	memlock.Do(func() { _ = rlimit.RemoveMemlock() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "xdp_pass",
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: passInsns,
	})
	if err != nil {
		return fmt.Errorf("load xdp_pass: %w", err)
	}
	defer prog.Close()
	// netlink's package functions work in the calling thread's namespace.
	err = n.Do(func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, prog.FD(), nl.XDP_FLAGS_DRV_MODE)
	})
	if err != nil {
		return fmt.Errorf("netns %s: attach xdp_pass to %s: %w", n.Name, ifname, err)
	}
	return nil
}

// XDPMode is how an interface has an XDP program attached, as netlink
// reports it (IFLA_XDP_ATTACHED).
type XDPMode uint32

// The values of IFLA_XDP_ATTACHED.
const (
	XDPNone    XDPMode = 0
	XDPNative  XDPMode = 1 // driver
	XDPGeneric XDPMode = 2 // skb
	XDPOffload XDPMode = 3
	XDPMulti   XDPMode = 4
)

func (m XDPMode) String() string {
	switch m {
	case XDPNone:
		return "none"
	case XDPNative:
		return "native"
	case XDPGeneric:
		return "generic"
	case XDPOffload:
		return "offload"
	case XDPMulti:
		return "multi"
	}
	return fmt.Sprintf("XDPMode(%d)", uint32(m))
}

// XDPAttached reports how an XDP program is attached to ifname in n and
// the program's id (0 if none).
func XDPAttached(n *Netns, ifname string) (XDPMode, uint32, error) {
	l, err := n.nl.LinkByName(ifname)
	if err != nil {
		return 0, 0, fmt.Errorf("netns %s: %s: %w", n.Name, ifname, err)
	}
	x := l.Attrs().Xdp
	if x == nil || !x.Attached {
		return XDPNone, 0, nil
	}
	return XDPMode(x.AttachMode), x.ProgId, nil
}

// Legacy ethtool ioctl commands (linux/ethtool.h).
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // rest of struct ifreq's union
}

func ethtoolValueIoctl(ifname string, v *ethtoolValue) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// SetTxChecksum turns TX checksum offload of ifname in n on or off, as
// ethtool -K IF tx on|off does. Native XDP on a veth drops the
// CHECKSUM_PARTIAL state of packets its peer sent, so a client whose
// packets cross a native XDP balancer must compute checksums itself.
func SetTxChecksum(n *Netns, ifname string, on bool) error {
	return n.Do(func() error {
		v := &ethtoolValue{cmd: ethtoolSTXCSUM}
		if on {
			v.data = 1
		}
		if err := ethtoolValueIoctl(ifname, v); err != nil {
			return fmt.Errorf("netns %s: ethtool -K %s tx %v: %w", n.Name, ifname, on, err)
		}
		g := &ethtoolValue{cmd: ethtoolGTXCSUM}
		if err := ethtoolValueIoctl(ifname, g); err != nil {
			return fmt.Errorf("netns %s: ethtool -k %s: %w", n.Name, ifname, err)
		}
		if (g.data != 0) != on {
			return fmt.Errorf("netns %s: %s: tx checksumming still %v", n.Name, ifname, g.data != 0)
		}
		return nil
	})
}
