package couch_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// byNameDesign is a view from a counter's name to the counter, as the
// samples' fruit_by_fruit_id is from fruit_id to the fruit.
var byNameDesign = map[string]any{"views": map[string]any{
	"by_name": map[string]string{"map": `function(doc) { if (doc.type === "counter_v1.0") { emit(doc.name, null); } }`},
}}

// named accepts a document whose name is name, as the by_name view
// emits it.
func named(name string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var c counter
		return json.Unmarshal(raw, &c) == nil && c.Type == "counter_v1.0" && c.Name == name
	}
}

// TestByIDOr checks that ByIDOr reads a document by its id with one
// document GET and no view query when the document there is the one the
// view would find, and falls back to the view otherwise: no such
// document, or one the match refuses.
func TestByIDOr(t *testing.T) {
	client, buf := loggedClient(t)
	db := client.DB(couchtest.NewDB(t))
	_, err := db.Put(ctx, "_design/by_name", byNameDesign)
	require.NoError(t, err)
	for id, c := range map[string]counter{
		"apple":         {Type: "counter_v1.0", Name: "apple", Count: 1},  // id = name
		"random-1":      {Type: "counter_v1.0", Name: "pear", Count: 2},   // installed under another id
		"plum":          {Type: "counter_v1.0", Name: "cherry", Count: 3}, // id of one, name of another
		"random-2":      {Type: "counter_v1.0", Name: "plum", Count: 4},
		"not-a-counter": {Type: "other_v1.0", Name: "x"},
	} {
		_, err := db.Put(ctx, id, c)
		require.NoError(t, err)
	}
	s := newStore(t, db, couch.StoreConfig{})
	tests := []struct {
		name      string
		key       string
		wantID    string
		wantCount int
		// The requests made, by path below the database.
		wantRequests []string
	}{
		{"id is the key", "apple", "apple", 1, []string{"GET /apple 200"}},
		{"no document under the key's id", "pear", "random-1", 2,
			[]string{"GET /pear 404", "GET /_design/by_name/_view/by_name 200"}},
		{"document under the key's id is another's", "plum", "random-2", 4,
			[]string{"GET /plum 200", "GET /_design/by_name/_view/by_name 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := len(requestsIn(t, buf))
			loc := couch.ByIDOr(tt.key, named(tt.key), couch.ByView("by_name", "by_name", tt.key))
			d, err := s.Get(ctx, loc)
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, d.ID)
			assert.Equal(t, tt.wantCount, d.Value.Count)
			assert.Equal(t, tt.wantRequests, below(db.Name(), requestsIn(t, buf)[seen:]))
		})
	}
	t.Run("neither", func(t *testing.T) {
		_, err := s.Get(ctx, couch.ByIDOr("fig", named("fig"), couch.ByView("by_name", "by_name", "fig")))
		require.ErrorIs(t, err, couch.ErrNotFound)
	})
	t.Run("update through it writes the document found", func(t *testing.T) {
		res, err := s.Update(ctx, couch.ByIDOr("plum", named("plum"), couch.ByView("by_name", "by_name", "plum")),
			func(c *counter) error { c.Count += 10; return nil })
		require.NoError(t, err)
		assert.Equal(t, "random-2", res.Doc.ID)
		var stored counter
		require.NoError(t, db.Get(ctx, "plum", &stored))
		assert.Equal(t, 3, stored.Count, "the document under the key's id is another's and was left alone")
		require.NoError(t, db.Get(ctx, "random-2", &stored))
		assert.Equal(t, 14, stored.Count)
	})
	t.Run("missing database", func(t *testing.T) {
		seen := len(requestsIn(t, buf))
		gone := client.DB(couchtest.DBName(t))
		s := newStore(t, gone, couch.StoreConfig{})
		_, err := s.Get(ctx, couch.ByIDOr("apple", nil, couch.ByView("by_name", "by_name", "apple")))
		require.ErrorIs(t, err, couch.ErrDatabaseNotFound)
		for _, r := range requestsIn(t, buf)[seen:] {
			assert.NotContains(t, r, "_view", "no view query on a missing database")
		}
	})
}

// below keeps the requests on the database db, with the path below it.
func below(db string, requests []string) []string {
	var out []string
	for _, r := range requests {
		method, rest, _ := strings.Cut(r, " ")
		if p, ok := strings.CutPrefix(rest, "/"+db+"/"); ok {
			out = append(out, method+" /"+p)
		}
	}
	return out
}

// TestCreateWithID checks that CreateWithID writes under the caller's
// id, and refuses an id that is taken without changing its document.
func TestCreateWithID(t *testing.T) {
	db := newDB(t)
	s := newStore(t, db, couch.StoreConfig{})
	d, err := s.CreateWithID(ctx, "chosen", counter{Type: "counter_v1.0", Name: "first", Count: 1})
	require.NoError(t, err)
	assert.Equal(t, "chosen", d.ID)
	assert.True(t, strings.HasPrefix(d.Rev, "1-"), "rev %q", d.Rev)
	var stored counter
	require.NoError(t, db.Get(ctx, "chosen", &stored))
	assert.Equal(t, "first", stored.Name)

	tests := []struct {
		name string
		id   string
		v    counter
		want error
	}{
		{"taken", "chosen", counter{Type: "counter_v1.0", Name: "second"}, couch.ErrConflict},
		{"empty id", "", counter{Type: "counter_v1.0"}, couch.ErrInvalidID},
		{"another type", "other", counter{Type: "other_v1.0"}, couch.ErrInvalidType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateWithID(ctx, tt.id, tt.v)
			require.ErrorIs(t, err, tt.want)
		})
	}
	require.NoError(t, db.Get(ctx, "chosen", &stored))
	assert.Equal(t, "first", stored.Name, "the taken id's document is unchanged")
	assert.ErrorIs(t, db.Get(ctx, "other", &stored), couch.ErrNotFound)
}
