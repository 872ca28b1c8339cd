package ipvs

import (
	"encoding/binary"
	"fmt"

	cfipvs "github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"
)

// Commands and attributes of linux/ip_vs.h for services, reals and
// timeouts: the messages the mirror sends (github.com/cloudflare/ipvs
// keeps its own in an internal package).
const (
	genlName    = "IPVS" // the generic netlink family
	genlVersion = 1

	cmdNewService = 1  // IPVS_CMD_NEW_SERVICE
	cmdSetService = 2  // IPVS_CMD_SET_SERVICE
	cmdDelService = 3  // IPVS_CMD_DEL_SERVICE
	cmdNewDest    = 5  // IPVS_CMD_NEW_DEST
	cmdSetDest    = 6  // IPVS_CMD_SET_DEST
	cmdDelDest    = 7  // IPVS_CMD_DEL_DEST
	cmdSetConfig  = 12 // IPVS_CMD_SET_CONFIG
	cmdZero       = 16 // IPVS_CMD_ZERO

	cmdAttrService       = 1 // IPVS_CMD_ATTR_SERVICE: nested IPVS_SVC_ATTR_*
	cmdAttrDest          = 2 // IPVS_CMD_ATTR_DEST: nested IPVS_DEST_ATTR_*
	cmdAttrTimeoutTCP    = 4 // u32
	cmdAttrTimeoutTCPFin = 5 // u32
	cmdAttrTimeoutUDP    = 6 // u32

	svcAttrAf        = 1  // u16
	svcAttrProto     = 2  // u16
	svcAttrAddr      = 3  // 4 or 16 bytes
	svcAttrPort      = 4  // u16, network order
	svcAttrFwmark    = 5  // u32
	svcAttrSchedName = 6  // NUL-terminated string
	svcAttrFlags     = 7  // struct ip_vs_flags: flags, mask (u32 each, host order)
	svcAttrTimeout   = 8  // u32
	svcAttrNetmask   = 9  // u32: an IPv4 mask in network order, or an IPv6 prefix length
	svcAttrPEName    = 11 // NUL-terminated string: the persistence engine (absent: none)

	destAttrAddr      = 1  // 4 or 16 bytes
	destAttrPort      = 2  // u16, network order
	destAttrFwdMethod = 3  // u32
	destAttrWeight    = 4  // u32
	destAttrUThresh   = 5  // u32
	destAttrLThresh   = 6  // u32
	destAttrAddrFam   = 11 // u16
	destAttrTunType   = 13 // u8
	destAttrTunPort   = 14 // u16, network order
	destAttrTunFlags  = 15 // u16
)

// op is one change the mirror asks of kernel IPVS.
type op struct {
	cmd uint8
	svc cfipvs.Service
	pe  string // svc's persistence engine ("" none): cmdNewService, cmdSetService
	// sched, for a cmdNewService of scheduler "none", is the scheduler the
	// service gets once its reals are in (deferScheduler).
	sched string
	dest  cfipvs.Destination // cmdNewDest, cmdSetDest, cmdDelDest
	cfg   cfipvs.Config      // cmdSetConfig
}

// appendTo appends o as a generic netlink message (header and
// attributes) to b: the attributes github.com/cloudflare/ipvs sends for the
// same call, encoded in place (a restore sends tens of thousands).
func (o *op) appendTo(b []byte) ([]byte, error) {
	b = append(b, o.cmd, genlVersion, 0, 0) // struct genlmsghdr
	switch o.cmd {
	case cmdNewService, cmdSetService:
		b = appendService(b, &o.svc, o.pe)
	case cmdDelService:
		b = appendService(b, &o.svc, "")
	case cmdNewDest, cmdSetDest, cmdDelDest:
		b = appendService(b, &o.svc, "")
		b = appendDest(b, &o.dest)
	case cmdSetConfig:
		b = appendU32(b, cmdAttrTimeoutTCP, o.cfg.TCPTimeout)
		b = appendU32(b, cmdAttrTimeoutTCPFin, o.cfg.TCPFinTimeout)
		b = appendU32(b, cmdAttrTimeoutUDP, o.cfg.UDPTimeout)
	default:
		return b, fmt.Errorf("encode IPVS command %d: not a change", o.cmd)
	}
	return b, nil
}

