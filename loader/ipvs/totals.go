package ipvs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/xvs-lb/xvs/maps"
)

// statsFile holds kernel IPVS's totals (ip_vs_stats: every packet and
// connection it has handled since load or the last -Z, services removed
// since included).
const statsFile = "/proc/net/ip_vs_stats"

// ReadTotals returns kernel IPVS's totals, or ErrNotPresent.
func ReadTotals() (maps.Stats, error) {
	b, err := os.ReadFile(statsFile)
	if errors.Is(err, os.ErrNotExist) {
		return maps.Stats{}, ErrNotPresent
	}
	if err != nil {
		return maps.Stats{}, fmt.Errorf("read kernel IPVS totals: %w", err)
	}
	return parseTotals(b)
}

// parseTotals reads ip_vs_stats: two heading lines, then the five totals
// (connections, packets in and out, bytes in and out) in hexadecimal.
func parseTotals(b []byte) (maps.Stats, error) {
	lines := bytes.SplitN(b, []byte("\n"), 4)
	if len(lines) < 4 {
		return maps.Stats{}, fmt.Errorf("parse %s: %d lines, want at least 3", statsFile, len(lines))
	}
	f := bytes.Fields(lines[2])
	if len(f) != 5 {
		return maps.Stats{}, fmt.Errorf("parse %s: %d totals, want 5", statsFile, len(f))
	}
	var v [5]uint64
	for i := range f {
		n, err := strconv.ParseUint(string(f[i]), 16, 64)
		if err != nil {
			return maps.Stats{}, fmt.Errorf("parse %s: %w", statsFile, err)
		}
		v[i] = n
	}
	return maps.Stats{Conns: v[0], InPkts: v[1], OutPkts: v[2], InBytes: v[3], OutBytes: v[4]}, nil
}
