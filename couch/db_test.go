package couch_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

type fruit struct {
	ID    string `json:"_id,omitempty"`
	Rev   string `json:"_rev,omitempty"`
	Type  string `json:"type"`
	Color string `json:"color"`
}

func TestDocumentLifecycle(t *testing.T) {
	db := newDB(t)

	id, rev1, err := db.Post(ctx, fruit{Type: "fruit_v1.0", Color: "red"})
	require.NoError(t, err)
	require.NotEmpty(t, id, "the server chose an id")

	var got fruit
	require.NoError(t, db.Get(ctx, id, &got))
	assert.Equal(t, fruit{ID: id, Rev: rev1, Type: "fruit_v1.0", Color: "red"}, got)

	rev, err := db.Rev(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, rev1, rev)

	got.Color = "green"
	rev2, err := db.Put(ctx, id, got)
	require.NoError(t, err)
	assert.NotEqual(t, rev1, rev2)

	// Writing on a stale revision is a conflict.
	stale := got
	stale.Rev = rev1
	_, err = db.Put(ctx, id, stale)
	require.ErrorIs(t, err, couch.ErrConflict)
	assert.Equal(t, 409, couch.HTTPStatus(err))

	// An old revision can still be read.
	var old fruit
	require.NoError(t, db.Get(ctx, id, &old, couch.WithRev(rev1)))
	assert.Equal(t, "red", old.Color)

	var withRevs struct {
		Revisions struct {
			Start int      `json:"start"`
			IDs   []string `json:"ids"`
		} `json:"_revisions"`
	}
	require.NoError(t, db.Get(ctx, id, &withRevs, couch.WithRevs()))
	assert.Equal(t, 2, withRevs.Revisions.Start)
	assert.Len(t, withRevs.Revisions.IDs, 2)

	_, err = db.Delete(ctx, id, rev1)
	require.ErrorIs(t, err, couch.ErrConflict, "delete with a stale rev")
	_, err = db.Delete(ctx, id, rev2)
	require.NoError(t, err)
	require.ErrorIs(t, db.Get(ctx, id, &got), couch.ErrNotFound)
	_, err = db.Rev(ctx, id)
	require.ErrorIs(t, err, couch.ErrNotFound)
}

func TestGetMissing(t *testing.T) {
	db := newDB(t)
	var v map[string]any
	err := db.Get(ctx, "nope", &v)
	require.ErrorIs(t, err, couch.ErrNotFound)
	var e *couch.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "not_found", e.Name, "CouchDB's error name is kept")
}

func TestGetRawKeepsBytes(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "raw", json.RawMessage(`{"type":"fruit_v1.0","n":1.50}`))
	require.NoError(t, err)
	var raw json.RawMessage
	require.NoError(t, db.Get(ctx, "raw", &raw))
	assert.Contains(t, string(raw), `"_id":"raw"`)
}

func TestEmptyIDSendsNothing(t *testing.T) {
	db := newDB(t)
	var v any
	for _, id := range []string{"", "_design/", "_local/"} {
		assert.ErrorIs(t, db.Get(ctx, id, &v), couch.ErrInvalidID, "Get(%q)", id)
		_, err := db.Put(ctx, id, map[string]any{})
		assert.ErrorIs(t, err, couch.ErrInvalidID, "Put(%q)", id)
	}
}

// TestIDEscaping writes a document under each awkward id and reads it
// back, and checks that no id reaches another resource: a decoy document
// stands where a badly escaped id would land.
func TestIDEscaping(t *testing.T) {
	db := newDB(t)
	decoys := []string{"a", "a b", "a/b"}
	for _, id := range decoys {
		_, err := db.Put(ctx, id, map[string]any{"decoy": id})
		require.NoError(t, err)
	}
	ids := []string{
		"a/b/c", "a?b", "a?rev=1-x", "a#b", "a%2Fb", "a%b", "a+b", "a b c",
		"ünïcødé", "日本語", "emoji 🍎", "a;b", "a&b=c", "..", "a\\b",
		"_design/x", "_design/x/y", "_design/a?b", "_local/x", "_local/a/b",
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			var body any = map[string]any{"me": id}
			if len(id) > 8 && id[:8] == "_design/" {
				body = map[string]any{"me": id, "views": map[string]any{}}
			}
			rev, err := db.Put(ctx, id, body)
			require.NoError(t, err, "Put(%q)", id)

			var got map[string]any
			require.NoError(t, db.Get(ctx, id, &got), "Get(%q)", id)
			assert.Equal(t, id, got["_id"], "Get(%q) read another document", id)
			assert.Equal(t, id, got["me"])

			if id[0] != '_' || id[:7] == "_design" {
				gotRev, err := db.Rev(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, rev, gotRev)
			}
			_, err = db.Delete(ctx, id, rev)
			require.NoError(t, err, "Delete(%q)", id)
		})
	}
	// The decoys are untouched: no write above landed on them.
	for _, id := range decoys {
		var got map[string]any
		require.NoError(t, db.Get(ctx, id, &got))
		assert.Equal(t, id, got["decoy"], "decoy %q", id)
		assert.Equal(t, "1-", got["_rev"].(string)[:2], "decoy %q was rewritten", id)
	}
}

