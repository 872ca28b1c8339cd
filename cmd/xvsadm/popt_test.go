package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// scan runs popt over args with ipvsadm's table and describes what it
// returns: "X" for an option without value, "X=v" with one, "!code(bad)"
// for an error (bad: the argument popt blames), then "args:..." for the
// leftovers.
func scan(args ...string) string {
	con := newPopt(append([]string{"ipvsadm"}, args...), ipvsadmOptions)
	var out []string
	for {
		c, v := con.nextOpt()
		if c == -1 {
			break
		}
		if c < -1 {
			out = append(out, fmt.Sprintf("!%d(%s)", c, con.badOption()))
			break
		}
		name := string(rune(c))
		if c >= 128 {
			for _, o := range ipvsadmOptions {
				if o.val == c {
					name = "--" + o.long
				}
			}
		}
		if v != nil {
			name += "=" + *v
		}
		out = append(out, name)
	}
	var left []string
	for {
		a, ok := con.arg()
		if !ok {
			break
		}
		left = append(left, a)
	}
	if left != nil {
		out = append(out, "args:"+strings.Join(left, ","))
	}
	return strings.Join(out, " ")
}

func TestPopt(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-L", "-n"}, "L n"},
		{[]string{"-Ln"}, "L n"},
		{[]string{"-Lnc"}, "L n c"},
		{[]string{"--list", "--numeric"}, "L n"},
		{[]string{"-l"}, "l"},
		{[]string{"-a", "-w5"}, "a w=5"},
		{[]string{"-a", "-w=5"}, "a w=5"},
		{[]string{"-a", "-w", "5"}, "a w=5"},
		{[]string{"-a", "--weight=5"}, "a w=5"},
		{[]string{"-a", "--weight", "5"}, "a w=5"},
		{[]string{"-a", "--weight="}, "a w="},
		{[]string{"-a", "-mw5"}, "a m w=5"},
		// A required value is taken even when it starts with '-'.
		{[]string{"-A", "-s", "-p"}, "A s=-p"},
		{[]string{"-At", "1.2.3.4:80"}, "A t=1.2.3.4:80"},
		{[]string{"-At1.2.3.4:80"}, "A t=1.2.3.4:80"},
		{[]string{"--set", "1", "2", "3"}, "--set args:1,2,3"},
		{[]string{"1", "--set", "2", "3"}, "--set args:1,2,3"},
		{[]string{"-L", "--", "-n"}, "L args:-n"},
		{[]string{"-L", "-"}, "L args:-"},
		{[]string{"--sctp-service", "1.2.3.4:5"}, "--sctp-service=1.2.3.4:5"},
		{[]string{"--start-daemon", "master"}, "--start-daemon=master"},
		// Errors.
		{[]string{"--bogus"}, "!-11(--bogus)"},
		{[]string{"-L", "-q"}, "L !-11(-q)"},
		{[]string{"-Lq"}, "L !-11(-Lq)"},
		{[]string{"-A", "-t"}, "A !-10(-t)"},
		{[]string{"-L", "-n=1"}, "L !-12(-n=1)"},
		{[]string{"-L", "--numeric=1"}, "L !-12(--numeric=1)"},
		{[]string{"-list"}, "l i s=t"}, // no one-dash long options: letters
		{[]string{"--ipv"}, "!-11(--ipv)"},
	}
	for _, tt := range tests {
		if got := scan(tt.args...); got != tt.want {
			t.Errorf("scan(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

// TestPoptOptionalValue: -p takes a value only when attached or when the
// next argument does not start with '-'.
func TestPoptOptionalValue(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-A", "-p"}, "A p"},
		{[]string{"-A", "-p", "30"}, "A p=30"},
		{[]string{"-A", "-p30"}, "A p=30"},
		{[]string{"-A", "-p=30"}, "A p=30"},
		{[]string{"-A", "--persistent=30"}, "A p=30"},
		{[]string{"-A", "--persistent", "30"}, "A p=30"},
		{[]string{"-A", "-p", "-s", "rr"}, "A p s=rr"},
		{[]string{"-A", "-p", "-5"}, "A p !-11(-5)"},
		{[]string{"-A", "-p", ""}, "A p="},
		{[]string{"-A", "-p", "rr"}, "A p=rr"},
		{[]string{"-A", "-pn"}, "A p=n"},
	}
	for _, tt := range tests {
		if got := scan(tt.args...); got != tt.want {
			t.Errorf("scan(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestPersistentTimeout(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		line string
		want string // the saved service, or the error
	}{
		{"-A -t 1.0.0.1:80 -p", "-A -t 1.0.0.1:80 -s wlc -p 360\n"},
		{"-A -t 1.0.0.2:80 -p 1", "-A -t 1.0.0.2:80 -s wlc -p 1\n"},
		{"-A -t 1.0.0.3:80 -p2678400", "-A -t 1.0.0.3:80 -s wlc -p 2678400\n"},
		{"-A -t 1.0.0.4:0 -p -s rr", "-A -t 1.0.0.4:0 -s rr -p 360\n"},
		{"-A -t 1.0.0.5:80 -p 0", "invalid timeout value `0' specified\n"},
		{"-A -t 1.0.0.5:80 -p 2678401", "invalid timeout value `2678401' specified\n"},
		{"-A -t 1.0.0.5:80 -p x", "invalid timeout value `x' specified\n"},
		{"-A -t 1.0.0.5:0", "Zero port specified for non-persistent service\n"},
	}
	for _, tt := range tests {
		_, errs, rc := e.runLine("", tt.line)
		if errs != "" {
			if errs != tt.want || rc != 2 {
				t.Errorf("%s: rc %d stderr %q, want 2 %q", tt.line, rc, errs, tt.want)
			}
			continue
		}
		save, _, _ := e.runLine("", "-S -n")
		if !strings.Contains(save, tt.want) {
			t.Errorf("%s: saved %q, want a line %q", tt.line, save, tt.want)
		}
	}
}

func TestSchedFlags(t *testing.T) {
	tests := []struct {
		sched, arg string
		want       uint32
		err        string
	}{
		{"", "flag-1", svcSched1, ""},
		{"wlc", "flag-1,flag-2,flag-3", svcSchedMask, ""},
		{"sh", "sh-fallback,sh-port", svcSched1 | svcSched2, ""},
		{"mh", "mh-port", svcSched2, ""},
		{"mh", ",mh-port,,", svcSched2, ""},
		{"rr", "sh-port", 0, "incompatible scheduler flag `sh-port'"},
		{"", "mh-port", 0, "incompatible scheduler flag `mh-port'"},
		{"sh", "bogus", 0, "invalid scheduler flag `bogus'"},
		{"sh", ",", 0, "invalid scheduler flag `'"},
	}
	for _, tt := range tests {
		got, err := parseSchedFlags(tt.sched, tt.arg)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("parseSchedFlags(%q, %q) error %v, want %q", tt.sched, tt.arg, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSchedFlags(%q, %q) = %#x, %v; want %#x", tt.sched, tt.arg, got, err, tt.want)
		}
	}
	format := map[[2]string]string{
		{"sh", "24"}:  "sh-fallback,sh-port",
		{"mh", "8"}:   "mh-fallback",
		{"rr", "56"}:  "flag-1,flag-2,flag-3",
		{"sh", "32"}:  "",
		{"wlc", "16"}: "flag-2",
	}
	for k, want := range format {
		var f uint32
		fmt.Sscan(k[1], &f)
		if got := formatSchedFlags(k[0], f); got != want {
			t.Errorf("formatSchedFlags(%s, %#x) = %q, want %q", k[0], f, got, want)
		}
	}
}

func TestGenericOptCheck(t *testing.T) {
	tests := []struct {
		cmd  int
		opts []int
		want string
	}{
		{cmdAdd, []int{optService}, ""},
		{cmdAdd, nil, "You need to supply the 'service-address' option for the 'add-service' command"},
		{cmdAddDest, []int{optService}, "You need to supply the 'real-server' option for the 'add-server' command"},
		{cmdSave, []int{optNumeric, optService}, "Illegal 'service-address' option with the 'save' command"},
		{cmdList, []int{optConnection, optService}, "The option 'service-address' conflicts with the 'connection' option in the 'list' command"},
		{cmdList, []int{optTimeout, optDaemon}, "The option 'daemon' conflicts with the 'timeout' option in the 'list' command"},
		{cmdList, []int{optNumeric, optStats, optExact, optTunInfo}, ""},
	}
	for _, tt := range tests {
		var o uint64
		for _, b := range tt.opts {
			o |= 1 << b
		}
		err := genericOptCheck(tt.cmd, o)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("genericOptCheck(%s, %v) = %q, want %q", cmdNames[tt.cmd-1], tt.opts, got, tt.want)
		}
	}
}

func TestTakeGlobals(t *testing.T) {
	tests := []struct {
		args        []string
		rest        []string
		state, form string
		atomic      bool
		err         string
	}{
		{[]string{"x", "-L", "-n"}, []string{"x", "-L", "-n"}, defaultStateDir, "", false, ""},
		{[]string{"x", "--state", "/s", "-L"}, []string{"x", "-L"}, "/s", "", false, ""},
		{[]string{"x", "-L", "--state=/s", "-n"}, []string{"x", "-L", "-n"}, "/s", "", false, ""},
		{[]string{"x", "-L", "--format", "json"}, []string{"x", "-L"}, defaultStateDir, "json", false, ""},
		{[]string{"x", "-R", "--atomic"}, []string{"x", "-R"}, defaultStateDir, "", true, ""},
		{[]string{"x", "-L", "--", "--state", "y"}, []string{"x", "-L", "--", "--state", "y"}, defaultStateDir, "", false, ""},
		{[]string{"x", "-L", "--state"}, nil, "", "", false, "option --state needs a value"},
		{[]string{"x", "-L", "--format=xml"}, nil, "", "", false, "invalid --format `xml' (json or text)"},
	}
	for _, tt := range tests {
		o := newRootOptions(nil, nil, nil)
		rest, err := takeGlobals(o, tt.args)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("takeGlobals(%q) error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(rest, tt.rest) || o.stateDir != tt.state || o.format != tt.form || o.atomic != tt.atomic {
			t.Errorf("takeGlobals(%q) = %q (state %q format %q atomic %v), %v", tt.args, rest, o.stateDir, o.format, o.atomic, err)
		}
	}
}

func TestIsSubcommand(t *testing.T) {
	tests := map[string]bool{
		"x attach eth0":                 true,
		"x --state /s detach eth0":      true,
		"x --format=json status":        true,
		"x --format json status":        true,
		"x -L status":                   false,
		"x --set 900 120 300":           false,
		"x":                             false,
		"x -A -t 1.2.3.4:80 -s status":  false,
		"x --state status":              false,
		"x --state /s --format json -L": false,
	}
	for line, want := range tests {
		if got := isSubcommand(strings.Fields(line)); got != want {
			t.Errorf("isSubcommand(%q) = %v, want %v", line, got, want)
		}
	}
}
