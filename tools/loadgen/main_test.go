package main

import (
	"os"
	"testing"

	"github.com/accord-db/accord/internal/couchtest"
)

// TestMain starts the CouchDB-compatible server the end-to-end tests need
// (unless COUCHDB_URL names one).
func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }
