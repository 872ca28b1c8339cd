package vm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

// box is a network namespace (its own kernel IPVS table) with an xvs state
// directory: xvsadm and ipvsadm run inside it, each command logged.
type box struct {
	t     *testing.T
	ns    *topo.Netns
	state string
}

func newBox(t *testing.T) *box {
	t.Helper()
	ns, err := topo.NewNetns(t, "xvsvm-"+topo.RandSuffix(4))
	if err != nil {
		t.Fatal(err)
	}
	state, err := topo.StateDir(t, "xvs-vm-")
	if err != nil {
		t.Fatal(err)
	}
	return &box{t: t, ns: ns, state: state}
}

// run runs a command in the box with stdin and returns stdout, stderr.
func (b *box) run(stdin, name string, args ...string) (string, string, error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := b.ns.Command(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
	err := cmd.Run()
	line := fmt.Sprintf("$ %s %s", name, strings.Join(args, " "))
	if stdin != "" {
		line += fmt.Sprintf(" <<%d lines>>", strings.Count(stdin, "\n"))
	}
	if s := strings.TrimRight(o.String(), "\n"); s != "" && len(s) < 4000 {
		line += "\n" + s
	}
	if s := strings.TrimRight(e.String(), "\n"); s != "" {
		line += "\n[stderr] " + s
	}
	if err != nil {
		line += fmt.Sprintf("\n[%v]", err)
	}
	b.t.Log(line)
	return o.String(), e.String(), err
}

// xvsadm runs xvsadm --state S args, failing the test on error or on
// anything written to stderr (a mirror error would show there).
func (b *box) xvsadm(stdin string, args ...string) string {
	b.t.Helper()
	o, e, err := b.run(stdin, "/usr/sbin/xvsadm", append([]string{"--state", b.state}, args...)...)
	if err != nil || e != "" {
		b.t.Fatalf("xvsadm %s: %v %s", strings.Join(args, " "), err, e)
	}
	return o
}

// ipvsadm runs the real ipvsadm, failing the test on error.
func (b *box) ipvsadm(stdin string, args ...string) string {
	b.t.Helper()
	o, e, err := b.run(stdin, "/usr/sbin/ipvsadm", args...)
	if err != nil {
		b.t.Fatalf("ipvsadm %s: %v %s", strings.Join(args, " "), err, e)
	}
	return o
}

// sameSave fails unless ipvsadm -S -n and xvsadm -S -n print the same bytes.
func (b *box) sameSave(step string) {
	b.t.Helper()
	k := b.ipvsadm("", "-S", "-n")
	x := b.xvsadm("", "-S", "-n")
	if k != x {
		b.t.Errorf("after %s: ipvsadm -S -n and xvsadm -S -n differ\n--- ipvsadm (kernel IPVS):\n%s--- xvsadm (maps):\n%s", step, k, x)
	}
}

// TestInVMMirror: every change xvsadm makes reaches kernel IPVS; after each
// step the kernel's save equals xvsadm's byte for byte.
func TestInVMMirror(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	steps := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"add service", "", []string{"-A", "-t", "10.1.0.1:80", "-s", "mh"}},
		{"add real", "", []string{"-a", "-t", "10.1.0.1:80", "-r", "10.2.0.1:80", "-g", "-w", "2"}},
		{"add real 2", "", []string{"-a", "-t", "10.1.0.1:80", "-r", "10.2.0.2:80", "-g"}},
		{"add udp persistent", "", []string{"-A", "-u", "10.1.0.2:53", "-s", "wrr", "-p", "300", "-M", "255.255.255.0"}},
		{"add masq real", "", []string{"-a", "-u", "10.1.0.2:53", "-r", "10.2.0.3:5353", "-m", "-w", "5", "-x", "100", "-y", "10"}},
		{"add tunnel real", "", []string{"-a", "-u", "10.1.0.2:53", "-r", "10.2.0.4:53", "-i", "-w", "1"}},
		{"add fwmark", "", []string{"-A", "-f", "7", "-s", "rr"}},
		{"add ipv6", "", []string{"-A", "-t", "[fd00::1]:443", "-s", "sh", "-b", "sh-port"}},
		{"add ipv6 real", "", []string{"-a", "-t", "[fd00::1]:443", "-r", "[fd00::10]:443", "-g"}},
		{"edit service", "", []string{"-E", "-t", "10.1.0.1:80", "-s", "mh", "-b", "mh-fallback,mh-port"}},
		{"edit real weight 0", "", []string{"-e", "-t", "10.1.0.1:80", "-r", "10.2.0.2:80", "-g", "-w", "0"}},
		{"delete real", "", []string{"-d", "-u", "10.1.0.2:53", "-r", "10.2.0.4:53"}},
		{"set timeouts", "", []string{"--set", "100", "20", "30"}},
		{"zero counters", "", []string{"-Z"}},
		{"zero one service", "", []string{"-Z", "-t", "10.1.0.1:80"}},
		{"zero fwmark service", "", []string{"-Z", "-f", "7"}},
		{"zero ipv6 service", "", []string{"-Z", "-t", "[fd00::1]:443"}},
		{"delete service", "", []string{"-D", "-f", "7"}},
		{"restore", "-A -t 10.3.0.1:8080 -s wlc\n-a -t 10.3.0.1:8080 -r 10.4.0.1:8080 -m -w 3\n-a -t 10.3.0.1:8080 -r 10.4.0.2:8080 -m -w 4\n-A -u 10.3.0.2:9000 -s lc\n-a -u 10.3.0.2:9000 -r 10.4.0.3 -g\n-D -t [fd00::1]:443\n", []string{"-R"}},
		{"restore atomic", "-E -t 10.3.0.1:8080 -s rr\n-d -t 10.3.0.1:8080 -r 10.4.0.1:8080\n-A -t 10.3.0.3:80 -s sed\n", []string{"-R", "--atomic"}},
		{"clear", "", []string{"-C"}},
		{"after clear", "-A -t 10.5.0.1:80 -s mh\n-a -t 10.5.0.1:80 -r 10.6.0.1:80 -g\n", []string{"-R"}},
		// New table-scheduler services with several reals reach the kernel
		// without a scheduler, then get theirs (and its flags) once the
		// reals are in: one table built, not one per real.
		{"restore table schedulers", "-A -t 10.5.0.2:80 -s mh -b mh-port\n-a -t 10.5.0.2:80 -r 10.6.0.1:80 -g\n-a -t 10.5.0.2:80 -r 10.6.0.2:80 -g -w 2\n" +
			"-A -u [fd00::5]:53 -s sh -b sh-fallback\n-a -u [fd00::5]:53 -r [fd00::6]:53 -g\n-a -u [fd00::5]:53 -r [fd00::7]:53 -g\n" +
			"-A -t 10.5.0.3:80 -s dh\n-a -t 10.5.0.3:80 -r 10.6.0.3:80 -i\n-a -t 10.5.0.3:80 -r 10.6.0.4:80 -i\n", []string{"-R"}},
	}
	for _, s := range steps {
		b.xvsadm(s.stdin, s.args...)
		b.sameSave(s.name)
	}
	if k := b.ipvsadm("", "-L", "-n", "--timeout"); !strings.Contains(k, "Timeout (tcp tcpfin udp): 100 20 30") {
		t.Errorf("--set not mirrored: %q", k)
	}
	st := b.xvsadm("", "drift")
	if !strings.Contains(st, "kernel IPVS: present, mirrored, in step") {
		t.Errorf("status does not say the mirror is in step:\n%s", st)
	}
}

