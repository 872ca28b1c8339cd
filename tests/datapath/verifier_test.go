package datapath

import (
	"testing"

	"github.com/xvs-lb/xvs/loader"
)

// verifierBudget is the share of the verifier's 1M-instruction limit the
// XDP program may use before this test fails: room for later stages.
const verifierBudget = 700_000

// TestVerifierBudget loads the datapath and reports how many instructions
// the verifier walked; it fails past verifierBudget.
func TestVerifierBudget(t *testing.T) {
	requireRoot(t)
	objs, err := loader.Load(loader.Options{ConnSize: 16384})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer objs.Close()
	info, err := objs.XvsXdp.Info()
	if err != nil {
		t.Fatal(err)
	}
	n, ok := info.VerifiedInstructions()
	if !ok {
		t.Skip("the kernel does not report verified instructions")
	}
	t.Logf("xvs_xdp: %d verified instructions (limit 1,000,000, budget %d)", n, verifierBudget)
	if n > verifierBudget {
		t.Fatalf("xvs_xdp: %d verified instructions, more than the budget %d", n, verifierBudget)
	}
}
