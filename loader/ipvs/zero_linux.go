package ipvs

import (
	"encoding/binary"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// Constants of linux/ip_vs.h that github.com/cloudflare/ipvs does not export.
const (
	genlName       = "IPVS"
	genlVersion    = 1
	cmdZero        = 16 // IPVS_CMD_ZERO
	cmdAttrService = 1  // IPVS_CMD_ATTR_SERVICE
	svcAttrAf      = 1
	svcAttrProto   = 2
	svcAttrAddr    = 3
	svcAttrPort    = 4
	svcAttrFwmark  = 5
)

// zeroCounters sends IPVS_CMD_ZERO, for one service or (svc nil) all:
// ipvsadm -Z, which the library has no call for.
func zeroCounters(svc *cfipvs.Service) error {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.GetFamily(genlName)
	if err != nil {
		return err
	}
	var data []byte
	if svc != nil {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(cmdAttrService, func(n *netlink.AttributeEncoder) error {
			n.Uint16(svcAttrAf, uint16(svc.Family))
			if svc.FWMark != 0 {
				n.Uint32(svcAttrFwmark, svc.FWMark)
				return nil
			}
			n.Uint16(svcAttrProto, uint16(svc.Protocol))
			n.Bytes(svcAttrAddr, svc.Address.AsSlice())
			port := make([]byte, 2)
			binary.BigEndian.PutUint16(port, svc.Port)
			n.Bytes(svcAttrPort, port)
			return nil
		})
		if data, err = ae.Encode(); err != nil {
			return err
		}
	}
	msg := genetlink.Message{Header: genetlink.Header{Command: cmdZero, Version: genlVersion}, Data: data}
	_, err = c.Execute(msg, f.ID, netlink.Request|netlink.Acknowledge)
	return err
}
