package couch_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
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

// TestInfo reads a database's info. CouchDB 3 reports its sizes (file,
// active, external); pouchdb-server in memory reports none.
func TestInfo(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "x", map[string]any{"color": strings.Repeat("red", 100)})
	require.NoError(t, err)
	info, err := db.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, db.Name(), info.Name)
	assert.EqualValues(t, 1, info.DocCount)
	assert.NotEmpty(t, info.UpdateSeq)
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server in memory reports no sizes: they are checked on Apache CouchDB only")
		assert.Nil(t, info.Sizes)
		assert.Nil(t, info.DiskSize)
		return
	}
	require.NotNil(t, info.Sizes, "CouchDB 2+ reports sizes")
	require.NotNil(t, info.Sizes.File)
	require.NotNil(t, info.Sizes.Active)
	require.NotNil(t, info.Sizes.External)
	file, active, external := *info.Sizes.File, *info.Sizes.Active, *info.Sizes.External
	t.Logf("sizes: file %d, active %d, external %d", file, active, external)
	assert.Positive(t, active)
	assert.LessOrEqual(t, active, file, "the live data fits in the file")
	assert.GreaterOrEqual(t, external, int64(300), "the document's 300 bytes of color, uncompressed, at least")
	assert.Nil(t, info.DataSize, "CouchDB 3 no longer reports 1.x's data_size")
}

// TestRevAsksHead checks that Rev reads the revision from the ETag of a
// HEAD answer, as CouchDB sends it, and asks GET only of pouchdb-server,
// whose ETag is not the revision.
func TestRevAsksHead(t *testing.T) {
	c, buf := loggedClient(t)
	db := c.DB(couchtest.NewDB(t))
	rev1, err := db.Put(ctx, "apple", fruit{Type: "fruit_v1.0", Color: "red"})
	require.NoError(t, err)
	rev2, err := db.Put(ctx, "apple", fruit{Rev: rev1, Type: "fruit_v1.0", Color: "green"})
	require.NoError(t, err)
	before := len(requestsIn(t, buf))

	got, err := db.Rev(ctx, "apple")
	require.NoError(t, err)
	assert.Equal(t, rev2, got, "Rev returns the current revision")
	path := "/" + db.Name() + "/apple"
	want := []string{"HEAD " + path + " 200"}
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server's ETag is a weak hash, not the revision: Rev asks GET too; the ETag as revision is checked on Apache CouchDB only")
		want = append(want, "GET "+path+" 200")
	}
	assert.Equal(t, want, requestsIn(t, buf)[before:])
}

// TestPutAccepted checks what a write answered 202 Accepted returns.
// CouchDB answers 202 to a batch=ok write, before it writes and without
// a revision, and to a write that reached fewer copies than its w asked
// (here w=2 on a single node), with the revision. pouchdb-server ignores
// both parameters and answers 201.
func TestPutAccepted(t *testing.T) {
	pouch := couchtest.PouchDB(t)
	if pouch {
		t.Log("pouchdb-server writes batch=ok and w=2 at once (201): the 202 answers are checked on Apache CouchDB only")
	}
	w2 := couch.Option(func(q url.Values) { q.Set("w", "2") })
	tests := []struct {
		name       string
		opt        couch.Option
		wantStatus int
		wantRev    bool
	}{
		{"batch", couch.Batch(), http.StatusAccepted, false},
		{"quorum not met", w2, http.StatusAccepted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, buf := loggedClient(t)
			db := c.DB(couchtest.NewDB(t))
			before := len(requestsIn(t, buf))
			rev, err := db.Put(ctx, "apple", fruit{Type: "fruit_v1.0", Color: "red"}, tt.opt)
			require.NoError(t, err, "202 is a success")
			status := tt.wantStatus
			if pouch {
				status = http.StatusCreated
			}
			assert.Equal(t, []string{fmt.Sprintf("PUT /%s/apple %d", db.Name(), status)}, requestsIn(t, buf)[before:])
			if tt.wantRev || pouch {
				assert.Regexp(t, `^1-[0-9a-f]{32}$`, rev)
			} else {
				assert.Empty(t, rev, "a batch write has no revision yet")
			}
			// The write happens: at once, or within CouchDB's batch
			// interval (a second by default).
			var got fruit
			require.Eventually(t, func() bool { return db.Get(ctx, "apple", &got) == nil }, 20*time.Second, 20*time.Millisecond)
			assert.Equal(t, "red", got.Color)
			if tt.wantRev {
				assert.Equal(t, rev, got.Rev)
			}
		})
	}
}
