// Command xvsadm administers the xvs load balancer with ipvsadm's grammar.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
