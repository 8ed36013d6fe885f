package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// errNotLoopback is matched by the error of serveProfiles given an
// address other machines could reach.
var errNotLoopback = errors.New("not a loopback address")

// serveProfiles serves Go's runtime profiles (net/http/pprof, under
// /debug/pprof/) on addr, on a listener of their own, apart from the
// fruit API: they tell a lot about the process and can cost it CPU, so
// only a loopback IP address (127.0.0.1:6060, [::1]:6060) is accepted,
// not a name, which could resolve to anything. It returns the address
// they are served on and the function that stops them.
func serveProfiles(addr string, logger *slog.Logger) (at net.Addr, stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, nil, fmt.Errorf("%q: %w; profiles are served on 127.0.0.1 or ::1 only", host, errNotLoopback)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info(fmt.Sprintf("profiles served on http://%s/debug/pprof/", ln.Addr()))
	return ln.Addr(), func() { _ = srv.Close() }, nil
}
