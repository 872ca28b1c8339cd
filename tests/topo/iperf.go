package topo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// IperfServer starts an iperf3 server on port in n, bound to bind when
// valid; it is killed by env's cleanups. A real server behind direct
// routing or a tunnel binds to the VIP: a UDP server bound to any address
// would answer from its own address, which the client does not expect.
func IperfServer(env Env, n *Netns, bind netip.Addr, port int) error {
	args := []string{"-s", "-p", strconv.Itoa(port)}
	if bind.IsValid() {
		args = append(args, "-B", bind.String())
	}
	cmd := n.Command(context.Background(), "iperf3", args...)
	if err := Start(env, cmd); err != nil {
		return fmt.Errorf("netns %s: start iperf3 server: %w", n.Name, err)
	}
	return nil
}

// IperfResult is the summary of an iperf3 client run.
type IperfResult struct {
	Sent, Received uint64  // bytes, as the client reports them
	LostPercent    float64 // UDP only
}

// Iperf runs an iperf3 client in n towards target sending size (iperf3's
// -n, "8M"), TCP or UDP (at 20 Mbit/s in datagrams of 1200 bytes), from
// src when valid. It retries while the server is not listening yet, until
// ctx ends.
func Iperf(ctx context.Context, n *Netns, src netip.Addr, target netip.AddrPort, udp bool, size string) (*IperfResult, error) {
	args := []string{"-c", target.Addr().String(), "-p", strconv.Itoa(int(target.Port())), "-n", size, "-J"}
	if src.IsValid() {
		args = append(args, "-B", src.String())
	}
	if udp {
		args = append(args, "-u", "-b", "20M", "-l", "1200")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		out, _, err := n.Run(ctx, "iperf3", args...)
		var rep struct {
			Error string `json:"error"`
			End   struct {
				SumSent     struct{ Bytes uint64 } `json:"sum_sent"`
				SumReceived struct{ Bytes uint64 } `json:"sum_received"`
				Sum         struct {
					Bytes       uint64  `json:"bytes"`
					LostPercent float64 `json:"lost_percent"`
				} `json:"sum"`
			} `json:"end"`
		}
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil && err == nil {
			return nil, fmt.Errorf("iperf3 output: %w", jerr)
		}
		if err == nil && rep.Error == "" {
			r := &IperfResult{Sent: rep.End.SumSent.Bytes, Received: rep.End.SumReceived.Bytes}
			if udp {
				r.Sent, r.Received, r.LostPercent = rep.End.Sum.Bytes, rep.End.Sum.Bytes, rep.End.Sum.LostPercent
			}
			return r, nil
		}
		if !strings.Contains(rep.Error, "unable to connect") && !strings.Contains(rep.Error, "refused") {
			if rep.Error != "" {
				return nil, errors.New("iperf3: " + rep.Error)
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("iperf3 to %s: %s: %w", target, rep.Error, ctx.Err())
		case <-tick.C:
		}
	}
}
