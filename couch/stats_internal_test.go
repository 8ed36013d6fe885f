package couch

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLatencyBuckets checks the decision histogram's bounds: ascending,
// no step wider than 1.5× from 5 µs to 10 ms (where decisions fall in a
// service), and every bound of the earlier list kept.
func TestLatencyBuckets(t *testing.T) {
	require.True(t, slices.IsSorted(LatencyBuckets))
	assert.Equal(t, 5*time.Microsecond, LatencyBuckets[0])
	for i := 1; i < len(LatencyBuckets) && LatencyBuckets[i] <= 10*time.Millisecond; i++ {
		lo, hi := LatencyBuckets[i-1], LatencyBuckets[i]
		assert.LessOrEqual(t, float64(hi)/float64(lo), 1.5, "step from %v to %v", lo, hi)
	}
	for _, old := range []time.Duration{10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
		100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
		2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second} {
		assert.Contains(t, LatencyBuckets, old)
	}
}

// TestHistogramObserve checks that an observation counts in the first
// bucket whose bound it does not pass, and in every one after it.
func TestHistogramObserve(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want time.Duration // the first bound counting it; 0 past the last
	}{
		{0, 5 * time.Microsecond},
		{5 * time.Microsecond, 5 * time.Microsecond},
		{60 * time.Microsecond, 75 * time.Microsecond},
		{1100 * time.Microsecond, 1500 * time.Microsecond},
		{2 * time.Second, 0},
	}
	for _, tt := range tests {
		var h Histogram
		h.observe(tt.d)
		require.Len(t, h.Counts, len(LatencyBuckets)+1)
		first := slices.Index(h.Counts, 1)
		if tt.want == 0 {
			assert.Equal(t, len(LatencyBuckets), first, "observe(%v)", tt.d)
		} else {
			assert.Equal(t, tt.want, LatencyBuckets[first], "observe(%v)", tt.d)
		}
		assert.Equal(t, int64(1), h.Counts[len(h.Counts)-1])
		assert.Equal(t, tt.d, h.Sum)
	}
}
