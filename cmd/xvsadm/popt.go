package main

import "strings"

// argKind says whether an option takes a value.
type argKind int

const (
	argNone     argKind = iota // POPT_ARG_NONE
	argString                  // POPT_ARG_STRING: the value is required
	argOptional                // POPT_ARG_STRING|POPT_ARGFLAG_OPTIONAL
)

// poptOption is one row of a popt option table.
type poptOption struct {
	long  string // name after "--" ("" when none)
	short byte   // letter after "-" (0 when none)
	arg   argKind
	val   int // what nextOpt returns for it
}

// popt's error codes (POPT_ERROR_*), all below -1.
const (
	poptErrNoArg       = -10
	poptErrBadOpt      = -11
	poptErrUnwantedArg = -12
)

// popt scans an argument vector the way libpopt 1.19 does for a table
// without aliases, callbacks or one-dash long options: "--name",
// "--name=value", "-x", bundled "-xyz", attached values ("-w5", "-w=5"),
// optional values (taken from the next argument unless it starts with
// '-'), "--" ending the options, and everything else collected as leftover
// arguments in order.
type popt struct {
	table     []poptOption
	argv      []string
	next      int    // index of the next argv element
	shorts    string // rest of a bundle of short options still to scan
	rest      bool   // after "--": all arguments are leftovers
	leftovers []string
	nextLeft  int
}

func newPopt(argv []string, table []poptOption) *popt {
	return &popt{table: table, argv: argv, next: 1}
}

func (c *popt) findLong(name string) *poptOption {
	for i := range c.table {
		if c.table[i].long != "" && c.table[i].long == name {
			return &c.table[i]
		}
	}
	return nil
}

func (c *popt) findShort(ch byte) *poptOption {
	for i := range c.table {
		if c.table[i].short != 0 && c.table[i].short == ch {
			return &c.table[i]
		}
	}
	return nil
}

// nextOpt returns the next option's val and its value (nil when it has
// none), -1 when the arguments are exhausted, or a popt error code.
func (c *popt) nextOpt() (int, *string) {
	for {
		var opt *poptOption
		var longArg *string
		if c.shorts == "" {
			if c.next >= len(c.argv) {
				return -1, nil
			}
			orig := c.argv[c.next]
			c.next++
			if c.rest || orig == "" || orig[0] != '-' || orig == "-" {
				c.leftovers = append(c.leftovers, orig)
				continue
			}
			if orig == "--" {
				c.rest = true
				continue
			}
			name, oneDash := orig[1:], true
			if name[0] == '-' {
				name, oneDash = name[1:], false
			}
			if i := strings.IndexByte(name, '='); i >= 0 {
				v := name[i+1:]
				name, longArg = name[:i], &v
			}
			if !oneDash {
				if opt = c.findLong(name); opt == nil {
					return poptErrBadOpt, nil
				}
			} else {
				// No option of ours is a one-dash long option: scan letters.
				c.shorts, longArg = orig[1:], nil
			}
		}
		if c.shorts != "" {
			ch := c.shorts[0]
			c.shorts = c.shorts[1:]
			if opt = c.findShort(ch); opt == nil {
				return poptErrBadOpt, nil
			}
		}
		if opt.arg == argNone {
			if longArg != nil || strings.HasPrefix(c.shorts, "=") {
				return poptErrUnwantedArg, nil
			}
			return opt.val, nil
		}
		var val *string
		switch {
		case longArg != nil:
			val = longArg
		case c.shorts != "":
			v := strings.TrimPrefix(c.shorts, "=")
			val, c.shorts = &v, ""
		case c.next >= len(c.argv):
			if opt.arg != argOptional {
				return poptErrNoArg, nil
			}
		case opt.arg == argOptional && strings.HasPrefix(c.argv[c.next], "-"):
		default:
			v := c.argv[c.next]
			c.next++
			val = &v
		}
		return opt.val, val
	}
}

// badOption is the argument popt blames for an error: the last one scanned.
func (c *popt) badOption() string {
	if c.next == 0 || c.next > len(c.argv) {
		return ""
	}
	return c.argv[c.next-1]
}

// arg returns the next leftover argument, or false when none is left.
func (c *popt) arg() (string, bool) {
	if c.nextLeft >= len(c.leftovers) {
		return "", false
	}
	c.nextLeft++
	return c.leftovers[c.nextLeft-1], true
}

// poptStrerror is popt's text for an error code.
func poptStrerror(code int) string {
	switch code {
	case poptErrNoArg:
		return "missing argument"
	case poptErrUnwantedArg:
		return "option does not take an argument"
	case poptErrBadOpt:
		return "unknown option"
	}
	return "unknown error"
}
