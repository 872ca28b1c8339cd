package topo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Env is where the package registers the removal of what it creates and
// reports errors met while removing. *testing.T and *testing.B satisfy it;
// a main program uses *Cleanups.
type Env interface {
	Cleanup(func())
	Errorf(format string, args ...any)
}

// Cleanups is an Env for main programs: Close runs the registered
// functions in reverse order of registration, like testing.T does.
// It is safe for concurrent use.
type Cleanups struct {
	// Log receives the errors reported while cleaning up (os.Stderr if nil).
	Log io.Writer

	mu   sync.Mutex
	fns  []func()
	errs []error
}

// Cleanup registers f to run at Close.
func (c *Cleanups) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
}

// Errorf records an error; Close returns all of them.
func (c *Cleanups) Errorf(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	w := c.Log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintln(w, "cleanup:", err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

// Close runs the registered functions, last registered first, and returns
// the errors reported through Errorf. It may be called more than once.
func (c *Cleanups) Close() error {
	for {
		c.mu.Lock()
		if len(c.fns) == 0 {
			errs := c.errs
			c.errs = nil
			c.mu.Unlock()
			return errors.Join(errs...)
		}
		f := c.fns[len(c.fns)-1]
		c.fns = c.fns[:len(c.fns)-1]
		c.mu.Unlock()
		f()
	}
}
