package topo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hit is one request a Server answered.
type Hit struct {
	Remote netip.AddrPort // the client as the server saw it
	Local  netip.AddrPort // the address the client connected to
}

// Server is an HTTP server running in this process, with its listener in a
// namespace. It answers every request with its name and a newline, and
// records who asked.
type Server struct {
	Name string

	srv  *http.Server
	mu   sync.Mutex
	hits []Hit
}

// Serve starts a Server named name listening on port (all addresses) in n,
// and registers its shutdown with env.
func Serve(env Env, n *Netns, name string, port int) (*Server, error) {
	l, err := n.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("netns %s: listen: %w", n.Name, err)
	}
	s := &Server{Name: name}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(l)
	}()
	env.Cleanup(func() {
		s.srv.Close()
		<-done
	})
	return s, nil
}

// ServeHTTP answers "NAME\n".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var h Hit
	h.Remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		h.Local, _ = netip.ParseAddrPort(a.String())
	}
	h.Remote = netip.AddrPortFrom(h.Remote.Addr().Unmap(), h.Remote.Port())
	h.Local = netip.AddrPortFrom(h.Local.Addr().Unmap(), h.Local.Port())
	s.mu.Lock()
	s.hits = append(s.hits, h)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, s.Name+"\n")
}

// Hits returns the requests answered so far.
func (s *Server) Hits() []Hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Hit(nil), s.hits...)
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits = nil
}

// Get sends one HTTP GET from n, from source address src, to target, on a
// new connection (no keep-alive), and returns the body without its
// trailing newline: the name of the real that answered.
func Get(ctx context.Context, n *Netns, src netip.Addr, target netip.AddrPort) (string, error) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
			return n.DialContext(ctx, d, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target.String()+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", fmt.Errorf("GET %s from %s: %w", target, src, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s from %s: %s", target, src, resp.Status)
	}
	return strings.TrimSuffix(string(body), "\n"), nil
}

// Result is the outcome of one request of a Burst.
type Result struct {
	Src  netip.Addr
	Real string // who answered ("" on error)
	Err  error
	Took time.Duration
}

// BurstOptions tunes Burst. Zero values take the defaults.
type BurstOptions struct {
	Timeout     time.Duration // per request (default 3s)
	Parallel    int           // requests in flight (default 16)
	MaxFailures int           // stop sending after this many errors (default 8)
}

// Burst sends one GET from each of srcs (in that order, several in
// flight) to target from n, and returns one Result per source, in the
// order of srcs. After MaxFailures errors, the requests not yet sent fail
// with "not sent" instead of each waiting for its timeout.
func Burst(ctx context.Context, n *Netns, srcs []netip.Addr, target netip.AddrPort, opt BurstOptions) []Result {
	if opt.Timeout == 0 {
		opt.Timeout = 3 * time.Second
	}
	if opt.Parallel == 0 {
		opt.Parallel = 16
	}
	if opt.MaxFailures == 0 {
		opt.MaxFailures = 8
	}
	res := make([]Result, len(srcs))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures int
	)
	sem := make(chan struct{}, opt.Parallel)
	for i, src := range srcs {
		sem <- struct{}{}
		mu.Lock()
		stop := failures >= opt.MaxFailures
		mu.Unlock()
		if stop || ctx.Err() != nil {
			<-sem
			res[i] = Result{Src: src, Err: errors.New("not sent: too many failures before")}
			if ctx.Err() != nil {
				res[i].Err = ctx.Err()
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, opt.Timeout)
			defer cancel()
			start := time.Now()
			name, err := Get(rctx, n, src, target)
			res[i] = Result{Src: src, Real: name, Err: err, Took: time.Since(start)}
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res
}
