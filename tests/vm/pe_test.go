package vm

import (
	"strings"
	"testing"
)

// TestInVMPE: a persistence engine (--pe sip) set, dropped and set again
// with xvsadm reaches kernel IPVS (ipvsadm -S -n equals xvsadm -S -n after
// each step), one dropped behind xvsadm's back (ipvsadm -E) shows as
// drift and sync puts it back, and import brings one made with ipvsadm.
func TestInVMPE(t *testing.T) {
	requireVM(t)
	b := newBox(t)
	const sip = "-A -u 10.1.0.1:5060 -s rr -p 60 --pe sip\n"
	steps := []struct {
		name string
		args []string
		// want is in ipvsadm -S -n, or (wantNot) not.
		want, wantNot string
	}{
		{"add sip service", []string{"-A", "-u", "10.1.0.1:5060", "-s", "rr", "-p", "60", "--pe", "sip"}, sip, ""},
		{"add real", []string{"-a", "-u", "10.1.0.1:5060", "-r", "10.2.0.1:5060", "-m"}, sip, ""},
		{"edit real", []string{"-e", "-u", "10.1.0.1:5060", "-r", "10.2.0.1:5060", "-m", "-w", "4"}, sip, ""},
		{"drop the engine", []string{"-E", "-u", "10.1.0.1:5060", "-s", "rr", "-p", "60"}, "-A -u 10.1.0.1:5060 -s rr -p 60\n", "--pe"},
		{"add it back", []string{"-E", "-u", "10.1.0.1:5060", "-s", "wrr", "-p", "120", "--pe", "sip"}, "-A -u 10.1.0.1:5060 -s wrr -p 120 --pe sip\n", ""},
		{"add fwmark sip", []string{"-A", "-f", "5", "-s", "sh", "-p", "--pe", "sip"}, "-A -f 5 -s sh -p 360 --pe sip\n", ""},
		{"add ipv6 sip", []string{"-A", "-u", "[fd00::5]:5060", "-s", "rr", "-p", "30", "--pe", "sip"}, "-A -u [fd00::5]:5060 -s rr -p 30 --pe sip\n", ""},
	}
	for _, s := range steps {
		b.xvsadm("", s.args...)
		b.sameSave(s.name)
		k := b.ipvsadm("", "-S", "-n")
		if !strings.Contains(k, s.want) || (s.wantNot != "" && strings.Contains(k, s.wantNot)) {
			t.Errorf("after %s: kernel IPVS has not %q (and not %q):\n%s", s.name, s.want, s.wantNot, k)
		}
	}
	if st := b.xvsadm("", "drift"); !strings.Contains(st, "kernel IPVS: present, mirrored, in step") {
		t.Errorf("not in step:\n%s", st)
	}

	// ipvsadm -E without --pe drops the engine: drift, then sync.
	b.ipvsadm("", "-E", "-u", "10.1.0.1:5060", "-s", "wrr", "-p", "120")
	st := b.xvsadm("", "drift")
	want := "drift: UDP 10.1.0.1:5060: settings differ (maps: scheduler wrr, flags 0x1, timeout 120, netmask /32, pe sip; kernel: scheduler wrr, flags 0x1, timeout 120, netmask /32)"
	if !strings.Contains(st, want) {
		t.Errorf("drift lacks %q:\n%s", want, st)
	}
	b.xvsadm("", "sync")
	b.sameSave("sync")
	if st := b.xvsadm("", "drift"); !strings.Contains(st, "in step") {
		t.Errorf("still drifting after sync:\n%s", st)
	}

	// Import of services made with ipvsadm --pe sip.
	b2 := newBox(t)
	b2.ipvsadm("-A -u 10.3.0.1:5060 -s rr -p 60 --pe sip\n-a -u 10.3.0.1:5060 -r 10.4.0.1:5060 -m -w 2\n"+
		"-A -f 6 -s rr -p 90 --pe sip\n-A -t 10.3.0.2:80 -s rr -p 30\n", "-R")
	st = b2.xvsadm("", "drift")
	if !strings.Contains(st, "drift: UDP 10.3.0.1:5060: in kernel IPVS, not in the maps") {
		t.Errorf("no drift before import:\n%s", st)
	}
	b2.xvsadm("", "import")
	b2.sameSave("import")
	x := b2.xvsadm("", "-S", "-n")
	for _, want := range []string{"-A -u 10.3.0.1:5060 -s rr -p 60 --pe sip\n", "-A -f 6 -s rr -p 90 --pe sip\n", "-A -t 10.3.0.2:80 -s rr -p 30\n"} {
		if !strings.Contains(x, want) {
			t.Errorf("import: xvsadm -S -n lacks %q:\n%s", want, x)
		}
	}
	if st := b2.xvsadm("", "drift"); !strings.Contains(st, "in step") {
		t.Errorf("drift after import:\n%s", st)
	}
}
