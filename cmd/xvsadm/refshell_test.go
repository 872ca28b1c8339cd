package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// refShell runs the shell lines of the ipvsadm reference captures: words
// with quotes, ";", "&&", "|", "<" and ">" to files kept in memory, and
// the commands ipvsadm (xvsadm in process), printf, echo, cat, cmp, diff
// and /usr/sbin/ip (network setup: nothing to do here). Anything else (loops,
// background jobs, traffic generators) is errUnsupported.
type refShell struct {
	files map[string][]byte
	// ipvsadm runs one ipvsadm command line and returns its exit status.
	ipvsadm func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var errUnsupported = errors.New("shell construct not supported")

type shCmd struct {
	argv    []string
	inFile  string
	outFile string
}

// shTokens splits a line into words and operators.
func shTokens(line string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			toks = append(toks, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(line) {
					return nil, errors.New("unterminated quote")
				}
				if line[i] == '"' {
					break
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\", line[i+1]) >= 0 {
					i++
				} else if line[i] == '$' || line[i] == '`' {
					return nil, errUnsupported
				}
				cur.WriteByte(line[i])
			}
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '&' && i+1 < len(line) && line[i+1] == '&':
			flush()
			toks = append(toks, "&&")
			i++
		case c == '|' && i+1 < len(line) && line[i+1] == '|':
			return nil, errUnsupported
		case strings.IndexByte(";|<>", c) >= 0:
			flush()
			toks = append(toks, string(c))
		case strings.IndexByte("&()$`", c) >= 0:
			return nil, errUnsupported
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return toks, nil
}

// run runs a line and returns its stdout, stderr and exit status.
func (sh *refShell) run(line string) (string, string, int, error) {
	toks, err := shTokens(line)
	if err != nil {
		return "", "", 0, err
	}
	for _, t := range toks {
		if t == "for" || t == "do" || t == "done" || t == "while" || t == "if" {
			return "", "", 0, errUnsupported
		}
	}
	var stdout, stderr bytes.Buffer
	rc, skip := 0, false
	var pipeline []shCmd
	cur := shCmd{}
	endPipeline := func() error {
		pipeline = append(pipeline, cur)
		cur = shCmd{}
		if !skip {
			r, err := sh.runPipeline(pipeline, &stdout, &stderr)
			if err != nil {
				return err
			}
			rc = r
		}
		pipeline = nil
		return nil
	}
	for i := 0; i < len(toks); i++ {
		switch t := toks[i]; t {
		case ";", "&&":
			if err := endPipeline(); err != nil {
				return "", "", 0, err
			}
			skip = t == "&&" && rc != 0
		case "|":
			pipeline = append(pipeline, cur)
			cur = shCmd{}
		case "<", ">":
			if i+1 >= len(toks) {
				return "", "", 0, errors.New("redirection without a file")
			}
			i++
			if t == "<" {
				cur.inFile = toks[i]
			} else {
				cur.outFile = toks[i]
			}
		default:
			cur.argv = append(cur.argv, t)
		}
	}
	if err := endPipeline(); err != nil {
		return "", "", 0, err
	}
	return stdout.String(), stderr.String(), rc, nil
}

func (sh *refShell) runPipeline(p []shCmd, stdout, stderr io.Writer) (int, error) {
	var in io.Reader = strings.NewReader("")
	rc := 0
	for i, c := range p {
		if c.inFile != "" {
			b, ok := sh.files[c.inFile]
			if !ok {
				fmt.Fprintf(stderr, "sh: %s: No such file or directory\n", c.inFile)
				return 1, nil
			}
			in = bytes.NewReader(b)
		}
		var out bytes.Buffer
		r, err := sh.runCmd(c.argv, in, &out, stderr)
		if err != nil {
			return 0, err
		}
		rc = r
		switch {
		case c.outFile != "":
			sh.files[c.outFile] = out.Bytes()
			in = strings.NewReader("")
		case i == len(p)-1:
			stdout.Write(out.Bytes())
		default:
			in = bytes.NewReader(out.Bytes())
		}
	}
	return rc, nil
}

func (sh *refShell) runCmd(argv []string, in io.Reader, out, errw io.Writer) (int, error) {
	if len(argv) == 0 {
		return 0, errUnsupported
	}
	switch argv[0] {
	case "ipvsadm":
		return sh.ipvsadm(argv, in, out, errw), nil
	case "/usr/sbin/ip":
		return 0, nil
	case "echo":
		fmt.Fprintln(out, strings.Join(argv[1:], " "))
		return 0, nil
	case "printf":
		args := argv[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			return 1, nil
		}
		io.WriteString(out, shPrintf(args[0], args[1:]))
		return 0, nil
	case "cat":
		for _, f := range argv[1:] {
			b, ok := sh.files[f]
			if !ok {
				fmt.Fprintf(errw, "cat: %s: No such file or directory\n", f)
				return 1, nil
			}
			out.Write(b)
		}
		return 0, nil
	case "cmp", "diff":
		if len(argv) != 3 {
			return 2, nil
		}
		a, oka := sh.files[argv[1]]
		b, okb := sh.files[argv[2]]
		if !oka || !okb {
			return 2, nil
		}
		if bytes.Equal(a, b) {
			return 0, nil
		}
		fmt.Fprintf(out, "%s %s differ\n", argv[1], argv[2])
		return 1, nil
	}
	return 0, errUnsupported
}

// shPrintf is printf(1) for the formats the captures use: backslash
// escapes and %s, %d, %%.
func shPrintf(format string, args []string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte('\\')
				b.WriteByte(format[i])
			}
		case c == '%' && i+1 < len(format):
			i++
			switch format[i] {
			case '%':
				b.WriteByte('%')
			case 's', 'd':
				if len(args) > 0 {
					b.WriteString(args[0])
					args = args[1:]
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
