package topo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/deps"
)

// Skipper is the part of testing.TB that Require uses.
type Skipper interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

// Missing returns why this process cannot build topologies, or "" if it
// can: it needs root and nsenter.
func Missing() string {
	if os.Geteuid() != 0 {
		return "needs root (network namespaces, veth, XDP)"
	}
	if _, err := deps.LookPath("nsenter"); err != nil {
		return "needs nsenter (util-linux) in PATH"
	}
	return ""
}

// Require skips the test when this process cannot build topologies, and
// fails it instead when CI=true: there a skip would hide a broken setup.
func Require(t Skipper) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test: skipped in -short mode")
	}
	why := Missing()
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("privileged test: " + why + " (CI=true: failing instead of skipping)")
	}
	t.Skip("privileged test: " + why)
}

// BPFFSRoot is where bpffs is expected.
const BPFFSRoot = "/sys/fs/bpf"

// EnsureBPFFS mounts bpffs on /sys/fs/bpf when nothing is mounted there
// yet (a VM without systemd). It stays mounted.
func EnsureBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(BPFFSRoot, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", BPFFSRoot, err)
	}
	if st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", BPFFSRoot, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", BPFFSRoot, err)
	}
	return nil
}

// StateDir returns a fresh, not yet existing path under /sys/fs/bpf
// (prefix plus a random suffix) for a program's pins, and registers its
// removal, with all it holds, with env. Register the detach of whatever
// uses it after calling StateDir, so that it runs first.
func StateDir(env Env, prefix string) (string, error) {
	if err := EnsureBPFFS(); err != nil {
		return "", err
	}
	dir := filepath.Join(BPFFSRoot, prefix+RandSuffix(4))
	env.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			env.Errorf("remove pins %s: %v", dir, err)
		}
	})
	return dir, nil
}
