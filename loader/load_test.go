package loader

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xvs-lb/xvs/tests/privileged"
)

func requireRoot(t *testing.T) {
	t.Helper()
	privileged.Require(t, "BPF")
}

func TestLoadVerifies(t *testing.T) {
	requireRoot(t)
	objs, err := Load(Options{ConnSize: 1024})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer objs.Close()
	if got := objs.XvsConns.MaxEntries(); got != 1024 {
		t.Fatalf("conn table size %d, want 1024", got)
	}
}

// A state directory whose pins have another layout is refused with a clear error.
func TestOpenIncompatibleState(t *testing.T) {
	requireRoot(t)
	dir := "/sys/fs/bpf/xvs-test-incompat-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { os.RemoveAll(dir) })
	st, err := Open(dir, Options{ConnSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Replace one pinned map by one of another layout, as an older build would have left it.
	name := filepath.Join(dir, "xvs_config")
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Pin(name); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Open of an incompatible state dir: %v, want ErrIncompatible", err)
	}
}
