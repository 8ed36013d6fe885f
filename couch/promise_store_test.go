package couch_test

// Regression tests for issue 12: the places where the client broke the
// promise that a write is never lost, never lands on another document and
// never reports an outcome that did not happen. Each test names its point.

import (
	"encoding/json"
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

// narrow is a content type that declares fewer fields than the stored
// documents carry.
type narrow struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
	Note  string `json:"note,omitempty"`
}

// rawDoc reads the document id as a map.
func rawDoc(t *testing.T, db *couch.DB, id string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, db.Get(ctx, id, &m))
	return m
}

// viewDoc installs the design document _design/name holding one view,
// name, with the map function fn.
func viewDoc(t *testing.T, db *couch.DB, name, fn string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"views": map[string]any{name: map[string]string{"map": fn}}})
	require.NoError(t, err)
	_, err = db.InstallDesignDocs(ctx, []couch.DesignDoc{{ID: "_design/" + name, Body: body}})
	require.NoError(t, err)
}

// Point 1: every write path keeps the fields T does not declare, and the
// attachments.
func TestWritesKeepUnknownFieldsAndAttachments(t *testing.T) {
	tests := []struct {
		name string
		// write changes the document id through s, behind whose back
		// it may write to db.
		write func(t *testing.T, db *couch.DB, s *couch.Store[narrow], id string)
		count int
		note  any // the note field afterwards; nil for absent
	}{
		{"update", func(t *testing.T, db *couch.DB, s *couch.Store[narrow], id string) {
			res, err := s.Update(ctx, couch.ByID(id), func(n *narrow) error { n.Count++; return nil })
			require.NoError(t, err)
			assert.Equal(t, couch.StatusWritten, res.Status)
		}, 2, "keep"},
		{"update clearing a declared omitempty field", func(t *testing.T, db *couch.DB, s *couch.Store[narrow], id string) {
			_, err := s.Update(ctx, couch.ByID(id), func(n *narrow) error { n.Note = ""; return nil })
			require.NoError(t, err)
		}, 1, nil},
		{"update after a retried conflict", func(t *testing.T, db *couch.DB, s *couch.Store[narrow], id string) {
			var once sync.Once
			res, err := s.Update(ctx, couch.ByID(id), func(n *narrow) error {
				once.Do(func() { // a competing write that keeps every field
					m := rawDoc(t, db, id)
					m["count"] = m["count"].(float64) + 10
					_, err := db.Put(ctx, id, m)
					require.NoError(t, err)
				})
				n.Count++
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Conflicts)
		}, 12, "keep"},
		{"merge", func(t *testing.T, db *couch.DB, s *couch.Store[narrow], id string) {
			var once sync.Once
			res, err := s.Update(ctx, couch.ByID(id), func(n *narrow) error {
				once.Do(func() {
					m := rawDoc(t, db, id)
					m["count"] = 5.0
					_, err := db.Put(ctx, id, m)
					require.NoError(t, err)
				})
				n.Count = 7
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, couch.StatusMerged, res.Status)
		}, 11, "keep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			id := "doc"
			_, err := db.Put(ctx, id, map[string]any{
				"type": "counter_v1.0", "count": 1, "note": "keep", "owner": "ann",
				"nested":       map[string]any{"a": []int{1, 2}},
				"_attachments": map[string]any{"a.txt": map[string]any{"content_type": "text/plain", "data": "aGk="}},
			})
			require.NoError(t, err)
			merger := &scripted{desc: resolve.Description{Name: "merger", Needs: resolve.AllNeeds},
				answer: func(c *resolve.Conflict) (resolve.Decision, error) {
					// Adds both changes to the base; knows only narrow's
					// fields, as a resolver written for narrow would.
					var base, mine, theirs narrow
					_ = json.Unmarshal(c.Base, &base)
					_ = json.Unmarshal(c.Mine, &mine)
					_ = json.Unmarshal(c.Theirs, &theirs)
					doc, _ := json.Marshal(narrow{Type: theirs.Type, Count: mine.Count + theirs.Count - base.Count, Note: theirs.Note})
					return resolve.Decision{Action: resolve.ActionMerge, Doc: doc}, nil
				}}
			var r resolve.Resolver = always(resolve.Decision{Action: resolve.ActionRetry})
			if tt.name == "merge" {
				r = merger
			}
			s, err := couch.NewStore[narrow](db, couch.StoreConfig{Type: "counter_v1.0", Resolver: r, Logger: discard})
			require.NoError(t, err)

			tt.write(t, db, s, id)

			m := rawDoc(t, db, id)
			assert.EqualValues(t, tt.count, m["count"])
			assert.Equal(t, "ann", m["owner"], "a field the Go type does not declare")
			assert.Equal(t, map[string]any{"a": []any{1.0, 2.0}}, m["nested"])
			assert.Equal(t, tt.note, m["note"])
			att, _ := m["_attachments"].(map[string]any)
			require.Contains(t, att, "a.txt", "the attachment survives")
			var data []byte
			resp, err := http.Get(couchtest.URL(t).JoinPath(db.Name(), id, "a.txt").String())
			require.NoError(t, err)
			defer resp.Body.Close()
			data = make([]byte, 16)
			n, _ := resp.Body.Read(data)
			assert.Equal(t, "hi", string(data[:n]))
		})
	}
}

// Point 2: a merge over a document that is now of another type fails
// closed.
func TestMergeRefusesATypeChangedMeanwhile(t *testing.T) {
	db := newDB(t)
	merger := always(resolve.Decision{Action: resolve.ActionMerge,
		Doc: json.RawMessage(`{"type":"counter_v1.0","name":"c","count":5}`)})
	s := newStore(t, db, couch.StoreConfig{Resolver: merger})
	d := createCounter(t, s)
	var once sync.Once
	_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error {
		once.Do(func() { // a concurrent migration to the next version
			m := rawDoc(t, db, d.ID)
			m["type"] = "counter_v2.0"
			m["added_in_v2"] = true
			_, err := db.Put(ctx, d.ID, m)
			require.NoError(t, err)
		})
		c.Count++
		return nil
	})
	require.ErrorIs(t, err, couch.ErrInvalidType)
	m := rawDoc(t, db, d.ID)
	assert.Equal(t, "counter_v2.0", m["type"], "the migration stands")
	assert.Equal(t, true, m["added_in_v2"])
}

