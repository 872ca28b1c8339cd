package main

import (
	"testing"
)

// TestCommands runs command sequences on a fresh store each and checks
// stderr, the exit status and, last, the saved rules: the ipvsadm
// behaviour the reference captures do not show.
func TestCommands(t *testing.T) {
	type cmd struct {
		line string
		err  string // stderr without the newline
		rc   int
	}
	tests := []struct {
		name string
		cmds []cmd
		save string
	}{{
		name: "real ports follow the service for -g and -i, not for -m or -d",
		cmds: []cmd{
			{line: "-A -t 1.2.3.4:80"},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8:8080"},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.9:8080 -i"},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.10:8080 -m"},
			{line: "-d -t 1.2.3.4:80 -r 5.6.7.8:8080", err: "No such destination", rc: 255},
			{line: "-d -t 1.2.3.4:80 -r 5.6.7.9"},
		},
		save: "-A -t 1.2.3.4:80 -s wlc\n" +
			"-a -t 1.2.3.4:80 -r 5.6.7.8:80 -g -w 1\n" +
			"-a -t 1.2.3.4:80 -r 5.6.7.10:8080 -m -w 1\n",
	}, {
		name: "-E and -e reset what they do not name",
		cmds: []cmd{
			{line: "-A -u 1.2.3.4:53 -s rr -p 100 -M 255.255.0.0 -o --pe sip"},
			{line: "-a -u 1.2.3.4:53 -r 5.6.7.8 -m -w 5 -x 10 -y 5"},
			{line: "-E -u 1.2.3.4:53"},
			{line: "-e -u 1.2.3.4:53 -r 5.6.7.8 -m"},
			{line: "-L -n -u 1.2.3.4:53 --thresholds"},
		},
		save: "-A -u 1.2.3.4:53 -s wlc\n-a -u 1.2.3.4:53 -r 5.6.7.8:53 -m -w 1\n",
	}, {
		name: "service checks",
		cmds: []cmd{
			{line: "-A -t 1.2.3.4:80 -o", err: "One-Packet Scheduling is only for UDP virtual services", rc: 2},
			{line: "-A -f 1 -o"},
			{line: "-A -t 1.2.3.4:80 --pe foo", err: "Scheduler or persistence engine not found", rc: 255},
			{line: "-A -t 1.2.3.4:80 -s roundrobin", err: "Scheduler or persistence engine not found", rc: 255},
			{line: "-A -t 1.2.3.4:80 -s rr -b sh-port", err: "incompatible scheduler flag `sh-port'", rc: 2},
			{line: "-A -t 1.2.3.4:80 -t 1.2.3.5:80", err: "multiple 'service-address' options specified", rc: 2},
			{line: "-A -t 1.2.3.4:80 -f 1", err: "multiple 'service-address' options specified", rc: 2},
			{line: "-A -t 1.2.3.4:80 -A", err: "invalid option `-A'", rc: 2},
			{line: "-A -t 1.2.3.4:80 -r 1.1.1.1", err: "Illegal 'real-server' option with the 'add-service' command", rc: 2},
			{line: "-A -6 -f 2", err: "-6 used before -f\n", rc: 2},
			{line: "-A -f 0", err: "invalid fwmark value `0' specified", rc: 2},
			{line: "-A -t 1.2.3.4:80 -M 300.0.0.0", err: "illegal virtual server persistent mask specified", rc: 2},
			{line: "-A -t 1.2.3.4:80 extra", err: "unexpected argument extra", rc: 2},
			{line: "-E -f 9", err: "No such service", rc: 255},
			{line: "-D -f 1 -6", err: "No such service", rc: 255},
			{line: "-Z -f 1 -6", err: "No such service", rc: 255},
			{line: "-Z -f 1"},
			{line: "-Z -t 0.0.0.0:0"},
		},
		save: "-A -f 1 -s wlc -o\n",
	}, {
		name: "real server checks",
		cmds: []cmd{
			{line: "-A -t 1.2.3.4:80"},
			{line: "-A -t [2001:db8::1]:80"},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -m --tun-type gue", err: "Tunnel options conflict with forward method", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue", err: "You need to supply the 'tun-port' option for the 'gue' tunnel type", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre --tun-port 5", err: "Illegal 'tun-port' option with the 'gre' tunnel type", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 5 --tun-csum --tun-remcsum",
				err: "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-nocsum", err: "Illegal 'tun-nocsum' option with the 'ipip' tunnel type", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type vxlan", err: "illegal tunnel type specified", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 0", err: "illegal tunnel port specified", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -m -x -1", err: "illegal u_threshold specified", rc: 2},
			{line: "-a -t 1.2.3.4:80 -r 5.6.7.8 -m -y 1", err: "Numerical result out of range", rc: 255},
			{line: "-a -t 1.2.3.4:80 -r 224.0.0.1 -m", err: "Invalid operation.  Possibly wrong module version, address not unicast, ...", rc: 255},
			{line: "-a -t 1.2.3.4:80 -r 0.1.2.3 -m", err: "Invalid operation.  Possibly wrong module version, address not unicast, ...", rc: 255},
			{line: "-a -t [2001:db8::1]:80 -r fe80::1 -m", err: "Invalid operation.  Possibly wrong module version, address not unicast, ...", rc: 255},
			{line: "-a -t [2001:db8::1]:80 -r 5.6.7.8 -i"},
			{line: "-a -t 1.2.3.4:80 -r 2001:db8::9 -i --tun-type gue --tun-port 6080 --tun-csum"},
			{line: "-a -t 1.2.3.4:80 -r 9.9.9.9:99 -m -w 2147483647 -x 2147483647 -y 0"},
			{line: "-a -t 1.2.3.4:80 -r 9.9.9.9:98 -m -w 2147483648", err: "illegal weight specified", rc: 2},
			{line: "-e -t 1.2.3.5:80 -r 5.6.7.8", err: "Service not defined", rc: 255},
			{line: "-d -t 1.2.3.5:80 -r 5.6.7.8", err: "Service not defined", rc: 255},
		},
		save: "-A -t 1.2.3.4:80 -s wlc\n" +
			"-a -t 1.2.3.4:80 -r 9.9.9.9:99 -m -w 2147483647\n" +
			"-a -t 1.2.3.4:80 -r [2001:db8::9]:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n" +
			"-A -t [2001:db8::1]:80 -s wlc\n" +
			"-a -t [2001:db8::1]:80 -r 5.6.7.8:80 -i -w 1 --tun-type ipip\n",
	}, {
		name: "listing options",
		cmds: []cmd{
			{line: "-L -n -n", err: "multiple 'numeric' options specified", rc: 2},
			{line: "-L --stats -c", err: "options conflicts in the list command", rc: 2},
			{line: "-L --timeout --persistent-conn", err: "options conflicts in the list command", rc: 2},
			{line: "-L --timeout -c", err: "The option 'timeout' conflicts with the 'connection' option in the 'list' command", rc: 2},
			{line: "-L -s rr", err: "Illegal 'scheduler' option with the 'list' command", rc: 2},
			{line: "-L -h", err: "invalid option `-h'", rc: 2},
			{line: "-n -L", err: "Try `ipvsadm -h' or 'ipvsadm --help' for more information.", rc: 255},
			{line: "--sort -L", err: "Try `ipvsadm -h' or 'ipvsadm --help' for more information.", rc: 255},
			{line: "-L --sort --sort"},
			{line: "-S -c", err: "Illegal 'connection' option with the 'save' command", rc: 2},
			{line: "-C -n", err: "Illegal 'numeric' option with the 'flush' command", rc: 2},
		},
	}, {
		name: "sync daemons",
		cmds: []cmd{
			{line: "--start-daemon bogus", err: "illegal start-daemon parameter specified", rc: 2},
			{line: "--stop-daemon bogus", err: "illegal start_daemon specified", rc: 2},
			{line: "--stop-daemon master", err: "No daemon is running", rc: 255},
			{line: "--start-daemon master"},
			{line: "--start-daemon master", err: "Daemon has already run", rc: 255},
			{line: "--start-daemon backup --mcast-group 1.2.3.4", err: "invalid IPv4 mcast-group `1.2.3.4'", rc: 2},
			{line: "--start-daemon backup --mcast-group ::ffff:224.0.0.1", err: "invalid IPv6 mcast-group `::ffff:224.0.0.1'", rc: 2},
			{line: "--start-daemon backup --syncid 256", err: "illegal syncid specified", rc: 2},
			{line: "--start-daemon backup --mcast-port 0", err: "illegal mcast-port specified", rc: 2},
			{line: "--start-daemon backup --mcast-ttl 256", err: "illegal mcast-ttl specified", rc: 2},
			{line: "--start-daemon backup --sync-maxlen 65508", err: "illegal sync-maxlen specified", rc: 2},
			{line: "--start-daemon backup --mcast-group ff02::81 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 500 --syncid 9"},
			{line: "--stop-daemon master --syncid 1"},
			{line: "--stop-daemon master", err: "No daemon is running", rc: 255},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for _, c := range tt.cmds {
				_, errs, rc := e.runLine("", c.line)
				want := ""
				if c.err != "" {
					want = c.err + "\n"
				}
				if errs != want || rc != c.rc {
					t.Errorf("%s: stderr %q exit %d, want %q %d", c.line, errs, rc, want, c.rc)
				}
			}
			if save, _, _ := e.runLine("", "-S -n"); save != tt.save {
				t.Errorf("saved:\n%s\nwant:\n%s", save, tt.save)
			}
		})
	}
}

func TestDaemonListing(t *testing.T) {
	e := newTestEnv(t)
	e.runLine("", "--start-daemon backup --mcast-group ff02::81 --mcast-port 9000 --mcast-ttl 3 --sync-maxlen 500 --syncid 9")
	e.runLine("", "--start-daemon master --mcast-interface eth1")
	out, _, rc := e.runLine("", "-L --daemon")
	want := "master sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
		"backup sync daemon (mcast=eth0, syncid=9, maxlen=1024, group=ff02::81, port=9000, ttl=3)\n"
	if out != want || rc != 0 {
		t.Errorf("-L --daemon = %q (exit %d), want %q", out, rc, want)
	}
}
