package deps_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/tests/deps"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []deps.Program
		err        string // part of the error, or "" for none
	}{
		{"entries, comments, blanks", "# c\n\niperf3  iperf3  tests/e2e: throughput\ngo =operator\nxvsadm =project cmd/xvsadm\n",
			[]deps.Program{{"iperf3", "iperf3", "tests/e2e: throughput"}, {"go", "=operator", ""}, {"xvsadm", "=project", "cmd/xvsadm"}}, ""},
		{"no package", "iperf3\n", nil, "want NAME PACKAGE"},
		{"unknown marker", "go =installed\n", nil, `package "=installed"`},
		{"absolute project path", "/usr/bin/xvsadm =project\n", nil, "from the repository's root"},
		{"twice", "ip iproute2\nip iproute2\n", nil, "ip listed twice (first on line 1)"},
		{"empty", "# nothing\n", nil, "empty list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deps.Parse(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// The embedded list parses.
func TestList(t *testing.T) {
	l, err := deps.List()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := deps.Lookup(l, "iperf3"); !ok {
		t.Error("iperf3 is not listed")
	}
}

func TestLookup(t *testing.T) {
	list, err := deps.Parse("ip iproute2\nxvsadm =project\nscripts/vm/run.sh =project\n/etc/services netbase\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want string // the entry found, or "" for none
	}{
		{"ip", "ip"},
		{"/usr/sbin/ip", "ip"},
		{"/tmp/xvs-e2e-1/xvsadm", "xvsadm"},
		{"/work/xvs/scripts/vm/run.sh", "scripts/vm/run.sh"},
		{"./scripts/vm/run.sh", "scripts/vm/run.sh"},
		{"/etc/services", "/etc/services"},
		{"run.sh", ""},
		{"/usr/share/services", ""},
		{"ipvsadm", ""},
		{"/usr/sbin/ipx", ""},
	} {
		p, ok := deps.Lookup(list, tc.name)
		if got := map[bool]string{true: p.Name}[ok]; got != tc.want {
			t.Errorf("Lookup(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Command runs a listed program and refuses an unlisted one, naming it.
func TestCommand(t *testing.T) {
	out, err := deps.Command(context.Background(), "uname", "-s").Output()
	if err != nil || strings.TrimSpace(string(out)) != "Linux" {
		t.Fatalf("uname -s: %q, %v", out, err)
	}
	const unlisted = "xvs-no-such-program" // a constant: the scan looks for literals
	err = deps.Command(context.Background(), unlisted, "-x").Run()
	if !errors.Is(err, deps.ErrUnlisted) || !strings.Contains(err.Error(), `"`+unlisted+`"`) {
		t.Fatalf("unlisted program: error %v, want ErrUnlisted naming it", err)
	}
	if _, err := deps.LookPath(unlisted); !errors.Is(err, deps.ErrUnlisted) {
		t.Fatalf("LookPath of an unlisted program: %v, want ErrUnlisted", err)
	}
}
