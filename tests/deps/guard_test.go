package deps_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/deps"
)

// The guard (scripts/check-deps.sh, run by make test before the tests)
// fails on a list that drops a program the tests run (iperf3: the scan
// finds it) and on one that names the wrong package for a program (sh,
// which dash provides: dpkg's ownership), naming each.
func TestGuardFails(t *testing.T) {
	if _, err := deps.LookPath("dpkg-query"); err != nil {
		t.Skipf("not a Debian machine: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(filepath.Join(root, deps.ListFile))
	if err != nil {
		t.Fatal(err)
	}
	fake := regexp.MustCompile(`(?m)^iperf3 .*\n`).ReplaceAllString(string(real), "")
	fake = regexp.MustCompile(`(?m)^sh +dash `).ReplaceAllString(fake, "sh coreutils ")
	if fake == string(real) || strings.Contains(fake, "\niperf3 ") {
		t.Fatal("the fake list is the real one: the list's iperf3 or sh line changed")
	}
	list := filepath.Join(t.TempDir(), "programs.list")
	if err := os.WriteFile(list, []byte(fake), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := deps.Command(ctx, filepath.Join(root, "scripts/check-deps.sh"), list)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("check-deps.sh with a list without iperf3: %v, want exit status 1\n%s", err, out.String())
	}
	for _, want := range []string{
		"iperf3: run by tests/topo/iperf.go:",
		"sh: ",
		"not to coreutils as " + list,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output says nothing like %q:\n%s", want, out.String())
		}
	}
}
