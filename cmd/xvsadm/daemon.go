package main

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/loader"
	"github.com/xvs-lb/xvs/loader/ipvs"
)

// Kernel IPVS's sync daemon defaults.
const (
	syncPort = 8848
	syncTTL  = 1
	syncMTU  = 1500
)

// syncGroup is the default multicast group of connection sync.
var syncGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})

// syncDaemons is where --start-daemon, --stop-daemon and -L --daemon go:
// kernel IPVS's own sync daemons when xvsadm mirrors to kernel IPVS
// (kernelDaemons); else a record in the state directory (stateDaemons),
// since xvs has no connection sync of its own: the record answers
// -L --daemon as the kernel would; in tests, a table in memory
// (daemonTable). Errors carry the kernel's errno where there is one.
type syncDaemons interface {
	start(d daemonEntry, mtu func(string) (int, bool)) error
	stop(d daemonEntry) error
	list() ([]daemonEntry, error) // master first
}

// daemons returns where this session's sync daemon commands go.
func (s *session) daemons() syncDaemons {
	if s.o.daemons != nil {
		return s.o.daemons
	}
	if !loader.MirrorDisabled() && ipvs.Present() {
		return kernelDaemons{}
	}
	return stateDaemons{dir: s.o.stateDir}
}

// startDaemon is ipvsadm --start-daemon.
func (s *session) startDaemon(d daemonEntry) error {
	t := s.daemons()
	if _, ok := t.(stateDaemons); ok {
		s.close() // the record is kept under the store's lock
	}
	if err := t.start(d, s.o.ifaceMTU); err != nil {
		return &opError{msg: ipvsStrerror(opStartDaemon, err)}
	}
	return nil
}

// stopDaemon is ipvsadm --stop-daemon.
func (s *session) stopDaemon(d daemonEntry) error {
	t := s.daemons()
	if _, ok := t.(stateDaemons); ok {
		s.close()
	}
	if err := t.stop(d); err != nil {
		return &opError{msg: ipvsStrerror(opStopDaemon, err)}
	}
	return nil
}

