package couch_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

func TestChangesNormal(t *testing.T) {
	db := newDB(t)
	for _, id := range []string{"a", "b"} {
		_, err := db.Put(ctx, id, map[string]any{"type": "fruit_v1.0"})
		require.NoError(t, err)
	}
	ch, err := db.Changes(ctx, couch.ChangesQuery{IncludeDocs: true})
	require.NoError(t, err)
	require.Len(t, ch.Results, 2)
	ids := []string{ch.Results[0].ID, ch.Results[1].ID}
	assert.ElementsMatch(t, []string{"a", "b"}, ids)
	assert.NotNil(t, ch.Results[0].Doc)
	assert.NotEmpty(t, ch.LastSeq)

	_, err = db.Put(ctx, "c", map[string]any{})
	require.NoError(t, err)
	next, err := db.Changes(ctx, couch.ChangesQuery{Since: ch.LastSeq})
	require.NoError(t, err)
	require.Len(t, next.Results, 1, "only what changed since LastSeq")
	assert.Equal(t, "c", next.Results[0].ID)
	assert.Nil(t, next.Results[0].Doc, "no document without IncludeDocs")

	limited, err := db.Changes(ctx, couch.ChangesQuery{Limit: 1})
	require.NoError(t, err)
	assert.Len(t, limited.Results, 1)
}

func TestChangesLongPoll(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "first", map[string]any{})
	require.NoError(t, err)
	now, err := db.Changes(ctx, couch.ChangesQuery{})
	require.NoError(t, err)

	type result struct {
		ch  *couch.Changes
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ch, err := db.Changes(c, couch.ChangesQuery{Feed: couch.FeedLongPoll, Since: now.LastSeq, Timeout: 20 * time.Second})
		done <- result{ch, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("the long poll returned before any change: %+v, %v", r.ch, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	_, err = db.Put(ctx, "second", map[string]any{})
	require.NoError(t, err)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Len(t, r.ch.Results, 1)
		assert.Equal(t, "second", r.ch.Results[0].ID)
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not return after a change")
	}
}

func TestChangesConflictsAllLeaves(t *testing.T) {
	db := newDB(t)
	rev, err := db.Put(ctx, "d", map[string]any{"v": 1})
	require.NoError(t, err)
	_, err = db.BulkDocs(ctx, []any{map[string]any{"_id": "d", "_rev": "1-11111111111111111111111111111111", "v": 2}}, couch.NewEdits(false))
	require.NoError(t, err)

	ch, err := db.Changes(ctx, couch.ChangesQuery{AllLeaves: true, IncludeDocs: true, Conflicts: true})
	require.NoError(t, err)
	require.Len(t, ch.Results, 1)
	assert.ElementsMatch(t, []string{rev, "1-11111111111111111111111111111111"}, ch.Results[0].Revs(), "style=all_docs lists both leaves")
	assert.Contains(t, string(ch.Results[0].Doc), `"_conflicts"`)

	winnerOnly, err := db.Changes(ctx, couch.ChangesQuery{})
	require.NoError(t, err)
	assert.Len(t, winnerOnly.Results[0].Revs(), 1)
}

func TestChangesDocIDs(t *testing.T) {
	db := newDB(t)
	for _, id := range []string{"a", "b", "c"} {
		_, err := db.Put(ctx, id, map[string]any{})
		require.NoError(t, err)
	}
	ch, err := db.Changes(ctx, couch.ChangesQuery{DocIDs: []string{"b"}})
	require.NoError(t, err)
	require.Len(t, ch.Results, 1)
	assert.Equal(t, "b", ch.Results[0].ID)
}

func TestChangesRejectsUnknownFeed(t *testing.T) {
	db := newDB(t)
	_, err := db.Changes(ctx, couch.ChangesQuery{Feed: "continuous"})
	assert.Error(t, err)
}
