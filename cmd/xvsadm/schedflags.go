package main

import "strings"

// parseSchedFlags is ipvsadm's parse_sched_flags: a comma-separated list of
// flag-1..flag-3 or the sh-/mh- names, which need their scheduler (wlc when
// none was given).
func parseSchedFlags(sched, arg string) (uint32, error) {
	if sched == "" {
		sched = defaultSched
	}
	var flags uint32
	toks := strings.FieldsFunc(arg, func(r rune) bool { return r == ',' })
	if len(toks) == 0 {
		// ipvsadm dereferences a null token here and crashes.
		return 0, failf(2, "invalid scheduler flag `%s'", "")
	}
	for _, f := range toks {
		var bit uint32
		need := ""
		switch f {
		case "flag-1":
			bit = svcSched1
		case "flag-2":
			bit = svcSched2
		case "flag-3":
			bit = svcSched3
		case "sh-fallback":
			bit, need = svcSched1, "sh"
		case "sh-port":
			bit, need = svcSched2, "sh"
		case "mh-fallback":
			bit, need = svcSched1, "mh"
		case "mh-port":
			bit, need = svcSched2, "mh"
		default:
			return 0, failf(2, "invalid scheduler flag `%s'", f)
		}
		flags |= bit
		if need != "" && sched != need {
			return 0, failf(2, "incompatible scheduler flag `%s'", f)
		}
	}
	return flags, nil
}

// formatSchedFlags is ipvsadm's print_sched_flags: the flags named as the
// scheduler knows them, comma-separated ("" when none).
func formatSchedFlags(sched string, flags uint32) string {
	var names []string
	switch sched {
	case "sh", "mh":
		if flags&svcSched1 != 0 {
			names = append(names, sched+"-fallback")
		}
		if flags&svcSched2 != 0 {
			names = append(names, sched+"-port")
		}
	default:
		for i, bit := range []uint32{svcSched1, svcSched2, svcSched3} {
			if flags&bit != 0 {
				names = append(names, "flag-"+string(rune('1'+i)))
			}
		}
	}
	return strings.Join(names, ",")
}
