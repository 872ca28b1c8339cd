package loader

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultHZ is the kernel's HZ assumed when its configuration cannot be read (Debian's).
const DefaultHZ = 250

// KernelHZ returns CONFIG_HZ of the running kernel, read from /proc/config.gz
// or /boot/config-$(uname -r), or DefaultHZ when neither has it. The datapath
// measures time in jiffies and needs HZ to turn timeouts into jiffies.
func KernelHZ() uint32 {
	var u unix.Utsname
	var paths = []string{"/proc/config.gz"}
	if err := unix.Uname(&u); err == nil {
		paths = append(paths, "/boot/config-"+unix.ByteSliceToString(u.Release[:]))
	}
	for _, p := range paths {
		if hz, err := configHZ(p); err == nil {
			return hz
		}
	}
	return DefaultHZ
}

func configHZ(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
	return parseConfigHZ(r)
}

// parseConfigHZ finds CONFIG_HZ=N in a kernel configuration.
func parseConfigHZ(r io.Reader) (uint32, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			hz, err := strconv.ParseUint(v, 10, 32)
			if err != nil || hz == 0 {
				return 0, fmt.Errorf("bad CONFIG_HZ %q", v)
			}
			return uint32(hz), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no CONFIG_HZ")
}
