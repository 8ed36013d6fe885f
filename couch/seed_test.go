package couch_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

const (
	appleSeed = `{"_id":"apple","type":"fruit_v1.0","color":"red"}`
	limeSeed  = `{"type":"fruit_v1.0","color":"green"}`
)

func TestLoadSeedDocs(t *testing.T) {
	fsys := fstest.MapFS{
		"seed/a.json":      {Data: []byte(appleSeed)},
		"seed/lime.json":   {Data: []byte(limeSeed)},
		"seed/README.md":   {Data: []byte("not a seed doc")},
		"seed/sub/x.json":  {Data: []byte(`not even JSON`)},
		"other/pear.json":  {Data: []byte(`{"type":"fruit_v1.0"}`)},
		"seed/notes.jsonc": {Data: []byte(`// no`)},
	}
	docs, err := couch.LoadSeedDocs(fsys, "seed")
	require.NoError(t, err)
	require.Len(t, docs, 2)
	assert.Equal(t, "apple", docs[0].ID, "the _id in the file wins")
	assert.Equal(t, "seed/a.json", docs[0].Source)
	assert.Equal(t, "lime", docs[1].ID, "without _id, the file's name")
	assert.JSONEq(t, limeSeed, string(docs[1].Body))
}

func TestLoadSeedDocsRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             string
		wantType         bool // the error matches couch.ErrInvalidType too
	}{
		{"syntax", "bad.json", "{\n  \"type\": \"fruit_v1.0\",\n  \"color\": red\n}", `seed/bad.json: invalid document: invalid character 'r' looking for beginning of value at line 3, column 12`, false},
		{"truncated", "bad.json", `{"type": "fruit_v1.0"`, "seed/bad.json: invalid document: unexpected end of JSON input at line 1", false},
		{"not an object", "bad.json", `["fruit_v1.0"]`, "seed/bad.json: invalid document", false},
		{"null", "bad.json", `null`, "null is not a JSON object", false},
		{"no type", "bad.json", `{"color":"red"}`, `seed/bad.json: invalid document: document type is not versioned: document has no "type"`, true},
		{"unversioned type", "bad.json", `{"type":"fruit"}`, `"type" "fruit" does not match`, true},
		{"type not a string", "bad.json", `{"type":1}`, `"type" is 1, not a string`, true},
		{"_id not a string", "bad.json", `{"_id":7,"type":"fruit_v1.0"}`, `_id 7 is not a string`, false},
		{"empty _id", "bad.json", `{"_id":"","type":"fruit_v1.0"}`, `empty id`, false},
		{"design id", "bad.json", `{"_id":"_design/x","type":"fruit_v1.0"}`, `must not start with '_'`, false},
		{"underscore file name", "_local.json", `{"type":"fruit_v1.0"}`, `seed/_local.json: invalid document: id "_local"`, false},
		{"has _rev", "bad.json", `{"_rev":"1-abc","type":"fruit_v1.0"}`, `has a "_rev"`, false},
		{"duplicate id", "bad.json", `{"_id":"apple","type":"fruit_v1.0"}`, `seed/bad.json: invalid document: id "apple" is also the id of seed/a.json`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"seed/a.json":     {Data: []byte(appleSeed)},
				"seed/" + tt.file: {Data: []byte(tt.data)},
			}
			docs, err := couch.LoadSeedDocs(fsys, "seed")
			require.Error(t, err)
			assert.Nil(t, docs, "nothing is returned when one file is bad")
			assert.ErrorIs(t, err, couch.ErrInvalidDocument)
			assert.Equal(t, tt.wantType, errors.Is(err, couch.ErrInvalidType), "errors.Is(err, ErrInvalidType)")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoadSeedDocsMissingDir(t *testing.T) {
	_, err := couch.LoadSeedDocs(fstest.MapFS{}, "nope")
	require.Error(t, err)
	assert.NotErrorIs(t, err, couch.ErrInvalidDocument)

	docs, err := couch.LoadSeedDocs(fstest.MapFS{"empty/README.md": {}}, "empty")
	require.NoError(t, err, "a folder without JSON files is no error")
	assert.Empty(t, docs)
}

func TestSeedCreatesOnlyMissingDocs(t *testing.T) {
	db := newDB(t)
	docs := []couch.SeedDoc{
		{ID: "apple", Body: []byte(appleSeed)},
		{ID: "lime", Body: []byte(limeSeed)},
	}
	res, err := db.Seed(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.InstallStatus{couch.Created, couch.Created}, statuses(res))
	assert.Equal(t, "apple", res[0].ID)
	assert.Equal(t, "lime", res[1].ID)
	for _, r := range res {
		assert.NotEmpty(t, r.Rev)
	}

	again, err := db.Seed(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.InstallStatus{couch.Unchanged, couch.Unchanged}, statuses(again))
	assert.Equal(t, res[0].Rev, again[0].Rev)
	all, err := db.AllDocs(ctx, couch.ViewQuery{})
	require.NoError(t, err)
	assert.Len(t, all.Rows, 2, "seeding twice makes no second copy")

	// A user edits one seed document and deletes the other; a third is new.
	var apple map[string]any
	require.NoError(t, db.Get(ctx, "apple", &apple))
	apple["color"] = "green"
	editedRev, err := db.Put(ctx, "apple", apple)
	require.NoError(t, err)
	limeRev, err := db.Rev(ctx, "lime")
	require.NoError(t, err)
	deletedRev, err := db.Delete(ctx, "lime", limeRev)
	require.NoError(t, err)
	docs = append(docs, couch.SeedDoc{ID: "cherry", Body: []byte(`{"type":"fruit_v1.0","color":"red"}`)})

	third, err := db.Seed(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.Installed{
		{ID: "apple", Status: couch.Unchanged, Rev: editedRev},
		{ID: "lime", Status: couch.Unchanged, Rev: deletedRev},
		{ID: "cherry", Status: couch.Created, Rev: third[2].Rev},
	}, third)
	require.NoError(t, db.Get(ctx, "apple", &apple))
	assert.Equal(t, "green", apple["color"], "the user's edit is kept")
	var lime any
	assert.ErrorIs(t, db.Get(ctx, "lime", &lime), couch.ErrNotFound, "a deleted seed document stays deleted")
}

func TestSeedChecksEveryDocFirst(t *testing.T) {
	tests := []struct {
		name string
		bad  couch.SeedDoc
		want string
	}{
		{"no id", couch.SeedDoc{Body: []byte(limeSeed)}, "empty id"},
		{"design id", couch.SeedDoc{ID: "_design/x", Body: []byte(limeSeed)}, "must not start with '_'"},
		{"not an object", couch.SeedDoc{ID: "x", Body: []byte(`[]`)}, "not a JSON object"},
		{"other _id", couch.SeedDoc{ID: "x", Body: []byte(appleSeed)}, `_id "apple" does not match the id "x"`},
		{"_rev", couch.SeedDoc{ID: "x", Body: []byte(`{"_rev":"1-a","type":"fruit_v1.0"}`)}, `"_rev"`},
		{"no type", couch.SeedDoc{ID: "x", Source: "x.json", Body: []byte(`{}`)}, `couch: seed x.json: invalid document: document type is not versioned`},
		{"twice", couch.SeedDoc{ID: "lime", Body: []byte(limeSeed)}, `id "lime" given twice`},
	}
	db := newDB(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := []couch.SeedDoc{{ID: "lime", Body: []byte(limeSeed)}, tt.bad}
			res, err := db.Seed(ctx, docs)
			require.ErrorIs(t, err, couch.ErrInvalidDocument)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, res)
			all, err := db.AllDocs(ctx, couch.ViewQuery{})
			require.NoError(t, err)
			assert.Empty(t, all.Rows, "nothing is written when one document is wrong")
		})
	}
}

