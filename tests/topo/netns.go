package topo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xvs-lb/xvs/tests/deps"
)

// NetnsDir is where named network namespaces are bind-mounted, as with
// ip netns (/var/run is a link to /run).
const NetnsDir = "/run/netns"

// Netns is a named network namespace that this package created.
type Netns struct {
	Name string // the name under NetnsDir

	handle netns.NsHandle
	nl     *netlink.Handle
}

// RandSuffix returns n random bytes in hex, for names that do not clash
// with those of concurrent tests.
func RandSuffix(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// NewNetns creates the named network namespace name, brings its loopback
// up and registers its removal with env. The namespace is created on a
// locked OS thread that is thrown away: the caller's thread never changes
// namespace.
func NewNetns(env Env, name string) (*Netns, error) {
	if err := prepareNetnsDir(); err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime ends this thread when the
		// goroutine returns, instead of reusing it in the new namespace.
		runtime.LockOSThread()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		// NewNamed may have left the mount point behind.
		_ = netns.DeleteNamed(name)
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	n := &Netns{Name: name, handle: -1}
	env.Cleanup(func() {
		if err := n.remove(); err != nil {
			env.Errorf("remove netns %s: %v", name, err)
		}
	})
	h, err := netns.GetFromPath(n.Path())
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	n.handle = h
	if n.nl, err = netlink.NewHandleAt(h); err != nil {
		return nil, fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	lo, err := n.nl.LinkByName("lo")
	if err == nil {
		err = n.nl.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("set lo up in netns %s: %w", name, err)
	}
	return n, nil
}

// remove closes the handles and removes the name. The kernel frees the
// namespace, and destroys the veths in it, once nothing else (a socket, a
// process) holds it.
func (n *Netns) remove() error {
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if n.handle >= 0 {
		n.handle.Close()
		n.handle = -1
	}
	if err := netns.DeleteNamed(n.Name); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// Path is the namespace's file, for nsenter --net or setns.
func (n *Netns) Path() string { return filepath.Join(NetnsDir, n.Name) }

// Netlink returns a netlink handle working in the namespace. It stays
// owned by n.
func (n *Netns) Netlink() *netlink.Handle { return n.nl }

// Do runs f in the namespace, on a dedicated locked OS thread that is
// thrown away afterwards. Sockets f creates stay in the namespace and can
// be used from any goroutine. A panic in f is raised again in the caller.
// f must not call t.Fatal (it runs on another goroutine).
func (n *Netns) Do(f func() error) error {
	type result struct {
		err      error
		panicked bool
		val      any
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		var r result
		defer func() {
			if v := recover(); v != nil {
				r.panicked, r.val = true, v
			}
			done <- r
		}()
		if err := unix.Setns(int(n.handle), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("enter netns %s: %w", n.Name, err)
			return
		}
		r.err = f()
	}()
	r := <-done
	if r.panicked {
		panic(r.val)
	}
	return r.err
}

// Listen is net.Listen inside the namespace.
func (n *Netns) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// DialContext is d.DialContext inside the namespace.
func (n *Netns) DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Sysctl writes value to the sysctl key (e.g. "net.ipv4.ip_forward") of
// the namespace.
func (n *Netns) Sysctl(key, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("netns %s: sysctl %s=%s: %w", n.Name, key, value, err)
		}
		return nil
	})
}

// Sysctls writes several sysctls in the order given (key, value, key, value...).
func (n *Netns) Sysctls(kv ...string) error {
	if len(kv)%2 != 0 {
		return errors.New("sysctls: odd number of arguments")
	}
	for i := 0; i < len(kv); i += 2 {
		if err := n.Sysctl(kv[i], kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Command returns a command that runs name inside the namespace through
// nsenter --net. Unlike ip netns exec it keeps the mount namespace, so
// pins under /sys/fs/bpf stay visible. Like deps.Command, it fails to
// start when tests/deps/programs.list does not cover name.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	a := append([]string{"--net=" + n.Path(), "--", name}, args...)
	cmd := deps.Command(ctx, "nsenter", a...)
	if err := deps.Check(name); err != nil {
		cmd.Err = err
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// RunError is the error of a command that failed: its exit status and
// what it wrote to stderr.
type RunError struct {
	Args   []string
	Err    error
	Stderr string
}

func (e *RunError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Sprintf("%s: %v%s", strings.Join(e.Args, " "), e.Err, msg)
}

func (e *RunError) Unwrap() error { return e.Err }

// Run runs name inside the namespace and returns its stdout and stderr.
// The error is a *RunError when the command ran and failed.
func (n *Netns) Run(ctx context.Context, name string, args ...string) (stdout, stderr string, err error) {
	cmd := n.Command(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), e.String(), &RunError{Args: append([]string{name}, args...), Err: err, Stderr: e.String()}
	}
	return o.String(), e.String(), nil
}

// Start starts cmd (made by Command) and registers its end with env: it
// is killed by its process id, then waited for.
func Start(env Env, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	env.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return nil
}

// Forwarded returns how many IPv4 and IPv6 packets the kernel of n has
// forwarded (ForwDatagrams in /proc/net/snmp, Ip6OutForwDatagrams in
// /proc/net/snmp6). Packets an XDP program sends itself are not counted:
// a balancer's XDP program that handles everything leaves them unchanged.
func (n *Netns) Forwarded() (v4, v6 uint64, err error) {
	err = n.Do(func() error {
		// /proc/net is the namespace of the main thread: read the
		// thread's own.
		snmp, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		if v4, err = snmpField(string(snmp), "Ip:", "ForwDatagrams"); err != nil {
			return err
		}
		snmp6, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(snmp6), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Ip6OutForwDatagrams" {
				v6, err = strconv.ParseUint(f[1], 10, 64)
			}
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("netns %s: forwarding counters: %w", n.Name, err)
	}
	return v4, v6, err
}

// TCPCounters returns how many TCP segments the kernel of n has received
// (InSegs, IPv4 and IPv6 alike: the TCP MIB is shared) and how many
// connections it has accepted (PassiveOpens), from /proc/net/snmp.
func (n *Netns) TCPCounters() (inSegs, passiveOpens uint64, err error) {
	err = n.Do(func() error {
		snmp, err := os.ReadFile("/proc/thread-self/net/snmp") // the thread's namespace
		if err != nil {
			return err
		}
		if inSegs, err = snmpField(string(snmp), "Tcp:", "InSegs"); err != nil {
			return err
		}
		passiveOpens, err = snmpField(string(snmp), "Tcp:", "PassiveOpens")
		return err
	})
	if err != nil {
		err = fmt.Errorf("netns %s: TCP counters: %w", n.Name, err)
	}
	return inSegs, passiveOpens, err
}

// snmpField reads a counter of /proc/net/snmp: a section's first line
// names its fields, the second holds their values.
func snmpField(snmp, section, field string) (uint64, error) {
	var head []string
	for _, line := range strings.Split(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != section {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i := 1; i < len(f) && i < len(head); i++ {
			if head[i] == field {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("no %s %s in /proc/net/snmp", section, field)
}
