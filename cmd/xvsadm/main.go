// Command xvsadm administers the xvs load balancer with ipvsadm's grammar.
package main

import "os"

func main() {
	stop := startProfile(os.Stderr)
	rc := run(os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(rc)
}
