package topo

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ICMPDestUnreachs returns how many ICMP and ICMPv6 destination-unreachable
// errors the kernel of n has received (InDestUnreachs in /proc/net/snmp,
// Icmp6InDestUnreachs in /proc/net/snmp6).
func (n *Netns) ICMPDestUnreachs() (v4, v6 uint64, err error) {
	err = n.Do(func() error {
		snmp, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var head []string
		for _, line := range strings.Split(string(snmp), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != "Icmp:" {
				continue
			}
			if head == nil {
				head = f
				continue
			}
			for i := 1; i < len(f) && i < len(head); i++ {
				if head[i] == "InDestUnreachs" {
					if v4, err = strconv.ParseUint(f[i], 10, 64); err != nil {
						return err
					}
				}
			}
			break
		}
		snmp6, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(snmp6), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Icmp6InDestUnreachs" {
				v6, err = strconv.ParseUint(f[1], 10, 64)
			}
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("netns %s: icmp counters: %w", n.Name, err)
	}
	return v4, v6, err
}
