package couch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// requestsIn lists the CouchDB requests a [debugLogger] logged, as
// "METHOD path status".
func requestsIn(t testing.TB, buf *syncbuf.Buffer) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(buf.String()) {
		var rec struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		if rec.Msg == "couchdb request" {
			if rec.Path == "" {
				rec.Path = "/"
			}
			out = append(out, fmt.Sprintf("%s %s %d", rec.Method, rec.Path, rec.Status))
		}
	}
	return out
}

// loggedClient returns a client for the test server that logs its
// requests into the returned buffer (read them with requestsIn).
func loggedClient(t testing.TB) (*couch.Client, *syncbuf.Buffer) {
	t.Helper()
	log, buf := debugLogger()
	c, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: log})
	require.NoError(t, err)
	return c, buf
}
