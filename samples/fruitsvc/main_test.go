package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/syncbuf"
)

// TestDatabaseCredentialsNeverEchoed gives -database URLs whose password
// is not percent-encoded: fruitsvc stops with exit code 2 and a message
// that prints nothing of the password, neither on stderr nor in its log.
func TestDatabaseCredentialsNeverEchoed(t *testing.T) {
	databases := []string{
		"http://admin:hun/ter2@127.0.0.1:5984/accord_sample",
		"http://admin:hun#ter2@127.0.0.1:5984/accord_sample",
		"http://admin:hun?ter2@127.0.0.1:5984/accord_sample",
		"http://admin:4242/2424@127.0.0.1:5984/accord_sample",
		"http://admin:4242#2424@127.0.0.1:5984/accord_sample",
		"http://admin:4242?2424@127.0.0.1:5984/accord_sample",
		"http://admin:hunter2@127.0.0.1:hunter2/accord_sample",
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"-database", db, "-port", "0"}, &stdout, &stderr)
			assert.Equal(t, 2, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), "percent-encode")
			for _, piece := range []string{"hun", "ter2", "4242", "2424"} {
				assert.NotContains(t, stdout.String()+stderr.String(), piece)
			}
		})
	}
}

// TestResolverFlags names the resolver on the command line: -plugin and
// -params replace the config's, and bad ones stop the service with exit
// code 2 before it listens.
func TestResolverFlags(t *testing.T) {
	t.Run("a built-in with params", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr syncbuf.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"-config", "../backoff/config.yaml", "-plugin", "retry", "-params", `{"max_retries":3}`,
				"-database", "http://127.0.0.1:1/accord_sample", "-port", "0"}, &stdout, &stderr)
		}()
		require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "service started") },
			2*time.Minute, 20*time.Millisecond, "stderr: %s", stderr.String()) // a cold compile under -race on a loaded machine
		cancel()
		assert.Equal(t, 0, <-done)
		assert.Contains(t, stdout.String(), "resolver=retry", "-plugin replaced the config's backoff")
	})
	for _, tt := range []struct {
		name, want string
		args       []string
	}{
		{"params not an object", "-params: not a JSON object", []string{"-plugin", "retry", "-params", "[1]"}},
		{"params not JSON", "-params: not a JSON object", []string{"-params", "{max_retries:3}"}},
		{"params refused by the plugin", "plugin refused its parameters", []string{"-plugin", "retry", "-params", `{"tries":3}`}},
		{"empty plugin", "-plugin: empty", []string{"-plugin", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(tt.args, "-database", "http://127.0.0.1:1/accord_sample", "-port", "0")
			assert.Equal(t, 2, run(context.Background(), args, &stdout, &stderr))
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// TestStartUpChecksTheDatabase starts the service against a database
// that does not exist, and one without design documents: it serves, and
// its log says what to install.
func TestStartUpChecksTheDatabase(t *testing.T) {
	bare := couchtest.NewDB(t) // created, nothing installed
	for _, tt := range []struct{ db, want string }{
		{"accord_never_installed", `database \"accord_never_installed\" is not installed: install it with: go run ./tools/dbinstall`},
		{bare, `has no design document \"fruit_by_fruit_id\"`},
	} {
		t.Run(tt.db, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr syncbuf.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"-plugin", "basic", "-database", couchtest.URL(t).JoinPath(tt.db).String(), "-port", "0"}, &stdout, &stderr)
			}()
			require.Eventually(t, func() bool { return strings.Contains(stdout.String(), tt.want) },
				2*time.Minute, 20*time.Millisecond, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			assert.Contains(t, stdout.String(), "service started", "it serves anyway")
			cancel()
			assert.Equal(t, 0, <-done)
		})
	}
}
