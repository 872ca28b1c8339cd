// Package topo builds test topologies in network namespaces: named
// namespaces with a random suffix, veth pairs, a Linux bridge as the L2
// segment, and the direct-routing balancer topology (client, balancer,
// real servers) that the end-to-end tests and the demo use.
//
// Everything it creates is registered for removal with an Env: a
// *testing.T (or B) in tests, a *Cleanups in a main program, which calls
// Close. Go code runs inside a namespace through Netns.Do, on a dedicated
// locked OS thread that is thrown away afterwards; sockets made there stay
// in that namespace. Binaries run inside a namespace through nsenter
// --net, which keeps the mount namespace so /sys/fs/bpf pins stay visible
// (ip netns exec remounts /sys and hides them).
//
// All of it needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); Require skips a
// test without it, or fails it when CI=true.
package topo
