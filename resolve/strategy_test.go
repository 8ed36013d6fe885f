package resolve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/resolve"
)

// constReader fills every buffer with one byte: a random source whose
// jitter is known.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func attempt(n int) *resolve.Conflict {
	c := conflict()
	c.Attempt = n
	return c
}

func TestParseRetryParams(t *testing.T) {
	tests := []struct {
		in      string
		want    resolve.RetryParams
		wantErr string
	}{
		{``, resolve.RetryParams{}, ""},
		{`null`, resolve.RetryParams{}, ""},
		{`{}`, resolve.RetryParams{}, ""},
		{`{"max_retries":3}`, resolve.RetryParams{MaxRetries: 3}, ""},
		{`{"max_retries":0}`, resolve.RetryParams{MaxRetries: -1}, ""},
		{`{"max_retries":-4}`, resolve.RetryParams{MaxRetries: -1}, ""},
		{`{"max_retries":1000}`, resolve.RetryParams{MaxRetries: 1000}, ""},
		{`{"max_retries":1001}`, resolve.RetryParams{}, "more than 1000"},
		{`{"max_retry":3}`, resolve.RetryParams{}, `unknown field "max_retry"`},
		{`{"max_retries":"3"}`, resolve.RetryParams{}, "cannot unmarshal string"},
		{`{} {}`, resolve.RetryParams{}, "trailing data"},
		{`[]`, resolve.RetryParams{}, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		got, err := resolve.ParseRetryParams([]byte(tt.in))
		if tt.wantErr != "" {
			if assert.Error(t, err, "ParseRetryParams(%q)", tt.in) {
				assert.Contains(t, err.Error(), tt.wantErr, "ParseRetryParams(%q)", tt.in)
			}
			continue
		}
		if assert.NoError(t, err, "ParseRetryParams(%q)", tt.in) {
			assert.Equal(t, tt.want, got, "ParseRetryParams(%q)", tt.in)
		}
	}
}

func TestParseBackoffParams(t *testing.T) {
	tests := []struct {
		in      string
		want    resolve.BackoffParams
		wantErr string
	}{
		{``, resolve.BackoffParams{}, ""},
		{`{}`, resolve.BackoffParams{}, ""},
		{`{"max_retries":5,"base_ms":10,"jitter":"equal","jitter_ms":3,"max_delay_ms":500}`, resolve.BackoffParams{MaxRetries: 5, BaseMS: 10, Jitter: resolve.JitterEqual, JitterMS: 3, MaxDelayMS: 500}, ""},
		{`{"max_retries":0}`, resolve.BackoffParams{MaxRetries: -1}, ""},
		{`{"jitter":"equal","jitter_ms":0}`, resolve.BackoffParams{Jitter: resolve.JitterEqual, JitterMS: -1}, ""},
		{`{"base_ms":0}`, resolve.BackoffParams{}, "base_ms 0 must be positive"},
		{`{"base_ms":-1}`, resolve.BackoffParams{}, "base_ms -1 must be positive"},
		{`{"base_ms":60001}`, resolve.BackoffParams{}, "base_ms 60001 outside"},
		{`{"max_delay_ms":0}`, resolve.BackoffParams{}, "max_delay_ms 0 must be positive"},
		{`{"max_delay_ms":60001}`, resolve.BackoffParams{}, "max_delay_ms 60001 outside"},
		{`{"jitter":"equal","jitter_ms":60001}`, resolve.BackoffParams{}, "jitter_ms 60001 is more than"},
		{`{"max_retries":1001}`, resolve.BackoffParams{}, "more than 1000"},
		{`{"jitter":"decorrelated"}`, resolve.BackoffParams{Jitter: resolve.JitterDecorrelated}, ""},
		{`{"jitter":"equal","jitter_ms":5}`, resolve.BackoffParams{Jitter: resolve.JitterEqual, JitterMS: 5}, ""},
		{`{"jitter":"full","jitter_ms":5}`, resolve.BackoffParams{}, `jitter_ms applies only to jitter "equal"`},
		{`{"jitter_ms":5}`, resolve.BackoffParams{}, `jitter_ms applies only to jitter "equal"`},
		{`{"jitter":"fancy"}`, resolve.BackoffParams{}, `jitter "fancy" is not`},
		{`{"jitter":""}`, resolve.BackoffParams{}, `jitter must be`},
		{`{"base":25}`, resolve.BackoffParams{}, `unknown field "base"`},
	}
	for _, tt := range tests {
		got, err := resolve.ParseBackoffParams([]byte(tt.in))
		if tt.wantErr != "" {
			if assert.Error(t, err, "ParseBackoffParams(%q)", tt.in) {
				assert.Contains(t, err.Error(), tt.wantErr, "ParseBackoffParams(%q)", tt.in)
			}
			continue
		}
		if assert.NoError(t, err, "ParseBackoffParams(%q)", tt.in) {
			assert.Equal(t, tt.want, got, "ParseBackoffParams(%q)", tt.in)
		}
	}
}

func TestDecideBasic(t *testing.T) {
	for _, n := range []int{1, 2, 50} {
		d := resolve.DecideBasic(attempt(n))
		assert.Equal(t, resolve.ActionFail, d.Action)
		assert.Contains(t, d.Reason, `"apple"`)
		assert.NoError(t, d.Validate(attempt(n)))
	}
}

func TestRetryDecide(t *testing.T) {
	tests := []struct {
		name    string
		p       resolve.RetryParams
		attempt int
		want    resolve.Action
	}{
		{"default first", resolve.RetryParams{}, 1, resolve.ActionRetry},
		{"default last", resolve.RetryParams{}, resolve.DefaultMaxRetries, resolve.ActionRetry},
		{"default exhausted", resolve.RetryParams{}, resolve.DefaultMaxRetries + 1, resolve.ActionFail},
		{"three, third", resolve.RetryParams{MaxRetries: 3}, 3, resolve.ActionRetry},
		{"three, fourth", resolve.RetryParams{MaxRetries: 3}, 4, resolve.ActionFail},
		{"never", resolve.RetryParams{MaxRetries: -1}, 1, resolve.ActionFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(attempt(tt.attempt))
			assert.Equal(t, tt.want, d.Action, "Decide(attempt %d) = %+v", tt.attempt, d)
			assert.Zero(t, d.DelayMS)
			assert.NoError(t, d.Validate(attempt(tt.attempt)))
		})
	}
}