// Point 3: ByView with a nil key finds the rows whose key is null, not
// the first row of the view.
func TestByViewNilKeyMeansNull(t *testing.T) {
	db := newDB(t)
	viewDoc(t, db, "by_owner", "function(doc){ if (doc.type) { emit(doc.owner === undefined ? 'nobody' : doc.owner, null); } }")
	s := newStore(t, db, couch.StoreConfig{})
	_, err := db.Put(ctx, "owned", map[string]any{"type": "counter_v1.0", "owner": "ann", "count": 0})
	require.NoError(t, err)
	_, err = db.Put(ctx, "aardvark", map[string]any{"type": "counter_v1.0", "owner": "bob", "count": 0})
	require.NoError(t, err)

	for _, op := range []string{"get", "update", "delete"} {
		var err error
		switch op {
		case "get":
			_, err = s.Get(ctx, couch.ByView("by_owner", "by_owner", nil))
		case "update":
			_, err = s.Update(ctx, couch.ByView("by_owner", "by_owner", nil), func(c *counter) error { c.Count = 99; return nil })
		case "delete":
			_, err = s.Delete(ctx, couch.ByView("by_owner", "by_owner", nil), nil)
		}
		assert.ErrorIs(t, err, couch.ErrNotFound, "%s: no document emits the key null", op)
	}
	assert.Equal(t, 0, stored(t, db, "owned").Count)
	assert.Equal(t, 0, stored(t, db, "aardvark").Count)

	_, err = db.Put(ctx, "unowned", map[string]any{"type": "counter_v1.0", "owner": nil, "count": 0})
	require.NoError(t, err)
	res, err := s.Update(ctx, couch.ByView("by_owner", "by_owner", nil), func(c *counter) error { c.Count = 1; return nil })
	require.NoError(t, err)
	assert.Equal(t, "unowned", res.ID)
	assert.Equal(t, 1, stored(t, db, "unowned").Count)
}

// Point 4: a view that emits {_id: other} links to another document; the
// store acts on the document whose body it read, never on the emitter.
func TestByViewLinkedDocument(t *testing.T) {
	db := newDB(t)
	viewDoc(t, db, "by_alias", "function(doc){ if (doc.alias) { emit(doc.alias, {_id: doc.target}); } }")
	s := newStore(t, db, couch.StoreConfig{})
	target := createCounter(t, s)
	linkRev, err := db.Put(ctx, "link", map[string]any{"type": "counter_v1.0", "name": "link", "alias": "x", "target": target.ID})
	require.NoError(t, err)

	got, err := s.Get(ctx, couch.ByView("by_alias", "by_alias", "x"))
	require.NoError(t, err)
	assert.Equal(t, target.ID, got.ID, "the id of the document read")
	assert.Equal(t, target.Rev, got.Rev)

	res, err := s.Update(ctx, couch.ByView("by_alias", "by_alias", "x"), func(c *counter) error { c.Count = 3; return nil })
	require.NoError(t, err)
	assert.Equal(t, target.ID, res.ID)
	assert.Equal(t, 3, stored(t, db, target.ID).Count)
	rev, err := db.Rev(ctx, "link")
	require.NoError(t, err)
	assert.Equal(t, linkRev, rev, "the emitting document is untouched")
}

