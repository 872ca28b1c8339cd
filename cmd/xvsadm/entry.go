package main

import "net/netip"

// svcEntry is a virtual service as one command line describes it
// (ipvsadm's ipvs_service_t).
type svcEntry struct {
	af      int // 0 until an address or -f gives one
	proto   uint8
	addr    netip.Addr
	port    uint16
	fwmark  uint32
	sched   string
	flags   uint32
	timeout uint32
	netmask uint32 // IPv4: host-order mask; IPv6: prefix length
	pe      string
}

// destEntry is a real server as one command line describes it
// (ipvsadm's ipvs_dest_t).
type destEntry struct {
	af        int
	addr      netip.Addr
	port      uint16
	connFlags uint32
	weight    int64
	uthresh   uint32
	lthresh   uint32
	tunType   int
	tunPort   uint16
	tunFlags  uint16
}

// daemonEntry is a sync daemon as --start-daemon describes it.
type daemonEntry struct {
	state      int
	mcastIfn   string
	syncID     int
	syncMaxlen int
	mcastGroup netip.Addr // invalid: the kernel's default group
	mcastPort  int
	mcastTTL   int
}

// commandEntry is one parsed command line (ipvsadm's ipvs_command_entry
// with its option set and listing format).
type commandEntry struct {
	cmd      int
	svc      svcEntry
	dest     destEntry
	timeouts [3]int64 // --set tcp tcpfin udp
	daemon   daemonEntry
	options  uint64
	format   uint32
}

// newCommandEntry has ipvsadm's defaults: weight 1, direct routing, the
// ipip tunnel type, a /32 persistence mask.
func newCommandEntry() *commandEntry {
	ce := &commandEntry{}
	ce.dest.weight = 1
	ce.dest.connFlags = fwdDRoute
	ce.svc.netmask = 0xffffffff
	return ce
}

func (ce *commandEntry) setCommand(cmd int) error {
	if ce.cmd != cmdNone {
		return failf(2, "multiple commands specified")
	}
	ce.cmd = cmd
	return nil
}

func (ce *commandEntry) setOption(opt int) error {
	if ce.options&(1<<opt) != 0 {
		return failf(2, "multiple '%s' options specified", optNames[opt])
	}
	ce.options |= 1 << opt
	return nil
}

func (ce *commandEntry) has(opt int) bool { return ce.options&(1<<opt) != 0 }
