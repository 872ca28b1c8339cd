package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/xvs-lb/xvs/maps"
)

// formatJSON is the --format value for machine-readable listings.
const formatJSON = "json"

// jsonStats are a service's or real's counters.
type jsonStats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// jsonTunnel is a tunnelling real's encapsulation.
type jsonTunnel struct {
	Type  string `json:"type"`
	Port  uint16 `json:"port,omitempty"`
	Csum  string `json:"csum,omitempty"` // "nocsum", "csum", "remcsum"
	Flags uint16 `json:"flags"`
}

// jsonDest is one real server.
type jsonDest struct {
	Address      string      `json:"address"`
	Port         uint16      `json:"port"`
	Forward      string      `json:"forward"` // "masq", "local", "tunnel", "route"
	Weight       int32       `json:"weight"`
	UThreshold   uint32      `json:"u_threshold"`
	LThreshold   uint32      `json:"l_threshold"`
	ActiveConns  uint32      `json:"active_conns"`
	InactConns   uint32      `json:"inact_conns"`
	PersistConns uint32      `json:"persist_conns"`
	Tunnel       *jsonTunnel `json:"tunnel,omitempty"`
	Stats        jsonStats   `json:"stats"`
}

// jsonService is one virtual service.
type jsonService struct {
	Family     string     `json:"family"` // "inet", "inet6"
	Protocol   string     `json:"protocol,omitempty"`
	Address    string     `json:"address,omitempty"`
	Port       uint16     `json:"port"`
	FwMark     uint32     `json:"fwmark,omitempty"`
	Scheduler  string     `json:"scheduler"`
	SchedFlags []string   `json:"sched_flags"`
	Persistent bool       `json:"persistent"`
	Timeout    uint32     `json:"timeout,omitempty"`
	Netmask    string     `json:"netmask"`
	PE         string     `json:"pe,omitempty"`
	OnePacket  bool       `json:"ops"`
	Stats      jsonStats  `json:"stats"`
	Dests      []jsonDest `json:"dests"`
}

// jsonListing is -L --format json.
type jsonListing struct {
	Version  string        `json:"version"`
	Size     int           `json:"size"`
	Services []jsonService `json:"services"`
}

// jsonTimeouts is -L --timeout --format json.
type jsonTimeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcpfin"`
	UDP    uint32 `json:"udp"`
}

// jsonConn is one connection entry.
type jsonConn struct {
	Protocol string `json:"protocol"`
	Client   string `json:"client"`
	Virtual  string `json:"virtual"`
	Dest     string `json:"dest"`
	State    string `json:"state"`
	Expires  uint32 `json:"expires"`
	PEName   string `json:"pe_name,omitempty"`
	PEData   string `json:"pe_data,omitempty"`
}

// jsonDaemon is one sync daemon.
type jsonDaemon struct {
	State      string `json:"state"`
	McastIfn   string `json:"mcast_interface"`
	SyncID     int    `json:"syncid"`
	SyncMaxlen int    `json:"sync_maxlen"`
	McastGroup string `json:"mcast_group"`
	McastPort  int    `json:"mcast_port"`
	McastTTL   int    `json:"mcast_ttl"`
}

func jsonStatsOf(s *maps.Stats) jsonStats {
	return jsonStats{s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes}
}

func jsonForward(fwd uint8) string {
	switch fwd & fwdMask {
	case fwdMasq:
		return "masq"
	case fwdLocalNode:
		return "local"
	case fwdTunnel:
		return "tunnel"
	case fwdDRoute:
		return "route"
	}
	return fmt.Sprintf("fwd-%d", fwd)
}

