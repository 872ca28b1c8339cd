// Command demo shows xvs balancing real HTTP traffic in direct-routing
// mode: it builds a client, a balancer and three real servers in network
// namespaces on one bridge, configures a virtual service with ipvsadm
// commands through xvsadm, attaches the XDP program and sends requests
// from several client addresses. It removes everything it made when it
// ends, also on error or Ctrl-C. Run it as root (make demo):
//
//	go build -o bin/xvsadm ./cmd/xvsadm && go run ./tests/demo -xvsadm bin/xvsadm
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xvs-lb/xvs/tests/topo"
)

func main() {
	var o options
	flag.StringVar(&o.xvsadm, "xvsadm", "bin/xvsadm", "path of the xvsadm binary")
	flag.StringVar(&o.mode, "mode", "auto", "XDP attach mode: auto, native or generic")
	flag.IntVar(&o.requests, "requests", 30, "number of HTTP requests")
	flag.IntVar(&o.clients, "clients", 10, "number of client source addresses the requests come from")
	flag.BoolVar(&o.ipv6, "6", false, "use the IPv6 VIP")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second Ctrl-C ends the demo at once
	err := run(ctx, &o)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	xvsadm   string
	mode     string
	requests int
	clients  int
	ipv6     bool
}

func run(ctx context.Context, o *options) (err error) {
	if why := topo.Missing(); why != "" {
		return errors.New(why)
	}
	bin, err := filepath.Abs(o.xvsadm)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("xvsadm binary: %w (build it with: go build -o bin/xvsadm ./cmd/xvsadm)", err)
	}
	if o.clients < 1 || o.clients > 64 || o.requests < 1 {
		return errors.New("want 1 to 64 clients and at least 1 request")
	}

	var c topo.Cleanups
	defer func() {
		fmt.Println("\n# cleaning up: detach, remove pins, namespaces, veths and servers")
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}()

	d, err := topo.NewDR(&c, topo.DROptions{Sources: o.clients})
	if err != nil {
		return err
	}
	vip := topo.VIP4
	if o.ipv6 {
		vip = topo.VIP6
	}
	srcs := d.Sources(vip)
	svc := netip.AddrPortFrom(vip, 80).String()
	fmt.Printf("# topology: namespaces xvs-%s-* on one bridge (xvs-%s-sw)\n", d.Suffix, d.Suffix)
	fmt.Printf("#   client  %-12s sources %s..%s, routes VIP %s via lb\n", d.Client.Addr(vip), srcs[0], srcs[len(srcs)-1], vip)
	fmt.Printf("#   lb      %-12s the balancer (%s)\n", d.LB.Addr(vip), topo.Iface)
	for _, r := range d.Reals {
		fmt.Printf("#   %-7s %-12s VIP %s on lo, HTTP on :80, answers %q\n", r.Name, r.Addr(vip), vip, r.Name+"\n")
	}
	if err := d.ResolveReals(ctx); err != nil {
		return err
	}

	state, err := topo.StateDir(&c, "xvs-demo-")
	if err != nil {
		return err
	}
	x := &xvsadm{ns: d.LB.NS, bin: bin, state: state}
	c.Cleanup(func() {
		if mode, _, err := topo.XDPAttached(d.LB.NS, topo.Iface); err == nil && mode != topo.XDPNone {
			// Not ctx: it may be the cancelled one.
			if _, err := x.run(context.Background(), "detach", topo.Iface); err != nil {
				c.Errorf("detach: %v", err)
			}
		}
	})
	fmt.Printf("# every command runs in the lb namespace as: xvsadm --state %s ...\n\n", state)

	cmds := [][]string{
		{"attach", topo.Iface, "--mode", o.mode},
		{"-A", "-t", svc, "-s", "mh"},
	}
	for _, r := range d.Reals {
		cmds = append(cmds, []string{"-a", "-t", svc, "-r", netip.AddrPortFrom(r.Addr(vip), 80).String(), "-g", "-w", "1"})
	}
	cmds = append(cmds, []string{"-L", "-n"}, []string{"status"})
	for _, a := range cmds {
		if _, err := x.run(ctx, a...); err != nil {
			return err
		}
	}

	fmt.Printf("\n# %d HTTP requests from %d client addresses\n", o.requests, len(srcs))
	perReal := map[string]int{}
	clientsOf := map[string]map[netip.Addr]bool{}
	failed := 0
	target := netip.AddrPortFrom(vip, 80)
	for i := range o.requests {
		src := srcs[i%len(srcs)]
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		name, err := topo.Get(rctx, d.Client.NS, src, target)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed++
			fmt.Printf("client %-12s -> VIP %s FAILED: %v\n", src, target, err)
			continue
		}
		fmt.Printf("client %-12s -> VIP %s answered by %s\n", src, target, name)
		perReal[name]++
		if clientsOf[name] == nil {
			clientsOf[name] = map[netip.Addr]bool{}
		}
		clientsOf[name][src] = true
	}

	fmt.Println("\n# per real server")
	for _, r := range d.Reals {
		n := perReal[r.Name]
		fmt.Printf("%-4s %3d requests (%3.0f%%) from %d client addresses\n",
			r.Name, n, 100*float64(n)/float64(o.requests), len(clientsOf[r.Name]))
	}
	if failed > 0 {
		fmt.Printf("FAILED %d of %d requests\n", failed, o.requests)
	}
	fmt.Println()
	if _, err := x.run(ctx, "-L", "-n", "--stats"); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, o.requests)
	}
	return nil
}

// xvsadm runs xvsadm in a namespace and prints each command and its
// output like a shell transcript.
type xvsadm struct {
	ns    *topo.Netns
	bin   string
	state string
}

func (x *xvsadm) run(ctx context.Context, args ...string) (string, error) {
	fmt.Printf("lb# xvsadm %s\n", strings.Join(args, " "))
	stdout, stderr, err := x.ns.Run(ctx, x.bin, append([]string{"--state", x.state}, args...)...)
	fmt.Print(stdout)
	if stderr != "" {
		fmt.Fprint(os.Stderr, stderr)
	}
	if err != nil {
		return stdout, fmt.Errorf("xvsadm %s: %w", strings.Join(args, " "), err)
	}
	return stdout, nil
}