// TestInVMImport: a configuration made with ipvsadm reaches the maps with
// xvsadm import, and a later change with ipvsadm shows as drift.
func TestInVMImport(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	b.xvsadm("", "-A", "-t", "10.9.0.9:80", "-s", "rr") // in the maps already: import replaces it
	b.ipvsadm("-A -t 10.7.0.1:80 -s mh -b mh-port\n-a -t 10.7.0.1:80 -r 10.8.0.1:80 -g -w 3\n-a -t 10.7.0.1:80 -r 10.8.0.2:80 -g\n"+
		"-A -u [fd00::7]:53 -s wrr\n-a -u [fd00::7]:53 -r [fd00::8]:53 -m -w 2\n-A -f 9 -s rr -p 60\n-a -f 9 -r 10.8.0.3:0 -g\n"+
		"-D -t 10.9.0.9:80\n", "-R")
	b.ipvsadm("", "--set", "200", "30", "40")
	st := b.xvsadm("", "drift")
	if !strings.Contains(st, "differences from the maps") || !strings.Contains(st, "drift: TCP 10.7.0.1:80: in kernel IPVS, not in the maps") {
		t.Errorf("status shows no drift before import:\n%s", st)
	}
	b.xvsadm("", "import")
	b.sameSave("import")
	if x := b.xvsadm("", "-L", "-n", "--timeout"); !strings.Contains(x, "Timeout (tcp tcpfin udp): 200 30 40") {
		t.Errorf("timeouts not imported: %q", x)
	}
	// Drift made with ipvsadm, reported, then re-applied from the maps.
	b.ipvsadm("", "-e", "-t", "10.7.0.1:80", "-r", "10.8.0.1:80", "-g", "-w", "9")
	b.ipvsadm("", "-A", "-t", "10.7.0.2:80", "-s", "rr")
	st = b.xvsadm("", "drift")
	for _, want := range []string{
		"drift: TCP 10.7.0.1:80: real 10.8.0.1:80 differs (maps: route, weight 3; kernel: route, weight 9)",
		"drift: TCP 10.7.0.2:80: in kernel IPVS, not in the maps",
	} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	b.xvsadm("", "sync")
	b.sameSave("sync")
	if st := b.xvsadm("", "drift"); !strings.Contains(st, "in step") {
		t.Errorf("still drifting after sync:\n%s", st)
	}
}

