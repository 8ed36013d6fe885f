package couch_test

// Regression tests for issue 12, the client's side: empty lists, _local
// revisions, maintenance mode, replication counts, re-creating a deleted
// database, system database names, and what a 404 says is missing.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// Point 6: an empty list of keys or ids selects nothing.
func TestEmptyListsSelectNothing(t *testing.T) {
	c := newClient(t)
	db := viewDB(t)
	tests := []struct {
		name string
		n    func(t *testing.T) int
	}{
		{"view Keys", func(t *testing.T) int {
			res, err := db.Query(ctx, "fruit", "by_color", couch.ViewQuery{Keys: []any{}, Reduce: couch.Bool(false)})
			require.NoError(t, err)
			return len(res.Rows)
		}},
		{"all docs Keys", func(t *testing.T) int {
			res, err := db.AllDocs(ctx, couch.ViewQuery{Keys: []any{}})
			require.NoError(t, err)
			return len(res.Rows)
		}},
		{"changes DocIDs", func(t *testing.T) int {
			res, err := db.Changes(ctx, couch.ChangesQuery{DocIDs: []string{}})
			require.NoError(t, err)
			return len(res.Results)
		}},
		{"replication DocIDs", func(t *testing.T) int {
			dst := c.DB(couchtest.NewDB(t))
			_, err := c.Replicate(ctx, couch.Replication{Source: db.Name(), Target: dst.Name(), DocIDs: []string{}})
			require.NoError(t, err)
			info, err := dst.Info(ctx)
			require.NoError(t, err)
			return int(info.DocCount)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, 0, tt.n(t))
		})
	}
	_, err := c.Replicate(ctx, couch.Replication{Source: db.Name(), Target: "never_created", DocIDs: []string{}, Continuous: true})
	assert.ErrorIs(t, err, couch.ErrNoDocIDs, "a continuous replication of no document has nothing to run")
}

// Point 7: the revision of a _local document is its revision, not the
// ETag (a hash on Apache CouchDB).
func TestRevOfLocalDocument(t *testing.T) {
	db := newDB(t)
	for _, id := range []string{"_local/state", "plain"} {
		rev, err := db.Put(ctx, id, map[string]any{"n": 1})
		require.NoError(t, err)
		got, err := db.Rev(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, rev, got, id)
	}
}

// setConfig sets a key of the server's configuration (Apache CouchDB) and
// returns its old value.
func setConfig(t *testing.T, server *url.URL, section, key, value string) {
	t.Helper()
	u := server.JoinPath("_node", "_local", "_config", section, key)
	body, _ := json.Marshal(value)
	req, err := http.NewRequest(http.MethodPut, u.String(), strings.NewReader(string(body)))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "PUT %s/%s", section, key)
}

// hasUp reports whether the server has /_up (Apache CouchDB does,
// pouchdb-server does not).
func hasUp(t *testing.T) bool {
	t.Helper()
	resp, err := http.Get(couchtest.URL(t).JoinPath("_up").String())
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Point 8: Ping reports a server in maintenance mode or "nolb" as not
// serving. Maintenance mode refuses every database request, so the test
// switches a server of its own, never the one other test binaries share.
func TestPingMaintenanceMode(t *testing.T) {
	require.NoError(t, newClient(t).Ping(ctx))
	if !hasUp(t) {
		t.Log("the server has no /_up (pouchdb-server) and no maintenance mode; Ping fell back to GET / above. Maintenance mode is checked on Apache CouchDB.")
		return
	}
	own := couchtest.StartCouchDB(t).URL()
	c, err := couch.New(couch.Config{URL: own.String(), Logger: discard})
	require.NoError(t, err)
	require.NoError(t, c.Ping(ctx))
	for _, mode := range []string{"true", "nolb"} {
		setConfig(t, own, "couchdb", "maintenance_mode", mode)
		err := c.Ping(ctx)
		require.ErrorIs(t, err, couch.ErrNotServing, "maintenance_mode=%s", mode)
	}
	setConfig(t, own, "couchdb", "maintenance_mode", "false")
	require.NoError(t, c.Ping(ctx))
}

// Point 9: a replication with nothing to copy reports nothing copied,
// not the counts of the session before.
func TestReplicateNoChangesCountsNothing(t *testing.T) {
	c := newClient(t)
	src := c.DB(couchtest.NewDB(t))
	dst := c.DB(couchtest.NewDB(t))
	for i := range 3 {
		_, err := src.Put(ctx, fmt.Sprint(i), map[string]any{"n": i})
		require.NoError(t, err)
	}
	r := couch.Replication{Source: src.Name(), Target: dst.Name()}
	first, err := c.Replicate(ctx, r)
	require.NoError(t, err)
	require.EqualValues(t, 3, first.DocsWritten)

	second, err := c.Replicate(ctx, r)
	require.NoError(t, err)
	t.Logf("second answer: no_changes=%v (Apache CouchDB says no_changes and repeats the history)", second.NoChanges)
	assert.EqualValues(t, 0, second.DocsWritten)
	assert.EqualValues(t, 0, second.DocsRead)
}

// Point 10: right after DeleteDB, DBExists says the database is gone and
// EnsureDB creates it, every time, as the installer's -delete does (Apache
// CouchDB answers 500 "No DB shards could be opened", or 412, for a few
// milliseconds after a delete).
//
// Four databases go through it side by side: the server shows the race
// under load, as when the installer's tests run in parallel.
func TestEnsureDBAfterDeleteDB(t *testing.T) {
	for w := range 4 {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			t.Parallel()
			ensureAfterDelete(t, 15)
		})
	}
}

