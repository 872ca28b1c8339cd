package ipvs

import (
	"fmt"

	"github.com/mdlayher/genetlink"
)

// dialIPVS connects a generic netlink socket to kernel IPVS: the socket
// and the IPVS family's id, for the commands github.com/cloudflare/ipvs
// has no call for (zero, sync daemons).
func dialIPVS() (*genetlink.Conn, uint16, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, 0, fmt.Errorf("connect to kernel IPVS: %w", err)
	}
	f, err := c.GetFamily(genlName)
	if err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("connect to kernel IPVS: family %s: %w", genlName, err)
	}
	return c, f.ID, nil
}
