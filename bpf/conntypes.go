package bpf

// Short names for the connection-tracking types of conn.h.
type (
	RealConns = XvsXvsRealConns
	Sweep     = XvsXvsSweep
)

// ConnInactive marks an entry not counted in its real's active connections (IP_VS_CONN_F_INACTIVE).
const ConnInactive = uint8(XvsXvsConnFlagXVS_CONN_F_INACTIVE)

// ConnTemplate marks a persistence template (its key has pad[0] = 1 and source port 0; Pad counts the connections it controls).
const ConnTemplate = uint8(XvsXvsConnFlagXVS_CONN_F_TEMPLATE)

// TCPStateNames are IPVS's names of the TCP states (enum xvs_conn_state), as ipvsadm -L -c prints them.
var TCPStateNames = [...]string{
	XvsXvsConnStateXVS_TCP_S_NONE:        "NONE",
	XvsXvsConnStateXVS_TCP_S_ESTABLISHED: "ESTABLISHED",
	XvsXvsConnStateXVS_TCP_S_SYN_SENT:    "SYN_SENT",
	XvsXvsConnStateXVS_TCP_S_SYN_RECV:    "SYN_RECV",
	XvsXvsConnStateXVS_TCP_S_FIN_WAIT:    "FIN_WAIT",
	XvsXvsConnStateXVS_TCP_S_TIME_WAIT:   "TIME_WAIT",
	XvsXvsConnStateXVS_TCP_S_CLOSE:       "CLOSE",
	XvsXvsConnStateXVS_TCP_S_CLOSE_WAIT:  "CLOSE_WAIT",
	XvsXvsConnStateXVS_TCP_S_LAST_ACK:    "LAST_ACK",
	XvsXvsConnStateXVS_TCP_S_LISTEN:      "LISTEN",
	XvsXvsConnStateXVS_TCP_S_SYNACK:      "SYNACK",
}
