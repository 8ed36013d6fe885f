package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/NAME.golden, or rewrites it with
// -update.
func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got, "differs from %s (go test -run %s -update rewrites it)", path, t.Name())
}

// sampleResult is a made-up run: every operation, failures of several
// kinds, resolver counters, and an audit that caught a lost update.
func sampleResult() *result {
	var samples []sample
	for i := range 2000 {
		o := op(i % int(numOps))
		s := sample{
			Start:   time.Duration(i) * 1500 * time.Microsecond,
			Latency: time.Duration(1+i%97) * 130 * time.Microsecond,
			Op:      o, Status: 200,
		}
		switch {
		case o == opTaste && i%7 == 0:
			s.Outcome, s.Status = outcomeFailed, 409
		case o == opPut && i%11 == 0:
			s.Outcome, s.Status = outcomeFailed, 503
		case o == opTaste && i == 1002:
			s.Outcome, s.Status, s.Timeout = outcomeFailed, 0, true
		case o == opGet && i%13 == 0:
			s.Outcome, s.Status = outcomeGone, 404
		}
		samples = append(samples, s)
	}
	elapsed := 3 * time.Second
	ops, total := operationStats(samples, elapsed)
	before := &resolverMetrics{Plugin: "basic", Version: "1.0.0", Conflicts: 10,
		Decisions: map[string]int64{"retry": 0, "merge": 0, "accept": 0, "fail": 10}}
	after := &resolverMetrics{Plugin: "basic", Version: "1.0.0", Conflicts: 67, Failures: 1,
		Decisions: map[string]int64{"retry": 0, "merge": 0, "accept": 0, "fail": 66}}
	before.DecisionLatency.Count, before.DecisionLatency.MeanMs = 10, 0.2
	after.DecisionLatency.Count, after.DecisionLatency.MeanMs = 66, 0.25
	bounds := []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	for i, n := range []int64{0, 2, 5, 8, 10, 10, 10} {
		before.DecisionLatency.Buckets = append(before.DecisionLatency.Buckets, latencyBucket{LeMs: bounds[i], Count: n})
	}
	for i, n := range []int64{0, 10, 30, 50, 62, 65, 66} {
		after.DecisionLatency.Buckets = append(after.DecisionLatency.Buckets, latencyBucket{LeMs: bounds[i], Count: n})
	}
	recs := []fruitRecord{
		{ID: "00000000000000000000000000000001", Acknowledged: 40, Refused: 5},
		{ID: "00000000000000000000000000000002", Acknowledged: 38, Indeterminate: 1, Refused: 6},
		{ID: "00000000000000000000000000000003", Spare: true, Acknowledged: 2, Deleted: true},
	}
	stored := map[string]readBack{
		"00000000000000000000000000000001": found(40),
		"00000000000000000000000000000002": found(36),
	}
	return &result{
		Service: "http://127.0.0.1:8445", Seed: 42, NumberFruit: 2, Concurrency: 8,
		DurationS: 3, TimeoutS: 10, Mix: defaultMix.json(),
		StartedAt: time.Date(2026, 11, 26, 21, 30, 0, 0, time.UTC),
		SetupS:    0.02, ElapsedS: elapsed.Seconds(),
		Operations: ops, Total: total,
		Resolver: resolverSection{Before: before, After: after, Delta: delta(before, after)},
		Audit:    audit(recs, stored),
	}
}

// sampleBaseline is a made-up baseline: the service at half the raw
// server's rate and twice its latency, the raw phase with a few
// failures.
func sampleBaseline() *baselineResult {
	phase := func(name string, lat time.Duration, n int, failEvery int) opStats {
		samples := make([]sample, n)
		for i := range samples {
			samples[i] = sample{Start: time.Duration(i) * time.Millisecond, Latency: lat + time.Duration(i%10)*lat/10, Status: 200}
			if failEvery > 0 && i%failEvery == 0 {
				samples[i].Outcome, samples[i].Status = outcomeFailed, 500
			}
		}
		samples[n-1].Outcome, samples[n-1].Status, samples[n-1].Timeout = outcomeFailed, 0, failEvery > 0
		st := buildStats(name, samples, 2*time.Second)
		st.StepS, st.Series, st.Hist = 0, nil, nil
		return st
	}
	b := &baselineResult{
		Couch: "http://admin:xxxxx@127.0.0.1:5984/accord_sample", DurationS: 2, Fruit: 2,
		Service: phase(phaseService, 4*time.Millisecond, 1000, 0),
		Raw:     phase(phaseRaw, 2*time.Millisecond, 2000, 400),
	}
	b.Service.OK, b.Service.Failed, b.Service.Failures = b.Service.Count, 0, nil // no failure in the service phase
	b.setRatios()
	return b
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, writeText(&b, sampleResult()))
	golden(t, b.String())
}

func TestWriteTextBaseline(t *testing.T) {
	res := sampleResult()
	res.Baseline = sampleBaseline()
	var b bytes.Buffer
	require.NoError(t, writeText(&b, res))
	golden(t, b.String())
}

