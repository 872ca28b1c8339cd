package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"
)

// The kernel's answers to IPVS_CMD_GET_SERVICE carry each service's
// persistence engine (IPVS_SVC_ATTR_PE_NAME), which
// github.com/cloudflare/ipvs drops: the mirror reads it from its own dump.

const (
	cmdGetService = 4 // IPVS_CMD_GET_SERVICE
	nlaTypeMask   = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
)

// peReader is a Client that reads the persistence engine of every
// kernel service: services without one are absent from the map.
type peReader interface {
	peNames() (map[svcKey]string, error)
}

// peNames reads the kernel's persistence engines through c, or none when c
// cannot (then every service reads as having none).
func peNames(c Client) (map[svcKey]string, error) {
	r, ok := c.(peReader)
	if !ok {
		return nil, nil
	}
	pes, err := r.peNames()
	if err != nil {
		return nil, fmt.Errorf("read persistence engines: %w", err)
	}
	return pes, nil
}

// errBadService means an answer to GET_SERVICE could not be decoded.
var errBadService = errors.New("malformed IPVS service message")

// walkAttrs calls fn with the type (flags cleared) and data of each
// netlink attribute of b.
func walkAttrs(b []byte, fn func(typ uint16, data []byte) error) error {
	for len(b) > 0 {
		if len(b) < unix.NLA_HDRLEN {
			return errBadService
		}
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
		if n < unix.NLA_HDRLEN || n > len(b) {
			return errBadService
		}
		if err := fn(typ, b[unix.NLA_HDRLEN:n]); err != nil {
			return err
		}
		n = (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if n > len(b) {
			n = len(b) // the last attribute's padding may be missing
		}
		b = b[n:]
	}
	return nil
}

// decodeServicePE decodes one answer to a GET_SERVICE dump (the generic
// netlink header and attributes): the service's key, as keyOf makes it,
// and its persistence engine ("" none).
func decodeServicePE(msg []byte) (svcKey, string, error) {
	var (
		k     svcKey
		pe    string
		addr  []byte
		found bool
	)
	if len(msg) < 4 {
		return k, "", fmt.Errorf("decode IPVS service: short message (%d bytes): %w", len(msg), errBadService)
	}
	err := walkAttrs(msg[4:], func(typ uint16, data []byte) error {
		if typ != cmdAttrService {
			return nil
		}
		found = true
		return walkAttrs(data, func(typ uint16, d []byte) error {
			switch typ {
			case svcAttrAf, svcAttrProto, svcAttrPort:
				if len(d) != 2 {
					return fmt.Errorf("attribute %d: %d bytes: %w", typ, len(d), errBadService)
				}
				switch typ {
				case svcAttrAf:
					k.af = cfipvs.AddressFamily(binary.NativeEndian.Uint16(d))
				case svcAttrProto:
					k.proto = cfipvs.Protocol(binary.NativeEndian.Uint16(d))
				default:
					k.port = binary.BigEndian.Uint16(d)
				}
			case svcAttrFwmark:
				if len(d) != 4 {
					return fmt.Errorf("attribute %d: %d bytes: %w", typ, len(d), errBadService)
				}
				k.fwmark = binary.NativeEndian.Uint32(d)
			case svcAttrAddr:
				addr = d
			case svcAttrPEName:
				pe = cString(d)
			}
			return nil
		})
	})
	if err != nil {
		return svcKey{}, "", fmt.Errorf("decode IPVS service: %w", err)
	}
	if !found {
		return svcKey{}, "", fmt.Errorf("decode IPVS service: no service attribute: %w", errBadService)
	}
	if k.fwmark != 0 {
		return svcKey{fwmark: k.fwmark, af: k.af}, pe, nil
	}
	// The kernel sends a union nf_inet_addr (16 bytes) whatever the family.
	switch {
	case k.af == cfipvs.INET && len(addr) >= 4:
		k.addr = netip.AddrFrom4([4]byte(addr[:4]))
	case k.af == cfipvs.INET6 && len(addr) >= 16:
		k.addr = netip.AddrFrom16([16]byte(addr[:16])).Unmap() // as keyOf
	default:
		return svcKey{}, "", fmt.Errorf("decode IPVS service: family %d, address of %d bytes: %w", k.af, len(addr), errBadService)
	}
	return k, pe, nil
}

// cString is a NUL-terminated string attribute's text.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
