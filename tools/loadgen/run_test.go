package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accord-db/accord/internal/syncbuf"
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
	var errOut syncbuf.Buffer
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- run(shortRun(srv.URL, "-duration", "1m", "-progress-interval", "50ms"), &out, &errOut) }()
	// A progress line means the mix runs, so run is catching Ctrl-C.
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "remaining") }, 10*time.Second, 10*time.Millisecond)
	interrupt(t, done, &errOut)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Contains(t, errOut.String(), "interrupted: auditing what ran")
	assert.Contains(t, out.String(), "(interrupted)")
	assert.Contains(t, out.String(), "lost-update audit: PASS")
}

func TestRunBaseline(t *testing.T) {
	srv := newFake(t, faults{conflictEvery: 4})
	couch := func(db, creds string) string {
		return strings.Replace(srv.URL, "http://", "http://"+creds, 1) + "/couch/" + db
	}
	const creds = fakeCouchUser + ":" + fakeCouchPassword + "@"
	tests := []struct {
		name     string
		couch    string
		env      bool // credentials in COUCHDB_USER and COUCHDB_PASSWORD
		wantCode int
		want     []string // in stdout for exit 0, else in stderr
	}{
		{name: "credentials in the URL", couch: couch("fakedb", creds), wantCode: exitOK,
			want: []string{"baseline: GET only, 4 workers, 3 fruit, 200ms a phase, raw server http://admin:xxxxx@", "service GET rate is", "lost-update audit: PASS"}},
		{name: "credentials in the environment", couch: couch("fakedb", ""), env: true, wantCode: exitOK,
			want: []string{"service GET rate is"}},
		{name: "raw failures change no exit status", couch: couch("flakydb", creds), wantCode: exitOK,
			want: []string{"failures by status (reported only", "raw GET     500×"}},
		{name: "no credentials", couch: couch("fakedb", ""), wantCode: exitSetup,
			want: []string{"status 401", "check the credentials"}},
		{name: "no such database", couch: couch("nodb", creds), wantCode: exitSetup,
			want: []string{"-baseline-couch http://admin:xxxxx@", "status 404", "go run ./tools/dbinstall"}},
		{name: "not the service's database", couch: couch("emptydb", creds), wantCode: exitSetup,
			want: []string{"3 of the 3 fruit loadgen created are not in its view", "fruitsvc's -database"}},
		{name: "unreachable", couch: "http://" + creds + freeAddr(t) + "/accord_sample", wantCode: exitSetup,
			want: []string{"is CouchDB running there?", "make run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env {
				t.Setenv("COUCHDB_USER", fakeCouchUser)
				t.Setenv("COUCHDB_PASSWORD", fakeCouchPassword)
			} else {
				t.Setenv("COUCHDB_USER", "")
			}
			jsonPath := filepath.Join(t.TempDir(), "r.json")
			var out, errOut bytes.Buffer
			code := run(shortRun(srv.URL, "-baseline-couch", tt.couch, "-baseline-duration", "200ms", "-json", jsonPath), &out, &errOut)
			require.Equal(t, tt.wantCode, code, "run() exit code; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			where := out.String()
			if tt.wantCode != exitOK {
				where = errOut.String()
				assert.Empty(t, out.String(), "no report: the baseline is checked before the mix")
			}
			for _, w := range tt.want {
				assert.Contains(t, where, w)
			}
			data, _ := os.ReadFile(jsonPath)
			for _, s := range []string{out.String(), errOut.String(), string(data)} {
				assert.NotContains(t, s, fakeCouchPassword, "the password is never shown")
			}
			if code != exitOK {
				return
			}
			var res result
			require.NoError(t, json.Unmarshal(data, &res))
			require.NotNil(t, res.Baseline)
			b := res.Baseline
			assert.Equal(t, 3, b.Fruit)
			assert.InDelta(t, 0.2, b.DurationS, 1e-9)
			for _, p := range b.Phases() {
				assert.Positive(t, p.Count, "%s ran", p.Op)
				assert.Equal(t, p.Count, p.OK+p.Failed, "%s: only ok and failed", p.Op)
			}
			assert.Zero(t, b.Service.Failed, "service GET failures: %v", b.Service.Failures)
			assert.Positive(t, b.RateRatio)
			assert.Positive(t, b.P50Ratio)
			assert.Positive(t, b.P99Ratio)
			assert.InDelta(t, b.Service.Rate/b.Raw.Rate, b.RateRatio, 1e-9)
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestRunBaselineInterrupted(t *testing.T) {
	srv := newFake(t, faults{})
	couch := strings.Replace(srv.URL, "http://", "http://"+fakeCouchUser+":"+fakeCouchPassword+"@", 1) + "/couch/fakedb"
	var out bytes.Buffer
	var errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(shortRun(srv.URL, "-duration", "200ms", "-baseline-couch", couch, "-baseline-duration", "1m", "-progress-interval", "50ms"), &out, &errOut)
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(errOut.String(), "baseline: service GET and raw GET, 1m0s each, taking turns every 2s")
	}, 10*time.Second, 10*time.Millisecond)
	interrupt(t, done, &errOut) // during the first slice, the service's
	assert.Contains(t, errOut.String(), "the baseline is cut short")
	assert.Contains(t, out.String(), "1m0s a phase, raw server http://admin:xxxxx@")
	assert.Contains(t, out.String(), "(interrupted)\n")
	assert.Contains(t, out.String(), "p50 n/a, p99 n/a", "no ratio without a raw phase")
	assert.Contains(t, out.String(), "lost-update audit: PASS")
}

// interrupt sends the test process Ctrl-C (run catches it) and waits for
// run, started in the background, to end with exitOK.
func interrupt(t *testing.T, done <-chan int, errOut *syncbuf.Buffer) {
	t.Helper()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop after Ctrl-C")
	}
}

// TestBaselineTakesTurns checks that the baseline's two phases take
// turns, slice by slice, rather than run one after the other, so that
// a drift in the machine's load touches both alike.
func TestBaselineTakesTurns(t *testing.T) {
	defer func(s time.Duration) { baselineSlice = s }(baselineSlice)
	baselineSlice = 100 * time.Millisecond
	fake := newFake(t, faults{})
	var mu sync.Mutex
	var seen []string // "service" or "raw", a GET of a fruit each, in order
	inner := fake.Config.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			kind := ""
			switch {
			case strings.HasPrefix(r.URL.Path, "/v1.0/fruits/"):
				kind = "service"
			case strings.HasPrefix(r.URL.Path, "/couch/fakedb/"):
				kind = "raw"
			}
			if kind != "" {
				mu.Lock()
				seen = append(seen, kind)
				mu.Unlock()
			}
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	couch := strings.Replace(srv.URL, "http://", "http://"+fakeCouchUser+":"+fakeCouchPassword+"@", 1) + "/couch/fakedb"
	var out, errOut bytes.Buffer
	code := run(shortRun(srv.URL, "-baseline-couch", couch, "-baseline-duration", "400ms"), &out, &errOut)
	require.Equal(t, exitOK, code, "stderr: %s", errOut.String())
	mu.Lock()
	defer mu.Unlock()
	// From the first raw GET on, only the baseline runs.
	first := slices.Index(seen, "raw")
	require.Positive(t, first)
	turns := 0
	for i := first; i < len(seen); i++ {
		if seen[i] != seen[i-1] {
			turns++
		}
	}
	assert.GreaterOrEqual(t, turns, 6, "400ms a phase in 100ms slices: service, raw, service, raw, …")
}