func jsonServiceOf(e *maps.ServiceEntry, sorted bool) jsonService {
	af := afOf(e.Addr)
	j := jsonService{
		Family:     "inet",
		Port:       e.Port,
		FwMark:     e.FwMark,
		Scheduler:  e.Sched,
		SchedFlags: []string{},
		Persistent: e.Flags&svcPersistent != 0,
		PE:         e.PE,
		OnePacket:  e.Flags&svcOnePacket != 0,
		Stats:      jsonStatsOf(&e.Stats),
		Dests:      []jsonDest{},
	}
	if f := formatSchedFlags(e.Sched, e.Flags); f != "" {
		j.SchedFlags = strings.Split(f, ",")
	}
	if j.Persistent {
		j.Timeout = e.Timeout
	}
	if af == afInet6 {
		j.Family, j.Netmask = "inet6", fmt.Sprint(e.Netmask)
	} else {
		j.Netmask = inetNtoa(e.Netmask)
	}
	if e.FwMark == 0 {
		j.Protocol, j.Address = protoName(e.Proto), inetNtop(e.Addr)
	}
	for _, d := range orderDests(e.Dests, sorted) {
		jd := jsonDest{
			Address:      inetNtop(d.Addr),
			Port:         d.Port,
			Forward:      jsonForward(d.Fwd),
			Weight:       d.Weight,
			UThreshold:   d.UThresh,
			LThreshold:   d.LThresh,
			ActiveConns:  d.ActiveConns,
			InactConns:   d.InactConns,
			PersistConns: d.PersistConns,
			Stats:        jsonStatsOf(&d.Stats),
		}
		if d.Fwd&fwdMask == fwdTunnel {
			jd.Tunnel = &jsonTunnel{Type: tunName(d.TunType), Flags: d.TunFlags}
			if d.TunType == tunGUE {
				jd.Tunnel.Port = d.TunPort
			}
			if d.TunType != tunIPIP && int(d.TunFlags) < len(tunFlagOpts) {
				jd.Tunnel.Csum = tunFlagOpts[d.TunFlags][len("--tun-"):]
			}
		}
		j.Dests = append(j.Dests, jd)
	}
	return j
}

// listAllJSON is -L --format json.
func (s *session) listAllJSON(format uint32) error {
	cfg, err := s.load()
	if err != nil {
		return err
	}
	return s.writeJSON(orderServices(cfg.Services, s.o.hashSalt, format&fmtNoSort == 0), format)
}

// writeJSON writes services as a jsonListing.
func (s *session) writeJSON(services []*maps.ServiceEntry, format uint32) error {
	l := jsonListing{Version: ipvsVersion, Size: ipvsTableSize, Services: []jsonService{}}
	for _, e := range services {
		l.Services = append(l.Services, jsonServiceOf(e, format&fmtNoSort == 0))
	}
	return writeJSONValue(s.o.stdout, l)
}

func jsonConnList(conns []maps.Conn) any {
	out := []jsonConn{}
	for _, c := range conns {
		out = append(out, jsonConn{
			Protocol: protoName(c.Proto), Client: c.Client.String(), Virtual: c.Virtual.String(),
			Dest: c.Dest.String(), State: c.State, Expires: c.Expires, PEName: c.PEName, PEData: c.PEData,
		})
	}
	return struct {
		Connections []jsonConn `json:"connections"`
	}{out}
}

func jsonDaemonList(t *daemonTable) any {
	out := []jsonDaemon{}
	for _, d := range []*daemonEntry{t.master, t.backup} {
		if d == nil {
			continue
		}
		out = append(out, jsonDaemon{
			State: daemonStateName(d.state), McastIfn: d.mcastIfn, SyncID: d.syncID, SyncMaxlen: d.syncMaxlen,
			McastGroup: inetNtop(d.mcastGroup), McastPort: d.mcastPort, McastTTL: d.mcastTTL,
		})
	}
	return struct {
		Daemons []jsonDaemon `json:"daemons"`
	}{out}
}

// writeJSONValue writes v as indented JSON and a newline.
func writeJSONValue(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("encode json: %v", err)}
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("write: %v", err)}
	}
	return nil
}
