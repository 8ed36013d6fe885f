package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
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
