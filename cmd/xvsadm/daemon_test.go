package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDaemonTableStart: the settings a started daemon lists are those
// kernel IPVS 6.1's start_sync_thread completes.
func TestDaemonTableStart(t *testing.T) {
	mtus := map[string]int{"eth0": 1500, "jumbo": 9000, "small": 1400, "lo": 65536}
	mtu := func(n string) (int, bool) { m, ok := mtus[n]; return m, ok }
	v4 := syncGroup
	v6 := netip.MustParseAddr("ff02::81")
	tests := []struct {
		name string
		in   daemonEntry
		want daemonEntry
		err  error
	}{
		{"master defaults", daemonEntry{state: stateMaster, mcastIfn: "eth0"},
			daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 1472, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"master ignores a jumbo MTU", daemonEntry{state: stateMaster, mcastIfn: "jumbo", syncID: 7},
			daemonEntry{state: stateMaster, mcastIfn: "jumbo", syncID: 7, syncMaxlen: 1472, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"backup takes a jumbo MTU", daemonEntry{state: stateBackup, mcastIfn: "jumbo"},
			daemonEntry{state: stateBackup, mcastIfn: "jumbo", syncMaxlen: 8972, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"backup MTU at least 1500", daemonEntry{state: stateBackup, mcastIfn: "small"},
			daemonEntry{state: stateBackup, mcastIfn: "small", syncMaxlen: 1472, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"backup MTU at most 65535", daemonEntry{state: stateBackup, mcastIfn: "lo"},
			daemonEntry{state: stateBackup, mcastIfn: "lo", syncMaxlen: 65507, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"IPv6 group: larger headers", daemonEntry{state: stateMaster, mcastIfn: "eth0", mcastGroup: v6},
			daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 1452, mcastGroup: v6, mcastPort: 8848, mcastTTL: 1}, nil},
		{"master maxlen kept", daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 100, mcastPort: 9000, mcastTTL: 3},
			daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 100, mcastGroup: v4, mcastPort: 9000, mcastTTL: 3}, nil},
		{"master maxlen above the MTU kept", daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 9000},
			daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 9000, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"backup maxlen at least 1024", daemonEntry{state: stateBackup, mcastIfn: "eth0", syncMaxlen: 100},
			daemonEntry{state: stateBackup, mcastIfn: "eth0", syncMaxlen: 1024, mcastGroup: v4, mcastPort: 8848, mcastTTL: 1}, nil},
		{"IPv6 maxlen at most 65487", daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 65507, mcastGroup: v6},
			daemonEntry{state: stateMaster, mcastIfn: "eth0", syncMaxlen: 65487, mcastGroup: v6, mcastPort: 8848, mcastTTL: 1}, nil},
		{"unknown interface", daemonEntry{state: stateMaster, mcastIfn: "nosuch0"}, daemonEntry{}, unix.ENODEV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := &daemonTable{}
			err := tab.start(tt.in, mtu)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("start: %v, want %v", err, tt.err)
			}
			if err != nil {
				if got := tab.entries(); len(got) != 0 {
					t.Errorf("a failed start left %+v", got)
				}
				return
			}
			if got := tab.entries(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("started %+v\nwant    %+v", got, tt.want)
			}
			if err := tab.start(tt.in, mtu); err != unix.EEXIST {
				t.Errorf("second start: %v, want EEXIST", err)
			}
		})
	}
	// The kernel looks the interface up before it checks for a running daemon.
	tab := &daemonTable{}
	if err := tab.start(daemonEntry{state: stateMaster, mcastIfn: "eth0"}, mtu); err != nil {
		t.Fatal(err)
	}
	if err := tab.start(daemonEntry{state: stateMaster, mcastIfn: "nosuch0"}, mtu); err != unix.ENODEV {
		t.Errorf("start on an unknown interface with a master running: %v, want ENODEV", err)
	}
}

// TestDaemonsPersist: without kernel IPVS, the daemons one xvsadm starts
// are those a later xvsadm lists and stops (the state directory's record),
// with ipvsadm's messages and exit codes.
func TestDaemonsPersist(t *testing.T) {
	requireRoot(t)
	t.Setenv("XVS_IPVS_MIRROR", "off") // the record even where the kernel has IPVS
	dir := tempStateDir(t)
	xvsadm := func(line string) (string, string, int) {
		var o, e bytes.Buffer
		rc := run(append([]string{"ipvsadm", "--state", dir}, strings.Fields(line)...), strings.NewReader(""), &o, &e)
		return o.String(), e.String(), rc
	}
	const master = "master sync daemon (mcast=lo, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	const backup = "backup sync daemon (mcast=lo, syncid=7, maxlen=2000, group=239.1.1.1, port=9000, ttl=2)\n"
	steps := []struct {
		line     string
		out, err string
		rc       int
	}{
		{line: "-L --daemon"},
		{line: "--stop-daemon master", err: "No daemon is running\n", rc: 255},
		{line: "--start-daemon master --mcast-interface lo --syncid 7"},
		{line: "-L --daemon", out: master},
		{line: "--start-daemon master --mcast-interface lo --syncid 8", err: "Daemon has already run\n", rc: 255},
		{line: "--start-daemon backup --mcast-interface nosuch0", err: "No such device\n", rc: 255},
		{line: "--start-daemon backup --mcast-interface lo --syncid 7 --mcast-group 239.1.1.1 --mcast-port 9000 --mcast-ttl 2 --sync-maxlen 2000"},
		{line: "-L --daemon", out: master + backup},
		{line: "--stop-daemon master"},
		{line: "-L --daemon", out: backup},
		{line: "--stop-daemon backup"},
		{line: "--stop-daemon backup", err: "No daemon is running\n", rc: 255},
		{line: "-L --daemon"},
	}
	for _, s := range steps {
		out, errs, rc := xvsadm(s.line)
		if out != s.out || errs != s.err || rc != s.rc {
			t.Errorf("xvsadm %s:\nstdout %q, stderr %q, exit %d\nwant   %q, stderr %q, exit %d", s.line, out, errs, rc, s.out, s.err, s.rc)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "sync_daemons")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left with no daemon running: %v", err)
	}
}

// TestDaemonsLocked: concurrent starts of the same daemon on one state
// directory: exactly one runs it, the others find it running.
func TestDaemonsLocked(t *testing.T) {
	requireRoot(t)
	dir := tempStateDir(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stateDaemons{dir: dir}.start(daemonEntry{state: stateMaster, mcastIfn: "lo", syncID: i}, systemMTU)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, unix.EEXIST):
			t.Errorf("start: %v", err)
		}
	}
	ds, err := stateDaemons{dir: dir}.list()
	if ok != 1 || err != nil || len(ds) != 1 {
		t.Errorf("%d starts succeeded, record %+v, %v; want 1 and one daemon", ok, ds, err)
	}
}
