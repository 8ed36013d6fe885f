package couch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/resolve"
)

// TestAmbiguousWrite is point 12 of issue 12: a write that landed but
// whose answer was lost comes back as a 409 against our own write; the
// store must report it written, not apply the change a second time.
func TestAmbiguousWrite(t *testing.T) {
	reset := couchtest.Fault{Kind: couchtest.Reset}
	merge := always(resolve.Decision{Action: resolve.ActionMerge,
		Doc: json.RawMessage(`{"type":"counter_v1.0","name":"c","count":10}`)})
	tests := []struct {
		name      string
		method    string            // of the write faulted
		faults    []couchtest.Fault // for the writes of method, in order
		retry     couch.RetryPolicy // the store's client's
		interfere int               // competing writes before ours
		resolver  resolve.Resolver
		// want
		status couch.Status
		count  int    // stored afterwards
		gen    string // generation of the revision afterwards
		puts   int    // writes of method the server was sent
	}{
		{name: "update reset after it landed, resent by the client", method: "PUT",
			faults: []couchtest.Fault{reset}, resolver: resolve.Retry(resolve.RetryParams{}),
			status: couch.StatusWritten, count: 1, gen: "2-", puts: 2},
		{name: "update answered 502 after it landed, resent by the client", method: "PUT",
			faults:   []couchtest.Fault{{Kind: couchtest.Replace, Status: 502}},
			resolver: resolve.Retry(resolve.RetryParams{}),
			status:   couch.StatusWritten, count: 1, gen: "2-", puts: 2},
		{name: "merge reset after it landed", method: "PUT",
			faults: []couchtest.Fault{{}, reset}, interfere: 1, resolver: merge,
			status: couch.StatusMerged, count: 10, gen: "3-", puts: 3},
		{name: "delete answered 504 after it landed", method: "DELETE",
			faults:   []couchtest.Fault{{Kind: couchtest.Replace, Status: 504}},
			resolver: resolve.Retry(resolve.RetryParams{}),
			status:   couch.StatusWritten, gen: "2-", puts: 2},
		{name: "delete reset after it landed", method: "DELETE",
			faults: []couchtest.Fault{reset}, resolver: resolve.Retry(resolve.RetryParams{}),
			status: couch.StatusWritten, gen: "2-", puts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := couchtest.NewDB(t)
			direct := newClient(t).DB(name)
			_, err := direct.Put(ctx, "c", counter{Type: "counter_v1.0", Name: "c"})
			require.NoError(t, err)

			f := &faults{method: tt.method, script: tt.faults}
			p := couchtest.NewFaultProxy(t, f.pick)
			var stats couch.Stats
			c, err := couch.New(couch.Config{URL: p.URL.String(), Retry: tt.retry, Stats: &stats, Logger: discard})
			require.NoError(t, err)
			s := newStore(t, c.DB(name), couch.StoreConfig{Resolver: tt.resolver, Stats: &stats})

			var res couch.Result[counter]
			if tt.method == "DELETE" {
				res, err = s.Delete(ctx, couch.ByID("c"), nil)
			} else {
				res, err = s.Update(ctx, couch.ByID("c"), interfere(t, direct, "c", tt.interfere))
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, res.Status)
			assert.True(t, strings.HasPrefix(res.Rev, tt.gen), "result rev %s, want %s…", res.Rev, tt.gen)
			assert.Equal(t, tt.puts, f.count(), "%s requests sent", tt.method)
			assert.Equal(t, int64(1), stats.Retries().Ended["own write recognised"])

			// What the server holds: our change, applied once.
			if tt.method == "DELETE" {
				var v any
				require.ErrorIs(t, direct.Get(ctx, "c", &v), couch.ErrNotFound)
				revs, err := direct.OpenRevs(ctx, "c", nil)
				require.NoError(t, err)
				require.Len(t, revs, 1)
				assert.Equal(t, res.Rev, revs[0].Rev)
				return
			}
			got := stored(t, direct, "c")
			assert.Equal(t, tt.count, got.Count, "the change applied once")
			rev, err := direct.Rev(ctx, "c")
			require.NoError(t, err)
			assert.Equal(t, rev, res.Rev)
		})
	}
}

// TestConflictNotMistakenForOwnWrite: a competing write from the same
// base revision is a real conflict, handed to the resolver, even when its
// body is exactly ours (two increments from the same count).
func TestConflictNotMistakenForOwnWrite(t *testing.T) {
	tests := []struct {
		name   string
		theirs func(cur map[string]any)
	}{
		{"another body", func(cur map[string]any) { cur["count"] = cur["count"].(float64) + 5 }},
		{"the same body", func(cur map[string]any) { cur["count"] = cur["count"].(float64) + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			var stats couch.Stats
			s := newStore(t, db, couch.StoreConfig{Stats: &stats})
			d := createCounter(t, s)
			first := true
			_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error {
				if first {
					first = false
					var cur map[string]any
					require.NoError(t, db.Get(ctx, d.ID, &cur))
					tt.theirs(cur)
					_, err := db.Put(ctx, d.ID, cur)
					require.NoError(t, err)
				}
				c.Count++
				return nil
			})
			require.ErrorIs(t, err, couch.ErrConflict)
			assert.NotErrorIs(t, err, couch.ErrAmbiguous)
			assert.Zero(t, stats.Retries().Ended["own write recognised"])
		})
	}
}

// TestAmbiguousCreate: a create whose PUT landed but whose answer was lost
// is resent by the client and refused with a 409 against our own
// document. Create must report it created, once, not a conflict that
// makes the caller create it again.
func TestAmbiguousCreate(t *testing.T) {
	for name, fault := range map[string]couchtest.Fault{
		"reset after it landed":        {Kind: couchtest.Reset},
		"answered 502 after it landed": {Kind: couchtest.Replace, Status: 502},
	} {
		t.Run(name, func(t *testing.T) {
			name := couchtest.NewDB(t)
			direct := newClient(t).DB(name)
			f := &faults{method: "PUT", script: []couchtest.Fault{fault}}
			p := couchtest.NewFaultProxy(t, f.pick)
			var stats couch.Stats
			c, err := couch.New(couch.Config{URL: p.URL.String(), Stats: &stats, Logger: discard})
			require.NoError(t, err)
			s := newStore(t, c.DB(name), couch.StoreConfig{Stats: &stats})

			d, err := s.Create(ctx, counter{Type: "counter_v1.0", Name: "c", Count: 7})
			require.NoError(t, err, "the create landed")
			assert.Equal(t, 2, f.count(), "PUTs sent: the first, and the client's resend")
			assert.True(t, strings.HasPrefix(d.Rev, "1-"), "rev %s", d.Rev)
			assert.Equal(t, int64(1), stats.Retries().Ended["own write recognised"])

			all, err := direct.AllDocs(ctx, couch.ViewQuery{})
			require.NoError(t, err)
			require.Len(t, all.Rows, 1, "one document, not two")
			assert.Equal(t, d.ID, all.Rows[0].ID)
			got := stored(t, direct, d.ID)
			assert.Equal(t, 7, got.Count)
			rev, err := direct.Rev(ctx, d.ID)
			require.NoError(t, err)
			assert.Equal(t, rev, d.Rev)
		})
	}
}
