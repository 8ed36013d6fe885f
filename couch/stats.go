package couch

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accord-db/accord/resolve"
)

// LatencyBuckets are the upper bounds of [Stats]' decision latency
// histogram: fine (steps of 1.5× or less) from 5 µs to 10 ms, where a
// decision's time falls in a service (a cold call of a Go plugin takes
// 50–350 µs of CPU; a call the OS preempts, a few ms), so that a quantile
// read off them is within a step of the truth; coarse beyond. They hold
// every bound of the earlier, coarser list (10, 25, 50, 100, 250, 500
// µs, 1, 2.5, 5, 10, 25, 50, 100, 250 ms, 1 s), so that a series
// scraped under an earlier release keeps its le labels.
var LatencyBuckets = []time.Duration{
	5 * time.Microsecond, 7500 * time.Nanosecond, 10 * time.Microsecond, 15 * time.Microsecond,
	20 * time.Microsecond, 25 * time.Microsecond, 35 * time.Microsecond,
	50 * time.Microsecond, 75 * time.Microsecond, 100 * time.Microsecond,
	150 * time.Microsecond, 200 * time.Microsecond, 250 * time.Microsecond,
	350 * time.Microsecond, 500 * time.Microsecond, 750 * time.Microsecond,
	time.Millisecond, 1500 * time.Microsecond, 2 * time.Millisecond,
	2500 * time.Microsecond, 3500 * time.Microsecond, 5 * time.Millisecond,
	7500 * time.Microsecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	time.Second,
}

// Stats counts what the conflict loop of one or more [Store]s saw and
// decided: conflicts, decisions by resolver and action, resolver failures,
// and how long decisions took. It is safe for concurrent use; the zero
// value is ready. A service reads it with [Stats.Snapshot] to serve its
// metrics.
type Stats struct {
	mu        sync.Mutex
	resolvers map[string]*ResolverStats
	retries   RetryStats
	acc       AcceptedStats
	refused   atomic.Int64 // documents a Sealer refused (sealer.go)
}

// RetryStats counts what the transient-failure retries of the [Client]s
// sharing a [Stats] did; see [RetryPolicy].
type RetryStats struct {
	// Retries counts the retries made, by reason.
	Retries map[RetryReason]int64 `json:"retries"`
	// Ended counts the requests whose transient failure was returned
	// without a (further) retry, by why: "attempts exhausted", "no time
	// left", "Retry-After too long", "retry budget exhausted"; and
	// "ambiguous" for a request whose earlier attempt may have been
	// applied (its error matches [ErrAmbiguous]); and "own write
	// recognised" for a refused resend whose first attempt the Store
	// found applied (counted in the Store's Stats).
	Ended map[string]int64 `json:"ended"`
}

// retried counts a retry.
func (s *Stats) retried(reason RetryReason) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retries.Retries == nil {
		s.retries.Retries = map[RetryReason]int64{}
	}
	s.retries.Retries[reason]++
}

// retryEnded counts a transient failure returned to the caller.
func (s *Stats) retryEnded(why string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retries.Ended == nil {
		s.retries.Ended = map[string]int64{}
	}
	s.retries.Ended[why]++
}

// Retries returns a copy of the retry counts.
func (s *Stats) Retries() RetryStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := RetryStats{Retries: map[RetryReason]int64{}, Ended: map[string]int64{}}
	for k, v := range s.retries.Retries {
		out.Retries[k] = v
	}
	for k, v := range s.retries.Ended {
		out.Ended[k] = v
	}
	return out
}

// ResolverStats is what one resolver was asked and answered.
type ResolverStats struct {
	// Conflicts counts the conflicts handed to the resolver.
	Conflicts int64 `json:"conflicts"`
	// Decisions counts valid decisions by action.
	Decisions map[resolve.Action]int64 `json:"decisions"`
	// Failures counts calls that failed or answered an invalid decision;
	// each failed its write closed.
	Failures int64 `json:"failures"`
	// Latency is the histogram of decision times.
	Latency Histogram `json:"latency"`
}

// Histogram is a cumulative histogram of durations over
// [LatencyBuckets].
type Histogram struct {
	// Counts[i] counts the observations of at most LatencyBuckets[i]; the
	// last element counts them all.
	Counts []int64 `json:"counts"`
	// Count and Sum are the number and total of observations.
	Count int64         `json:"count"`
	Sum   time.Duration `json:"sum_ns"`
}

func (h *Histogram) observe(d time.Duration) {
	if h.Counts == nil {
		h.Counts = make([]int64, len(LatencyBuckets)+1)
	}
	i := sort.Search(len(LatencyBuckets), func(i int) bool { return d <= LatencyBuckets[i] })
	for ; i < len(h.Counts); i++ {
		h.Counts[i]++
	}
	h.Count++
	h.Sum += d
}

// Mean is the mean observation, or zero without any.
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

func (s *Stats) resolver(name string) *ResolverStats {
	if s.resolvers == nil {
		s.resolvers = map[string]*ResolverStats{}
	}
	r, ok := s.resolvers[name]
	if !ok {
		r = &ResolverStats{Decisions: map[resolve.Action]int64{}}
		s.resolvers[name] = r
	}
	return r
}

// conflict counts a conflict handed to the resolver name.
func (s *Stats) conflict(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolver(name).Conflicts++
}

// decided counts the resolver's answer: a valid action, or a failure
// when action is empty.
func (s *Stats) decided(name string, action resolve.Action, took time.Duration) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.resolver(name)
	r.Latency.observe(took)
	if action == "" {
		r.Failures++
		return
	}
	r.Decisions[action]++
}

// Snapshot returns a copy of the counts, by resolver name.
func (s *Stats) Snapshot() map[string]ResolverStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]ResolverStats, len(s.resolvers))
	for name, r := range s.resolvers {
		c := *r
		c.Decisions = make(map[resolve.Action]int64, len(r.Decisions))
		for a, n := range r.Decisions {
			c.Decisions[a] = n
		}
		c.Latency.Counts = append([]int64(nil), r.Latency.Counts...)
		out[name] = c
	}
	return out
}