// conflicted writes the document id with two extra leaves beside its
// winner, as a replication would.
func conflicted(t *testing.T, db *couch.DB, id string) {
	t.Helper()
	_, err := db.Put(ctx, id, map[string]any{"type": "counter_v1.0", "name": id, "count": 1})
	require.NoError(t, err)
	var leaves []any
	for i, hash := range []string{strings.Repeat("a", 32), strings.Repeat("b", 32)} {
		leaves = append(leaves, map[string]any{"_id": id, "_rev": "1-" + hash, "type": "counter_v1.0", "name": id, "count": 10 + i})
	}
	res, err := db.BulkDocs(ctx, leaves, couch.NewEdits(false))
	require.NoError(t, err)
	for _, r := range res {
		require.NoError(t, r.Err())
	}
	var doc struct {
		Rev       string   `json:"_rev"`
		Conflicts []string `json:"_conflicts"`
	}
	require.NoError(t, db.Get(ctx, id, &doc, couch.WithConflicts()))
	require.Len(t, doc.Conflicts, 2, "two losing leaves")
}

// Point 5: deleting a document with conflicting leaves deletes them all;
// no older leaf comes back as the document.
func TestDeleteRemovesEveryLeaf(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{})
	conflicted(t, db, "doc")

	res, err := s.Delete(ctx, couch.ByID("doc"), nil)
	require.NoError(t, err)
	assert.Equal(t, couch.StatusWritten, res.Status)
	var m map[string]any
	err = db.Get(ctx, "doc", &m)
	require.ErrorIs(t, err, couch.ErrNotFound, "the document is gone, not replaced by a losing leaf: %v", m)
	revs, err := db.OpenRevs(ctx, "doc", nil)
	require.NoError(t, err)
	require.Len(t, revs, 3)
	for _, r := range revs {
		assert.True(t, r.Deleted, "leaf %s is deleted", r.Rev)
	}
}

// Point 13: Create writes with PUT and an id the client made, so that a
// retried create cannot make a second document.
func TestCreatePutsWithClientID(t *testing.T) {
	db := newDB(t)
	var mu sync.Mutex
	var seen []string
	proxy := couchtest.Proxy(t, func(r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.EscapedPath())
		mu.Unlock()
	})
	c, err := couch.New(couch.Config{URL: proxy.String(), Logger: discard})
	require.NoError(t, err)
	s := newStore(t, c.DB(db.Name()), couch.StoreConfig{})
	for range 2 {
		d, err := s.Create(ctx, counter{Type: "counter_v1.0", Name: "c"})
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{32}$`, d.ID)
		assert.Equal(t, "c", stored(t, db, d.ID).Name)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	for _, s := range seen {
		assert.Regexp(t, `^PUT /`+db.Name()+`/[0-9a-f]{32}$`, s)
	}
	assert.NotEqual(t, seen[0], seen[1])
}

// A merge written over the current revision claims what that revision
// absorbed (couch.AbsorbsField), never what the resolver's document says:
// merging mine, a resolver may copy the claim of mine's branch, which
// theirs does not hold.
func TestMergeKeepsTheirsAbsorbs(t *testing.T) {
	cases := []struct {
		name   string
		theirs any // theirs' claim, nil for none
	}{
		{name: "theirs claims nothing", theirs: nil},
		{name: "theirs has its own claim", theirs: []any{"3-cccc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := newDB(t)
			merger := always(resolve.Decision{Action: resolve.ActionMerge,
				Doc: json.RawMessage(`{"type":"counter_v1.0","name":"c","count":5,"accord_absorbs":["2-aaaa"]}`)})
			s := newStore(t, db, couch.StoreConfig{Resolver: merger})
			d := createCounter(t, s)
			var once sync.Once
			_, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error {
				once.Do(func() { // a concurrent write: theirs
					m := rawDoc(t, db, d.ID)
					m["count"] = 4.0
					delete(m, couch.AbsorbsField)
					if tc.theirs != nil {
						m[couch.AbsorbsField] = tc.theirs
					}
					_, err := db.Put(ctx, d.ID, m)
					require.NoError(t, err)
				})
				c.Count++
				return nil
			})
			require.NoError(t, err)
			m := rawDoc(t, db, d.ID)
			assert.EqualValues(t, 5, m["count"], "the merge is written")
			assert.Equal(t, tc.theirs, m[couch.AbsorbsField])
		})
	}
}
