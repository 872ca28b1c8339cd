package vm

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/tests/topo"
)

// exitCode is a command's exit status from the error box.run returns.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// syncLink makes a veth pair in the box for the sync daemons to use: the
// master binds its socket to the interface's IPv4 address. It returns the
// two interface names; the second has a 9000-byte MTU.
func syncLink(t *testing.T, b *box) (string, string) {
	t.Helper()
	const a, j = "hdsync0", "hdsync1"
	// A master with an IPv6 group binds to the interface's link-local
	// address, which the kernel refuses (EADDRNOTAVAIL) while duplicate
	// address detection holds it tentative: no DAD, as in tests/topo's
	// namespaces, so it is usable at once.
	if err := b.ns.Sysctls("net.ipv6.conf.default.accept_dad", "0", "net.ipv6.conf.all.accept_dad", "0"); err != nil {
		t.Fatal(err)
	}
	if err := topo.Veth(b.ns, a, "", b.ns, j); err != nil {
		t.Fatal(err)
	}
	if err := topo.AddAddr(b.ns, a, netip.MustParsePrefix("10.77.0.1/24")); err != nil {
		t.Fatal(err)
	}
	l, err := b.ns.Netlink().LinkByName(j)
	if err == nil {
		err = b.ns.Netlink().LinkSetMTU(l, 9000)
	}
	if err != nil {
		t.Fatalf("set %s mtu: %v", j, err)
	}
	t.Cleanup(func() { // the namespace's end stops them too
		b.run("", "/usr/sbin/ipvsadm", "--stop-daemon", "master")
		b.run("", "/usr/sbin/ipvsadm", "--stop-daemon", "backup")
	})
	return a, j
}

// TestInVMDaemon: --start-daemon and --stop-daemon start and stop kernel
// IPVS's sync daemons: the real ipvsadm -L --daemon lists what xvsadm
// started byte for byte (and xvsadm what ipvsadm started), and the kernel's
// refusals reach xvsadm as ipvsadm's messages and exit codes.
func TestInVMDaemon(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	ifc, _ := syncLink(t, b)
	same := func(step string) string {
		t.Helper()
		k := b.ipvsadm("", "-L", "--daemon")
		x := b.xvsadm("", "-L", "--daemon")
		if k != x {
			t.Errorf("after %s: ipvsadm -L --daemon and xvsadm -L --daemon differ\n--- ipvsadm:\n%s--- xvsadm:\n%s", step, k, x)
		}
		return k
	}
	// sameError runs a command both tools must refuse alike.
	sameError := func(args ...string) {
		t.Helper()
		_, ke, kerr := b.run("", "/usr/sbin/ipvsadm", args...)
		_, xe, xerr := b.run("", "/usr/sbin/xvsadm", append([]string{"--state", b.state}, args...)...)
		if kerr == nil {
			t.Errorf("ipvsadm %s succeeded; the test expects a refusal", strings.Join(args, " "))
		}
		if ke != xe || exitCode(kerr) != exitCode(xerr) {
			t.Errorf("%s: ipvsadm says %q (exit %d), xvsadm %q (exit %d)", strings.Join(args, " "), ke, exitCode(kerr), xe, exitCode(xerr))
		}
	}

	if got := same("nothing started"); got != "" {
		t.Errorf("daemons listed before any start: %q", got)
	}
	b.xvsadm("", "--start-daemon", "master", "--mcast-interface", ifc, "--syncid", "7")
	want := "master sync daemon (mcast=" + ifc + ", syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	if got := same("start master"); got != want {
		t.Errorf("kernel lists %q, want %q", got, want)
	}
	sameError("--start-daemon", "master", "--mcast-interface", ifc, "--syncid", "7")       // EEXIST
	sameError("--start-daemon", "backup", "--mcast-interface", "nosuch0")                  // ENODEV
	sameError("--start-daemon", "master", "--mcast-interface", "nosuch0", "--syncid", "1") // ENODEV before EEXIST

	b.xvsadm("", "--start-daemon", "backup", "--mcast-interface", ifc, "--syncid", "7",
		"--mcast-port", "9000", "--mcast-ttl", "2", "--sync-maxlen", "2000", "--mcast-group", "239.1.2.3")
	if got := same("start backup"); !strings.HasPrefix(got, want) ||
		!strings.Contains(got, "backup sync daemon (mcast="+ifc+", syncid=7, maxlen=2000, group=239.1.2.3, port=9000, ttl=2)") {
		t.Errorf("kernel lists %q after starting the backup", got)
	}
	if j := b.xvsadm("", "-L", "--daemon", "--format", "json"); !strings.Contains(j, `"state": "backup"`) || !strings.Contains(j, `"mcast_group": "239.1.2.3"`) {
		t.Errorf("json listing lacks the backup:\n%s", j)
	}

	b.xvsadm("", "--stop-daemon", "master")
	if got := same("stop master"); strings.Contains(got, "master") || !strings.Contains(got, "backup") {
		t.Errorf("kernel lists %q after stopping the master", got)
	}
	b.xvsadm("", "--stop-daemon", "backup")
	if got := same("stop backup"); got != "" {
		t.Errorf("kernel lists %q after stopping both", got)
	}
	sameError("--stop-daemon", "master") // ESRCH
	sameError("--stop-daemon", "backup")

	// Started with ipvsadm (an IPv6 group), listed and stopped by xvsadm.
	b.ipvsadm("", "--start-daemon", "backup", "--mcast-interface", ifc, "--mcast-group", "ff02::81", "--syncid", "9")
	if got := same("ipvsadm starts a backup"); !strings.Contains(got, "group=ff02::81") {
		t.Errorf("kernel lists %q", got)
	}
	b.xvsadm("", "--stop-daemon", "backup")
	same("xvsadm stops it")
}

