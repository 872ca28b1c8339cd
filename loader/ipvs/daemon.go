package ipvs

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
)

// DaemonState is a sync daemon's role (IP_VS_STATE_*).
type DaemonState uint32

// The roles of a sync daemon: a master sends the connection table, a
// backup receives it. Kernel IPVS runs at most one of each per namespace.
const (
	DaemonMaster DaemonState = 1 // IP_VS_STATE_MASTER
	DaemonBackup DaemonState = 2 // IP_VS_STATE_BACKUP
)

func (s DaemonState) String() string {
	switch s {
	case DaemonMaster:
		return "master"
	case DaemonBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Daemon is one of kernel IPVS's connection sync daemons: the settings
// IPVS_DAEMON_ATTR_* carry (the kernel's struct ipvs_sync_daemon_cfg).
// When starting one, zero SyncMaxlen, McastPort, McastTTL and an invalid
// McastGroup leave the kernel its defaults; a listed daemon has them all.
type Daemon struct {
	State      DaemonState `json:"state"`
	McastIfn   string      `json:"mcast_interface"` // at most 15 bytes
	SyncID     uint32      `json:"syncid"`
	SyncMaxlen uint16      `json:"sync_maxlen,omitempty"` // UDP payload size of a sync message
	McastGroup netip.Addr  `json:"mcast_group,omitzero"`  // IPv4 or IPv6 multicast group
	McastPort  uint16      `json:"mcast_port,omitempty"`  // base port
	McastTTL   uint8       `json:"mcast_ttl,omitempty"`
}

// Commands and attributes of linux/ip_vs.h for the sync daemons.
const (
	cmdNewDaemon = 9  // IPVS_CMD_NEW_DAEMON (also the command of each dumped daemon)
	cmdDelDaemon = 10 // IPVS_CMD_DEL_DAEMON
	cmdGetDaemon = 11 // IPVS_CMD_GET_DAEMON

	cmdAttrDaemon = 3 // IPVS_CMD_ATTR_DAEMON: nested IPVS_DAEMON_ATTR_*

	daemonAttrState       = 1 // u32
	daemonAttrMcastIfn    = 2 // NUL-terminated string, at most 15 bytes before the NUL
	daemonAttrSyncID      = 3 // u32
	daemonAttrSyncMaxlen  = 4 // u16
	daemonAttrMcastGroup  = 5 // u32 holding the address in network order
	daemonAttrMcastGroup6 = 6 // 16 bytes
	daemonAttrMcastPort   = 7 // u16, host order
	daemonAttrMcastTTL    = 8 // u8
)

// ErrBadDaemonMessage means a sync daemon message lacks what kernel IPVS
// always sends, or carries an attribute of the wrong size.
var ErrBadDaemonMessage = errors.New("malformed IPVS sync daemon message")

// encodeStartDaemon is the payload of IPVS_CMD_NEW_DAEMON, with the
// attributes in ipvsadm 1.31's order: state, interface and sync ID always;
// the others only when set.
func encodeStartDaemon(d *Daemon) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(n *netlink.AttributeEncoder) error {
		n.Uint32(daemonAttrState, uint32(d.State))
		n.String(daemonAttrMcastIfn, d.McastIfn)
		n.Uint32(daemonAttrSyncID, d.SyncID)
		if d.SyncMaxlen != 0 {
			n.Uint16(daemonAttrSyncMaxlen, d.SyncMaxlen)
		}
		if d.McastPort != 0 {
			n.Uint16(daemonAttrMcastPort, d.McastPort)
		}
		if d.McastTTL != 0 {
			n.Uint8(daemonAttrMcastTTL, d.McastTTL)
		}
		switch g := d.McastGroup; {
		case g.Is4():
			a := g.As4()
			n.Bytes(daemonAttrMcastGroup, a[:])
		case g.Is6():
			a := g.As16()
			n.Bytes(daemonAttrMcastGroup6, a[:])
		}
		return nil
	})
	return ae.Encode()
}

// encodeStopDaemon is the payload of IPVS_CMD_DEL_DAEMON: what ipvsadm
// sends (the kernel reads only the state).
func encodeStopDaemon(d *Daemon) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(n *netlink.AttributeEncoder) error {
		n.Uint32(daemonAttrState, uint32(d.State))
		n.String(daemonAttrMcastIfn, d.McastIfn)
		n.Uint32(daemonAttrSyncID, d.SyncID)
		return nil
	})
	return ae.Encode()
}

// decodeDaemon reads one daemon of an IPVS_CMD_GET_DAEMON dump: the
// payload after the generic netlink header. As ipvsadm, it requires the
// state, the interface and the sync ID, and takes the interface name up to
// its first NUL. Unknown attributes are skipped.
func decodeDaemon(b []byte) (Daemon, error) {
	var d Daemon
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, fmt.Errorf("%w: %v", ErrBadDaemonMessage, err)
	}
	found := false
	for ad.Next() {
		if ad.Type() != cmdAttrDaemon {
			continue
		}
		found = true
		ad.Nested(func(n *netlink.AttributeDecoder) error { return decodeDaemonAttrs(n, &d) })
	}
	if err := ad.Err(); err != nil {
		return Daemon{}, fmt.Errorf("%w: %v", ErrBadDaemonMessage, err)
	}
	if !found {
		return Daemon{}, fmt.Errorf("%w: no daemon attribute", ErrBadDaemonMessage)
	}
	return d, nil
}

// decodeDaemonAttrs reads the IPVS_DAEMON_ATTR_* of one daemon into d.
func decodeDaemonAttrs(n *netlink.AttributeDecoder, d *Daemon) error {
	var have [daemonAttrMcastTTL + 1]bool
	for n.Next() {
		t := n.Type()
		switch t {
		case daemonAttrState:
			d.State = DaemonState(n.Uint32())
		case daemonAttrMcastIfn:
			b := n.Bytes()
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			d.McastIfn = string(b)
		case daemonAttrSyncID:
			d.SyncID = n.Uint32()
		case daemonAttrSyncMaxlen:
			d.SyncMaxlen = n.Uint16()
		case daemonAttrMcastPort:
			d.McastPort = n.Uint16()
		case daemonAttrMcastTTL:
			d.McastTTL = n.Uint8()
		case daemonAttrMcastGroup, daemonAttrMcastGroup6:
			b := n.Bytes()
			a, ok := netip.AddrFromSlice(b)
			if !ok || a.Is4() != (t == daemonAttrMcastGroup) {
				return fmt.Errorf("mcast group attribute %d of %d bytes", t, len(b))
			}
			// The IPv4 group wins, as in ipvsadm.
			if t == daemonAttrMcastGroup || !have[daemonAttrMcastGroup] {
				d.McastGroup = a
			}
		default:
			continue
		}
		have[t] = true
	}
	if !have[daemonAttrState] || !have[daemonAttrMcastIfn] || !have[daemonAttrSyncID] {
		return errors.New("state, interface or sync ID missing")
	}
	return nil
}
