package main

// Values of kernel IPVS's user ABI that ipvsadm speaks. maps.Service.Flags,
// maps.Dest.Fwd and the tunnel fields hold these same values (the datapath's
// shared header declares them identically).
const (
	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6

	protoTCP  = 6   // IPPROTO_TCP
	protoUDP  = 17  // IPPROTO_UDP
	protoSCTP = 132 // IPPROTO_SCTP

	svcPersistent = 0x0001 // IP_VS_SVC_F_PERSISTENT
	svcOnePacket  = 0x0004 // IP_VS_SVC_F_ONEPACKET
	svcSched1     = 0x0008 // IP_VS_SVC_F_SCHED1 (sh-fallback, mh-fallback)
	svcSched2     = 0x0010 // IP_VS_SVC_F_SCHED2 (sh-port, mh-port)
	svcSched3     = 0x0020 // IP_VS_SVC_F_SCHED3
	svcSchedMask  = svcSched1 | svcSched2 | svcSched3

	fwdMask      = 0x0007 // IP_VS_CONN_F_FWD_MASK
	fwdMasq      = 0      // IP_VS_CONN_F_MASQ
	fwdLocalNode = 1      // IP_VS_CONN_F_LOCALNODE
	fwdTunnel    = 2      // IP_VS_CONN_F_TUNNEL
	fwdDRoute    = 3      // IP_VS_CONN_F_DROUTE

	tunIPIP = 0 // IP_VS_CONN_F_TUNNEL_TYPE_IPIP
	tunGUE  = 1 // IP_VS_CONN_F_TUNNEL_TYPE_GUE
	tunGRE  = 2 // IP_VS_CONN_F_TUNNEL_TYPE_GRE
	tunMax  = 3

	tunFlagNoCsum  = 0      // IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM
	tunFlagCsum    = 1 << 0 // IP_VS_TUNNEL_ENCAP_FLAG_CSUM
	tunFlagRemCsum = 1 << 1 // IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM

	stateMaster = 1 // IP_VS_STATE_MASTER
	stateBackup = 2 // IP_VS_STATE_BACKUP

	defaultSched      = "wlc"
	defaultTunnelType = "ipip"
	defaultMcastIfn   = "eth0"
	persistTimeout    = 6 * 60     // IPVS_SVC_PERSISTENT_TIMEOUT
	maxTimeout        = 86400 * 31 // MAX_TIMEOUT
	intMax            = 1<<31 - 1  // INT_MAX
	schedNameMax      = 16         // IP_VS_SCHEDNAME_MAXLEN
	peNameMax         = 32         // IP_VS_PENAME_MAXLEN
	ifNameMax         = 16         // IP_VS_IFNAME_MAXLEN
	ipvsVersion       = "1.2.1"    // the IPVS version ipvsadm reports
	ipvsTableSize     = 4096       // IP_VS_CONN_TAB_SIZE as the reference shows
	schedulerList     = "rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh"
	peList            = "sip"
)

// schedulers are the scheduler names kernel IPVS 1.2.1 (Linux 6.1) has.
var schedulers = map[string]bool{
	"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true,
	"dh": true, "sh": true, "sed": true, "nq": true, "fo": true, "ovf": true, "mh": true,
}

// persistenceEngines are the persistence engines kernel IPVS has.
var persistenceEngines = map[string]bool{"sip": true}

var tunNames = [tunMax]string{"ipip", "gue", "gre"}

// tunFlagNames index by tunnel flags, as ipvsadm's tunflags[].
var tunFlagNames = [...]string{"-c", "+c", "r+c"}

// tunFlagOpts index by tunnel flags, as ipvsadm's tun_flags_opts[].
var tunFlagOpts = [...]string{"--tun-nocsum", "--tun-csum", "--tun-remcsum"}
