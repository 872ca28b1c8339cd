package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/xvs-lb/xvs/maps"
)

// The reference: ipvsadm 1.31 against kernel IPVS 1.2.1, each command
// captured with its stdout, stderr and exit status (testdata/ipvsadm-ref,
// a copy of shared/ipvsadm-ref; INDEX.md describes it). Blocks 001-127,
// 201-219 and 301-313 each ran in order on a fresh kernel.

// refSalt is the IPVS service-table hash salt of the reference machine,
// as its --nosort listing (208) shows.
const refSalt = 224

// refExcluded are the steps that cannot match, and why.
var refExcluded = map[int]string{
	64:  "--rate shows the kernel's rate estimates of the reference's traffic; xvs keeps no rate estimator (rates print as 0)",
	211: "traffic generator (nc), not an ipvsadm command",
	212: "traffic generator (nc), not an ipvsadm command",
	304: "traffic generator (httpget, nc), not an ipvsadm command; its effect is loaded into the store before 305",
}

// refHooks change the store before a step the way the reference's traffic
// and clock did: the counters, connection counts and entries the datapath
// would report.
var refHooks = map[int]func(t *testing.T, st *testStore){
	// Between 058 and 059: 4 TCP SYNs to 207.175.44.110:80, 2 UDP
	// datagrams to 207.175.44.110:53 (to reals of weight 0 and 65535:
	// nothing counted), 1 TCP SYN to 10.0.0.8:80.
	59: func(t *testing.T, st *testStore) {
		syn := maps.Stats{Conns: 1, InPkts: 1, InBytes: 60}
		setSvc(t, st, "TCP 207.175.44.110:80", maps.Stats{Conns: 4, InPkts: 4, InBytes: 240})
		setDest(t, st, "TCP 207.175.44.110:80", "192.168.10.1:80", syn, 1, 0, 0)
		setDest(t, st, "TCP 207.175.44.110:80", "192.168.10.2:80", syn, 1, 0, 0)
		setDest(t, st, "TCP 207.175.44.110:80", "192.168.10.3:80", maps.Stats{Conns: 2, InPkts: 2, InBytes: 120}, 2, 0, 0)
		setSvc(t, st, "TCP 10.0.0.8:80", syn)
		setDest(t, st, "TCP 10.0.0.8:80", "10.1.8.2:80", syn, 1, 0, 0)
		st.conns = []maps.Conn{
			tcpSynRecv("10.99.0.1:45808", "207.175.44.110:80", "192.168.10.3:80", 55),
			tcpSynRecv("10.99.0.1:45824", "207.175.44.110:80", "192.168.10.2:80", 55),
			tcpSynRecv("10.99.0.1:45834", "207.175.44.110:80", "192.168.10.1:80", 55),
			tcpSynRecv("10.99.0.1:45812", "207.175.44.110:80", "192.168.10.3:80", 55),
			tcpSynRecv("10.99.0.1:57340", "10.0.0.8:80", "10.1.8.2:80", 55),
		}
	},
	// Step 304's traffic: 3 UDP datagrams to 207.175.44.110:53 (one
	// persistence template), 2 to the one-packet 10.0.0.20:5000, 2 TCP
	// SYNs to 207.175.44.110:80.
	305: func(t *testing.T, st *testStore) {
		syn := maps.Stats{Conns: 1, InPkts: 1, InBytes: 60}
		setSvc(t, st, "TCP 207.175.44.110:80", maps.Stats{Conns: 2, InPkts: 2, InBytes: 120})
		setDest(t, st, "TCP 207.175.44.110:80", "192.168.10.2:80", syn, 1, 0, 0)
		setDest(t, st, "TCP 207.175.44.110:80", "192.168.10.3:80", syn, 1, 0, 0)
		dns := maps.Stats{Conns: 3, InPkts: 3, InBytes: 99}
		setSvc(t, st, "UDP 207.175.44.110:53", dns)
		setDest(t, st, "UDP 207.175.44.110:53", "192.168.20.2:53", dns, 0, 3, 1)
		ops := maps.Stats{Conns: 2, InPkts: 2, InBytes: 66}
		setSvc(t, st, "UDP 10.0.0.20:5000", ops)
		setDest(t, st, "UDP 10.0.0.20:5000", "10.1.20.1:5000", ops, 0, 0, 0)
		st.conns = []maps.Conn{
			tcpSynRecv("10.99.0.1:55050", "207.175.44.110:80", "192.168.10.3:80", 58),
			udpConn("NONE", "10.99.0.0:0", 298),
			tcpSynRecv("10.99.0.1:55034", "207.175.44.110:80", "192.168.10.2:80", 58),
			udpConn("UDP", "10.99.0.1:38689", 298),
			udpConn("UDP", "10.99.0.1:53714", 298),
			udpConn("UDP", "10.99.0.1:43371", 298),
		}
	},
	// A second passes between 307 and 308.
	308: func(t *testing.T, st *testStore) {
		for i := range st.conns {
			st.conns[i].Expires--
		}
	},
}

