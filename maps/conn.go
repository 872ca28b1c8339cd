package maps

import "net/netip"

// Conn is one connection entry, as ipvsadm -L -c lists it.
type Conn struct {
	Proto   uint8          // unix.IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP
	Client  netip.AddrPort // source of the flow (a persistence template masks it)
	Virtual netip.AddrPort // the service's address
	Dest    netip.AddrPort // the real server chosen
	State   string         // IPVS state name: "ESTABLISHED", "SYN_RECV", "UDP", "NONE", ...
	Expires uint32         // seconds until the entry expires
	PEName  string         // persistence engine of a template ("" when none)
	PEData  string         // the engine's data (e.g. a SIP Call-ID)
}

// ConnLister is implemented by a Store that can list its connection
// entries (ipvsadm -L -c). A Store without it lists none.
type ConnLister interface {
	Conns() ([]Conn, error)
}