func TestBackoffDecide(t *testing.T) {
	noJitter := resolve.BackoffParams{Jitter: resolve.JitterEqual, JitterMS: -1}
	equal := resolve.BackoffParams{Jitter: resolve.JitterEqual}
	tests := []struct {
		name      string
		p         resolve.BackoffParams
		attempt   int
		rnd       io.Reader
		want      resolve.Action
		wantDelay int64
	}{
		{"first wait is 2*25 ms", noJitter, 1, nil, resolve.ActionRetry, 50},
		{"second wait is 4*25 ms", noJitter, 2, nil, resolve.ActionRetry, 100},
		{"eighth wait", noJitter, 8, nil, resolve.ActionRetry, 6400},
		{"capped at max_delay_ms", noJitter, 9, nil, resolve.ActionRetry, resolve.DefaultBackoffMaxDelayMS},
		{"huge attempt does not overflow", resolve.BackoffParams{Jitter: resolve.JitterEqual, JitterMS: -1, MaxRetries: 1000}, 900, nil, resolve.ActionRetry, resolve.DefaultBackoffMaxDelayMS},
		{"custom base and cap", resolve.BackoffParams{Jitter: resolve.JitterEqual, BaseMS: 10, MaxDelayMS: 70, JitterMS: -1}, 3, nil, resolve.ActionRetry, 70},
		{"attempt 0 waits base", noJitter, 0, nil, resolve.ActionRetry, 25},
		{"jitter byte 0x00 is -jitter", equal, 1, constReader(0x00), resolve.ActionRetry, 40},
		{"jitter byte 0x01", equal, 1, constReader(0x01), resolve.ActionRetry, 45},
		{"jitter byte 0x80", equal, 1, constReader(0x80), resolve.ActionRetry, 50},
		{"jitter byte 0xff", equal, 1, constReader(0xff), resolve.ActionRetry, 55},
		{"jitter never goes below 0", resolve.BackoffParams{Jitter: resolve.JitterEqual, BaseMS: 1, JitterMS: 100}, 1, constReader(0x00), resolve.ActionRetry, 0},
		{"jitter never goes past the cap", resolve.BackoffParams{Jitter: resolve.JitterEqual, JitterMS: 100}, 12, constReader(0xff), resolve.ActionRetry, resolve.DefaultBackoffMaxDelayMS},
		{"failed read means no jitter", resolve.BackoffParams{}, 1, failingReader{}, resolve.ActionRetry, 50},
		{"full: byte 0x00 waits 0", resolve.BackoffParams{}, 3, constReader(0x00), resolve.ActionRetry, 0},
		{"full: 2^64-1 mod 201 waits 150 (of 0..200)", resolve.BackoffParams{}, 3, constReader(0xff), resolve.ActionRetry, 150},
		{"full: capped at max_delay_ms", resolve.BackoffParams{MaxDelayMS: 30}, 5, constReader(0xff), resolve.ActionRetry, 0xffffffffffffffff % 31},
		{"full: failed read waits the exponential wait", resolve.BackoffParams{}, 2, failingReader{}, resolve.ActionRetry, 100},
		{"decorrelated: attempt 0 waits base", resolve.BackoffParams{Jitter: resolve.JitterDecorrelated}, 0, constReader(0x00), resolve.ActionRetry, 25},
		{"decorrelated: capped at max_delay_ms", resolve.BackoffParams{Jitter: resolve.JitterDecorrelated, MaxDelayMS: 25}, 7, constReader(0x42), resolve.ActionRetry, 25},
		{"default gives up after 20", resolve.BackoffParams{}, 21, constReader(0), resolve.ActionFail, 0},
		{"never retries", resolve.BackoffParams{MaxRetries: -1}, 1, constReader(0), resolve.ActionFail, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(attempt(tt.attempt), tt.rnd)
			assert.Equal(t, tt.want, d.Action)
			assert.Equal(t, tt.wantDelay, d.DelayMS, "Decide(attempt %d).DelayMS", tt.attempt)
			assert.NoError(t, d.Validate(attempt(tt.attempt)))
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	// With crypto/rand, every delay of attempt n lies in
	// [25*2^n - 10, 25*2^n + 10].
	p := resolve.BackoffParams{Jitter: resolve.JitterEqual}
	for n := 1; n <= 5; n++ {
		base := int64(25) << n
		seen := map[int64]bool{}
		for range 2000 {
			d := p.Decide(attempt(n), nil)
			require.Equal(t, resolve.ActionRetry, d.Action)
			require.GreaterOrEqual(t, d.DelayMS, base-10, "attempt %d", n)
			require.LessOrEqual(t, d.DelayMS, base+10, "attempt %d", n)
			seen[d.DelayMS] = true
		}
		assert.Len(t, seen, 21, "attempt %d: 2000 draws should hit all 21 delays", n)
	}
}

// TestBackoffJitterStrategies draws many waits of each strategy with
// crypto/rand and checks their range and spread: full jitter covers
// [0, exp], decorrelated stays in [base, min(cap, 3^n*base)] and spreads.
func TestBackoffJitterStrategies(t *testing.T) {
	tests := []struct {
		jitter  resolve.Jitter
		attempt int
		lo, hi  int64
	}{
		{resolve.JitterFull, 1, 0, 50},
		{resolve.JitterFull, 4, 0, 400},
		{resolve.JitterFull, 12, 0, resolve.DefaultBackoffMaxDelayMS},
		{resolve.JitterDecorrelated, 1, 25, 75},
		{resolve.JitterDecorrelated, 3, 25, 675},
		{resolve.JitterDecorrelated, 12, 25, resolve.DefaultBackoffMaxDelayMS},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.jitter, tt.attempt), func(t *testing.T) {
			p := resolve.BackoffParams{Jitter: tt.jitter}
			var lowHalf, highHalf int
			for range 4000 {
				d := p.Decide(attempt(tt.attempt), nil)
				require.Equal(t, resolve.ActionRetry, d.Action)
				require.GreaterOrEqual(t, d.DelayMS, tt.lo)
				require.LessOrEqual(t, d.DelayMS, tt.hi)
				if d.DelayMS < (tt.lo+tt.hi)/2 {
					lowHalf++
				} else {
					highHalf++
				}
				require.NoError(t, d.Validate(attempt(tt.attempt)))
			}
			// Decorrelated waits lean low (about 5% of the third wait's
			// draws fall in the upper half): ask each half for 1% of the
			// draws, a bound a sound generator misses with a chance far
			// below one in a million.
			assert.Greater(t, lowHalf, 40, "waits spread into the lower half of [%d, %d]", tt.lo, tt.hi)
			assert.Greater(t, highHalf, 40, "waits spread into the upper half of [%d, %d]", tt.lo, tt.hi)
		})
	}
}

