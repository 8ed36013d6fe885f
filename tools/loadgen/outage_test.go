package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/sampledb"
)

// outageConfig is the backoff sample with a request timeout short enough
// for a test: a request must not hang past it.
const outageConfig = `database: http://127.0.0.1:5984/accord_sample
log: warn
request_timeout: 3s
resolver:
  plugin: backoff
  params: {max_retries: 20, base_ms: 25, jitter: full, max_delay_ms: 2000}
  timeout: 100ms
`

// healthLog records, polled, the database status of the service's deep
// health check (green: the database answers; red: it does not), as
// transitions. The check's overall status also rates fragmentation, which
// an outage does not change (Apache CouchDB's file fragments fast under
// this load), so the test looks at the database's reachability.
type healthLog struct {
	mu    sync.Mutex
	start time.Time
	marks []string // "red(503)@3.1s", "green(200)@7.4s"
	why   []string // the reasons of the red answers, cut
	last  string
}

func (h *healthLog) poll(ctx context.Context, url string) {
	client := &http.Client{Timeout: 4 * time.Second}
	for ctx.Err() == nil {
		code, state, why := 0, "red", "no answer"
		if resp, err := client.Get(url + "/v1.0/_health?quick=false"); err == nil {
			code = resp.StatusCode
			var body struct {
				Database struct {
					Status string `json:"status"`
					Reason string `json:"reason"`
				} `json:"database"`
			}
			_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
			resp.Body.Close()
			if body.Database.Status == "green" {
				state = "green"
			}
			why = body.Database.Reason[:min(len(body.Database.Reason), 200)]
		}
		h.mu.Lock()
		if state != h.last {
			h.marks = append(h.marks, fmt.Sprintf("%s(%d)@%.1fs", state, code, time.Since(h.start).Seconds()))
			if state == "red" {
				h.why = append(h.why, why)
			}
			h.last = state
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (h *healthLog) transitions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.marks...)
}

// TestOutageUnderLoad stops the database server for a few seconds while
// loadgen holds a load on the backoff sample, then starts it again. The
// service's deep health goes red, then green by itself; requests during
// the outage fail with 503 and a clear body, none outlives its deadline;
// the audit afterwards is clean, and the same service process serves on.
// The server is a pouchdb-server on disk, or with COUCHDB_URL set an
// Apache CouchDB of the test's own (see couchtest.NewRestartable).
func TestOutageUnderLoad(t *testing.T) {
	const (
		workers  = 8
		outageAt = 3 * time.Second // of load before the outage
		outage   = 4 * time.Second // server down, at least
		after    = 4 * time.Second // of load after the server is back
		maxLoad  = 50 * time.Second
	)
	srv := couchtest.NewRestartable(t)
	ctx := context.Background()
	client, err := couch.New(couch.Config{URL: srv.URL.String(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	const name = "accord_outage"
	require.NoError(t, client.CreateDB(ctx, name))
	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	_, err = client.DB(name).InstallDesignDocs(ctx, design)
	require.NoError(t, err)

	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(outageConfig), 0o600))
	svc := sampletest.StartService(t, sampletest.BuildService(t), config, srv.URL.JoinPath(name).String())

	pollCtx, stopPolling := context.WithCancel(ctx)
	health := &healthLog{start: time.Now(), last: "green"}
	var polling sync.WaitGroup
	polling.Go(func() { health.poll(pollCtx, svc.URL) })

	// The fault, while loadgen runs.
	type probe struct {
		status int
		body   map[string]any
		took   time.Duration
	}
	var (
		probes      []probe
		faultErr    error
		stoppedAt   time.Duration
		restartedAt time.Duration
	)
	var fault sync.WaitGroup
	fault.Go(func() {
		time.Sleep(outageAt)
		stoppedAt = time.Since(health.start)
		if faultErr = srv.Stop(); faultErr != nil {
			return
		}
		end := time.Now().Add(outage)
		for time.Now().Before(end) {
			began := time.Now()
			p := probe{}
			resp, err := http.Get(svc.URL + "/v1.0/fruits/0123456789abcdef0123456789abcdef")
			if err == nil {
				p.status = resp.StatusCode
				_ = json.NewDecoder(resp.Body).Decode(&p.body)
				resp.Body.Close()
			}
			p.took = time.Since(began)
			probes = append(probes, p)
			time.Sleep(500 * time.Millisecond)
		}
		faultErr = srv.Start()
		restartedAt = time.Since(health.start)
		time.Sleep(after)
		// Ctrl-C: loadgen stops the mix and audits what ran.
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	})

	var out, errOut bytes.Buffer
	mixStart := time.Since(health.start) // and the setup
	jsonPath := filepath.Join(dir, "result.json")
	code := run([]string{
		"-service", svc.URL, "-duration", maxLoad.String(), "-concurrency", fmt.Sprint(workers), "-number-fruit", "5",
		"-percent-get", "30", "-percent-put", "20", "-percent-taste", "40", "-percent-post", "5", "-percent-delete", "5",
		"-seed", "2026", "-timeout", "5s", "-progress-interval", "0", "-json", jsonPath,
	}, &out, &errOut)
	fault.Wait()
	require.NoError(t, faultErr, "stopping or starting %s", srv.Kind)
	// Green again by itself: wait for the poller to see it.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := health.transitions(); len(m) > 0 && m[len(m)-1][:5] == "green" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopPolling()
	polling.Wait()

	t.Logf("%s stopped at %.1fs, started again at %.1fs; health: %v", srv.Kind, stoppedAt.Seconds(), restartedAt.Seconds(), health.transitions())
	t.Logf("red health answers: %q", health.why)
	t.Logf("loadgen:\n%s", out.String())
	require.Equal(t, exitOK, code, "loadgen exit code; stderr:\n%s", errOut.String())
	require.Less(t, stoppedAt, restartedAt)
	data, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var res result
	require.NoError(t, json.Unmarshal(data, &res))

	// Health went red during the outage and green after it, by itself.
	marks := health.transitions()
	require.GreaterOrEqual(t, len(marks), 2, "health transitions %v", marks)
	assert.Equal(t, "red", marks[0][:3], "health transitions %v", marks)
	assert.Equal(t, "green", marks[len(marks)-1][:5], "health transitions %v", marks)

	// Requests during the outage failed fast, with 503 and a clear body.
	require.NotEmpty(t, probes)
	for i, p := range probes {
		t.Logf("probe %d during the outage: %d %v in %v", i, p.status, p.body, p.took)
		assert.Equal(t, http.StatusServiceUnavailable, p.status, "probe %d", i)
		assert.Equal(t, "database_unavailable", p.body["error"], "probe %d", i)
		assert.Less(t, p.took, 3*time.Second, "probe %d answered within the service's request timeout", i)
	}

	// The load: every failure a 503, none ran out of loadgen's 5 s.
	assert.Positive(t, res.Total.Failures["503"], "the outage was felt: %v", res.Total.Failures)
	for k, n := range res.Total.Failures {
		assert.Equal(t, "503", k, "failures %v: only 503 (%d %s)", res.Total.Failures, n, k)
	}
	assert.Zero(t, res.Total.Failures["timeout"], "no request hung past its deadline")
	assert.Less(t, res.Total.Latency.MaxMs, 5000.0, "no request took loadgen's whole timeout")

	// Afterwards: the same service process serves again by itself:
	// requests succeed from a second after the restart on, and none fails
	// at the end of the mix.
	restartInMix := restartedAt.Seconds() - mixStart.Seconds() - res.SetupS
	served := 0
	for _, o := range res.Operations {
		end := res.ElapsedS - max(1.5, 2*o.StepS)
		for _, pt := range o.Series {
			if pt.AtS >= restartInMix+1 {
				served += pt.Count - pt.Failed
			}
			if pt.AtS >= end && pt.AtS >= restartInMix+1 {
				assert.Zero(t, pt.Failed, "%s failures at %.1fs of %.1fs, after the restart", o.Op, pt.AtS, res.ElapsedS)
			}
		}
	}
	assert.Positive(t, served, "requests served after the restart (at %.1fs of the mix)", restartInMix)
	assert.True(t, res.Interrupted, "the mix ran until stopped after the outage")
	assert.True(t, res.Audit.Pass, "audit %s", res.Audit.Verdict)
	assert.Zero(t, res.Audit.Lost+res.Audit.Phantom+res.Audit.Missing)
	_, body := sampletest.Request(t, http.MethodGet, svc.URL+"/v1.0/_health?quick=false", "", "")
	db, _ := body.(map[string]any)["database"].(map[string]any)
	assert.Equal(t, "green", db["status"], "the database is reachable again: %v", body)
	// The client did not turn the outage into a retry storm: its budget
	// ran out, and the failures came back without retries.
	resp, err := http.Get(svc.URL + pathMetrics)
	require.NoError(t, err)
	var metrics struct {
		Retries couch.RetryStats `json:"retries"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&metrics))
	resp.Body.Close()
	t.Logf("the service's client retries: %+v", metrics.Retries)
	assert.Positive(t, metrics.Retries.Ended["retry budget exhausted"], "retries %+v", metrics.Retries)

	t.Logf("outage summary (%s): %d workers, %d requests over %.1fs (%d ok, %d failed: %v); tastings %d acknowledged, %d indeterminate; audit %s",
		srv.Kind, workers, res.Total.Count, res.ElapsedS, res.Total.OK, res.Total.Failed, res.Total.Failures,
		res.Audit.Acknowledged, res.Audit.Indeterminate, res.Audit.Verdict)
}