func TestBulkDocs(t *testing.T) {
	db := newDB(t)
	rev, err := db.Put(ctx, "taken", map[string]any{"v": 1})
	require.NoError(t, err)

	res, err := db.BulkDocs(ctx, []any{
		map[string]any{"_id": "one", "v": 1},
		map[string]any{"_id": "taken", "v": 2}, // no _rev: a conflict
		map[string]any{"_id": "two", "v": 3},
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Err())
	assert.ErrorIs(t, res[1].Err(), couch.ErrConflict)
	assert.NoError(t, res[2].Err())
	assert.Equal(t, "two", res[2].ID)
	assert.NotEmpty(t, res[2].Rev)

	// new_edits=false stores a revision as given, creating a replication
	// conflict beside the current one.
	res, err = db.BulkDocs(ctx, []any{
		map[string]any{"_id": "taken", "_rev": "1-00000000000000000000000000000000", "v": 9},
	}, couch.NewEdits(false))
	require.NoError(t, err)
	for _, r := range res {
		assert.NoError(t, r.Err())
	}
	var doc struct {
		Rev       string   `json:"_rev"`
		Conflicts []string `json:"_conflicts"`
	}
	require.NoError(t, db.Get(ctx, "taken", &doc, couch.WithConflicts()))
	all := append([]string{doc.Rev}, doc.Conflicts...)
	assert.ElementsMatch(t, []string{rev, "1-00000000000000000000000000000000"}, all)

	revs, err := db.OpenRevs(ctx, "taken", nil)
	require.NoError(t, err)
	assert.Len(t, revs, 2, "both leaves")
	revs, err = db.OpenRevs(ctx, "taken", []string{"1-00000000000000000000000000000000", "1-ffffffffffffffffffffffffffffffff"})
	require.NoError(t, err)
	require.Len(t, revs, 2)
	assert.False(t, revs[0].Missing)
	assert.JSONEq(t, `9`, string(mustField(t, revs[0].Doc, "v")))
	assert.True(t, revs[1].Missing)
	assert.Equal(t, "1-ffffffffffffffffffffffffffffffff", revs[1].Rev)
}

func mustField(t *testing.T, doc json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &m))
	return m[name]
}

func TestAllDocs(t *testing.T) {
	db := newDB(t)
	for _, id := range []string{"c", "a", "b"} {
		_, err := db.Put(ctx, id, fruit{Type: "fruit_v1.0", Color: id})
		require.NoError(t, err)
	}
	res, err := db.AllDocs(ctx, couch.ViewQuery{IncludeDocs: true})
	require.NoError(t, err)
	assert.Equal(t, 3, res.TotalRows)
	docs, err := couch.Docs[fruit](res)
	require.NoError(t, err)
	colors := []string{}
	for _, d := range docs {
		colors = append(colors, d.Color)
	}
	assert.Equal(t, []string{"a", "b", "c"}, colors, "sorted by id")

	res, err = db.AllDocs(ctx, couch.ViewQuery{Keys: []any{"b", "zzz"}})
	require.NoError(t, err)
	require.Len(t, res.Rows, 2)
	assert.Equal(t, "b", res.Rows[0].ID)
	assert.Equal(t, "not_found", res.Rows[1].Error)
}

func TestInfo(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "x", map[string]any{})
	require.NoError(t, err)
	info, err := db.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, db.Name(), info.Name)
	assert.EqualValues(t, 1, info.DocCount)
	assert.NotEmpty(t, info.UpdateSeq)
}
