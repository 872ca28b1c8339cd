package vm

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/tests/deps"
	"github.com/xvs-lb/xvs/tests/topo"
)

// inVM reports whether this process runs inside the test VM.
func inVM() bool { return os.Getenv("XVS_IN_VM") == "1" }

// requireVM skips a test meant for the VM when it runs anywhere else.
func requireVM(t *testing.T) {
	t.Helper()
	if !inVM() {
		t.Skip("runs inside the kernel-IPVS VM only (TestVM boots it)")
	}
}

// repoRoot is the module's root directory.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// vmMissing says why the VM cannot boot here, or "".
func vmMissing() string {
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, tool := range []string{"qemu-system-x86_64", "busybox", "ipvsadm", "apt-get", "dpkg", "objcopy"} {
		if _, err := deps.LookPath(tool); err != nil {
			return "needs " + tool + " (make deps)"
		}
	}
	return ""
}

var resultLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// TestVM boots the kernel-IPVS VM once, runs every TestInVM* test inside it
// and reports each as a subtest here.
func TestVM(t *testing.T) {
	if inVM() {
		t.Skip("this is the VM")
	}
	if why := vmMissing(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("kernel-IPVS VM: " + why + " (CI=true: failing instead of skipping)")
		}
		t.Skip("kernel-IPVS VM: " + why)
	}
	_ = topo.Missing // the VM tests reuse the netns harness
	root := repoRoot(t)
	dir := t.TempDir()
	build := func(args ...string) {
		cmd := deps.Command(context.Background(), "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	build("test", "-c", "-o", filepath.Join(dir, "vm.test"), "./tests/vm")
	build("build", "-o", filepath.Join(dir, "xvsadm"), "./cmd/xvsadm")
	out := filepath.Join(dir, "result")
	// The benchmarks take longer than the tests (about 8 minutes on a busy
	// machine): give them 16 minutes inside, and qemu 17 before it is killed.
	inside, vmTimeout := "8m", os.Getenv("XVS_VM_TIMEOUT")
	if os.Getenv("XVS_VM_BENCH") == "1" {
		inside = "16m"
		if vmTimeout == "" {
			vmTimeout = "1020"
		}
	}
	args := []string{filepath.Join(dir, "vm.test"), filepath.Join(dir, "xvsadm"), out, "-test.run", "^TestInVM", "-test.timeout", inside}
	if os.Getenv("XVS_VM_BENCH") != "1" {
		args = append(args, "-test.skip", "^TestInVMBench")
	}
	cmd := deps.Command(context.Background(), filepath.Join(root, "scripts/vm/run.sh"), args...)
	if vmTimeout != "" {
		cmd.Env = append(os.Environ(), "XVS_VM_TIMEOUT="+vmTimeout)
	}
	cmd.Stderr = os.Stderr
	if b, err := cmd.Output(); err != nil {
		t.Fatalf("scripts/vm/run.sh: %v\n%s", err, b)
	}
	logb, err := os.ReadFile(filepath.Join(out, "test.log"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := os.ReadFile(filepath.Join(out, "rc"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in-VM test output:\n%s", logb)
	results := resultLine.FindAllStringSubmatch(string(logb), -1)
	if len(results) == 0 {
		t.Fatalf("the VM ran no test (exit %s)", strings.TrimSpace(string(rc)))
	}
	for _, r := range results {
		status, name := r[1], r[2]
		t.Run(strings.TrimPrefix(name, "TestInVM"), func(t *testing.T) {
			switch status {
			case "FAIL":
				t.Errorf("%s failed in the VM (output above)", name)
			case "SKIP":
				t.Skipf("%s skipped in the VM", name)
			}
		})
	}
	if s := strings.TrimSpace(string(rc)); s != "0" {
		t.Errorf("the in-VM test binary exited %s", s)
	}
	if dst := os.Getenv("XVS_VM_OUT"); dst != "" {
		// Files the VM's tests wrote (benchmarks), for the caller.
		files, _ := filepath.Glob(filepath.Join(out, "out", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
			}
			if err != nil {
				t.Errorf("copy %s to %s: %v", f, dst, err)
			}
		}
	}
}