func tcpSynRecv(client, vip, real string, expires uint32) maps.Conn {
	return maps.Conn{Proto: protoTCP, Client: netip.MustParseAddrPort(client), Virtual: netip.MustParseAddrPort(vip),
		Dest: netip.MustParseAddrPort(real), State: "SYN_RECV", Expires: expires}
}

func udpConn(state, client string, expires uint32) maps.Conn {
	return maps.Conn{Proto: protoUDP, Client: netip.MustParseAddrPort(client), Virtual: netip.MustParseAddrPort("207.175.44.110:53"),
		Dest: netip.MustParseAddrPort("192.168.20.2:53"), State: state, Expires: expires}
}

// findSvc finds "TCP addr:port" in the store.
func findSvc(t *testing.T, st *testStore, name string) *maps.ServiceEntry {
	t.Helper()
	proto, ap, _ := strings.Cut(name, " ")
	key := maps.Service{Proto: map[string]uint8{"TCP": protoTCP, "UDP": protoUDP}[proto]}
	p := netip.MustParseAddrPort(ap)
	key.Addr, key.Port = p.Addr(), p.Port()
	e := st.Cfg.Service(&key)
	if e == nil {
		t.Fatalf("no service %s in the store", name)
	}
	return e
}

func setSvc(t *testing.T, st *testStore, name string, s maps.Stats) { findSvc(t, st, name).Stats = s }

func setDest(t *testing.T, st *testStore, svc, dest string, s maps.Stats, active, inact, persist uint32) {
	t.Helper()
	p := netip.MustParseAddrPort(dest)
	d := findSvc(t, st, svc).Dest(&maps.Dest{Addr: p.Addr(), Port: p.Port()})
	if d == nil {
		t.Fatalf("no real %s in %s", dest, svc)
	}
	d.Stats, d.ActiveConns, d.InactConns, d.PersistConns = s, active, inact, persist
}

// refStep is one captured command.
type refStep struct {
	num                 int
	label               string
	cmd, stdout, stderr string
	rc                  int
}

func loadRefSteps(t *testing.T) []refStep {
	t.Helper()
	dir := filepath.Join("testdata", "ipvsadm-ref")
	cmds, err := filepath.Glob(filepath.Join(dir, "*.cmd"))
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no reference captures in %s: %v", dir, err)
	}
	sort.Strings(cmds)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		return string(b)
	}
	var steps []refStep
	for _, c := range cmds {
		base := strings.TrimSuffix(c, ".cmd")
		name := filepath.Base(base)
		num, err := strconv.Atoi(name[:3])
		if err != nil {
			t.Fatalf("bad capture name %s", name)
		}
		rc, err := strconv.Atoi(strings.TrimSpace(read(base + ".rc")))
		if err != nil {
			t.Fatalf("bad exit status in %s.rc", base)
		}
		steps = append(steps, refStep{
			num: num, label: name, cmd: strings.TrimSuffix(read(c), "\n"),
			stdout: read(base + ".out"), stderr: read(base + ".err"), rc: rc,
		})
	}
	return steps
}

// TestIpvsadmReference replays every captured command, block by block on a
// fresh store, and compares stdout, stderr and the exit status byte for
// byte.
func TestIpvsadmReference(t *testing.T) {
	steps := loadRefSteps(t)
	var env *testEnv
	var sh *refShell
	block, matched, compared := -1, 0, 0
	for _, st := range steps {
		// Blocks: 001-127, 201-219, 301-313, each on a fresh machine.
		if b := max(st.num/100, 1); b != block {
			block = b
			e := newTestEnv(t)
			e.salt = refSalt
			env = e
			sh = &refShell{files: map[string][]byte{}, ipvsadm: func(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
				return runWith(e.options(stdin, stdout, stderr), args)
			}}
		}
		if hook := refHooks[st.num]; hook != nil {
			hook(t, env.store)
		}
		if why, ok := refExcluded[st.num]; ok {
			t.Logf("%s: excluded: %s", st.label, why)
			continue
		}
		compared++
		out, errs, rc, err := sh.run(st.cmd)
		if errors.Is(err, errUnsupported) {
			t.Errorf("%s: cannot run %q: %v", st.label, st.cmd, err)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", st.label, err)
			continue
		}
		ok := true
		if out != st.stdout {
			ok = false
			t.Errorf("%s: %s\nstdout differs:\n%s", st.label, st.cmd, lineDiff(st.stdout, out))
		}
		if errs != st.stderr {
			ok = false
			t.Errorf("%s: %s\nstderr: got %q, want %q", st.label, st.cmd, errs, st.stderr)
		}
		if rc != st.rc {
			ok = false
			t.Errorf("%s: %s\nexit status: got %d, want %d", st.label, st.cmd, rc, st.rc)
		}
		if ok {
			matched++
		}
	}
	t.Logf("matched %d of %d reference steps (%d compared, %d excluded)", matched, len(steps), compared, len(refExcluded))
}

// lineDiff shows the first differing lines of want and got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b bytes.Buffer
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 8; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want " + strconv.Quote(wl) + "\n  got  " + strconv.Quote(gl) + "\n")
			shown++
		}
	}
	return b.String()
}
