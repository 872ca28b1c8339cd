package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xvs-lb/xvs/tests/deps"
	"github.com/xvs-lb/xvs/tests/topo"
)

// xvsadmBin is the xvsadm built for this test binary; buildErr says why
// there is none.
var (
	xvsadmBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "xvs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// Only privileged runs use it: do not pay for the build otherwise.
	if topo.Missing() == "" {
		xvsadmBin, buildErr = buildXvsadm(filepath.Join(tmp, "xvsadm"))
	}
	return m.Run()
}

// buildXvsadm builds ./cmd/xvsadm of this module into out.
func buildXvsadm(out string) (string, error) {
	root, err := filepath.Abs("../..") // tests/e2e -> module root
	if err != nil {
		return "", err
	}
	cmd := deps.Command(context.Background(), "go", "build", "-o", out, "./cmd/xvsadm")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/xvsadm: %v\n%s", err, stderr.String())
	}
	return out, nil
}

// requireXvsadm skips or fails the test like topo.Require, and fails it
// when xvsadm did not build.
func requireXvsadm(t *testing.T) {
	t.Helper()
	topo.Require(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}
