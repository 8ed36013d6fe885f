package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// TestSweepRemembersACompactedAncestor checks that a conflict whose common
// ancestor compaction removed is still merged from it when the client's
// store read it: a store adds a tasting on the ancestor, replication
// brings a sibling with two more, and the database is compacted (Apache
// CouchDB compacts by itself while a document is written hard). Without
// the client's revision cache the sweep can only leave the conflict
// (base_missing).
func TestSweepRemembersACompactedAncestor(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cacheBytes int
		left       int // leaves the sweep left
	}{
		{"cache", 0, 0},
		{"no cache", -1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), RevisionCacheBytes: tc.cacheBytes})
			require.NoError(t, err)
			db := c.DB(couchtest.NewDB(t))
			base := branch(t, db, "apple", fruitBody(0, "red", "2026-01-01"), "a")
			store, err := couch.NewStore[tasted](db, couch.StoreConfig{Type: "fruit_v1.0", Resolver: fruitMerge(), Logger: discard})
			require.NoError(t, err)
			_, err = store.Update(ctx, couch.ByID("apple"), func(f *tasted) error {
				f.Tastings++
				f.UpdatedOn = "2026-01-02"
				return nil
			})
			require.NoError(t, err)
			// The sibling replication brings: two tastings on a, written
			// elsewhere.
			branch(t, db, "apple", fruitBody(2, "green", "2026-01-03"), "l", "a")
			compactDB(t, db)
			var gone []couch.Revision
			gone, err = db.OpenRevs(ctx, "apple", []string{base})
			require.NoError(t, err)
			require.True(t, len(gone) == 1 && gone[0].Missing, "compaction removed the ancestor's body: %+v", gone)

			settled, err := newSweeper(t, db, fruitMerge()).Settle(ctx, "apple")
			require.NoError(t, err)
			assert.Equal(t, tc.left, settled.Left)
			if tc.left == 0 {
				tastings, _ := settledFruit(t, db, "apple")
				assert.Equal(t, 1+2, tastings, "each branch's tastings once, merged from the ancestor")
			}
		})
	}
}
