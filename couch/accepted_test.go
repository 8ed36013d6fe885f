package couch_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/resolve"
)

// TestStoreAccepted checks what the store does with a write answered 202
// Accepted: the fault proxy turns the server's 201 into a 202 (as a
// cluster answers a write that reached fewer copies than its quorum), and,
// when the store reads the document back, a sibling of our revision is
// written first with new_edits=false, as a cluster's other copies would
// bring in. Our revision wins against a sibling whose hash is lower, and
// loses against one whose hash is higher. A revision that wins beside
// another live leaf of its generation yields to it; beside an older leaf
// it is acknowledged.
func TestStoreAccepted(t *testing.T) {
	const (
		low  = "00000000000000000000000000000000"
		high = "ffffffffffffffffffffffffffffffff"
	)
	tests := []struct {
		name     string
		sibling  string // hash of the sibling written at the read-back (or "1-hash": a leaf of generation 1); none if empty
		drop     bool   // delete the sibling too, after ours yielded
		resolver resolve.Resolver
		wantErr  bool
		want     int // the winner's count
		leaves   int // live leaves left
		stats    couch.AcceptedStats
	}{
		{"our revision wins", "", false, resolve.Basic(), false, 1, 1, couch.AcceptedStats{Accepted: 1, Won: 1}},
		{"our revision wins beside another leaf, yields, basic gives up", low, false, resolve.Basic(), true, 10, 1, couch.AcceptedStats{Accepted: 1, Yielded: 1}},
		{"our revision wins beside another leaf, yields, retry re-applies it", low, false, resolve.Retry(resolve.RetryParams{}), false, 11, 1, couch.AcceptedStats{Accepted: 1, Yielded: 1}},
		{"our revision yields, the other leaf is deleted meanwhile, ours is written back", low, true, resolve.Basic(), false, 1, 1, couch.AcceptedStats{Accepted: 1, Yielded: 1, Restored: 1}},
		{"our revision wins beside an older leaf, a branch left behind: acknowledged", "1-" + low, false, resolve.Basic(), false, 1, 2, couch.AcceptedStats{Accepted: 1, Won: 1}},
		{"our revision loses, retry re-applies it on the winner", high, false, resolve.Retry(resolve.RetryParams{}), false, 11, 1, couch.AcceptedStats{Accepted: 1, Lost: 1}},
		{"our revision loses, basic gives up", high, false, resolve.Basic(), true, 10, 1, couch.AcceptedStats{Accepted: 1, Lost: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := couchtest.NewDB(t)
			direct := newClient(t).DB(name)
			base, err := direct.Put(ctx, "c", counter{Type: "counter_v1.0", Name: "c"})
			require.NoError(t, err)
			_, baseHash, _ := strings.Cut(base, "-")

			var mu sync.Mutex
			var puts, readBacks int
			p := couchtest.NewFaultProxy(t, func(r *http.Request) couchtest.Fault {
				mu.Lock()
				defer mu.Unlock()
				q := r.URL.Query()
				switch {
				case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/c"):
					puts++
					if puts == 1 {
						return couchtest.Fault{Kind: couchtest.Restatus, Status: http.StatusAccepted}
					}
				case r.Method == http.MethodGet && q.Get("conflicts") == "true" && q.Get("revs") == "true":
					readBacks++
					if readBacks == 1 && tt.sibling != "" {
						sib := map[string]any{"_id": "c", "_rev": "2-" + tt.sibling, "type": "counter_v1.0", "name": "c", "count": 10,
							"_revisions": map[string]any{"start": 2, "ids": []string{tt.sibling, baseHash}}}
						if old, ok := strings.CutPrefix(tt.sibling, "1-"); ok {
							// A leaf of generation 1: a root of its own.
							sib = map[string]any{"_id": "c", "_rev": "1-" + old, "type": "counter_v1.0", "name": "c", "count": 10}
						}
						res, err := direct.BulkDocs(ctx, []any{sib}, couch.NewEdits(false))
						assert.NoError(t, err)
						for _, r := range res {
							assert.NoError(t, r.Err())
						}
					}
				case r.Method == http.MethodGet && r.URL.RawQuery == "" && strings.HasSuffix(r.URL.Path, "/c") && readBacks == 1 && tt.drop:
					// After ours yielded: the sibling's writer deletes
					// its own leaf too.
					tomb := map[string]any{"_id": "c", "_rev": "3-" + high, "_deleted": true,
						"_revisions": map[string]any{"start": 3, "ids": []string{high, tt.sibling, baseHash}}}
					_, err := direct.BulkDocs(ctx, []any{tomb}, couch.NewEdits(false))
					assert.NoError(t, err)
				}
				return couchtest.Fault{Kind: couchtest.Pass}
			})
			var stats couch.Stats
			c, err := couch.New(couch.Config{URL: p.URL.String(), Stats: &stats, Logger: discard})
			require.NoError(t, err)
			s := newStore(t, c.DB(name), couch.StoreConfig{Resolver: tt.resolver, Stats: &stats})

			res, err := s.Update(ctx, couch.ByID("c"), func(v *counter) error { v.Count++; return nil })
			if tt.wantErr {
				require.ErrorIs(t, err, couch.ErrConflict)
				require.ErrorIs(t, err, couch.ErrNotWinner)
			} else {
				require.NoError(t, err)
				assert.Equal(t, couch.StatusWritten, res.Status)
				assert.Equal(t, tt.want, res.Value.Count, "the acknowledged count")
			}
			assert.Equal(t, 1, readBacks, "one read-back, of the 202 only")
			assert.Equal(t, tt.stats, stats.Accepted())

			// What the server holds: the winner, and no live leaf of ours
			// besides it.
			var got struct {
				counter
				Rev       string   `json:"_rev"`
				Conflicts []string `json:"_conflicts"`
			}
			require.NoError(t, direct.Get(ctx, "c", &got, couch.WithConflicts()))
			assert.Equal(t, tt.want, got.Count, "the winner's count")
			if !tt.wantErr {
				assert.Equal(t, res.Rev, got.Rev, "the acknowledged revision is the winner")
			}
			revs, err := direct.OpenRevs(ctx, "c", nil)
			require.NoError(t, err)
			live := 0
			for _, r := range revs {
				if !r.Deleted {
					live++
				}
			}
			assert.Equal(t, tt.leaves, live, "live leaves: %+v", revs)
			assert.Len(t, got.Conflicts, tt.leaves-1)
		})
	}
}

