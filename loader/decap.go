package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"

	"github.com/xvs-lb/xvs/bpf"
)

// DefaultDecapDir is where a real server's decapsulation links are pinned,
// one per interface.
const DefaultDecapDir = "/sys/fs/bpf/xvs-decap"

// DecapOptions are the load-time settings of the decapsulation program.
type DecapOptions struct {
	GUEPort uint16 // UDP port of GUE packets to strip (the balancer's --tun-port); 0: no GUE
}

// LoadDecap loads the real server's decapsulation program (bpf/decap.c)
// without attaching or pinning it.
func LoadDecap(opts DecapOptions) (*bpf.DecapObjects, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock: %w", err)
	}
	spec, err := bpf.LoadDecap()
	if err != nil {
		return nil, fmt.Errorf("load decap spec: %w", err)
	}
	if err := spec.Variables["xvs_decap_gue_port"].Set(opts.GUEPort); err != nil {
		return nil, fmt.Errorf("set gue port: %w", err)
	}
	var objs bpf.DecapObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("load decap: %+v", err)
	}
	return &objs, nil
}

// AttachDecap attaches the decapsulation program to iface (in the calling
// thread's network namespace) through a bpf_link, pinned as dir/iface when
// dir is not empty so that it stays after the process exits. The returned
// link is the caller's to close (closing it leaves a pinned link attached).
func AttachDecap(iface string, mode Mode, opts DecapOptions, dir string) (link.Link, Mode, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, "", fmt.Errorf("attach decap to %s: %w", iface, err)
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, iface)); err == nil {
			return nil, "", fmt.Errorf("attach decap to %s: %w", iface, ErrAttached)
		}
	}
	objs, err := LoadDecap(opts)
	if err != nil {
		return nil, "", err
	}
	defer objs.Close() // the link holds the program
	try := []Mode{mode}
	if mode == ModeAuto {
		try = []Mode{ModeNative, ModeGeneric}
	}
	lk, used, err := attachXDP(objs.XvsDecap, l.Attrs().Index, try)
	if err != nil {
		return nil, "", fmt.Errorf("attach decap xdp to %s: %w", iface, err)
	}
	if dir != "" {
		if err := ensureBPFFS(filepath.Dir(dir)); err != nil {
			lk.Close()
			return nil, "", err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			lk.Close()
			return nil, "", fmt.Errorf("create %s: %w", dir, err)
		}
		if err := lk.Pin(filepath.Join(dir, iface)); err != nil {
			lk.Close()
			return nil, "", fmt.Errorf("pin decap link of %s: %w", iface, err)
		}
	}
	return lk, used, nil
}

// DetachDecap removes the pinned decapsulation link of iface from dir.
func DetachDecap(iface, dir string) error {
	pin := filepath.Join(dir, iface)
	lk, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("detach decap from %s: %w", iface, ErrNotAttached)
	}
	if err != nil {
		return fmt.Errorf("detach decap from %s: %w", iface, err)
	}
	defer lk.Close()
	if err := lk.Unpin(); err != nil {
		return fmt.Errorf("detach decap from %s: %w", iface, err)
	}
	return nil
}

// DecapAttached says whether dir holds a decapsulation link for iface.
func DecapAttached(iface, dir string) bool {
	lk, err := link.LoadPinnedLink(filepath.Join(dir, iface), nil)
	if err != nil {
		return false
	}
	lk.Close()
	return true
}
