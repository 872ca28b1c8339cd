package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// run is xvsadm with os.Args-style args; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(newRootOptions(stdin, stdout, stderr), args)
}

// runWith runs one command line with o's streams and services: an xvs
// subcommand (attach, detach, status) when the first argument after the
// global options names one, else ipvsadm's grammar.
func runWith(o *rootOptions, args []string) int {
	if len(args) == 0 {
		args = []string{"xvsadm"}
	}
	opts := *o
	out := bufio.NewWriter(o.stdout)
	opts.stdout = out
	defer out.Flush()

	if isSubcommand(args) {
		return runSubcommand(&opts, args)
	}
	rest, err := takeGlobals(&opts, args)
	if err != nil {
		return report(&opts, out, err)
	}
	if opts.atomic && !slices.ContainsFunc(rest[1:], isRestoreOption) {
		return report(&opts, out, failf(2, "--atomic is only valid with -R"))
	}
	s := &session{o: &opts, prog: rest[0]}
	if len(rest) == 1 {
		err = s.listAll(0) // no arguments: ipvsadm -L
	} else {
		err = s.processOptions(rest, false)
	}
	if cerr := s.close(); err == nil && cerr != nil {
		err = &exitError{code: 1, msg: cerr.Error()}
	}
	return report(&opts, out, err)
}

// isRestoreOption reports whether an argument is (or bundles) -R.
func isRestoreOption(a string) bool {
	return a == "--restore" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "R"))
}

// report writes what ended a command line and returns the exit status.
func report(o *rootOptions, out *bufio.Writer, err error) int {
	switch e := err.(type) {
	case nil:
		return 0
	case *exitError:
		io.WriteString(out, e.out)
		if e.msg != "" {
			out.Flush()
			fmt.Fprintln(o.stderr, e.msg)
		}
		return e.code
	case *opError:
		out.Flush()
		fmt.Fprintln(o.stderr, e.msg)
		return 255
	}
	out.Flush()
	fmt.Fprintln(o.stderr, err)
	return 1
}

// takeGlobals removes xvs's global options (--state DIR, --format FMT,
// --atomic) from args, wherever they are before "--", into o.
func takeGlobals(o *rootOptions, args []string) ([]string, error) {
	rest := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		switch name {
		case "--state", "--format":
			if !hasVal {
				if i+1 >= len(args) {
					return nil, failf(2, "option %s needs a value", name)
				}
				i++
				val = args[i]
			}
			if name == "--state" {
				if val == "" {
					return nil, failf(2, "option --state needs a directory")
				}
				o.stateDir = val
			} else if err := setFormat(o, val); err != nil {
				return nil, err
			}
		case "--atomic":
			if hasVal {
				return nil, failf(2, "option --atomic takes no value")
			}
			o.atomic = true
		default:
			rest = append(rest, a)
		}
	}
	return rest, nil
}

// setFormat checks and sets --format.
func setFormat(o *rootOptions, f string) error {
	switch f {
	case formatJSON:
		o.format = formatJSON
	case "text", "ipvsadm":
		o.format = ""
	default:
		return failf(2, "invalid --format `%s' (json or text)", f)
	}
	return nil
}

// isSubcommand reports whether the first argument after the global
// options is an xvs subcommand.
func isSubcommand(args []string) bool {
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--state" || a == "--format":
			i++
		case strings.HasPrefix(a, "--state=") || strings.HasPrefix(a, "--format=") || a == "--atomic":
		default:
			return slices.Contains(subcommandNames(), a)
		}
	}
	return false
}