func TestWriteTextBaselineCases(t *testing.T) {
	tests := []struct {
		name     string
		baseline func(b *baselineResult)
		want     []string
		notWant  []string
	}{
		{name: "ratios", baseline: func(b *baselineResult) {},
			want: []string{"service GET rate is 0.50× the raw server's; p50 2.00×, p99 2.00×", "raw GET     500×5 timeout×1"}},
		{name: "no failures", baseline: func(b *baselineResult) { b.Raw.Failed, b.Raw.Failures = 0, nil },
			want: []string{"p50 2.00×"}, notWant: []string{"failures by status (reported only"}},
		{name: "no raw requests", baseline: func(b *baselineResult) { b.Raw = opStats{Op: phaseRaw}; b.Interrupted = true; b.setRatios() },
			want: []string{"(interrupted)", "rate is n/a the raw server's; p50 n/a, p99 n/a"}},
		{name: "skipped", baseline: func(b *baselineResult) { *b = baselineResult{Couch: b.Couch, Skipped: "the mix was interrupted"} },
			want: []string{"baseline against http://admin:xxxxx@127.0.0.1:5984/accord_sample: skipped: the mix was interrupted"}, notWant: []string{"rate is"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := sampleResult()
			res.Baseline = sampleBaseline()
			tt.baseline(res.Baseline)
			var b bytes.Buffer
			require.NoError(t, writeText(&b, res))
			for _, w := range tt.want {
				assert.Contains(t, b.String(), w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, b.String(), w)
			}
		})
	}
}

func TestWriteTextNoMetrics(t *testing.T) {
	res := sampleResult()
	res.Resolver = resolverSection{Error: "GET /v1.0/_metrics: status 404: not found"}
	var b bytes.Buffer
	require.NoError(t, writeText(&b, res))
	assert.Contains(t, b.String(), "resolver: no counters: GET /v1.0/_metrics: status 404")
}

func TestJSONRoundTrip(t *testing.T) {
	res := sampleResult()
	res.Baseline = sampleBaseline()
	path := filepath.Join(t.TempDir(), "result.json")
	require.NoError(t, writeJSONFile(path, res))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var back result
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, *res, back)

	// The names a reader of the file relies on.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	for _, k := range []string{"service", "seed", "mix", "operations", "total", "resolver", "audit", "baseline"} {
		assert.Contains(t, raw, k)
	}
	baseline := raw["baseline"].(map[string]any)
	for _, k := range []string{"couch", "duration_s", "service", "raw", "rate_ratio", "p50_ratio", "p99_ratio"} {
		assert.Contains(t, baseline, k)
	}
	assert.InDelta(t, 0.5, baseline["rate_ratio"], 1e-9)
	audit := raw["audit"].(map[string]any)
	assert.Equal(t, "FAIL", audit["verdict"])
	assert.Len(t, audit["fruit"], 3)
	op := raw["operations"].([]any)[0].(map[string]any)
	for _, k := range []string{"op", "count", "ok", "failed", "latency", "rate_per_s", "step_s", "series", "histogram"} {
		assert.Contains(t, op, k)
	}
}

func TestWriteHTML(t *testing.T) {
	res := sampleResult()
	var b bytes.Buffer
	require.NoError(t, writeHTML(&b, res))
	page := b.String()

	assert.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	assert.Contains(t, page, "audit FAIL")
	assert.Contains(t, page, "00000000000000000000000000000002")
	assert.Contains(t, page, "409×")
	assert.Equal(t, 2*len(res.Operations), strings.Count(page, "<svg "), "two charts per operation")
	for _, o := range res.Operations {
		assert.Contains(t, page, o.Op+": latency over time")
		assert.Contains(t, page, o.Op+": latency histogram")
	}
	assert.Equal(t, 3*len(res.Operations), strings.Count(page, "<polyline "), "p50, p95 and max lines per operation")
	assert.Greater(t, strings.Count(page, `<rect class="bar"`), len(res.Operations), "histogram bars")

	// Self-contained: no script, nothing to fetch.
	assert.NotContains(t, page, "<script")
	assert.NotRegexp(t, regexp.MustCompile(`(?i)(src|href)=`), page)
	for _, m := range regexp.MustCompile(`https?://[^"'\s<]+`).FindAllString(page, -1) {
		assert.Contains(t, []string{"http://www.w3.org/2000/svg", "http://127.0.0.1:8445"}, m, "no URL but the SVG namespace and the service")
	}
	// Every number in the SVG is a plain coordinate.
	assert.NotContains(t, page, "NaN")
	assert.NotContains(t, page, "Inf")
}

