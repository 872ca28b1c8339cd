package loader

import (
	"os"
	"testing"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("privileged test must run under CI: not root")
		}
		t.Skip("needs root (BPF)")
	}
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
