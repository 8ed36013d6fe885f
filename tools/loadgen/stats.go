package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// outcome classifies one request's answer.
type outcome uint8

const (
	// outcomeOK: the expected 2xx.
	outcomeOK outcome = iota
	// outcomeGone: 404 for a fruit loadgen itself deleted (or was
	// deleting): what the service should say, not a failure.
	outcomeGone
	// outcomeFailed: anything else, timeouts and transport errors too.
	outcomeFailed
)

// sample is one request: what it was, when it started (since the start
// of the mix), how long it took and how it ended. It is kept small: a
// run keeps every one of them.
type sample struct {
	Start   time.Duration
	Latency time.Duration
	Op      op
	Outcome outcome
	Status  int16 // HTTP status; 0 with Kind "timeout" or "error"
	Timeout bool  // no answer because the request ran out of time
}

// kind is the failure-table key of a sample: its status, or "timeout"
// or "error" when no answer came back.
func (s sample) kind() string {
	switch {
	case s.Status != 0:
		return strconv.Itoa(int(s.Status))
	case s.Timeout:
		return "timeout"
	default:
		return "error"
	}
}

// latency sums up a set of latencies, in milliseconds.
type latency struct {
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// are less than or equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99.9% of 1000 at rank 999 despite rounding.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summarize computes the latency figures of sorted.
func summarize(sorted []time.Duration) latency {
	if len(sorted) == 0 {
		return latency{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return latency{
		MeanMs: ms(sum) / float64(len(sorted)),
		P50Ms:  ms(percentile(sorted, 50)),
		P95Ms:  ms(percentile(sorted, 95)),
		P99Ms:  ms(percentile(sorted, 99)),
		MaxMs:  ms(sorted[len(sorted)-1]),
	}
}

// opStats is the report of one operation (or of all of them).
type opStats struct {
	Op       string         `json:"op"`
	Count    int            `json:"count"`
	OK       int            `json:"ok"`
	Gone     int            `json:"gone"`
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures,omitempty"` // by status, "timeout" or "error"
	Latency  latency        `json:"latency"`
	Rate     float64        `json:"rate_per_s"`
	StepS    float64        `json:"step_s,omitempty"` // width of the slices of Series
	Series   []point        `json:"series,omitempty"`
	Hist     []bin          `json:"histogram,omitempty"`
}

// point is one time slice of the latency-over-time chart.
type point struct {
	AtS    float64 `json:"at_s"` // start of the slice, seconds into the mix
	Count  int     `json:"count"`
	Failed int     `json:"failed"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// bin is one bar of a latency histogram: the latencies in [LoMs, HiMs).
type bin struct {
	LoMs  float64 `json:"lo_ms"`
	HiMs  float64 `json:"hi_ms"`
	Count int     `json:"count"`
}

// buildStats sums up the samples of one operation (name) over a mix that
// lasted elapsed.
func buildStats(name string, samples []sample, elapsed time.Duration) opStats {
	st := opStats{Op: name, Count: len(samples)}
	lat := make([]time.Duration, len(samples))
	for i, s := range samples {
		lat[i] = s.Latency
		switch s.Outcome {
		case outcomeOK:
			st.OK++
		case outcomeGone:
			st.Gone++
		default:
			st.Failed++
			if st.Failures == nil {
				st.Failures = map[string]int{}
			}
			st.Failures[s.kind()]++
		}
	}
	slices.Sort(lat)
	st.Latency = summarize(lat)
	if elapsed > 0 {
		st.Rate = float64(len(samples)) / elapsed.Seconds()
	}
	step := sliceStep(elapsed, len(samples))
	st.StepS = step.Seconds()
	st.Series = series(samples, step)
	st.Hist = histogram(lat, 30)
	return st
}

// sliceStep picks the width of the time slices of the latency-over-time
// series of n requests over elapsed: a round width giving at most 60
// slices, and few enough that a slice holds 20 requests on average, so
// that its p95 means something.
func sliceStep(elapsed time.Duration, n int) time.Duration {
	slices := min(max(n/20, 1), 60)
	steps := []time.Duration{
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour,
	}
	for _, s := range steps {
		if elapsed/s < time.Duration(slices) {
			return s
		}
	}
	return (elapsed / time.Duration(slices)).Truncate(time.Hour) + time.Hour
}

// series cuts samples into slices of width step by their start and sums
// up each slice that has any.
func series(samples []sample, step time.Duration) []point {
	if len(samples) == 0 || step <= 0 {
		return nil
	}
	buckets := map[int64][]sample{}
	for _, s := range samples {
		k := int64(s.Start / step)
		buckets[k] = append(buckets[k], s)
	}
	keys := make([]int64, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pts := make([]point, 0, len(keys))
	for _, k := range keys {
		b := buckets[k]
		lat := make([]time.Duration, len(b))
		failed := 0
		for i, s := range b {
			lat[i] = s.Latency
			if s.Outcome == outcomeFailed {
				failed++
			}
		}
		slices.Sort(lat)
		pts = append(pts, point{
			AtS:    (time.Duration(k) * step).Seconds(),
			Count:  len(b),
			Failed: failed,
			P50Ms:  ms(percentile(lat, 50)),
			P95Ms:  ms(percentile(lat, 95)),
			P99Ms:  ms(percentile(lat, 99)),
			MaxMs:  ms(lat[len(lat)-1]),
		})
	}
	return pts
}

// histogram counts sorted latencies into n bins of equal width on a
// logarithmic scale from the smallest to the largest, the last bin
// closed. Latencies all alike make one bin.
func histogram(sorted []time.Duration, n int) []bin {
	if len(sorted) == 0 {
		return nil
	}
	lo := max(ms(sorted[0]), 0.001) // 1 µs: a floor for the logarithm
	hi := ms(sorted[len(sorted)-1])
	if hi <= lo*1.0001 {
		return []bin{{LoMs: lo, HiMs: max(hi, lo), Count: len(sorted)}}
	}
	ratio := math.Pow(hi/lo, 1/float64(n))
	bins := make([]bin, n)
	edge := lo
	for i := range bins {
		bins[i].LoMs = edge
		edge *= ratio
		bins[i].HiMs = edge
	}
	bins[n-1].HiMs = hi
	logLo, logRatio := math.Log(lo), math.Log(ratio)
	for _, d := range sorted {
		i := int((math.Log(max(ms(d), lo)) - logLo) / logRatio)
		bins[min(max(i, 0), n-1)].Count++
	}
	return bins
}
