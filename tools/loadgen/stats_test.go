package main

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// msRange returns 1ms, 2ms, … n ms.
func msRange(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", msRange(1), 99, time.Millisecond},
		{"two, p50 is the lower", msRange(2), 50, time.Millisecond},
		{"two, p51 is the upper", msRange(2), 51, 2 * time.Millisecond},
		{"hundred p50", msRange(100), 50, 50 * time.Millisecond},
		{"hundred p95", msRange(100), 95, 95 * time.Millisecond},
		{"hundred p99", msRange(100), 99, 99 * time.Millisecond},
		{"hundred p100", msRange(100), 100, 100 * time.Millisecond},
		{"thousand p99.9", msRange(1000), 99.9, 999 * time.Millisecond},
		{"ten p95 rounds up", msRange(10), 95, 10 * time.Millisecond},
		{"ten p0 is the smallest", msRange(10), 0, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := percentile(tt.sorted, tt.p)
			assert.Equal(t, tt.want, got, "percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
		})
	}
}

func TestSummarize(t *testing.T) {
	got := summarize(msRange(100))
	assert.Equal(t, latency{MeanMs: 50.5, P50Ms: 50, P95Ms: 95, P99Ms: 99, MaxMs: 100}, got)
	assert.Equal(t, latency{}, summarize(nil))
}

func TestBuildStats(t *testing.T) {
	var samples []sample
	for i, d := range msRange(100) {
		s := sample{Start: time.Duration(i) * 10 * time.Millisecond, Latency: d, Op: opTaste, Status: 200}
		switch {
		case i%10 == 0:
			s.Outcome, s.Status = outcomeFailed, 409
		case i == 11:
			s.Outcome, s.Status = outcomeFailed, 0
			s.Timeout = true
		case i == 12:
			s.Outcome, s.Status = outcomeFailed, 0
		case i == 13:
			s.Outcome, s.Status = outcomeGone, 404
		}
		samples = append(samples, s)
	}
	// Shuffled order must not matter.
	slices.Reverse(samples)
	st := buildStats("taste", samples, time.Second)
	assert.Equal(t, "taste", st.Op)
	assert.Equal(t, 100, st.Count)
	assert.Equal(t, 87, st.OK)
	assert.Equal(t, 1, st.Gone)
	assert.Equal(t, 12, st.Failed)
	assert.Equal(t, map[string]int{"409": 10, "timeout": 1, "error": 1}, st.Failures)
	assert.Equal(t, 100.0, st.Rate)
	assert.Equal(t, 99.0, st.Latency.P99Ms)

	// The samples start over 0–990ms: four slices of 250ms, each of
	// 25 requests (at least 20).
	assert.Equal(t, 0.25, st.StepS)
	require.Len(t, st.Series, 4)
	total := 0
	for i, p := range st.Series {
		assert.Equal(t, float64(i)*0.25, p.AtS)
		assert.LessOrEqual(t, p.P50Ms, p.P95Ms)
		assert.LessOrEqual(t, p.P95Ms, p.P99Ms)
		assert.LessOrEqual(t, p.P99Ms, p.MaxMs)
		total += p.Count
	}
	assert.Equal(t, 100, total)
	assert.Equal(t, 25, st.Series[0].Count)
	assert.Equal(t, 25.0, st.Series[0].MaxMs)
	assert.Equal(t, 5, st.Series[0].Failed, "409s at 0, 10, 20; the timeout at 11 and the error at 12")
}

func TestHistogram(t *testing.T) {
	t.Run("spread", func(t *testing.T) {
		lat := msRange(1000)
		bins := histogram(lat, 30)
		require.Len(t, bins, 30)
		total := 0
		for i, b := range bins {
			total += b.Count
			assert.Less(t, b.LoMs, b.HiMs)
			if i > 0 {
				assert.InDelta(t, bins[i-1].HiMs, b.LoMs, 1e-9, "bins are contiguous")
				assert.InDelta(t, bins[1].HiMs/bins[1].LoMs, b.HiMs/b.LoMs, 1e-6, "bins are equal on a log scale")
			}
		}
		assert.Equal(t, 1000, total, "every latency is in a bin")
		assert.Equal(t, 1.0, bins[0].LoMs)
		assert.Equal(t, 1000.0, bins[29].HiMs)
		assert.Equal(t, 1, bins[0].Count, "1ms alone in the first bin")
	})
	t.Run("all alike", func(t *testing.T) {
		bins := histogram([]time.Duration{time.Millisecond, time.Millisecond}, 30)
		assert.Equal(t, []bin{{LoMs: 1, HiMs: 1, Count: 2}}, bins)
	})
	t.Run("empty", func(t *testing.T) {
		assert.Nil(t, histogram(nil, 30))
	})
	t.Run("zero latency", func(t *testing.T) {
		bins := histogram([]time.Duration{0, time.Millisecond}, 10)
		total := 0
		for _, b := range bins {
			total += b.Count
		}
		assert.Equal(t, 2, total)
	})
}

func TestSliceStep(t *testing.T) {
	tests := []struct {
		elapsed time.Duration
		n       int
		want    time.Duration
	}{
		{0, 1000, 100 * time.Millisecond},
		{3 * time.Second, 10_000, 100 * time.Millisecond},
		{3 * time.Second, 200, 500 * time.Millisecond}, // 10 slices of 20
		{3 * time.Second, 5, 5 * time.Second},          // one slice
		{15 * time.Second, 10_000, 500 * time.Millisecond},
		{time.Minute, 10_000, 2 * time.Second},
		{10 * time.Minute, 100_000, 15 * time.Second},
		{time.Hour, 1_000_000, 2 * time.Minute},
		{1000 * time.Hour, 1_000_000, 17 * time.Hour},
	}
	for _, tt := range tests {
		got := sliceStep(tt.elapsed, tt.n)
		assert.Equal(t, tt.want, got, "sliceStep(%v, %d) = %v, want %v", tt.elapsed, tt.n, got, tt.want)
		slices := int64(tt.elapsed/got) + 1
		assert.LessOrEqual(t, slices, int64(60))
		assert.LessOrEqual(t, slices, max(int64(tt.n/20), 1))
	}
}
