package vm

import (
	"context"
	"os"
	"testing"

	"github.com/xvs-lb/xvs/tests/deps"
)

// TestInVMKernelIPVS checks the VM's kernel has IPVS and ipvsadm talks to it.
func TestInVMKernelIPVS(t *testing.T) {
	requireVM(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("no kernel IPVS in the VM: %v", err)
	}
	out, err := deps.Command(context.Background(), "ipvsadm", "-L", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -L -n: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
