package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortRun is a quick, conflict-heavy mix for the fake service.
func shortRun(url string, extra ...string) []string {
	return append([]string{
		"-service", url, "-duration", "300ms", "-concurrency", "4", "-number-fruit", "3",
		"-percent-get", "10", "-percent-put", "10", "-percent-taste", "60", "-percent-post", "10", "-percent-delete", "10",
		"-seed", "7", "-progress-interval", "100ms",
	}, extra...)
}

func TestRunAgainstFake(t *testing.T) {
	tests := []struct {
		name     string
		fake     faults
		wantCode int
		want     []string // in the report
	}{
		{name: "clean", wantCode: exitOK, want: []string{"lost-update audit: PASS", "resolver fake 0.0.1"}},
		{name: "refusals are not losses", fake: faults{conflictEvery: 3}, wantCode: exitOK,
			want: []string{"lost-update audit: PASS", "409×", "decisions fail"}},
		{name: "lost update", fake: faults{loseEvery: 5}, wantCode: exitAuditFailed,
			want: []string{"lost-update audit: FAIL", "LOST", "acknowledged tastings lost"}},
		{name: "phantom update", fake: faults{phantomEvery: 5}, wantCode: exitAuditFailed,
			want: []string{"lost-update audit: FAIL", "PHANTOM", "written that were refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, tt.fake)
			var out, errOut bytes.Buffer
			code := run(shortRun(srv.URL), &out, &errOut)
			require.Equal(t, tt.wantCode, code, "run() exit code; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			for _, w := range tt.want {
				assert.Contains(t, out.String(), w)
			}
			assert.Contains(t, errOut.String(), "loadgen: ", "plain progress lines on a non-terminal")
			assert.NotContains(t, errOut.String(), "\r", "no terminal redraws on a non-terminal")
		})
	}
}

func TestRunWritesReports(t *testing.T) {
	srv := newFake(t, faults{conflictEvery: 4})
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var out, errOut bytes.Buffer
	code := run(shortRun(srv.URL, "-json", jsonPath, "-html", htmlPath), &out, &errOut)
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())

	data, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var res result
	require.NoError(t, json.Unmarshal(data, &res))
	assert.Equal(t, uint64(7), res.Seed)
	assert.True(t, res.Audit.Pass)
	assert.NotEmpty(t, res.Operations)
	var sum int
	for _, o := range res.Operations {
		sum += o.Count
	}
	assert.Equal(t, res.Total.Count, sum, "the operations add up to the total")
	require.NotNil(t, res.Resolver.Delta)
	assert.Equal(t, res.Resolver.Delta.Conflicts, res.Resolver.Delta.Decisions["fail"])

	page, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	assert.Contains(t, string(page), "<svg")
	assert.Contains(t, string(page), "taste: latency over time")
	assert.Contains(t, string(page), "taste: latency histogram")
}

func TestRunServiceUnreachable(t *testing.T) {
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	var out, errOut bytes.Buffer
	code := run([]string{"-service", "http://" + addr, "-duration", "100ms"}, &out, &errOut)
	assert.Equal(t, exitSetup, code)
	assert.Contains(t, errOut.String(), "does not answer")
	assert.Contains(t, errOut.String(), "make run")
	assert.Empty(t, out.String())
}

func TestRunSetupFails(t *testing.T) {
	srv := newFake(t, faults{})
	var out, errOut bytes.Buffer
	// The fake serves no fruit under this prefix: its POST answers 404.
	code := run([]string{"-service", srv.URL + "/nowhere", "-duration", "100ms"}, &out, &errOut)
	assert.Equal(t, exitSetup, code)
	assert.True(t, strings.Contains(errOut.String(), "does not answer") || strings.Contains(errOut.String(), "setup"), errOut.String())
}

func TestRunInterrupted(t *testing.T) {
	srv := newFake(t, faults{conflictEvery: 5})
	var out bytes.Buffer
	var errOut syncBuffer
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- run(shortRun(srv.URL, "-duration", "1m", "-progress-interval", "50ms"), &out, &errOut) }()
	// A progress line means the mix runs, so run is catching Ctrl-C.
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "remaining") }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop after Ctrl-C")
	}
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Contains(t, errOut.String(), "interrupted: auditing what ran")
	assert.Contains(t, out.String(), "(interrupted)")
	assert.Contains(t, out.String(), "lost-update audit: PASS")
}