// ensureAfterDelete creates, fills, deletes and re-creates a database
// rounds times.
func ensureAfterDelete(t *testing.T, rounds int) {
	c := newClient(t)
	name := couchtest.DBName(t)
	t.Cleanup(func() { _ = c.DeleteDB(ctx, name) })
	for i := range rounds {
		created, err := c.EnsureDB(ctx, name)
		require.NoError(t, err, "round %d", i)
		require.True(t, created, "round %d: the database did not exist", i)
		db := c.DB(name)
		viewDoc(t, db, "v", "function(doc){ emit(doc.round, null); }")
		_, err = db.Put(ctx, "doc", map[string]any{"round": i})
		require.NoError(t, err, "round %d: the database is there", i)
		_, err = db.Query(ctx, "v", "v", couch.ViewQuery{})
		require.NoError(t, err, "round %d", i)
		require.NoError(t, c.DeleteDB(ctx, name), "round %d", i)
		exists, err := c.DBExists(ctx, name)
		require.NoError(t, err, "round %d: DBExists right after DeleteDB", i)
		require.False(t, exists, "round %d", i)
	}
}

// Point 11: the system databases are valid names.
func TestSystemDatabaseNames(t *testing.T) {
	for _, name := range []string{"_users", "_replicator", "_global_changes", "shard/_replicator", "a/_users"} {
		assert.NoError(t, couch.CheckDBName(name), name)
	}
	for _, name := range []string{"_foo", "_users_not", "_", "_Users", "_global_changes_x", "/_users"} {
		assert.ErrorIs(t, couch.CheckDBName(name), couch.ErrInvalidDBName, name)
	}
	c := newClient(t)
	for _, name := range []string{"_users", "_replicator"} {
		_, err := c.EnsureDB(ctx, name)
		require.NoError(t, err, "EnsureDB(%q)", name)
		exists, err := c.DBExists(ctx, name)
		require.NoError(t, err)
		assert.True(t, exists, name)
	}
}

// Point 13: a missing database or design document is told apart from a
// missing document, and Create writes with PUT and an id of its own.
func TestMissingDatabaseOrViewIsNotAMissingDocument(t *testing.T) {
	c := newClient(t)
	db := newDB(t)
	viewDoc(t, db, "by_name", "function(doc){ emit(doc.name, null); }")
	s := newStore(t, db, couch.StoreConfig{})
	gone := newStore(t, c.DB(couchtest.DBName(t)), couch.StoreConfig{})
	tests := []struct {
		name string
		err  func() error
		want error // nil: a plain missing document
	}{
		{"missing document by id", func() error { _, err := s.Get(ctx, couch.ByID("nope")); return err }, nil},
		{"missing key in view", func() error { _, err := s.Get(ctx, couch.ByView("by_name", "by_name", "nope")); return err }, nil},
		{"missing database by id", func() error { _, err := gone.Get(ctx, couch.ByID("nope")); return err }, couch.ErrDatabaseNotFound},
		{"missing database by view", func() error { _, err := gone.Get(ctx, couch.ByView("by_name", "by_name", "x")); return err }, couch.ErrDatabaseNotFound},
		{"missing design document", func() error { _, err := s.Get(ctx, couch.ByView("nope", "by_name", "x")); return err }, couch.ErrViewNotFound},
		{"missing view", func() error { _, err := s.Get(ctx, couch.ByView("by_name", "nope", "x")); return err }, couch.ErrViewNotFound},
		{"update in a missing database", func() error {
			_, err := gone.Update(ctx, couch.ByID("x"), func(*counter) error { return nil })
			return err
		}, couch.ErrDatabaseNotFound},
		{"query of a missing design document", func() error {
			_, err := db.Query(ctx, "nope", "nope", couch.ViewQuery{})
			return err
		}, couch.ErrViewNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			require.ErrorIs(t, err, couch.ErrNotFound, "still a 404")
			for _, sentinel := range []error{couch.ErrDatabaseNotFound, couch.ErrViewNotFound} {
				assert.Equal(t, sentinel == tt.want, errors.Is(err, sentinel), "errors.Is(%v, %v)", err, sentinel)
			}
		})
	}
}

// TestDBExistsRetriesOnce: DBExists asks again after a 5xx itself, so the
// client's retry policy must not retry each of its tries as well (4 × 4
// requests, and the client's retry budget spent on one question).
func TestDBExistsRetriesOnce(t *testing.T) {
	var heads atomic.Int32
	p := couchtest.NewFaultProxy(t, func(r *http.Request) couchtest.Fault {
		if r.Method == http.MethodHead {
			heads.Add(1)
			return couchtest.Fault{Kind: couchtest.Status, Status: http.StatusInternalServerError}
		}
		return couchtest.Fault{}
	})
	var stats couch.Stats
	c, err := couch.New(couch.Config{URL: p.URL.String(), Stats: &stats, Logger: discard})
	require.NoError(t, err)
	_, err = c.DBExists(ctx, "anything")
	require.ErrorIs(t, err, couch.ErrServerError, "a server that keeps answering 500 is an error, never a guess")
	assert.Equal(t, int32(4), heads.Load(), "DBExists's own tries, each sent once")
	assert.Zero(t, stats.Retries().Retries[couch.RetryStatus], "the client's policy retried none of them")
}
