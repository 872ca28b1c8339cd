package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// nameService answers the libc look-ups ipvsadm makes: gethostbyname,
// gethostbyaddr, getservbyname and getservbyport.
type nameService interface {
	// hostAddr4 is the first IPv4 address of a host name.
	hostAddr4(name string) (netip.Addr, bool)
	// hostName is the canonical name of an address.
	hostName(a netip.Addr) (string, bool)
	// servicePort is the port of a service name for protocol ("tcp", "udp", "sctp").
	servicePort(name, proto string) (uint16, bool)
	// serviceName is the name of a port for protocol.
	serviceName(port uint16, proto string) (string, bool)
}

// protoName is the protocol name services are listed under, or "".
func protoName(proto uint8) string {
	switch proto {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoSCTP:
		return "sctp"
	}
	return ""
}

// serviceEntry is one line of a services(5) file.
type serviceEntry struct {
	name    string
	port    uint16
	proto   string
	aliases []string
}

// serviceTable is a parsed services(5) file, in file order.
type serviceTable []serviceEntry

// parseServices reads a services(5) file: "name port/proto [aliases...]",
// '#' starting a comment. Malformed lines are skipped, as libc does.
func parseServices(r io.Reader) serviceTable {
	var t serviceTable
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto == "" {
			continue
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			continue
		}
		t = append(t, serviceEntry{name: f[0], port: uint16(port), proto: proto, aliases: f[2:]})
	}
	return t
}

func (t serviceTable) servicePort(name, proto string) (uint16, bool) {
	for _, e := range t {
		if e.proto != proto {
			continue
		}
		if e.name == name {
			return e.port, true
		}
		for _, a := range e.aliases {
			if a == name {
				return e.port, true
			}
		}
	}
	return 0, false
}

func (t serviceTable) serviceName(port uint16, proto string) (string, bool) {
	for _, e := range t {
		if e.port == port && e.proto == proto {
			return e.name, true
		}
	}
	return "", false
}

// systemNames asks the system: the resolver (as configured in
// nsswitch.conf and resolv.conf) and /etc/services.
type systemNames struct {
	servicesFile string
	timeout      time.Duration
	once         sync.Once
	services     serviceTable
}

func newSystemNames() *systemNames {
	return &systemNames{servicesFile: "/etc/services", timeout: 10 * time.Second}
}

func (s *systemNames) table() serviceTable {
	s.once.Do(func() {
		f, err := os.Open(s.servicesFile)
		if err != nil {
			return
		}
		defer f.Close()
		s.services = parseServices(f)
	})
	return s.services
}

func (s *systemNames) hostAddr4(name string) (netip.Addr, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	return ips[0].Unmap(), true
}

func (s *systemNames) hostName(a netip.Addr) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
	if err != nil || len(names) == 0 {
		return "", false
	}
	return strings.TrimSuffix(names[0], "."), true
}

func (s *systemNames) servicePort(name, proto string) (uint16, bool) {
	return s.table().servicePort(name, proto)
}

func (s *systemNames) serviceName(port uint16, proto string) (string, bool) {
	return s.table().serviceName(port, proto)
}
