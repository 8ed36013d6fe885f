package couch_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

// viewDB returns a database holding ten fruit of three colors and a
// by_color view (map and _count reduce).
func viewDB(t *testing.T) *couch.DB {
	t.Helper()
	db := newDB(t)
	_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{{
		ID:   "_design/fruit",
		Body: []byte(`{"language":"javascript","views":{"by_color":{"map":"function(doc){ if (doc.color) { emit(doc.color, doc.n); } }","reduce":"_count"}}}`),
	}})
	require.NoError(t, err)
	colors := []string{"red", "green", "blue"}
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = map[string]any{"_id": fmt.Sprintf("f%02d", i), "type": "fruit_v1.0", "color": colors[i%3], "n": i}
	}
	_, err = db.BulkDocs(ctx, docs)
	require.NoError(t, err)
	return db
}

func TestQuery(t *testing.T) {
	db := viewDB(t)
	noReduce := couch.Bool(false)
	tests := []struct {
		name    string
		q       couch.ViewQuery
		wantIDs []string
	}{
		{"all, by key then id", couch.ViewQuery{Reduce: noReduce},
			[]string{"f02", "f05", "f08", "f01", "f04", "f07", "f00", "f03", "f06", "f09"}},
		{"key", couch.ViewQuery{Reduce: noReduce, Key: "green"}, []string{"f01", "f04", "f07"}},
		{"keys in order", couch.ViewQuery{Reduce: noReduce, Keys: []any{"red", "blue"}},
			[]string{"f00", "f03", "f06", "f09", "f02", "f05", "f08"}},
		{"range", couch.ViewQuery{Reduce: noReduce, StartKey: "green", EndKey: "red"},
			[]string{"f01", "f04", "f07", "f00", "f03", "f06", "f09"}},
		{"exclusive end", couch.ViewQuery{Reduce: noReduce, StartKey: "blue", EndKey: "red", ExclusiveEnd: true},
			[]string{"f02", "f05", "f08", "f01", "f04", "f07"}},
		{"limit and skip", couch.ViewQuery{Reduce: noReduce, Skip: 2, Limit: 3}, []string{"f08", "f01", "f04"}},
		{"descending", couch.ViewQuery{Reduce: noReduce, Descending: true, Limit: 2}, []string{"f09", "f06"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := db.Query(ctx, "fruit", "by_color", tt.q)
			require.NoError(t, err)
			ids := []string{}
			for _, r := range res.Rows {
				ids = append(ids, r.ID)
			}
			assert.Equal(t, tt.wantIDs, ids)
		})
	}
}

func TestQueryDecodesRows(t *testing.T) {
	db := viewDB(t)
	res, err := db.Query(ctx, "fruit", "by_color", couch.ViewQuery{Reduce: couch.Bool(false), Key: "blue", IncludeDocs: true})
	require.NoError(t, err)
	require.Len(t, res.Rows, 3)
	var key string
	var n int
	require.NoError(t, res.Rows[0].ScanKey(&key))
	require.NoError(t, res.Rows[0].ScanValue(&n))
	assert.Equal(t, "blue", key)
	assert.Equal(t, 2, n)

	type doc struct {
		Color string `json:"color"`
		N     int    `json:"n"`
	}
	docs, err := couch.Docs[doc](res)
	require.NoError(t, err)
	assert.Equal(t, []doc{{"blue", 2}, {"blue", 5}, {"blue", 8}}, docs)

	res, err = db.Query(ctx, "fruit", "by_color", couch.ViewQuery{Reduce: couch.Bool(false), Key: "blue"})
	require.NoError(t, err)
	var d doc
	assert.Error(t, res.Rows[0].ScanDoc(&d), "no document without IncludeDocs")
}

func TestQueryReduce(t *testing.T) {
	db := viewDB(t)
	res, err := db.Query(ctx, "fruit", "by_color", couch.ViewQuery{})
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	var total int
	require.NoError(t, res.Rows[0].ScanValue(&total))
	assert.Equal(t, 10, total)

	res, err = db.Query(ctx, "fruit", "by_color", couch.ViewQuery{Group: true})
	require.NoError(t, err)
	counts := map[string]int{}
	for _, r := range res.Rows {
		var k string
		var v int
		require.NoError(t, r.ScanKey(&k))
		require.NoError(t, r.ScanValue(&v))
		counts[k] = v
	}
	assert.Equal(t, map[string]int{"red": 4, "green": 3, "blue": 3}, counts)
}

func TestQueryMissingView(t *testing.T) {
	db := viewDB(t)
	_, err := db.Query(ctx, "fruit", "nope", couch.ViewQuery{})
	assert.ErrorIs(t, err, couch.ErrNotFound)
	_, err = db.Query(ctx, "nope", "nope", couch.ViewQuery{})
	assert.ErrorIs(t, err, couch.ErrNotFound)
}
