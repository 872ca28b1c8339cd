package bpf

// Short names for the types bpf2go generates from xvs_types.h.
type (
	SvcKey  = XvsXvsSvcKey
	Svc     = XvsXvsSvc
	Real    = XvsXvsReal
	ConnKey = XvsXvsConnKey
	Conn    = XvsXvsConn
	Stats   = XvsXvsStats
	Cfg     = XvsXvsCfg
	Verdict = XvsXvsVerdict
	Sched   = XvsXvsSched
)

// Address families as stored in keys (enum xvs_af).
const (
	AFInet  = uint8(XvsXvsAfXVS_AF_INET)
	AFInet6 = uint8(XvsXvsAfXVS_AF_INET6)
)

// Forwarding methods (enum xvs_fwd), equal to IPVS's.
const (
	FwdMasq      = uint8(XvsXvsFwdXVS_FWD_MASQ)
	FwdLocalNode = uint8(XvsXvsFwdXVS_FWD_LOCALNODE)
	FwdTunnel    = uint8(XvsXvsFwdXVS_FWD_TUNNEL)
	FwdDRoute    = uint8(XvsXvsFwdXVS_FWD_DROUTE)
	FwdBypass    = uint8(XvsXvsFwdXVS_FWD_BYPASS)
)

// Service flags (enum xvs_svc_flag), equal to IPVS's IP_VS_SVC_F_*.
const (
	SvcPersistent = uint32(XvsXvsSvcFlagXVS_SVC_F_PERSISTENT)
	SvcHashed     = uint32(XvsXvsSvcFlagXVS_SVC_F_HASHED)
	SvcOnePacket  = uint32(XvsXvsSvcFlagXVS_SVC_F_ONEPACKET)
	SvcSched1     = uint32(XvsXvsSvcFlagXVS_SVC_F_SCHED1)
	SvcSched2     = uint32(XvsXvsSvcFlagXVS_SVC_F_SCHED2)
	SvcSched3     = uint32(XvsXvsSvcFlagXVS_SVC_F_SCHED3)
)

// RealInUse marks a configured slot of xvs_reals.
const RealInUse = uint32(XvsXvsRealFlagXVS_REAL_F_INUSE)

// Schedulers the datapath knows, by ipvsadm name.
var SchedByName = map[string]Sched{
	"rr": XvsXvsSchedXVS_SCHED_RR, "wrr": XvsXvsSchedXVS_SCHED_WRR,
	"lc": XvsXvsSchedXVS_SCHED_LC, "wlc": XvsXvsSchedXVS_SCHED_WLC,
	"lblc": XvsXvsSchedXVS_SCHED_LBLC, "lblcr": XvsXvsSchedXVS_SCHED_LBLCR,
	"dh": XvsXvsSchedXVS_SCHED_DH, "sh": XvsXvsSchedXVS_SCHED_SH,
	"sed": XvsXvsSchedXVS_SCHED_SED, "nq": XvsXvsSchedXVS_SCHED_NQ,
	"fo": XvsXvsSchedXVS_SCHED_FO, "ovf": XvsXvsSchedXVS_SCHED_OVF,
	"mh": XvsXvsSchedXVS_SCHED_MH,
}

// VerdictNames name the xvs_verdicts counters, in index order.
var VerdictNames = [...]string{
	XvsXvsVerdictXVS_V_PASS_NOT_IP:      "pass_not_ip",
	XvsXvsVerdictXVS_V_PASS_NO_VIP:      "pass_no_vip",
	XvsXvsVerdictXVS_V_PASS_FRAG:        "pass_fragment",
	XvsXvsVerdictXVS_V_PASS_PROTO:       "pass_protocol",
	XvsXvsVerdictXVS_V_PASS_UNSUPPORTED: "pass_unsupported",
	XvsXvsVerdictXVS_V_PASS_NO_REAL:     "pass_no_real",
	XvsXvsVerdictXVS_V_PASS_NO_NEIGH:    "pass_no_neighbour",
	XvsXvsVerdictXVS_V_PASS_FIB:         "pass_fib",
	XvsXvsVerdictXVS_V_PASS_MALFORMED:   "pass_malformed",
	XvsXvsVerdictXVS_V_TOO_BIG:          "too_big",
}

// RealPort0 marks a real of a port-0 service: its connections keep the
// packet's destination port (NAT does not rewrite it), as IPVS's.
const RealPort0 = uint32(XvsXvsRealFlagXVS_REAL_F_PORT0)
