package ipvs

import (
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// Daemons starts, stops and lists kernel IPVS's connection sync daemons
// (ipvsadm --start-daemon, --stop-daemon, -L --daemon) over generic
// netlink; github.com/cloudflare/ipvs has no call for them. The kernel's
// errors come back as the errno they carry (errors.Is(err, unix.EEXIST)).
type Daemons struct {
	c      *genetlink.Conn
	family uint16
}

// OpenDaemons connects to kernel IPVS, or returns ErrNotPresent.
func OpenDaemons() (*Daemons, error) {
	if !Present() {
		return nil, ErrNotPresent
	}
	c, family, err := dialIPVS()
	if err != nil {
		return nil, err
	}
	return &Daemons{c: c, family: family}, nil
}

// Close closes the netlink socket.
func (d *Daemons) Close() error { return d.c.Close() }

// Start starts a sync daemon; the kernel fills in what dm leaves zero.
func (d *Daemons) Start(dm Daemon) error {
	b, err := encodeStartDaemon(&dm)
	if err == nil {
		err = d.do(cmdNewDaemon, b)
	}
	if err != nil {
		return fmt.Errorf("start %s sync daemon: %w", dm.State, err)
	}
	return nil
}

// Stop stops the sync daemon of dm's state (the kernel reads only that).
func (d *Daemons) Stop(dm Daemon) error {
	b, err := encodeStopDaemon(&dm)
	if err == nil {
		err = d.do(cmdDelDaemon, b)
	}
	if err != nil {
		return fmt.Errorf("stop %s sync daemon: %w", dm.State, err)
	}
	return nil
}

// List returns the running sync daemons, master first.
func (d *Daemons) List() ([]Daemon, error) {
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdGetDaemon, Version: genlVersion}}
	msgs, err := d.c.Execute(msg, d.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("list sync daemons: %w", err)
	}
	out := make([]Daemon, 0, len(msgs))
	for _, m := range msgs {
		dm, err := decodeDaemon(m.Data)
		if err != nil {
			return nil, fmt.Errorf("list sync daemons: %w", err)
		}
		out = append(out, dm)
	}
	return out, nil
}

// do sends one command and waits for the kernel's acknowledgement.
func (d *Daemons) do(cmd uint8, data []byte) error {
	msg := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: genlVersion}, Data: data}
	_, err := d.c.Execute(msg, d.family, netlink.Request|netlink.Acknowledge)
	return err
}
