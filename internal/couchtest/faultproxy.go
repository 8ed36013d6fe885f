package couchtest

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// FaultKind is a way a [FaultProxy] mistreats a request.
type FaultKind int

// The faults a [FaultProxy] injects.
const (
	// Pass forwards the request and its answer untouched.
	Pass FaultKind = iota
	// Delay waits Fault.Delay, then forwards the request.
	Delay
	// Reset forwards the request, waits for the server's answer, then
	// resets the client's connection (TCP RST) instead of answering: the
	// write landed, the client never learns it.
	Reset
	// Drop forwards the request, waits for the server's answer, then
	// closes the client's connection (FIN) without answering.
	Drop
	// Cut closes the client's connection without forwarding: the server
	// never sees the request.
	Cut
	// Status answers Fault.Status (with Fault.RetryAfter as Retry-After
	// if set) and a CouchDB-like error body, without forwarding.
	Status
	// Replace forwards the request, then answers Fault.Status (as Status
	// does) instead of the server's answer: a gateway that gave up
	// waiting after the write landed.
	Replace
	// Restatus forwards the request and answers the server's answer, body
	// and headers, with Fault.Status as its status: a 201 Created turned
	// into a 202 Accepted, as a cluster answers a write that reached fewer
	// copies than its quorum.
	Restatus
)

// Fault is what a [FaultProxy] does to one request.
type Fault struct {
	Kind       FaultKind
	Delay      time.Duration // for Delay
	Status     int           // for Status, Replace and Restatus
	RetryAfter string        // for Status and Replace; sent as is
}

// FaultProxy is a reverse proxy in front of the test server that injects
// the faults a picker chooses, request by request. It adds the test
// server's credentials; clients send none.
type FaultProxy struct {
	// URL is the proxy's address.
	URL       *url.URL
	forwarded atomic.Int64
}

// NewFaultProxy starts a fault-injecting proxy in front of the test
// server; pick chooses the fault for each request (it is called from
// several goroutines at once). The proxy is closed when the test ends.
func NewFaultProxy(t testing.TB, pick func(r *http.Request) Fault) *FaultProxy {
	t.Helper()
	forward := forwarder(t)
	p := &FaultProxy{}
	pass := func(w http.ResponseWriter, r *http.Request) {
		p.forwarded.Add(1)
		forward(w, r)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := pick(r)
		switch f.Kind {
		case Delay:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
			pass(w, r)
		case Reset, Drop:
			pass(httptest.NewRecorder(), r)
			hangUp(w, f.Kind == Reset)
		case Cut:
			hangUp(w, true)
		case Restatus:
			rec := httptest.NewRecorder()
			pass(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(f.Status)
			_, _ = w.Write(rec.Body.Bytes())
		case Status, Replace:
			if f.Kind == Replace {
				pass(httptest.NewRecorder(), r)
			}
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, `{"error":"injected","reason":"fault proxy answered `+strconv.Itoa(f.Status)+`"}`)
		default:
			pass(w, r)
		}
	}))
	// Hung-up connections are what the proxy is for; keep them out of the
	// test log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL = serverURL(t, srv)
	return p
}

// Forwarded counts the requests that reached the server.
func (p *FaultProxy) Forwarded() int { return int(p.forwarded.Load()) }

// hangUp closes the client's connection without an answer: with a TCP
// reset if reset, else with a plain close.
func hangUp(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
