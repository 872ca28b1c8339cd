package ipvs

import (
	"bytes"
	"net/netip"
	"testing"

	cfipvs "github.com/cloudflare/ipvs"

	"github.com/xvs-lb/xvs/maps"
)

// TestEncode: the messages the mirror sends, byte for byte (little-endian
// host; attribute headers are length, type).
func TestEncode(t *testing.T) {
	svc := tcp("10.0.0.1:80")
	svc.Flags = 0x10 // mh-port (IP_VS_SVC_F_SCHED2)
	fwm := maps.Service{FwMark: 7, Addr: netip.IPv4Unspecified(), Sched: "rr", Netmask: 0xffffffff}
	tests := []struct {
		name string
		op   op
		want []byte
	}{
		{
			name: "create service",
			op:   op{cmd: cmdNewService, svc: serviceOf(&svc)},
			want: []byte{
				0x01, 0x01, 0x00, 0x00, // genl: IPVS_CMD_NEW_SERVICE, version 1
				0x48, 0x00, 0x01, 0x00, // IPVS_CMD_ATTR_SERVICE, 72 bytes, no NLA_F_NESTED
				0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF: AF_INET (u16 + pad)
				0x07, 0x00, 0x06, 0x00, 'm', 'h', 0x00, 0x00, // SCHED_NAME "mh\0" + pad
				0x0c, 0x00, 0x07, 0x00, 0x10, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // FLAGS: 0x10, mask all
				0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT 0
				0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK 255.255.255.255
				0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL: TCP (u16 + pad)
				0x08, 0x00, 0x03, 0x00, 10, 0, 0, 1, // ADDR 10.0.0.1
				0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT 80, network order (+ pad)
			},
		},
		{
			name: "add real to a fwmark service",
			op:   op{cmd: cmdNewDest, svc: serviceOf(&fwm), dest: destOf(&[]maps.Dest{dr("10.1.0.1:8080", 3)}[0])},
			want: []byte{
				0x05, 0x01, 0x00, 0x00, // genl: IPVS_CMD_NEW_DEST, version 1
				0x38, 0x00, 0x01, 0x00, // IPVS_CMD_ATTR_SERVICE, 56 bytes
				0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF_INET
				0x07, 0x00, 0x06, 0x00, 'r', 'r', 0x00, 0x00, // SCHED_NAME "rr"
				0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // FLAGS 0, mask all
				0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT 0
				0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK
				0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, // FWMARK 7 (no protocol, address, port)
				0x54, 0x00, 0x02, 0x00, // IPVS_CMD_ATTR_DEST, 84 bytes
				0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY AF_INET
				0x08, 0x00, 0x01, 0x00, 10, 1, 0, 1, // ADDR 10.1.0.1
				0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, // PORT 8080, network order
				0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, // FWD_METHOD: direct routing
				0x08, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, // WEIGHT 3
				0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // U_THRESH 0
				0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // L_THRESH 0
				0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_TYPE 0 (u8 + pad)
				0x06, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_PORT 0
				0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // TUN_FLAGS 0
			},
		},
		{
			name: "set timeouts",
			op:   op{cmd: cmdSetConfig, cfg: cfipvs.Config{TCPTimeout: 900, TCPFinTimeout: 120, UDPTimeout: 300}},
			want: []byte{
				0x0c, 0x01, 0x00, 0x00, // genl: IPVS_CMD_SET_CONFIG, version 1
				0x08, 0x00, 0x04, 0x00, 0x84, 0x03, 0x00, 0x00, // TIMEOUT_TCP 900
				0x08, 0x00, 0x05, 0x00, 0x78, 0x00, 0x00, 0x00, // TIMEOUT_TCP_FIN 120
				0x08, 0x00, 0x06, 0x00, 0x2c, 0x01, 0x00, 0x00, // TIMEOUT_UDP 300
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.op.appendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("encode:\n got % x\nwant % x", got, tc.want)
			}
		})
	}
	if _, err := (&op{cmd: 99}).appendTo(nil); err == nil {
		t.Error("encode of command 99: no error")
	}
}

// TestAppendServiceKey: IPVS_CMD_ZERO's service attribute holds the family
// and the key only, byte for byte.
func TestAppendServiceKey(t *testing.T) {
	tcp := cfipvs.Service{Family: cfipvs.INET, Protocol: cfipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: "rr", Timeout: 300}
	fwm := cfipvs.Service{Family: cfipvs.INET6, FWMark: 7, Scheduler: "rr"}
	tests := []struct {
		name string
		svc  cfipvs.Service
		want []byte
	}{
		{"tcp", tcp, []byte{
			36, 0, 1, 0, // IPVS_CMD_ATTR_SERVICE, 36 bytes (the inner padding included)
			6, 0, 1, 0, 2, 0, 0, 0, // af AF_INET
			6, 0, 2, 0, 6, 0, 0, 0, // protocol TCP
			8, 0, 3, 0, 10, 0, 0, 1, // address
			6, 0, 4, 0, 0, 80, 0, 0, // port 80, network order
		}},
		{"fwmark", fwm, []byte{
			20, 0, 1, 0, // IPVS_CMD_ATTR_SERVICE, 20 bytes
			6, 0, 1, 0, 10, 0, 0, 0, // af AF_INET6
			8, 0, 5, 0, 7, 0, 0, 0, // fwmark 7
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appendServiceKey(nil, &tt.svc); !bytes.Equal(got, tt.want) {
				t.Errorf("appendServiceKey:\n got % x\nwant % x", got, tt.want)
			}
		})
	}
}
