package main

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRestore restores 1,000 services with 4 reals each, line by line
// and atomically.
func BenchmarkRestore(b *testing.B) {
	var in strings.Builder
	for i := range 1000 {
		vip := fmt.Sprintf("10.%d.%d.1:80", i/256, i%256)
		fmt.Fprintf(&in, "-A -t %s -s wrr\n", vip)
		for r := range 4 {
			fmt.Fprintf(&in, "-a -t %s -r 192.168.%d.%d:8080 -m -w %d\n", vip, i%256, r+1, r+1)
		}
	}
	for _, atomic := range []bool{false, true} {
		b.Run(fmt.Sprintf("atomic=%v", atomic), func(b *testing.B) {
			for b.Loop() {
				e := newTestEnv(b)
				args := []string{"ipvsadm", "-R"}
				if atomic {
					args = append(args, "--atomic")
				}
				if _, errs, rc := e.run(in.String(), args...); rc != 0 {
					b.Fatalf("restore: exit %d: %s", rc, errs)
				}
			}
		})
	}
}
