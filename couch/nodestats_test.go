package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// TestNodeStats reads CouchDB's counters before and after requests of
// its own, and checks that they grew by at least those requests (other
// tests may share the server, so by at least, not exactly).
func TestNodeStats(t *testing.T) {
	c := newClient(t)
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server has no /_node/_local/_stats: NodeStats is checked on Apache CouchDB only")
		_, err := c.NodeStats(ctx)
		assert.ErrorIs(t, err, couch.ErrNotFound)
		return
	}
	db := c.DB(couchtest.NewDB(t))
	_, err := db.Put(ctx, "apple", map[string]any{"color": "red"})
	require.NoError(t, err)

	before, err := c.NodeStats(ctx)
	require.NoError(t, err)
	t.Logf("before: %+v", before)
	assert.Positive(t, before.Requests)
	assert.Positive(t, before.OpenDatabases)

	const reads = 3
	for range reads {
		var doc map[string]any
		require.NoError(t, db.Get(ctx, "apple", &doc))
	}
	var doc map[string]any
	require.ErrorIs(t, db.Get(ctx, "pear", &doc), couch.ErrNotFound)
	_, err = db.Put(ctx, "banana", map[string]any{"color": "yellow"})
	require.NoError(t, err)

	after, err := c.NodeStats(ctx)
	require.NoError(t, err)
	t.Logf("after: %+v", after)
	tests := []struct {
		name          string
		before, after int64
		atLeast       int64
	}{
		// The first stats request is counted too.
		{"requests", before.Requests, after.Requests, reads + 3},
		{"GET requests", before.RequestsByMethod["GET"], after.RequestsByMethod["GET"], reads + 2},
		{"PUT requests", before.RequestsByMethod["PUT"], after.RequestsByMethod["PUT"], 1},
		{"200 answers", before.ResponsesByStatus["200"], after.ResponsesByStatus["200"], reads},
		{"201 answers", before.ResponsesByStatus["201"], after.ResponsesByStatus["201"], 1},
		{"404 answers", before.ResponsesByStatus["404"], after.ResponsesByStatus["404"], 1},
		{"database reads", before.DatabaseReads, after.DatabaseReads, reads},
		{"database writes", before.DatabaseWrites, after.DatabaseWrites, 1},
	}
	for _, tt := range tests {
		assert.GreaterOrEqual(t, tt.after-tt.before, tt.atLeast, "%s grew from %d to %d", tt.name, tt.before, tt.after)
	}
}
