package couch_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// faults hands out a script of faults, one per request of the method it
// is for; requests of other methods, and those after the script, pass.
type faults struct {
	mu     sync.Mutex
	method string
	script []couchtest.Fault
	seen   int // requests of method picked for
}

func (f *faults) pick(r *http.Request) couchtest.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != f.method {
		return couchtest.Fault{}
	}
	f.seen++
	if f.seen <= len(f.script) {
		return f.script[f.seen-1]
	}
	return couchtest.Fault{}
}

func (f *faults) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

func status(code int, after string) couchtest.Fault {
	return couchtest.Fault{Kind: couchtest.Status, Status: code, RetryAfter: after}
}

func TestTransientRetry(t *testing.T) {
	reset := couchtest.Fault{Kind: couchtest.Reset}
	tests := []struct {
		name   string
		method string // of the request faulted and sent
		script []couchtest.Fault
		policy couch.RetryPolicy
		// want
		ok        bool
		is        []error
		status    int // HTTPStatus of the error
		sends     int // requests of method the proxy saw
		retries   map[couch.RetryReason]int64
		ended     map[string]int64
		writesRev string // prefix of the doc's rev afterwards, for writes
	}{
		{name: "503 then ok", method: "GET", script: []couchtest.Fault{status(503, "0")},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryStatus: 1}},
		{name: "429 honours Retry-After", method: "GET", script: []couchtest.Fault{status(429, "1")},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryThrottled: 1}},
		{name: "429 asking too long is returned", method: "GET", script: []couchtest.Fault{status(429, "3600")},
			status: 429, sends: 1, ended: map[string]int64{"Retry-After too long": 1}},
		{name: "500 on every attempt gives up", method: "GET",
			script: []couchtest.Fault{status(500, ""), status(500, ""), status(500, "")},
			policy: couch.RetryPolicy{MaxAttempts: 3},
			is:     []error{couch.ErrServerError}, status: 500, sends: 3,
			retries: map[couch.RetryReason]int64{couch.RetryStatus: 2}, ended: map[string]int64{"attempts exhausted": 1}},
		{name: "501 is not transient", method: "GET", script: []couchtest.Fault{status(501, "")},
			status: 501, sends: 1},
		{name: "MaxAttempts 1 turns retries off", method: "GET", script: []couchtest.Fault{status(503, "0")},
			policy: couch.RetryPolicy{MaxAttempts: 1},
			status: 503, sends: 1, ended: map[string]int64{"attempts exhausted": 1}},
		{name: "cut GET is resent", method: "GET", script: []couchtest.Fault{{Kind: couchtest.Cut}},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryConnection: 1}},
		{name: "dropped GET answer is resent", method: "GET", script: []couchtest.Fault{{Kind: couchtest.Drop}},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryConnection: 1}},
		{name: "POST cut after it was sent is not resent", method: "POST", script: []couchtest.Fault{{Kind: couchtest.Cut}},
			sends: 1},
		{name: "POST 503 is not resent", method: "POST", script: []couchtest.Fault{status(503, "0")},
			status: 503, sends: 1},
		{name: "PUT reset after it landed: resent, 409 is ambiguous", method: "PUT", script: []couchtest.Fault{reset},
			is: []error{couch.ErrConflict, couch.ErrAmbiguous}, status: 409, sends: 2,
			retries: map[couch.RetryReason]int64{couch.RetryConnection: 1}, ended: map[string]int64{"ambiguous": 1},
			writesRev: "1-"},
		{name: "PUT 503 then ok", method: "PUT", script: []couchtest.Fault{status(503, "0")},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryStatus: 1}, writesRev: "1-"},
		{name: "PUT 502 after it landed: resent, 409 is ambiguous", method: "PUT",
			script: []couchtest.Fault{{Kind: couchtest.Replace, Status: 502}},
			is:     []error{couch.ErrConflict, couch.ErrAmbiguous}, status: 409, sends: 2,
			retries: map[couch.RetryReason]int64{couch.RetryStatus: 1}, ended: map[string]int64{"ambiguous": 1},
			writesRev: "1-"},
		{name: "PUT 503 on every attempt is not ambiguous", method: "PUT",
			script: []couchtest.Fault{status(503, "0"), status(503, "0")},
			policy: couch.RetryPolicy{MaxAttempts: 2},
			status: 503, sends: 2,
			retries: map[couch.RetryReason]int64{couch.RetryStatus: 1}, ended: map[string]int64{"attempts exhausted": 1}},
		{name: "DELETE 503 then ok", method: "DELETE", script: []couchtest.Fault{status(503, "0")},
			ok: true, sends: 2, retries: map[couch.RetryReason]int64{couch.RetryStatus: 1}, writesRev: "2-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := couchtest.NewDB(t)
			f := &faults{method: tt.method, script: tt.script}
			p := couchtest.NewFaultProxy(t, f.pick)
			var stats couch.Stats
			log, buf := debugLogger()
			c, err := couch.New(couch.Config{URL: p.URL.String(), Retry: tt.policy, Stats: &stats, Logger: log})
			require.NoError(t, err)
			db := c.DB(name)
			var rev string
			if tt.method == "DELETE" {
				rev, err = newClient(t).DB(name).Put(ctx, "doc", map[string]any{"n": 1})
				require.NoError(t, err)
			}
			switch tt.method {
			case "GET":
				_, err = db.Info(ctx)
			case "POST":
				_, _, err = db.Post(ctx, map[string]any{"n": 1})
			case "PUT":
				_, err = db.Put(ctx, "doc", map[string]any{"n": 1})
			case "DELETE":
				_, err = db.Delete(ctx, "doc", rev)
			}
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, target := range tt.is {
					assert.ErrorIs(t, err, target)
				}
				assert.Equal(t, tt.status, couch.HTTPStatus(err), "HTTPStatus(%v)", err)
				if !slices.Contains(tt.is, couch.ErrAmbiguous) {
					assert.NotErrorIs(t, err, couch.ErrAmbiguous)
				}
			}
			assert.Equal(t, tt.sends, f.count(), "requests of %s sent", tt.method)
			// What reached the server: every send but those the proxy
			// cut or answered itself.
			reached := f.count()
			for _, ft := range tt.script[:min(f.count(), len(tt.script))] {
				if ft.Kind == couchtest.Cut || ft.Kind == couchtest.Status {
					reached--
				}
			}
			assert.Equal(t, reached, p.Forwarded(), "requests that reached the server")
			got := stats.Retries()
			if tt.retries == nil {
				tt.retries = map[couch.RetryReason]int64{}
			}
			if tt.ended == nil {
				tt.ended = map[string]int64{}
			}
			assert.Equal(t, tt.retries, got.Retries)
			assert.Equal(t, tt.ended, got.Ended)
			if n := tt.retries[couch.RetryStatus] + tt.retries[couch.RetryThrottled] + tt.retries[couch.RetryConnection]; n > 0 {
				assert.Equal(t, int(n), strings.Count(buf.String(), `"msg":"couchdb request retry"`), "one log line per retry:\n%s", buf.String())
			}
			if tt.writesRev != "" {
				var rev string
				if tt.method == "DELETE" {
					revs, err := newClient(t).DB(name).OpenRevs(ctx, "doc", nil)
					require.NoError(t, err)
					require.Len(t, revs, 1)
					assert.True(t, revs[0].Deleted)
					rev = revs[0].Rev
				} else {
					rev, err = newClient(t).DB(name).Rev(ctx, "doc")
					require.NoError(t, err)
				}
				assert.True(t, strings.HasPrefix(rev, tt.writesRev), "rev %s, want %s…: written once", rev, tt.writesRev)
			}
		})
	}
}