// TestStoreQuorumNotMet checks that a write the server really answers 202
// Accepted (w=2 on a single node, added to every write by a proxy) is
// read back and acknowledged.
func TestStoreQuorumNotMet(t *testing.T) {
	pouch := couchtest.PouchDB(t)
	if pouch {
		t.Log("pouchdb-server ignores w and answers 201: the real 202 is checked on Apache CouchDB only (TestStoreAccepted forces one on both)")
	}
	name := couchtest.NewDB(t)
	u := couchtest.Proxy(t, func(r *http.Request) {
		if r.Method == http.MethodPut {
			q := r.URL.Query()
			q.Set("w", "2")
			r.URL.RawQuery = q.Encode()
		}
	})
	var stats couch.Stats
	c, err := couch.New(couch.Config{URL: u.String(), Stats: &stats, Logger: discard})
	require.NoError(t, err)
	s := newStore(t, c.DB(name), couch.StoreConfig{Stats: &stats})
	d := createCounter(t, s)
	res, err := s.Update(ctx, couch.ByID(d.ID), func(v *counter) error { v.Count++; return nil })
	require.NoError(t, err)
	assert.Equal(t, couch.StatusWritten, res.Status)
	var got counter
	require.NoError(t, c.DB(name).Get(ctx, d.ID, &got))
	assert.Equal(t, 1, got.Count)
	want := couch.AcceptedStats{Accepted: 1, Won: 1}
	if pouch {
		want = couch.AcceptedStats{}
	}
	assert.Equal(t, want, stats.Accepted())
}
