package ipvs

import (
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// peNames dumps the kernel's services (IPVS_CMD_GET_SERVICE) on the
// pipe's socket, which no change uses meanwhile, and returns their
// persistence engines.
func (k *kernelClient) peNames() (map[svcKey]string, error) {
	c := genetlink.NewConn(k.nc)
	msgs, err := c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmdGetService, Version: genlVersion}},
		k.p.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("dump services: %w", err)
	}
	var pes map[svcKey]string
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		key, pe, err := decodeServicePE(b)
		if err != nil {
			return nil, err
		}
		if pe != "" {
			if pes == nil {
				pes = map[svcKey]string{}
			}
			pes[key] = pe
		}
	}
	return pes, nil
}