// TestRetryBudget shows that an outage does not become a retry storm: once
// the client's budget is spent, failures come back without retries.
func TestRetryBudget(t *testing.T) {
	name := couchtest.NewDB(t)
	var sends sync.Map
	var mu sync.Mutex
	n := 0
	p := couchtest.NewFaultProxy(t, func(r *http.Request) couchtest.Fault {
		mu.Lock()
		n++
		mu.Unlock()
		sends.Store(r.URL.Path, true)
		return status(503, "0")
	})
	var stats couch.Stats
	c, err := couch.New(couch.Config{URL: p.URL.String(), Stats: &stats, Logger: discard,
		Retry: couch.RetryPolicy{BudgetTokens: 3, MinBackoff: time.Millisecond}})
	require.NoError(t, err)
	for range 5 {
		_, err := c.DB(name).Info(ctx)
		require.ErrorIs(t, err, couch.ErrServerError)
	}
	// 3 tokens: the first request retries 3 times (4 sends), the next four
	// once each.
	assert.Equal(t, 8, n)
	got := stats.Retries()
	assert.Equal(t, map[couch.RetryReason]int64{couch.RetryStatus: 3}, got.Retries)
	assert.Equal(t, map[string]int64{"attempts exhausted": 1, "retry budget exhausted": 4}, got.Ended)
}

// TestRetryDialFailure resends even a POST when the connection could not
// be made (the server never saw it), and stays within the context.
func TestRetryDialFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	var stats couch.Stats
	log, buf := debugLogger()
	c, err := couch.New(couch.Config{URL: "http://admin:pa55w0rd@" + addr, Stats: &stats, Logger: log,
		Retry: couch.RetryPolicy{MinBackoff: time.Millisecond}})
	require.NoError(t, err)
	_, _, err = c.DB("db").Post(ctx, map[string]any{"n": 1})
	require.Error(t, err)
	assert.Equal(t, 0, couch.HTTPStatus(err))
	assert.Contains(t, err.Error(), "giving up after 4 attempt(s)")
	assert.Equal(t, map[couch.RetryReason]int64{couch.RetryConnection: 3}, stats.Retries().Retries)
	assert.NotContains(t, buf.String(), "pa55w0rd", "no credentials in logs")
	assert.NotContains(t, buf.String(), addr+"/db", "the URL is not repeated, the path is logged bounded")
}

// TestRetryWithinDeadline: a wait the context's deadline would cut short
// is not started; a request slower than the deadline is not resent.
func TestRetryWithinDeadline(t *testing.T) {
	tests := []struct {
		name  string
		fault couchtest.Fault
		is    error
	}{
		{"Retry-After past the deadline", status(503, "2"), couch.ErrServerError},
		{"slow server", couchtest.Fault{Kind: couchtest.Delay, Delay: 5 * time.Second}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := couchtest.NewDB(t)
			f := &faults{method: "GET", script: []couchtest.Fault{tt.fault, tt.fault}}
			p := couchtest.NewFaultProxy(t, f.pick)
			var stats couch.Stats
			c, err := couch.New(couch.Config{URL: p.URL.String(), Stats: &stats, Logger: discard})
			require.NoError(t, err)
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err = c.DB(name).Info(cctx)
			require.ErrorIs(t, err, tt.is)
			assert.Equal(t, 1, f.count(), "not resent")
			assert.Empty(t, stats.Retries().Retries)
		})
	}
}
