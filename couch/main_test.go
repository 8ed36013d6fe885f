package couch_test

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/syncbuf"
)

func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }

// newClient returns a client for the test server.
func newClient(t testing.TB) *couch.Client {
	t.Helper()
	c, err := couch.New(couch.Config{URL: couchtest.URL(t).String()})
	require.NoError(t, err)
	return c
}

// newDB returns a handle on a fresh database that is deleted when the test
// ends.
func newDB(t testing.TB) *couch.DB {
	t.Helper()
	return newClient(t).DB(couchtest.NewDB(t))
}

// debugLogger logs everything as JSON lines into a buffer.
func debugLogger() (*slog.Logger, *syncbuf.Buffer) {
	var buf syncbuf.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

var (
	ctx     = context.Background()
	discard = slog.New(slog.DiscardHandler)
)
