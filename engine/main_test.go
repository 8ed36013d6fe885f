package engine_test

import (
	"os"
	"testing"

	"github.com/accord-db/accord/internal/couchtest"
)

// Only BenchmarkDecision's CouchDB baseline needs the test server.
func TestMain(m *testing.M) { os.Exit(couchtest.MainLazy(m)) }
