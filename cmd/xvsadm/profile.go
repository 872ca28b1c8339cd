package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole process to the file named
// by XVS_CPUPROFILE, when set (to profile xvsadm where go test can't reach,
// as inside the test VM); the returned function stops it.
func startProfile(stderr *os.File) func() {
	path := os.Getenv("XVS_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "xvsadm: XVS_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
