package topo

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var netnsDirOnce struct {
	sync.Once
	err error
}

// prepareNetnsDir makes NetnsDir a shared mount of its own, as iproute2's
// `ip netns add` does the first time it runs (mount --make-shared, and when
// the directory is not a mount point yet, mount --bind it onto itself
// first). Namespaces are bind-mounted inside it. Without this, the first
// `ip netns add` on the machine (by an operator, another test, a script)
// bind-mounts NetnsDir over itself while this process's namespaces are
// mounted in it: they end up hidden under the new mount, where no unmount
// reaches them, and removing their names fails with EBUSY for good.
func prepareNetnsDir() error {
	netnsDirOnce.Do(func() {
		if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
			netnsDirOnce.err = fmt.Errorf("create %s: %w", NetnsDir, err)
			return
		}
		err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if errors.Is(err, unix.EINVAL) { // not a mount point yet
			if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
			}
		}
		if err != nil {
			netnsDirOnce.err = fmt.Errorf("make %s a shared mount: %w", NetnsDir, err)
		}
	})
	return netnsDirOnce.err
}
