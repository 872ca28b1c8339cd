package main

import (
	"fmt"
	"io"

	"github.com/xvs-lb/xvs/maps"
)

// listConns is ipvsadm's list_conn: the connection entries the store has
// (none when it cannot list them).
func (s *session) listConns(format uint32) error {
	st, err := s.open()
	if err != nil {
		return err
	}
	var conns []maps.Conn
	if cl, ok := st.(maps.ConnLister); ok {
		if conns, err = cl.Conns(); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("list connections: %v", err)}
		}
	}
	if s.o.format == formatJSON {
		return writeJSONValue(s.o.stdout, jsonConnList(conns))
	}
	w := s.o.stdout
	fmt.Fprintln(w, "IPVS connection entries")
	if format&fmtPersistentConn != 0 {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for i := range conns {
		s.printConn(w, &conns[i], format)
	}
	return nil
}

// connProtoName is how /proc/net/ip_vs_conn names a protocol.
func connProtoName(proto uint8) string {
	switch proto {
	case protoTCP, protoUDP, protoSCTP:
		return protocolName(proto)
	case 1:
		return "ICMP"
	case 58:
		return "ICMPv6"
	}
	return fmt.Sprintf("IP_%02d", proto)
}

// printConn is ipvsadm's print_conn.
func (s *session) printConn(w io.Writer, c *maps.Conn, format uint32) {
	af := afOf(c.Client.Addr())
	cname := s.addrPortName(af, c.Client.Addr(), c.Client.Port(), c.Proto, format)
	vname := s.addrPortName(af, c.Virtual.Addr(), c.Virtual.Port(), c.Proto, format)
	dname := s.addrPortName(afOf(c.Dest.Addr()), c.Dest.Addr(), c.Dest.Port(), c.Proto, format)
	expire := fmt.Sprintf("%02d:%02d", c.Expires/60, c.Expires%60)
	proto := connProtoName(c.Proto)
	if format&fmtPersistentConn != 0 && c.PEName != "" {
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %-16s %-18s %s\n",
			proto, expire, c.State, cname, vname, dname, c.PEName, c.PEData)
		return
	}
	fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", proto, expire, c.State, cname, vname, dname)
}
