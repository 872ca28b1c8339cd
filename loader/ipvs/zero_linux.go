package ipvs

import (
	cfipvs "github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// zeroCounters sends IPVS_CMD_ZERO, for one service or (svc nil) all:
// ipvsadm -Z, which the library has no call for.
func zeroCounters(svc *cfipvs.Service) error {
	c, family, err := dialIPVS()
	if err != nil {
		return err
	}
	defer c.Close()
	var data []byte
	if svc != nil {
		data = appendServiceKey(nil, svc)
	}
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdZero, Version: genlVersion}, Data: data}
	_, err = c.Execute(msg, family, netlink.Request|netlink.Acknowledge)
	return err
}
