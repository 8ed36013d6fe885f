// Package sampletest gives tests a freshly installed sample database (the
// design and seed documents of package sampledb) on the test server of
// package couchtest.
//
//	func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		db := sampletest.NewDB(t) // installed now, deleted when the test ends
//	}
package sampletest

import (
	"context"
	"log/slog"
	"net/url"
	"testing"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/sampledb"
)

// NewDB creates a database with a fresh name, installs the sample
// design documents (and the seed fruit, if seed is true), and deletes the
// database when the test ends.
func NewDB(t testing.TB, seed bool) *couch.DB {
	t.Helper()
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: discard})
	if err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	db := client.DB(couchtest.NewDB(t))
	install(t, db, seed)
	return db
}

// InstallDB creates the database name on the server at server (a
// server of the test's own: it is not deleted afterwards) and installs
// the sample design documents, and the seed fruit if seed is true.
func InstallDB(t testing.TB, server *url.URL, name string, seed bool) *couch.DB {
	t.Helper()
	client, err := couch.New(couch.Config{URL: server.String(), Logger: discard})
	if err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	if err := client.CreateDB(context.Background(), name); err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	db := client.DB(name)
	install(t, db, seed)
	return db
}

// install installs the sample design documents, and the seed fruit if
// seed is true, into db.
func install(t testing.TB, db *couch.DB, seed bool) {
	t.Helper()
	ctx := context.Background()
	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	if err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	if _, err := db.InstallDesignDocs(ctx, design); err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	if seed {
		docs, err := couch.LoadSeedDocs(sampledb.FS, sampledb.SeedDir)
		if err != nil {
			t.Fatalf("sampletest: %v", err)
		}
		if _, err := db.Seed(ctx, docs); err != nil {
			t.Fatalf("sampletest: %v", err)
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