func TestSeedReportsRefusedDocs(t *testing.T) {
	db := newDB(t)
	// A validation function that refuses green fruit.
	_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{{
		ID:   "_design/validate",
		Body: []byte(`{"validate_doc_update":"function(doc) { if (doc.color === 'green') { throw({forbidden: 'no green fruit'}); } }"}`),
	}})
	require.NoError(t, err)

	res, err := db.Seed(ctx, []couch.SeedDoc{
		{ID: "apple", Body: []byte(appleSeed)},
		{ID: "lime", Source: "seed/lime.json", Body: []byte(limeSeed)},
	})
	require.ErrorIs(t, err, couch.ErrForbidden)
	assert.Contains(t, err.Error(), "seed/lime.json")
	assert.Contains(t, err.Error(), "no green fruit")
	require.Len(t, res, 1, "what was done is reported")
	assert.Equal(t, "apple", res[0].ID)
	assert.Equal(t, couch.Created, res[0].Status)
}

func TestSeedRaceWithAnotherWriter(t *testing.T) {
	db := newDB(t)
	// A proxy that lets another writer create "apple" just before the
	// seed's _bulk_docs reaches the server.
	upstream := couchtest.URL(t)
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	var otherRev string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk_docs") && otherRev == "" {
			var err error
			otherRev, err = db.Put(r.Context(), "apple", map[string]any{"type": "fruit_v1.0", "color": "theirs"})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	u.User = upstream.User
	c, err := couch.New(couch.Config{URL: u.String(), Logger: discard})
	require.NoError(t, err)

	res, err := c.DB(db.Name()).Seed(ctx, []couch.SeedDoc{
		{ID: "apple", Body: []byte(appleSeed)},
		{ID: "lime", Body: []byte(limeSeed)},
	})
	require.NoError(t, err)
	require.NotEmpty(t, otherRev)
	assert.Equal(t, []couch.InstallStatus{couch.Unchanged, couch.Created}, statuses(res))
	assert.Equal(t, otherRev, res[0].Rev)
	var apple map[string]any
	require.NoError(t, db.Get(ctx, "apple", &apple))
	assert.Equal(t, "theirs", apple["color"], "the other writer's document is kept")
}

func TestSeedNothing(t *testing.T) {
	// No request is needed, so a database that does not exist is fine.
	res, err := newClient(t).DB("no_such_db_for_seed").Seed(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, res)
}

func ExampleDB_Seed() {
	client, _ := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	_, _ = client.EnsureDB(ctx, "example_seed")
	defer client.DeleteDB(ctx, "example_seed")
	db := client.DB("example_seed")

	// Every file is checked before anything is written; a bad one fails
	// the whole load with its name and the line and column of the error.
	fsys := fstest.MapFS{
		"seed/apple.json": {Data: []byte(`{"type": "fruit_v1.0", "color": "red"}`)},
		"seed/lime.json":  {Data: []byte(`{"type": "fruit_v1.0", "color": "green"}`)},
	}
	docs, err := couch.LoadSeedDocs(fsys, "seed")
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		res, err := db.Seed(ctx, docs)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range res {
			fmt.Println(r.ID, r.Status)
		}
	}

	fsys["seed/pear.json"] = &fstest.MapFile{Data: []byte("{\"type\": \"fruit_v1.0\",\n \"color\": yellow}")}
	_, err = couch.LoadSeedDocs(fsys, "seed")
	fmt.Println(err)
	// Output:
	// apple created
	// lime created
	// apple unchanged
	// lime unchanged
	// couch: load seed docs: seed/pear.json: invalid document: invalid character 'y' looking for beginning of value at line 2, column 11
}
