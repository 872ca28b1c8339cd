// Package privileged decides whether a test that needs root runs: it
// skips without root, fails instead under CI=true (where a skip would hide
// a broken setup), and skips in -short mode, which `make check` uses for a
// fast run of the tests that need nothing but Go.
package privileged

import (
	"os"
	"testing"
)

// T is the part of testing.TB the gate uses.
type T interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

// Require gates a test on root; what says what it needs root for
// ("BPF maps", "network namespaces").
func Require(t T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("privileged test (" + what + "): skipped in -short mode")
	}
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("privileged test (" + what + "): not root (CI=true: failing instead of skipping)")
	}
	t.Skip("privileged test: needs root (" + what + ")")
}
