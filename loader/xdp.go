package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// attachXDP attaches prog to ifindex in the first of the modes (native or
// generic) the kernel accepts, and returns the link and the mode used. The
// error of the last mode tried is returned when none is accepted.
func attachXDP(prog *ebpf.Program, ifindex int, modes []Mode) (link.Link, Mode, error) {
	var err error
	for _, m := range modes {
		var flags link.XDPAttachFlags
		switch m {
		case ModeNative:
			flags = link.XDPDriverMode
		case ModeGeneric:
			flags = link.XDPGenericMode
		default:
			return nil, "", fmt.Errorf("unknown mode %q", m)
		}
		lk, aerr := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
		if aerr == nil {
			return lk, m, nil
		}
		err = aerr
	}
	return nil, "", err
}