// appendService appends IPVS_CMD_ATTR_SERVICE (nested, without
// NLA_F_NESTED, as the library and ipvsadm send it): the key (fwmark, or
// protocol, address and port) and the settings, which the kernel requires
// in every service message. pe is the persistence engine: the kernel
// sets a service's engine from every create and update, dropping it when
// the attribute is absent (as ipvsadm omits it for none), so an update
// resends it.
func appendService(b []byte, s *cfipvs.Service, pe string) []byte {
	start := len(b)
	b = appendAttr(b, cmdAttrService, nil)
	b = appendU16(b, svcAttrAf, uint16(s.Family))
	b = appendAttr(b, svcAttrSchedName, append([]byte(s.Scheduler), 0))
	var flags [8]byte
	binary.NativeEndian.PutUint32(flags[:], uint32(s.Flags))
	binary.NativeEndian.PutUint32(flags[4:], 0xffffffff) // mask: every flag is set or cleared
	b = appendAttr(b, svcAttrFlags, flags[:])
	b = appendU32(b, svcAttrTimeout, s.Timeout)
	if pe != "" {
		b = appendAttr(b, svcAttrPEName, append([]byte(pe), 0))
	}
	switch {
	case s.Netmask.Is4():
		b = appendAttr(b, svcAttrNetmask, s.Netmask.AsSlice())
	case s.Netmask.Is6():
		if ones := s.Netmask.Bits(); ones >= 0 {
			b = appendU32(b, svcAttrNetmask, uint32(ones))
		}
	}
	b = appendKey(b, s)
	return endNested(b, start)
}

// appendServiceKey appends IPVS_CMD_ATTR_SERVICE holding the service's
// family and key only: what IPVS_CMD_ZERO reads.
func appendServiceKey(b []byte, s *cfipvs.Service) []byte {
	start := len(b)
	b = appendAttr(b, cmdAttrService, nil)
	b = appendU16(b, svcAttrAf, uint16(s.Family))
	b = appendKey(b, s)
	return endNested(b, start)
}

// appendKey appends a service's key: its fwmark, or protocol, address and port.
func appendKey(b []byte, s *cfipvs.Service) []byte {
	if s.FWMark != 0 {
		return appendU32(b, svcAttrFwmark, s.FWMark)
	}
	b = appendU16(b, svcAttrProto, uint16(s.Protocol))
	b = appendAttr(b, svcAttrAddr, s.Address.AsSlice())
	return appendPort(b, svcAttrPort, s.Port)
}

// appendDest appends IPVS_CMD_ATTR_DEST: a real's attributes.
func appendDest(b []byte, d *cfipvs.Destination) []byte {
	start := len(b)
	b = appendAttr(b, cmdAttrDest, nil)
	b = appendU16(b, destAttrAddrFam, uint16(d.Family))
	b = appendAttr(b, destAttrAddr, d.Address.AsSlice())
	b = appendPort(b, destAttrPort, d.Port)
	b = appendU32(b, destAttrFwdMethod, uint32(d.FwdMethod))
	b = appendU32(b, destAttrWeight, d.Weight)
	b = appendU32(b, destAttrUThresh, d.UpperThreshold)
	b = appendU32(b, destAttrLThresh, d.LowerThreshold)
	b = appendAttr(b, destAttrTunType, []byte{uint8(d.TunnelType)})
	b = appendPort(b, destAttrTunPort, d.TunnelPort)
	b = appendU16(b, destAttrTunFlags, uint16(d.TunnelFlags))
	return endNested(b, start)
}

// appendAttr appends a netlink attribute: length (header and data,
// without padding), type, the data, padding to 4 bytes.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.NLA_HDRLEN+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.NLA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func appendU16(b []byte, typ, v uint16) []byte {
	var a [2]byte
	binary.NativeEndian.PutUint16(a[:], v)
	return appendAttr(b, typ, a[:])
}

func appendU32(b []byte, typ uint16, v uint32) []byte {
	var a [4]byte
	binary.NativeEndian.PutUint32(a[:], v)
	return appendAttr(b, typ, a[:])
}

// appendPort appends a port, in network order.
func appendPort(b []byte, typ, port uint16) []byte {
	var a [2]byte
	binary.BigEndian.PutUint16(a[:], port)
	return appendAttr(b, typ, a[:])
}

// endNested sets the length of the nested attribute that starts at start
// to what follows it (its attributes are 4-byte aligned: no padding).
func endNested(b []byte, start int) []byte {
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	return b
}