// TestInVMImportFollow: xvsadm import --follow keeps the maps equal to a
// kernel IPVS table that another tool (ipvsadm here, keepalived or
// kube-proxy in life) changes: services and reals added, edited, removed,
// the table cleared; then it stops cleanly on SIGTERM.
func TestInVMImportFollow(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	b.xvsadm("", "-L", "-n") // load the datapath before following
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	follower := b.ns.Command(ctx, "/usr/sbin/xvsadm", "--state", b.state, "import", "--follow", "100ms")
	var out, errb bytes.Buffer
	follower.Stdout, follower.Stderr = &out, &errb
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			follower.Process.Kill()
			follower.Wait()
		}
	})
	// caughtUp waits until the maps list what the kernel does.
	caughtUp := func(step string) {
		t.Helper()
		var k, x string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			k, x = b.ipvsadm("", "-S", "-n"), b.xvsadm("", "-S", "-n")
			if k == x {
				return
			}
		}
		t.Fatalf("after %s: the follower did not catch up in 60 s\n--- ipvsadm -S -n:\n%s--- xvsadm -S -n:\n%s--- follower's stderr:\n%s", step, k, x, errb.String())
	}
	steps := []struct{ name, rules string }{
		{"add", "-A -t 10.7.0.1:80 -s wrr\n-a -t 10.7.0.1:80 -r 10.8.0.1:80 -g -w 2\n-a -t 10.7.0.1:80 -r 10.8.0.2:80 -g -w 1\n-A -u [fd00::7]:53 -s mh -b mh-port\n-a -u [fd00::7]:53 -r [fd00::8]:53 -g\n"},
		{"edit", "-e -t 10.7.0.1:80 -r 10.8.0.2:80 -g -w 5\n-E -u [fd00::7]:53 -s sh\n-a -t 10.7.0.1:80 -r 10.8.0.3:80 -m\n"},
		{"remove", "-d -t 10.7.0.1:80 -r 10.8.0.1:80\n-D -u [fd00::7]:53\n"},
		{"clear", "-C\n"},
	}
	for _, s := range steps {
		b.ipvsadm(s.rules, "-R")
		caughtUp(s.name)
		if s.name == "add" {
			if x := b.xvsadm("", "-L", "-n"); !strings.Contains(x, "10.8.0.2:80                  Route   1") {
				t.Errorf("after add: the maps lack a followed real:\n%s", x)
			}
		}
	}
	if x := b.xvsadm("", "-S", "-n"); x != "" {
		t.Errorf("after clear: the maps still hold\n%s", x)
	}
	if err := follower.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := follower.Wait()
	stopped = true
	if err != nil || errb.Len() != 0 {
		t.Errorf("follower ended with %v, stderr %q", err, errb.String())
	}
	if n := strings.Count(out.String(), "imported"); n < len(steps) {
		t.Errorf("follower reported %d imports, want at least %d:\n%s", n, len(steps), out.String())
	}
}