func TestWriteHTMLBaseline(t *testing.T) {
	res := sampleResult()
	var b bytes.Buffer
	require.NoError(t, writeHTML(&b, res))
	assert.NotContains(t, b.String(), "Baseline", "no section without -baseline-couch")

	res.Baseline = sampleBaseline()
	b.Reset()
	require.NoError(t, writeHTML(&b, res))
	page := b.String()
	assert.Contains(t, page, "<h2>Baseline</h2>")
	assert.Contains(t, page, "<code>http://admin:xxxxx@127.0.0.1:5984/accord_sample</code>")
	assert.Contains(t, page, "<tr><td>service GET</td><td class=\"n\">1000</td>")
	assert.Contains(t, page, "<tr><td>raw GET</td><td class=\"n\">2000</td>")
	assert.Contains(t, page, "500×5 timeout×1")
	assert.Contains(t, page, "service GET rate is 0.50× the raw server&#39;s; p50 2.00×, p99 2.00×.")
	assert.Equal(t, 2*len(res.Operations), strings.Count(page, "<svg "), "no charts for the baseline")

	res.Baseline = &baselineResult{Couch: "http://127.0.0.1:5984/accord_sample", Skipped: "the mix was interrupted"}
	b.Reset()
	require.NoError(t, writeHTML(&b, res))
	assert.Contains(t, b.String(), "Skipped: the mix was interrupted.")
}

func TestWriteHTMLOneLatency(t *testing.T) {
	// All latencies alike: one histogram bin, flat lines.
	samples := []sample{
		{Start: 0, Latency: time.Millisecond, Op: opGet, Status: 200},
		{Start: time.Second, Latency: time.Millisecond, Op: opGet, Status: 200},
	}
	ops, total := operationStats(samples, 2*time.Second)
	res := &result{Operations: ops, Total: total, ElapsedS: 2, Audit: audit(nil, nil)}
	var b bytes.Buffer
	require.NoError(t, writeHTML(&b, res))
	assert.Equal(t, 1, strings.Count(b.String(), `<rect class="bar"`))
	assert.NotContains(t, b.String(), "NaN")
}

func TestProgress(t *testing.T) {
	r := &runner{}
	r.requests.Store(120)
	r.failed.Store(3)
	tests := []struct {
		name  string
		tty   bool
		check func(t *testing.T, out string)
	}{
		{"terminal", true, func(t *testing.T, out string) {
			assert.True(t, strings.HasPrefix(out, "\r\033[K"), "redraws in place: %q", out)
			assert.True(t, strings.HasSuffix(out, "\n"), "ends its line when done: %q", out)
			assert.NotContains(t, out, "loadgen: ")
		}},
		{"plain", false, func(t *testing.T, out string) {
			assert.NotContains(t, out, "\r")
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				assert.Regexp(t, `^loadgen: [0-9.]+m?s elapsed, [0-9.]+m?s remaining: 120 requests, [0-9.]+/s, 3 errors$`, l)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := startProgress(&b, tt.tty, r, time.Second, 20*time.Millisecond)
			time.Sleep(300 * time.Millisecond) // the terminal redraws every 250ms
			p.end()
			p.end() // twice is harmless
			out := b.String()
			require.NotEmpty(t, out)
			assert.Contains(t, out, "120 requests")
			tt.check(t, out)
		})
	}
	t.Run("no interval", func(t *testing.T) {
		var b bytes.Buffer
		p := startProgress(&b, false, r, time.Second, 0)
		time.Sleep(50 * time.Millisecond)
		p.end()
		assert.Empty(t, b.String())
	})
}

func TestLine(t *testing.T) {
	r := &runner{}
	r.requests.Store(500)
	r.failed.Store(7)
	p := &progress{r: r, duration: 10 * time.Second}
	assert.Equal(t, "2.5s elapsed, 7.5s remaining: 500 requests, 200.0/s, 7 errors", p.line(2500*time.Millisecond))
	assert.Equal(t, "12s elapsed, 0s remaining: 500 requests, 41.7/s, 7 errors", p.line(12*time.Second))
}

// TestQuantileMs checks the decision-time quantiles of the mix, read off
// the difference of the service's cumulative histograms before and after
// it.
func TestQuantileMs(t *testing.T) {
	hist := func(counts ...int64) []latencyBucket {
		bounds := []float64{0.01, 0.025, 0.05, 0.1}
		var out []latencyBucket
		for i, c := range counts {
			out = append(out, latencyBucket{LeMs: bounds[i], Count: c})
		}
		return out
	}
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name          string
		before, after []latencyBucket
		n             int64
		q             float64
		want          *float64
	}{
		{"p50 of the mix alone", hist(5, 5, 5, 5), hist(5, 10, 15, 15), 10, 0.5, f(0.025)},
		{"p99 of the mix alone", hist(5, 5, 5, 5), hist(5, 10, 15, 15), 10, 0.99, f(0.05)},
		{"everything before counted out", hist(100, 100, 100, 100), hist(100, 100, 101, 101), 1, 0.99, f(0.05)},
		{"no before: a service that just started", nil, hist(1, 2, 3, 4), 4, 0.5, f(0.025)},
		{"past the last bucket", hist(0, 0, 0, 0), hist(0, 0, 0, 1), 2, 0.99, nil},
		{"no histogram", nil, nil, 3, 0.5, nil},
		{"histograms of other bounds", hist(1, 1), hist(1, 1, 2, 3), 2, 0.5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quantileMs(tt.before, tt.after, tt.n, tt.q)
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, *tt.want, *got)
		})
	}
}
