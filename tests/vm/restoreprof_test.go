package vm

import (
	"os"
	"testing"
)

// TestInVMBenchRestoreProfile restores 1,000 services x 10 reals with xvsadm
// into a loaded, empty datapath (mirror off) under a CPU profile, written to
// /out/restore.pprof (go tool pprof xvsadm restore.pprof). TestVM runs it
// only with XVS_VM_BENCH=1.
func TestInVMBenchRestoreProfile(t *testing.T) {
	requireVM(t)
	in := restoreInput(1000, 10)
	b := newBox(t)
	t.Setenv("XVS_IPVS_MIRROR", "off")
	b.xvsadm("", "-C")
	t.Setenv("XVS_CPUPROFILE", "/out/restore.pprof")
	b.xvsadm(in, "-R")
	if _, err := os.Stat("/out/restore.pprof"); err != nil {
		t.Fatal(err)
	}
}