// listDaemons is ipvsadm's list_daemon.
func (s *session) listDaemons() error {
	ds, err := s.daemons().list()
	if err != nil {
		return &exitError{code: 1, msg: err.Error()} // ipvsadm exits 1 when it cannot read them
	}
	if s.o.format == formatJSON {
		return writeJSONValue(s.o.stdout, jsonDaemonList(tableOf(ds)))
	}
	w := s.o.stdout
	for _, d := range ds {
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

// kernelDaemons are kernel IPVS's sync daemons.
type kernelDaemons struct{}

func (kernelDaemons) start(d daemonEntry, _ func(string) (int, bool)) error {
	return withKernelDaemons(func(k *ipvs.Daemons) error { return k.Start(kernelDaemon(&d)) })
}

func (kernelDaemons) stop(d daemonEntry) error {
	return withKernelDaemons(func(k *ipvs.Daemons) error { return k.Stop(kernelDaemon(&d)) })
}

func (kernelDaemons) list() ([]daemonEntry, error) {
	var out []daemonEntry
	err := withKernelDaemons(func(k *ipvs.Daemons) error {
		ds, err := k.List()
		out = entriesOf(ds)
		return err
	})
	return out, err
}

func withKernelDaemons(f func(k *ipvs.Daemons) error) error {
	k, err := ipvs.OpenDaemons()
	if err != nil {
		return err
	}
	defer k.Close()
	return f(k)
}

// stateDaemons is the record of sync daemons in a state directory; each
// change completes the settings as kernel IPVS would (daemonTable).
type stateDaemons struct{ dir string }

func (s stateDaemons) start(d daemonEntry, mtu func(string) (int, bool)) error {
	return s.update(func(t *daemonTable) error { return t.start(d, mtu) })
}

func (s stateDaemons) stop(d daemonEntry) error {
	return s.update(func(t *daemonTable) error { return t.stop(d) })
}

func (s stateDaemons) list() ([]daemonEntry, error) {
	ds, err := loader.Daemons(s.dir)
	return entriesOf(ds), err
}

func (s stateDaemons) update(f func(t *daemonTable) error) error {
	return loader.UpdateDaemons(s.dir, func(cur []ipvs.Daemon) ([]ipvs.Daemon, error) {
		t := tableOf(entriesOf(cur))
		if err := f(t); err != nil {
			return nil, err
		}
		var next []ipvs.Daemon
		for _, d := range t.entries() {
			next = append(next, kernelDaemon(&d))
		}
		return next, nil
	})
}

// daemonTable is the sync daemons started, master and backup, held in
// memory.
type daemonTable struct {
	master, backup *daemonEntry
}

func tableOf(ds []daemonEntry) *daemonTable {
	t := &daemonTable{}
	for i := range ds {
		*t.slot(ds[i].state) = &ds[i]
	}
	return t
}

func (t *daemonTable) slot(state int) **daemonEntry {
	if state == stateMaster {
		return &t.master
	}
	return &t.backup
}

// start is kernel IPVS's start_sync_thread (Linux 6.1): the interface
// must exist, then the daemon of that state must not run; what
// --start-daemon left out gets the kernel's defaults.
func (t *daemonTable) start(d daemonEntry, mtu func(string) (int, bool)) error {
	if d.mcastTTL == 0 {
		d.mcastTTL = syncTTL
	}
	if d.mcastPort == 0 {
		d.mcastPort = syncPort
	}
	if !d.mcastGroup.IsValid() {
		d.mcastGroup = syncGroup
	}
	devMTU, ok := mtu(d.mcastIfn)
	if !ok {
		return unix.ENODEV
	}
	hlen := 20 + 8 // IPv4 and UDP headers
	if d.mcastGroup.Is6() {
		hlen = 40 + 8
	}
	m, minLen := syncMTU, 1 // a master sends messages of 1500 bytes at most
	if d.state == stateBackup {
		m, minLen = min(max(devMTU, syncMTU), 65535), 1024
	}
	if d.syncMaxlen == 0 {
		d.syncMaxlen = m - hlen
	} else {
		d.syncMaxlen = min(max(d.syncMaxlen, minLen), 65535-hlen)
	}
	p := t.slot(d.state)
	if *p != nil {
		return unix.EEXIST
	}
	*p = &d
	return nil
}

// stop is kernel IPVS's stop_sync_thread.
func (t *daemonTable) stop(d daemonEntry) error {
	p := t.slot(d.state)
	if *p == nil {
		return unix.ESRCH
	}
	*p = nil
	return nil
}

func (t *daemonTable) list() ([]daemonEntry, error) { return t.entries(), nil }

// entries are the daemons running, master first.
func (t *daemonTable) entries() []daemonEntry {
	var out []daemonEntry
	for _, d := range []*daemonEntry{t.master, t.backup} {
		if d != nil {
			out = append(out, *d)
		}
	}
	return out
}

// kernelDaemon is d as kernel IPVS's netlink interface takes it.
func kernelDaemon(d *daemonEntry) ipvs.Daemon {
	return ipvs.Daemon{
		State: ipvs.DaemonState(d.state), McastIfn: d.mcastIfn, SyncID: uint32(d.syncID),
		SyncMaxlen: uint16(d.syncMaxlen), McastGroup: d.mcastGroup, McastPort: uint16(d.mcastPort), McastTTL: uint8(d.mcastTTL),
	}
}

// entriesOf are kernel daemons as ipvsadm lists them (those of a state it
// does not know skipped, as list_daemon does).
func entriesOf(ds []ipvs.Daemon) []daemonEntry {
	var out []daemonEntry
	for _, d := range ds {
		if d.State&(ipvs.DaemonMaster|ipvs.DaemonBackup) == 0 {
			continue
		}
		state := stateBackup
		if d.State&ipvs.DaemonMaster != 0 {
			state = stateMaster
		}
		out = append(out, daemonEntry{
			state: state, mcastIfn: d.McastIfn, syncID: int(d.SyncID), syncMaxlen: int(d.SyncMaxlen),
			mcastGroup: d.McastGroup, mcastPort: int(d.McastPort), mcastTTL: int(d.McastTTL),
		})
	}
	return out
}

// systemMTU is an interface's MTU.
func systemMTU(name string) (int, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return 0, false
	}
	return ifc.MTU, true
}
