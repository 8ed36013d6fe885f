package couch_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
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

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// debugLogger logs everything as JSON lines into a buffer.
func debugLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

var (
	ctx     = context.Background()
	discard = slog.New(slog.DiscardHandler)
)
