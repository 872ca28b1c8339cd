package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// testStore is a MemStore that also lists connection entries, as the
// datapath's store will.
type testStore struct {
	*maps.MemStore
	conns []maps.Conn
}

func newTestStore() *testStore { return &testStore{MemStore: maps.NewMemStore()} }

func (s *testStore) Conns() ([]maps.Conn, error) { return s.conns, nil }

// testNames is the reference machine's name service: hosts: files with
// only localhost, and Debian's /etc/services.
type testNames struct{ services serviceTable }

var (
	servicesOnce  sync.Once
	servicesTable serviceTable
)

func newTestNames(t testing.TB) *testNames {
	servicesOnce.Do(func() {
		f, err := os.Open("testdata/services")
		if err != nil {
			t.Fatalf("open services: %v", err)
		}
		defer f.Close()
		servicesTable = parseServices(f)
	})
	return &testNames{services: servicesTable}
}

func (n *testNames) hostAddr4(name string) (netip.Addr, bool) {
	if name == "localhost" {
		return netip.MustParseAddr("127.0.0.1"), true
	}
	return netip.Addr{}, false
}

func (n *testNames) hostName(a netip.Addr) (string, bool) {
	if a == netip.MustParseAddr("127.0.0.1") || a == netip.IPv6Loopback() {
		return "localhost", true
	}
	return "", false
}

func (n *testNames) servicePort(name, proto string) (uint16, bool) {
	return n.services.servicePort(name, proto)
}

func (n *testNames) serviceName(port uint16, proto string) (string, bool) {
	return n.services.serviceName(port, proto)
}

// testEnv is one machine for a sequence of xvsadm runs: a store, the
// sync daemons, the name service.
type testEnv struct {
	t       testing.TB
	store   *testStore
	daemons *daemonTable
	names   *testNames
	salt    uint32
}

func newTestEnv(t testing.TB) *testEnv {
	return &testEnv{t: t, store: newTestStore(), daemons: &daemonTable{}, names: newTestNames(t)}
}

func (e *testEnv) options(stdin io.Reader, stdout, stderr io.Writer) *rootOptions {
	o := newRootOptions(stdin, stdout, stderr)
	o.openStore = func(string) (maps.Store, error) { return e.store, nil }
	o.names = e.names
	o.daemons = e.daemons
	o.hashSalt = e.salt
	o.ifaceMTU = func(string) (int, bool) { return 1500, true }
	return o
}

// run runs xvsadm with args (args[0] the program name) and input.
func (e *testEnv) run(input string, args ...string) (stdout, stderr string, rc int) {
	var out, errb bytes.Buffer
	rc = runWith(e.options(strings.NewReader(input), &out, &errb), args)
	return out.String(), errb.String(), rc
}

// runArgs runs xvsadm with a command line split at blanks.
func (e *testEnv) runLine(input, line string) (stdout, stderr string, rc int) {
	return e.run(input, append([]string{"ipvsadm"}, strings.Fields(line)...)...)
}
