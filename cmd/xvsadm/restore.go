package main

import (
	"bufio"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/xvs-lb/xvs/maps"
)

// maxTokenLen is config_stream's MAX_LINE_LENGTH: longer words split.
const maxTokenLen = 4096

// ruleReader reads -R input as ipvsadm's config_stream_read does: one
// line at a time, split at blanks, the word "ipvsadm" dropped; a line
// that ends in blanks at end of input, and the end of input itself, end
// the reading. ('#' starts no comment: ipvsadm's comment check never
// fires, so such a line is an error.)
type ruleReader struct {
	r    *bufio.Reader
	line int    // lines read so far
	word []byte // the word being read (reused)
}

func newRuleReader(r io.Reader) *ruleReader { return &ruleReader{r: bufio.NewReader(r)} }

func isRuleSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// next returns the words of the next line after argv0, the number of the
// line they started on, and false at the end.
func (rr *ruleReader) next(argv0 string) ([]string, int, bool) {
	argv := []string{argv0}
	start := rr.line + 1
	ntoken := 0
	for {
		// fscanf("%4096[^ \t\n\r]%1[ \t\n\r]")
		c, err := rr.r.ReadByte()
		if err != nil {
			if ntoken == 0 {
				return nil, 0, false
			}
			return argv, start, true
		}
		if isRuleSpace(c) {
			// The word matched nothing: skip blanks to the line's end.
			for {
				if c == '\n' {
					rr.line++
					return argv, start, true
				}
				if c != ' ' && c != '\t' && c != '\r' {
					_ = rr.r.UnreadByte()
					break
				}
				if c, err = rr.r.ReadByte(); err != nil {
					return nil, 0, false
				}
			}
			continue
		}
		word := append(rr.word[:0], c)
		for len(word) < maxTokenLen {
			c, err = rr.r.ReadByte()
			if err != nil {
				break
			}
			if isRuleSpace(c) {
				_ = rr.r.UnreadByte()
				break
			}
			word = append(word, c)
		}
		rr.word = word
		if ntoken == 0 {
			start = rr.line + 1
		}
		if string(word) != "ipvsadm" {
			ntoken++
			argv = append(argv, string(word))
		}
		c, err = rr.r.ReadByte()
		if err != nil {
			continue // end of input: the next read ends the line
		}
		if !isRuleSpace(c) {
			_ = rr.r.UnreadByte() // a word longer than maxTokenLen goes on
			continue
		}
		if c == '\n' {
			rr.line++
			return argv, start, true
		}
	}
}

// restore is ipvsadm -R: each line of standard input is a command line,
// carried out in turn; a failed change is reported and the next line
// read, but what makes ipvsadm exit (a bad option, a bad value) ends the
// restore there. The exit status is the last line's.
// restoreMemLimit is a restore's soft heap limit (runtime/debug).
const restoreMemLimit = 96 << 20

func (s *session) restore(argv0 string, readingStdin bool) error {
	if readingStdin {
		return tryHelp(argv0)
	}
	// What a rule file builds (the configuration, the mirror's messages)
	// lives until the commit: collecting each time the heap doubles cost
	// about a fifth of a restore's CPU time. The soft memory limit makes it
	// collect as needed above restoreMemLimit, bounding the peak.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(restoreMemLimit))
	if s.o.atomic {
		return s.restoreAtomic(argv0)
	}
	rr := newRuleReader(s.o.stdin)
	var result error
	s.deferred = true
	defer func() { s.deferred = false }()
	for {
		argv, _, ok := rr.next(argv0)
		if !ok {
			if err := s.flush(); err != nil {
				return err
			}
			return result
		}
		if len(argv) <= 1 {
			continue
		}
		result = s.processOptions(argv, true)
		switch e := result.(type) {
		case *exitError:
			if err := s.flush(); err != nil {
				fmt.Fprintln(s.o.stderr, err.Error())
			}
			return e
		case *opError:
			fmt.Fprintln(s.o.stderr, e.msg)
			result = &exitError{code: 255}
		}
	}
}

// restoreAtomic is -R --atomic: every line is checked against the
// configuration the lines before it make, and the result committed at once
// at the end; any failure names its line and changes nothing.
func (s *session) restoreAtomic(argv0 string) error {
	st, err := s.open()
	if err != nil {
		return err
	}
	cfg, err := st.Load()
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("load configuration: %v", err)}
	}
	s.pending = cfg.Clone()
	defer func() { s.pending = nil }()
	rr := newRuleReader(s.o.stdin)
	for {
		argv, line, ok := rr.next(argv0)
		if !ok {
			break
		}
		if len(argv) <= 1 {
			continue
		}
		err := s.processOptions(argv, true)
		if err == nil {
			continue
		}
		code, msg := 255, err.Error()
		if e, ok := err.(*exitError); ok {
			code = e.code
			if e.out != "" || code == 0 {
				code, msg = 2, "help and version are not allowed in an atomic restore"
			}
		}
		return &exitError{code: code, msg: fmt.Sprintf("restore: line %d: %s\nnothing changed", line, msg)}
	}
	if sw, ok := st.(maps.Swapper); ok {
		sw.SwapNextCommit() // one swap the datapath sees at once
	}
	if err := st.Commit(s.pending); err != nil {
		return &exitError{code: 255, msg: fmt.Sprintf("restore: %s\nnothing changed", ipvsStrerror(opOther, err))}
	}
	return nil
}
