package main

import (
	"io"

	"github.com/xvs-lb/xvs/maps"
)

// defaultStateDir is where the datapath's maps are pinned.
const defaultStateDir = "/sys/fs/bpf/xvs"

// rootOptions is what one run of xvsadm works with: its streams, the
// global options, and the services it reaches (injectable for tests).
type rootOptions struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	stateDir string // --state DIR
	format   string // --format: "" (ipvsadm's text) or "json"
	atomic   bool   // -R --atomic

	// openStore opens (and locks) the store under a state directory.
	openStore func(stateDir string) (maps.Store, error)
	// names answers host and service name look-ups.
	names nameService
	// daemons is where the sync daemon commands go; nil: kernel IPVS's,
	// or the state directory's record where xvsadm does not mirror.
	daemons syncDaemons
	// hashSalt is the IPVS service table's per-namespace hash salt,
	// which orders --nosort listings.
	hashSalt uint32
	// ifaceMTU gives an interface's MTU, for the sync message size.
	ifaceMTU func(name string) (int, bool)
}

// newRootOptions has the defaults of a real run.
func newRootOptions(stdin io.Reader, stdout, stderr io.Writer) *rootOptions {
	return &rootOptions{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		stateDir:  defaultStateDir,
		openStore: defaultOpenStore,
		names:     newSystemNames(),
		ifaceMTU:  systemMTU,
	}
}
