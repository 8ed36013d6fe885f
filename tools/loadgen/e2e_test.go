package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
)

// TestEndToEnd runs loadgen against the real fruit service, started with
// the basic, retry and backoff samples' configs on a freshly installed
// sample database on the test server, with a mix that makes conflicts;
// the backoff run adds the baseline against the same database.
func TestEndToEnd(t *testing.T) {
	root, err := couchtest.Root()
	require.NoError(t, err)
	bin := sampletest.BuildService(t)
	base := couchtest.URL(t)
	tests := []struct {
		sample string
		// retries: the resolver retries until the write lands, so no
		// tasting fails; otherwise (basic) conflicts are refused with 409.
		retries bool
		// baseline: pass -baseline-couch with the test database.
		baseline bool
	}{
		{sample: "basic"},
		{sample: "retry", retries: true},
		{sample: "backoff", retries: true, baseline: true},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			db := sampletest.NewDB(t, false)
			dbURL := base.JoinPath(db.Name()).String()
			url := sampletest.StartService(t, bin, filepath.Join(root, "samples", tt.sample, "config.yaml"), dbURL).URL

			before := readMetrics(t, url)
			var out, errOut bytes.Buffer
			dir := t.TempDir()
			jsonPath, htmlPath := filepath.Join(dir, "result.json"), filepath.Join(dir, "report.html")
			args := []string{
				"-service", url, "-duration", "3s", "-concurrency", "16", "-number-fruit", "5",
				"-percent-get", "10", "-percent-put", "35", "-percent-taste", "45", "-percent-post", "5", "-percent-delete", "5",
				"-seed", "2026", "-progress-interval", "1s", "-json", jsonPath, "-html", htmlPath,
			}
			if tt.baseline {
				args = append(args, "-baseline-couch", dbURL, "-baseline-duration", "1s")
			}
			code := run(args, &out, &errOut)
			after := readMetrics(t, url)
			t.Logf("loadgen against the %s sample:\n%s", tt.sample, out.String())
			require.Equal(t, exitOK, code, "run() exit code; stderr:\n%s", errOut.String())

			data, err := os.ReadFile(jsonPath)
			require.NoError(t, err)
			var res result
			require.NoError(t, json.Unmarshal(data, &res))

			page, err := os.ReadFile(htmlPath)
			require.NoError(t, err)
			assert.Contains(t, string(page), "taste: latency over time")
			assert.Contains(t, string(page), "taste: latency histogram")

			// The audit: clean, and it covered every core fruit.
			assert.True(t, res.Audit.Pass, "audit verdict %s", res.Audit.Verdict)
			assert.Equal(t, "PASS", res.Audit.Verdict)
			assert.Contains(t, out.String(), "lost-update audit: PASS")
			assert.GreaterOrEqual(t, res.Audit.Audited, 5)
			assert.Zero(t, res.Audit.Lost+res.Audit.Phantom+res.Audit.Missing)
			assert.Positive(t, res.Audit.Acknowledged)

			taste := opByName(t, res, "taste")
			conflicts := after.Conflicts - before.Conflicts
			assert.Positive(t, conflicts, "the mix makes conflicts")
			if tt.retries {
				assert.Zero(t, taste.Failed, "no tasting fails: %v", taste.Failures)
				assert.Equal(t, taste.Count, taste.OK+taste.Gone)
			} else {
				refused := 0
				for _, o := range res.Operations {
					refused += o.Failures["409"]
				}
				assert.Positive(t, refused, "basic refuses conflicting writes with 409")
				assert.Contains(t, out.String(), "409×")
			}

			// The report's resolver counters are the service's.
			require.NotNil(t, res.Resolver.Delta, "resolver counters: %s", res.Resolver.Error)
			assert.Equal(t, tt.sample, res.Resolver.After.Plugin)
			assert.Equal(t, conflicts, res.Resolver.Delta.Conflicts, "conflicts")
			for _, action := range []string{"retry", "merge", "accept", "fail"} {
				assert.Equal(t, after.Decisions[action]-before.Decisions[action], res.Resolver.Delta.Decisions[action], "decisions %s", action)
			}
			assert.Equal(t, after.Failures-before.Failures, res.Resolver.Delta.Failures, "failures")
			assert.Equal(t, *before, *res.Resolver.Before)
			assert.Equal(t, *after, *res.Resolver.After)

			if !tt.baseline {
				assert.Nil(t, res.Baseline)
				return
			}
			// The baseline: both phases ran, over the core fruit, and
			// every GET answered 200, through the service or not.
			require.NotNil(t, res.Baseline, "baseline")
			b := res.Baseline
			assert.Empty(t, b.Skipped)
			assert.False(t, b.Interrupted)
			assert.Equal(t, 5, b.Fruit)
			for _, p := range b.Phases() {
				assert.Positive(t, p.Count, "%s ran", p.Op)
				assert.Zero(t, p.Failed, "%s failures: %v", p.Op, p.Failures)
				assert.Equal(t, p.Count, p.OK)
			}
			assert.Positive(t, b.RateRatio, "rate ratio")
			assert.Positive(t, b.P50Ratio, "p50 ratio")
			assert.Positive(t, b.P99Ratio, "p99 ratio")
			assert.Contains(t, out.String(), "service GET rate is ")
			assert.Contains(t, string(page), "<h2>Baseline</h2>")
		})
	}
}

func opByName(t *testing.T, res result, name string) opStats {
	t.Helper()
	for _, o := range res.Operations {
		if o.Op == name {
			return o
		}
	}
	t.Fatalf("no %q operation in the report", name)
	return opStats{}
}

// readMetrics reads the service's resolver counters, as a test would
// without loadgen.
func readMetrics(t *testing.T, url string) *resolverMetrics {
	t.Helper()
	resp, err := http.Get(url + pathMetrics)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var m struct {
		Resolver *resolverMetrics `json:"resolver"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	require.NotNil(t, m.Resolver, "%s has a resolver section", pathMetrics)
	return m.Resolver
}