// TestInVMDaemonRecord: where xvsadm does not mirror (XVS_IPVS_MIRROR=off)
// it keeps the daemons in the state directory, completed as the kernel
// completes them: for the same commands, xvsadm lists what ipvsadm lists.
func TestInVMDaemonRecord(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	ifc, jumbo := syncLink(t, b)
	xvsadm := func(args ...string) (string, string, error) {
		return b.run("", "env", append([]string{"XVS_IPVS_MIRROR=off", "/usr/sbin/xvsadm", "--state", b.state}, args...)...)
	}
	for _, start := range [][]string{
		{"master", "--mcast-interface", ifc, "--syncid", "7"},
		{"backup", "--mcast-interface", ifc, "--sync-maxlen", "100"},
		{"master", "--mcast-interface", ifc, "--sync-maxlen", "9000", "--mcast-port", "9100", "--mcast-ttl", "4"},
		{"master", "--mcast-interface", jumbo},
		{"backup", "--mcast-interface", jumbo},
		{"backup", "--mcast-interface", jumbo, "--mcast-group", "ff02::81", "--sync-maxlen", "65507"},
		{"master", "--mcast-interface", ifc, "--mcast-group", "ff02::81"},
		{"master", "--mcast-interface", "nosuch0"},
	} {
		args := append([]string{"--start-daemon"}, start...)
		_, ke, kerr := b.run("", "/usr/sbin/ipvsadm", args...)
		_, xe, xerr := xvsadm(args...)
		if ke != xe || exitCode(kerr) != exitCode(xerr) {
			t.Errorf("%s: ipvsadm says %q (exit %d), xvsadm %q (exit %d)", strings.Join(args, " "), ke, exitCode(kerr), xe, exitCode(xerr))
		}
		k := b.ipvsadm("", "-L", "--daemon")
		x, xe, err := xvsadm("-L", "--daemon")
		if err != nil || xe != "" || k != x {
			t.Errorf("after %s: ipvsadm lists\n%sxvsadm (record) lists\n%s%s %v", strings.Join(args, " "), k, x, xe, err)
		}
		b.run("", "/usr/sbin/ipvsadm", "--stop-daemon", start[0])
		xvsadm("--stop-daemon", start[0])
	}
}
