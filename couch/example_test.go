package couch_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/accord-db/accord/couch"
)

// The examples run against the server in COUCHDB_URL, which the test
// harness sets to the pouchdb-server it started.

func Example() {
	client, err := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := client.EnsureDB(ctx, "example_basics"); err != nil {
		fmt.Println(err)
		return
	}
	defer client.DeleteDB(ctx, "example_basics")
	db := client.DB("example_basics")

	type Fruit struct {
		Rev   string `json:"_rev,omitempty"`
		Type  string `json:"type"`
		Color string `json:"color"`
	}
	if _, err := db.Put(ctx, "apple", Fruit{Type: "fruit_v1.0", Color: "red"}); err != nil {
		fmt.Println(err)
		return
	}
	var apple Fruit
	if err := db.Get(ctx, "apple", &apple); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("apple is", apple.Color)

	// Writing without the current revision is a conflict.
	_, err = db.Put(ctx, "apple", Fruit{Type: "fruit_v1.0", Color: "green"})
	fmt.Println("conflict:", errors.Is(err, couch.ErrConflict), couch.HTTPStatus(err))

	// With it, the write goes through.
	apple.Color = "green"
	if _, err := db.Put(ctx, "apple", apple); err != nil {
		fmt.Println(err)
		return
	}
	err = db.Get(ctx, "pear", &apple)
	fmt.Println("pear found:", !errors.Is(err, couch.ErrNotFound))
	// Output:
	// apple is red
	// conflict: true 409
	// pear found: false
}

func ExampleDB_Query() {
	client, _ := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	_, _ = client.EnsureDB(ctx, "example_query")
	defer client.DeleteDB(ctx, "example_query")
	db := client.DB("example_query")

	_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{{
		ID:   "_design/fruit_by_color",
		Body: []byte(`{"views":{"fruit_by_color":{"map":"function(doc) { emit(doc.color, null); }"}}}`),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = db.BulkDocs(ctx, []any{
		map[string]any{"_id": "apple", "type": "fruit_v1.0", "color": "red"},
		map[string]any{"_id": "lime", "type": "fruit_v1.0", "color": "green"},
		map[string]any{"_id": "cherry", "type": "fruit_v1.0", "color": "red"},
	})

	res, err := db.Query(ctx, "fruit_by_color", "fruit_by_color", couch.ViewQuery{Key: "red", IncludeDocs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	type Fruit struct {
		ID    string `json:"_id"`
		Color string `json:"color"`
	}
	red, _ := couch.Docs[Fruit](res)
	fmt.Println(red)
	// Output: [{apple red} {cherry red}]
}

func ExampleDB_InstallDesignDocs() {
	client, _ := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	_, _ = client.EnsureDB(ctx, "example_install")
	defer client.DeleteDB(ctx, "example_install")
	db := client.DB("example_install")

	docs, err := couch.LoadDesignDocs(os.DirFS("testdata"), "design")
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		res, err := db.InstallDesignDocs(ctx, docs)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, r := range res {
			fmt.Println(r.ID, r.Status)
		}
	}
	// Output:
	// _design/fruit_by_color created
	// _design/fruit_by_color unchanged
}

func ExampleDB_Changes() {
	client, _ := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	_, _ = client.EnsureDB(ctx, "example_changes")
	defer client.DeleteDB(ctx, "example_changes")
	db := client.DB("example_changes")

	_, _ = db.Put(ctx, "apple", map[string]any{"type": "fruit_v1.0"})
	first, _ := db.Changes(ctx, couch.ChangesQuery{})
	_, _ = db.Put(ctx, "lime", map[string]any{"type": "fruit_v1.0"})
	next, _ := db.Changes(ctx, couch.ChangesQuery{Since: first.LastSeq})
	for _, c := range next.Results {
		fmt.Println("changed:", c.ID)
	}
	// Output: changed: lime
}

func ExampleHTTPStatus() {
	client, _ := couch.New(couch.Config{URL: os.Getenv("COUCHDB_URL")})
	var v any
	err := client.DB("example_no_such_db").Get(ctx, "x", &v)
	fmt.Println(couch.HTTPStatus(err), errors.Is(err, couch.ErrNotFound))
	// Output: 404 true
}
