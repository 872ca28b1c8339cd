package maps

import (
	"errors"
	"net/netip"
	"testing"
)

func TestSameService(t *testing.T) {
	v4 := Service{Proto: 6, Addr: netip.MustParseAddr("192.0.2.7"), Port: 80}
	mapped := Service{Proto: 6, Addr: netip.MustParseAddr("::ffff:192.0.2.7"), Port: 80}
	v6 := Service{Proto: 6, Addr: netip.MustParseAddr("2001:db8::7"), Port: 80}
	fw4 := Service{FwMark: 1, Addr: netip.IPv4Unspecified()}
	fw6 := Service{FwMark: 1, Addr: netip.IPv6Unspecified()}
	for _, tt := range []struct {
		name string
		a, b Service
		want bool
	}{
		{"same", v4, v4, true},
		// Kernel IPVS keys services by family first: [::ffff:a.b.c.d] is an IPv6 service.
		{"v4-mapped is not v4", v4, mapped, false},
		{"v4-mapped is itself", mapped, mapped, true},
		{"other port", v4, Service{Proto: 6, Addr: v4.Addr, Port: 81}, false},
		{"other protocol", v4, Service{Proto: 17, Addr: v4.Addr, Port: 80}, false},
		{"v6", v6, v6, true},
		{"fwmark per family", fw4, fw6, false},
		{"fwmark", fw4, Service{FwMark: 1, Addr: netip.IPv4Unspecified(), Sched: "rr"}, true},
		{"fwmark is not a vip", fw4, v4, false},
	} {
		if got := SameService(&tt.a, &tt.b); got != tt.want {
			t.Errorf("%s: SameService = %v, want %v", tt.name, got, tt.want)
		}
		c := &Config{}
		if _, err := c.AddService(tt.a); err != nil {
			t.Fatalf("%s: add: %v", tt.name, err)
		}
		_, err := c.AddService(tt.b)
		if exists := errors.Is(err, ErrServiceExists); exists != tt.want {
			t.Errorf("%s: adding b after a: %v, want exists=%v", tt.name, err, tt.want)
		}
	}
}

// TestServiceIndex checks that lookups follow adds, deletes, clears and
// changes made to Services from outside.
func TestServiceIndex(t *testing.T) {
	svc := func(port uint16) Service {
		return Service{Proto: 6, Addr: netip.MustParseAddr("192.0.2.1"), Port: port}
	}
	c := &Config{}
	for p := range uint16(100) {
		if _, err := c.AddService(svc(p)); err != nil {
			t.Fatal(err)
		}
	}
	s5 := svc(5)
	if err := c.DelService(&s5); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		port uint16
		want bool
	}{{"kept", 4, true}, {"deleted", 5, false}, {"never", 200, false}}
	for _, st := range steps {
		s := svc(st.port)
		if got := c.Service(&s) != nil; got != st.want {
			t.Errorf("%s: found %v, want %v", st.name, got, st.want)
		}
	}
	c.Services = c.Services[:10] // changed from outside: the index follows
	s50 := svc(50)
	if c.Service(&s50) != nil {
		t.Errorf("a service cut from Services is still found")
	}
	c.Clear()
	s4 := svc(4)
	if c.Service(&s4) != nil {
		t.Errorf("found a service after Clear")
	}
	if _, err := c.AddService(s4); err != nil {
		t.Errorf("add after Clear: %v", err)
	}
}
