package main

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Kernel IPVS's sync daemon defaults.
const (
	syncPort = 8848
	syncTTL  = 1
	syncMTU  = 1500
)

// syncGroup is the default multicast group of connection sync.
var syncGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})

// daemonTable is the sync daemons started, master and backup. xvs has no
// connection sync: --start-daemon records the settings as kernel IPVS
// would complete them, and --daemon lists them, for as long as the table
// lives (one process).
type daemonTable struct {
	master, backup *daemonEntry
}

func (t *daemonTable) slot(state int) **daemonEntry {
	if state == stateMaster {
		return &t.master
	}
	return &t.backup
}

// start is ipvsadm --start-daemon, completed with the kernel's defaults.
func (t *daemonTable) start(d daemonEntry, mtu func(string) (int, bool)) error {
	p := t.slot(d.state)
	if *p != nil {
		return &opError{msg: ipvsStrerror(opStartDaemon, unix.EEXIST)}
	}
	if d.mcastTTL == 0 {
		d.mcastTTL = syncTTL
	}
	if d.mcastPort == 0 {
		d.mcastPort = syncPort
	}
	if !d.mcastGroup.IsValid() {
		d.mcastGroup = syncGroup
	}
	hlen := 20 + 8
	if d.mcastGroup.Is6() {
		hlen = 40 + 8
	}
	m, ok := mtu(d.mcastIfn)
	if !ok {
		m = syncMTU
	}
	m, minLen := min(m, 65535), 1
	if d.state == stateBackup {
		m, minLen = max(m, syncMTU), 1024
	}
	if d.syncMaxlen == 0 {
		d.syncMaxlen = m - hlen
	}
	d.syncMaxlen = max(min(d.syncMaxlen, m-hlen), minLen)
	*p = &d
	return nil
}

// stop is ipvsadm --stop-daemon.
func (t *daemonTable) stop(state int) error {
	p := t.slot(state)
	if *p == nil {
		return &opError{msg: ipvsStrerror(opStopDaemon, unix.ESRCH)}
	}
	*p = nil
	return nil
}

// listDaemons is ipvsadm's list_daemon.
func (s *session) listDaemons() error {
	t := s.o.daemons
	if s.o.format == formatJSON {
		return writeJSONValue(s.o.stdout, jsonDaemonList(t))
	}
	for _, d := range []*daemonEntry{t.master, t.backup} {
		if d == nil {
			continue
		}
		w := s.o.stdout
		fmt.Fprintf(w, "%s sync daemon (mcast=%s, syncid=%d", daemonStateName(d.state), d.mcastIfn, d.syncID)
		if d.syncMaxlen != 0 {
			fmt.Fprintf(w, ", maxlen=%d", d.syncMaxlen)
		}
		if d.mcastGroup.IsValid() {
			fmt.Fprintf(w, ", group=%s", inetNtop(d.mcastGroup))
		}
		if d.mcastPort != 0 {
			fmt.Fprintf(w, ", port=%d", d.mcastPort)
		}
		if d.mcastTTL != 0 {
			fmt.Fprintf(w, ", ttl=%d", d.mcastTTL)
		}
		fmt.Fprintln(w, ")")
	}
	return nil
}

func daemonStateName(state int) string {
	if state == stateMaster {
		return "master"
	}
	return "backup"
}

// systemMTU is an interface's MTU.
func systemMTU(name string) (int, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, false
	}
	return ifc.MTU, true
}