// TestBackoffDeterministic: the same random bytes give the same wait, for
// every strategy, so that pinned-random replays agree.
func TestBackoffDeterministic(t *testing.T) {
	for _, j := range []resolve.Jitter{resolve.JitterEqual, resolve.JitterFull, resolve.JitterDecorrelated} {
		p := resolve.BackoffParams{Jitter: j}
		for n := 1; n <= 10; n++ {
			a := p.Decide(attempt(n), constReader(0x5a))
			b := p.Decide(attempt(n), constReader(0x5a))
			assert.Equal(t, a, b, "%s attempt %d", j, n)
		}
	}
}

func TestStrategies(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		s    *resolve.Strategy
		name string
		want resolve.Action
	}{
		{resolve.Basic(), "basic", resolve.ActionFail},
		{resolve.Retry(resolve.RetryParams{}), "retry", resolve.ActionRetry},
		{resolve.Backoff(resolve.BackoffParams{}, nil), "backoff", resolve.ActionRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc := tt.s.Describe()
			assert.Equal(t, tt.name, desc.Name)
			assert.NotNil(t, desc.Needs, "the native strategies read no document and must say so")
			assert.Empty(t, desc.Needs)
			d, err := tt.s.Resolve(ctx, attempt(1))
			require.NoError(t, err)
			assert.Equal(t, tt.want, d.Action)

			done, cancel := context.WithCancel(ctx)
			cancel()
			_, err = tt.s.Resolve(done, attempt(1))
			assert.ErrorIs(t, err, context.Canceled)
			assert.True(t, strings.HasPrefix(err.Error(), "resolve: "+tt.name+":"), "error %q", err)
		})
	}
}
