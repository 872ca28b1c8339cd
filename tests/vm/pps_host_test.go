package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/deps"
	"github.com/xvs-lb/xvs/tests/topo"
)

// TestPPSHost runs the pps benchmark of TestInVMBenchPPS on this host
// instead of the VM, without kernel IPVS (the paths xdp and fwd), when
// XVS_PPS_HOST=1; it writes the table to $XVS_PPS_OUT if set. It builds
// xvsadm and turns its kernel IPVS mirror off.
func TestPPSHost(t *testing.T) {
	if inVM() || os.Getenv("XVS_PPS_HOST") != "1" {
		t.Skip("opt-in: XVS_PPS_HOST=1 (the pps benchmark on this host, XDP only)")
	}
	topo.Require(t)
	adm := filepath.Join(t.TempDir(), "xvsadm")
	cmd := deps.Command(context.Background(), "go", "build", "-o", adm, "./cmd/xvsadm")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build xvsadm: %v\n%s", err, out)
	}
	t.Setenv("XVS_IPVS_MIRROR", "off")
	md := runPPS(t, ppsOptions{adm: adm, where: "the host (" + hostKernel() + ", XDP only: no kernel IPVS)"})
	if out := os.Getenv("XVS_PPS_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hostKernel names the running kernel ("Linux 6.18...") and CPU count.
func hostKernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "Linux"
	}
	return fmt.Sprintf("kernel %s, %d CPUs", unix.ByteSliceToString(u.Release[:]), runtime.NumCPU())
}
