package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// step is one command of a golden transcript.
type step struct {
	line  string // the arguments after the program name, split at blanks
	stdin string
}

// transcript runs steps on env and writes what a terminal would show.
func transcript(env *testEnv, steps []step) string {
	var b bytes.Buffer
	for _, s := range steps {
		fmt.Fprintf(&b, "$ xvsadm %s\n", s.line)
		if s.stdin != "" {
			fmt.Fprintf(&b, "< %s\n", strconv.Quote(s.stdin))
		}
		out, errs, rc := env.run(s.stdin, append([]string{"xvsadm"}, strings.Fields(s.line)...)...)
		b.WriteString(out)
		for _, l := range strings.SplitAfter(errs, "\n") {
			if l != "" {
				b.WriteString("stderr: " + l)
			}
		}
		if rc != 0 {
			fmt.Fprintf(&b, "exit: %d\n", rc)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// checkGolden compares got with testdata/name.golden (rewritten with -update).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run go test -update to create it)", path, err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

// seedSteps build a configuration with every kind of service and real.
var seedSteps = []step{
	{line: "-A -t 207.175.44.110:80 -s rr"},
	{line: "-a -t 207.175.44.110:80 -r 192.168.10.1:80 -m"},
	{line: "-a -t 207.175.44.110:80 -r 192.168.10.2:8080 -m -w 3 -x 100 -y 10"},
	{line: "-A -u [2001:db8::53]:53 -s mh -b mh-port -p 120 -M 64"},
	{line: "-a -u [2001:db8::53]:53 -r 10.1.4.1 -i --tun-type gue --tun-port 6080 --tun-remcsum"},
	{line: "-a -u [2001:db8::53]:53 -r [2001:db8::5] -g -w 0"},
	{line: "-A -f 7 -s sh -p -M 255.255.255.0 --pe sip"},
	{line: "-a -f 7 -r 10.1.7.1 -i --tun-type gre --tun-csum"},
}

func TestGoldenJSON(t *testing.T) {
	env := newTestEnv(t)
	transcript(env, seedSteps)
	env.store.conns = []maps.Conn{
		{Proto: protoTCP, Client: netip.MustParseAddrPort("10.99.0.1:45808"), Virtual: netip.MustParseAddrPort("207.175.44.110:80"),
			Dest: netip.MustParseAddrPort("192.168.10.1:80"), State: "ESTABLISHED", Expires: 899},
		{Proto: protoUDP, Client: netip.MustParseAddrPort("[2001:db8:99::]:0"), Virtual: netip.MustParseAddrPort("[2001:db8::53]:53"),
			Dest: netip.MustParseAddrPort("[2001:db8::5]:53"), State: "NONE", Expires: 119, PEName: "sip", PEData: "call-1"},
	}
	findSvc(t, env.store.Cfg, "TCP 207.175.44.110:80").Stats = maps.Stats{Conns: 12, InPkts: 340, OutPkts: 200, InBytes: 1 << 20, OutBytes: 1 << 30}
	got := transcript(env, []step{
		{line: "-L --format json"},
		{line: "-L -n -t 207.175.44.110:80 --format=json"},
		{line: "--format json -L -n -f 7"},
		{line: "-L --timeout --format json"},
		{line: "-L -c --format json"},
		{line: "--start-daemon master --mcast-interface eth9 --syncid 3"},
		{line: "-L --daemon --format json"},
		{line: "-L -n --format yaml"},
		// Text listings of the same state: --format never changes them.
		{line: "-L -n"},
		{line: "-L -n --tun-info"},
		{line: "-L -c --persistent-conn"},
		{line: "-L -n --stats --exact"},
		{line: "-S"},
	})
	checkGolden(t, "json", got)
}

func TestGoldenAtomicRestore(t *testing.T) {
	env := newTestEnv(t)
	transcript(env, []step{{line: "-A -t 10.0.0.1:80 -s rr"}, {line: "-a -t 10.0.0.1:80 -r 10.1.1.1 -m"}})
	got := transcript(env, []step{
		{line: "-R --atomic", stdin: "-C\n-A -t 1.2.3.4:80 -s wrr\n-a -t 1.2.3.4:80 -r 5.6.7.8:80 -m -w 2\n--set 600 60 120\n"},
		{line: "-S -n"},
		{line: "-L --timeout"},
		// A change that fails: the line is named, nothing changes.
		{line: "--atomic -R", stdin: "-D -t 1.2.3.4:80\n\n-a -t 1.2.3.4:80 -r 5.6.7.9:80\n"},
		// An option error.
		{line: "-R --atomic", stdin: "-C\n-A -t 9.9.9.9:80 -p x\n"},
		// A bad command line.
		{line: "-R --atomic", stdin: "-C\n-Q nonsense\n"},
		// Only configuration changes.
		{line: "-R --atomic", stdin: "-C\n-L -n\n"},
		{line: "-R --atomic", stdin: "-h\n"},
		{line: "-S -n"},
		{line: "-L -n --atomic"},
		// The same failing input without --atomic applies up to the failure.
		{line: "-R", stdin: "-C\n-A -t 9.9.9.9:80 -p x\n"},
		{line: "-S -n"},
	})
	checkGolden(t, "atomic", got)
}

func TestGoldenGlobals(t *testing.T) {
	env := newTestEnv(t)
	var dirs []string
	noStore := func(dir string) (maps.Store, error) {
		dirs = append(dirs, dir)
		return nil, errors.New("no such file or directory")
	}
	var b strings.Builder
	for _, line := range []string{
		"-L -n",
		"--state /run/xvs -L -n",
		"-L --state=/run/xvs2 -n",
		"-A -t 1.2.3.4:80 --state /run/xvs3",
		"",
		"-h --state",
		"-v",
		"--format",
		"-L --atomic=1",
	} {
		var out, errb bytes.Buffer
		o := env.options(strings.NewReader(""), &out, &errb)
		o.openStore = noStore
		args := append([]string{"xvsadm"}, strings.Fields(line)...)
		rc := runWith(o, args)
		fmt.Fprintf(&b, "$ xvsadm %s\n%s", line, out.String())
		for _, l := range strings.SplitAfter(errb.String(), "\n") {
			if l != "" {
				b.WriteString("stderr: " + l)
			}
		}
		fmt.Fprintf(&b, "exit: %d\n\n", rc)
	}
	fmt.Fprintf(&b, "stores opened: %q\n", dirs)
	checkGolden(t, "globals", b.String())
}

// TestGoldenOrder shows ipvsadm's orders: the sorted one, whose signed
// address comparison puts 128.0.0.0/1 before 0.0.0.0/1 (and is not
// transitive across more than half the address space), and --nosort's,
// IPVS's hash table walk.
func TestGoldenOrder(t *testing.T) {
	env := newTestEnv(t)
	var steps []step
	for _, a := range []string{"10.0.0.1:80", "207.175.44.110:80", "1.1.1.1:80", "127.255.255.255:80", "128.0.0.1:80", "192.168.0.1:443", "10.0.0.1:22", "[::1]:80", "[fe80::1]:80"} {
		steps = append(steps, step{line: "-A -t " + a + " -s rr"})
	}
	steps = append(steps,
		step{line: "-A -u 1.1.1.1:53"},
		step{line: "-A -f 3"}, step{line: "-A -f 5 -6"}, step{line: "-A -f 4294967295"},
		step{line: "-a -t 10.0.0.1:80 -r 200.0.0.1 -m"}, step{line: "-a -t 10.0.0.1:80 -r 10.0.0.9 -m"},
		step{line: "-a -t 10.0.0.1:80 -r 100.0.0.1 -m"}, step{line: "-a -t 10.0.0.1:80 -r 10.0.0.9:81 -m"},
		step{line: "-L -n"}, step{line: "-L -n --nosort"}, step{line: "-S -n"})
	checkGolden(t, "order", transcript(env, steps))
}
