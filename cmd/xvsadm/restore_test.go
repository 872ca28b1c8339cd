package main

import (
	"reflect"
	"strings"
	"testing"
)

// readRules reads all lines of a rule file as "line:word word" strings.
func readRules(in string) []string {
	rr := newRuleReader(strings.NewReader(in))
	var out []string
	for {
		argv, line, ok := rr.next("P")
		if !ok {
			return out
		}
		out = append(out, strings.Join(append([]string{string(rune('0' + line))}, argv[1:]...), " "))
	}
}

func TestRuleReader(t *testing.T) {
	long := strings.Repeat("x", maxTokenLen)
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"-C\n", []string{"1 -C"}},
		{"-C", []string{"1 -C"}},
		{"-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 5.6.7.8\n", []string{"1 -A -t 1.2.3.4:80", "2 -a -t 1.2.3.4:80 -r 5.6.7.8"}},
		{"\n-C\n", []string{"1", "2 -C"}},
		{"  \t-C  \r\n", []string{"1 -C"}},
		{"-C\r\n-Z\r\n", []string{"1 -C", "2 -Z"}},
		{"ipvsadm -C\n", []string{"1 -C"}},
		{"ipvsadm\n-C\n", []string{"1", "2 -C"}},
		{"-C ipvsadm -n\n", []string{"1 -C -n"}},
		// '#' starts no comment in ipvsadm.
		{"# comment\n", []string{"1 # comment"}},
		{"-C # comment\n", []string{"1 -C # comment"}},
		// Two blanks (one ends the word) before the end of input end the
		// reading, line and all.
		{"-C \n-Z ", []string{"1 -C", "2 -Z"}},
		{"-C \n-Z  ", []string{"1 -C"}},
		{"-C  ", nil},
		{"-C\n\n\n", []string{"1 -C", "2", "3"}},
		{"-C\n   ", []string{"1 -C"}},
		// Words longer than MAX_LINE_LENGTH split.
		{long + "y\n", []string{"1 " + long + " y"}},
	}
	for _, tt := range tests {
		if got := readRules(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("readRules(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name  string
		input string
		save  string
		err   string
		rc    int
	}{{
		name:  "rules",
		input: "-A -t 1.2.3.4:80 -s rr\n-a -t 1.2.3.4:80 -r 5.6.7.8:80 -m -w 3\n",
		save:  "-A -t 1.2.3.4:80 -s rr\n-a -t 1.2.3.4:80 -r 5.6.7.8:80 -m -w 3\n",
	}, {
		name:  "a failed change goes on; the status is the last line's",
		input: "-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n-A -t 1.2.3.5:80\n",
		save:  "-A -t 1.2.3.4:80 -s wlc\n-A -t 1.2.3.5:80 -s wlc\n",
		err:   "Service already exists\n",
	}, {
		name:  "a failed last line sets the status",
		input: "-A -t 1.2.3.4:80\n-D -t 1.2.3.5:80\n",
		save:  "-A -t 1.2.3.4:80 -s wlc\n",
		err:   "No such service\n",
		rc:    255,
	}, {
		name:  "a bad option ends the restore",
		input: "-A -t 1.2.3.4:80\n-Q\n-A -t 1.2.3.5:80\n",
		save:  "-A -t 1.2.3.4:80 -s wlc\n",
		err:   "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
		rc:    255,
	}, {
		name:  "a bad value ends the restore",
		input: "-A -t 1.2.3.4:80\n-A -t 1.2.3.5:80 -p x\n-A -t 1.2.3.6:80\n",
		save:  "-A -t 1.2.3.4:80 -s wlc\n",
		err:   "invalid timeout value `x' specified\n",
		rc:    2,
	}, {
		name:  "popt errors after the command go on",
		input: "-A -t 1.2.3.4:80 --bogus\n-A -t 1.2.3.5:80\n",
		save:  "-A -t 1.2.3.5:80 -s wlc\n",
		err:   "--bogus: unknown option\n",
	}, {
		name:  "-R inside -R",
		input: "-R\n-A -t 1.2.3.5:80\n",
		err:   "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
		rc:    255,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			out, errs, rc := e.runLine(tt.input, "-R")
			if out != "" || errs != tt.err || rc != tt.rc {
				t.Errorf("-R: stdout %q stderr %q rc %d, want \"\" %q %d", out, errs, rc, tt.err, tt.rc)
			}
			if save, _, _ := e.runLine("", "-S -n"); save != tt.save {
				t.Errorf("saved %q, want %q", save, tt.save)
			}
		})
	}
}
