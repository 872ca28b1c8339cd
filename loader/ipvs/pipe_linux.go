package ipvs

import (
	"errors"
	"fmt"
	"io"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// openPipe opens a generic netlink socket for pipelined IPVS requests.
func openPipe() (*pipe, *netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_GENERIC, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dial generic netlink: %w", err)
	}
	f, err := genetlink.NewConn(c).GetFamily(genlName)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("resolve the IPVS family: %w", err)
	}
	// An answer carries the request's header only, not the whole request;
	// a larger buffer holds more answers (best effort: windows fit the default).
	_ = c.SetOption(netlink.CapAcknowledge, true)
	_ = c.SetReadBuffer(1 << 20)
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("generic netlink socket: %w", err)
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	p := &pipe{
		family: f.ID,
		send: func(b []byte) error {
			var serr error
			if err := rc.Write(func(fd uintptr) bool { serr = unix.Sendto(int(fd), b, 0, kernel); return true }); err != nil {
				return err
			}
			return serr
		},
		recv: func(b []byte) (int, error) {
			var (
				n    int
				rerr error
			)
			if err := rc.Read(func(fd uintptr) bool { n, _, rerr = unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT); return true }); err != nil {
				return 0, err
			}
			return n, rerr
		},
	}
	return p, c, nil
}

// kernelClient is github.com/cloudflare/ipvs's client for reading, and a
// pipe for changes.
type kernelClient struct {
	cfipvs.Client
	p  *pipe
	nc *netlink.Conn
}

func (k *kernelClient) do(ops []op) []error { return k.p.do(ops) }

func (k *kernelClient) Close() error {
	err := k.nc.Close()
	if c, ok := k.Client.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}
