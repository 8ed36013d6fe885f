package resolve

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Func is a resolver written as a pure function of the conflict. The
// built-in plugins are Funcs compiled to WebAssembly; the same Funcs run
// natively through [NewStrategy] as their reference twins.
type Func func(*Conflict) Decision

// noDocuments is the Needs of a resolver that reads no document.
var noDocuments = []Need{}

// BasicDescription describes the basic strategy.
var BasicDescription = Description{
	Name:        "basic",
	Version:     "1.0.0",
	Description: "gives up on the first conflict",
	Needs:       noDocuments,
}

// DecideBasic is the basic strategy: every conflict is refused.
func DecideBasic(c *Conflict) Decision {
	return Decision{Action: ActionFail, Reason: "conflict on " + strconv.Quote(c.ID) + ": basic gives up on the first conflict"}
}

// DefaultMaxRetries is how many times retry and backoff retry by default.
const DefaultMaxRetries = 20

// RetryParams configures the retry strategy. The zero value is the
// default.
type RetryParams struct {
	// MaxRetries is how many conflicts are retried before giving up.
	// Zero means DefaultMaxRetries; a negative value means never retry.
	MaxRetries int `json:"max_retries"`
}

// RetryDescription describes the retry strategy.
var RetryDescription = Description{
	Name:        "retry",
	Version:     "1.0.0",
	Description: "re-reads and re-applies at once, at most max_retries times",
	Needs:       noDocuments,
}

// ParseRetryParams decodes retry's JSON parameters; absent ones keep their
// defaults, an explicit 0 means never retry, unknown ones are an error.
func ParseRetryParams(raw []byte) (RetryParams, error) {
	var in struct {
		MaxRetries *int
	}
	if err := decodeParams(raw, []paramField{{"max_retries", optInt(&in.MaxRetries)}}); err != nil {
		return RetryParams{}, wrapError("retry params: "+err.Error(), err)
	}
	p := RetryParams{}
	if in.MaxRetries != nil {
		p.MaxRetries = explicit(*in.MaxRetries)
	}
	return p, p.validate()
}

func (p RetryParams) validate() error {
	if p.MaxRetries > 1000 {
		return errors.New("retry params: max_retries " + strconv.Itoa(p.MaxRetries) + " is more than 1000")
	}
	return nil
}

func (p RetryParams) maxRetries() int { return orDefault(p.MaxRetries, DefaultMaxRetries) }

// Decide is the retry strategy: retry at once until MaxRetries conflicts
// have been retried, then give up.
func (p RetryParams) Decide(c *Conflict) Decision {
	if n := p.maxRetries(); c.Attempt > n {
		return giveUp(c, n)
	}
	var b [48]byte
	r := append(b[:0], "retry "...)
	r = strconv.AppendInt(r, int64(c.Attempt), 10)
	r = append(r, " of "...)
	r = strconv.AppendInt(r, int64(p.maxRetries()), 10)
	return Decision{Action: ActionRetry, Reason: string(r)}
}

// BackoffParams configures the exponential backoff strategy. Before retry
// n (counted from 1) the exponential wait is BaseMS * 2^n ms, capped at
// MaxDelayMS; [BackoffParams.Jitter] says how it is randomised. The zero
// value is the default.
type BackoffParams struct {
	// MaxRetries is how many conflicts are retried before giving up.
	// Zero means DefaultMaxRetries; a negative value means never retry.
	MaxRetries int `json:"max_retries"`
	// BaseMS is the unit of the exponential wait. Zero means 25.
	BaseMS int `json:"base_ms"`
	// Jitter is how the wait is randomised. Empty means
	// DefaultBackoffJitter.
	Jitter Jitter `json:"jitter"`
	// JitterMS bounds the random part of the wait for [JitterEqual]
	// (the only strategy that uses it). Zero means 10; a negative value
	// means no jitter.
	JitterMS int `json:"jitter_ms"`
	// MaxDelayMS caps a single wait. Zero means 10000; at most MaxDelay.
	MaxDelayMS int `json:"max_delay_ms"`
}

// Jitter names a way of randomising backoff waits, after the well-known
// analysis of exponential backoff and jitter. With writers contending for
// one document, a wait that grows but stays near its exponential value
// makes the losers of each round wait longer and longer while newcomers
// win; spreading the waits over the whole range keeps writers apart.
type Jitter string

// The jitter strategies. With exp = min(MaxDelayMS, BaseMS * 2^n):
const (
	// JitterEqual, the seed's: exp ± JitterMS, uniformly.
	JitterEqual Jitter = "equal"
	// JitterFull: uniformly in [0, exp].
	JitterFull Jitter = "full"
	// JitterDecorrelated: each wait uniformly in [BaseMS, 3 * the previous
	// wait], capped at MaxDelayMS, starting from BaseMS. A resolver keeps
	// no state between conflicts, so the chain of n waits is drawn anew
	// from one random seed each time; the wait has the distribution the
	// stateful formula gives.
	JitterDecorrelated Jitter = "decorrelated"
)

// The backoff defaults. The base and cap come from the seed's exponential
// backoff sample. Its jitter, JitterEqual with ±10 ms, starves writers
// under contention on Apache CouchDB, so the default is the one measured
// best there (samples/backoff/README.md has the numbers).
const (
	DefaultBackoffBaseMS     = 25
	DefaultBackoffJitter     = JitterFull
	DefaultBackoffJitterMS   = 10
	DefaultBackoffMaxDelayMS = 10_000
)

// BackoffDescription describes the backoff strategy.
var BackoffDescription = Description{
	Name:        "backoff",
	Version:     "1.1.0",
	Description: "retries after a jittered exponential wait (jitter full, equal or decorrelated), at most max_retries times",
	Needs:       noDocuments,
}

// ParseBackoffParams decodes backoff's JSON parameters; absent ones keep
// their defaults, an explicit 0 means zero (no retries, no jitter), unknown
// ones are an error, and jitter_ms is refused with a jitter other than
// "equal", which alone uses it.
func ParseBackoffParams(raw []byte) (BackoffParams, error) {
	var in struct {
		MaxRetries, BaseMS, JitterMS, MaxDelayMS *int
		Jitter                                   *string
	}
	err := decodeParams(raw, []paramField{
		{"max_retries", optInt(&in.MaxRetries)},
		{"base_ms", optInt(&in.BaseMS)},
		{"jitter", optString(&in.Jitter)},
		{"jitter_ms", optInt(&in.JitterMS)},
		{"max_delay_ms", optInt(&in.MaxDelayMS)},
	})
	if err != nil {
		return BackoffParams{}, wrapError("backoff params: "+err.Error(), err)
	}
	var p BackoffParams
	if in.MaxRetries != nil {
		p.MaxRetries = explicit(*in.MaxRetries)
	}
	if in.BaseMS != nil {
		if *in.BaseMS <= 0 {
			return BackoffParams{}, errors.New("backoff params: base_ms " + strconv.Itoa(*in.BaseMS) + " must be positive")
		}
		p.BaseMS = *in.BaseMS
	}
	if in.Jitter != nil {
		p.Jitter = Jitter(*in.Jitter)
		if p.Jitter == "" {
			return BackoffParams{}, errors.New(`backoff params: jitter must be "full", "equal" or "decorrelated"`)
		}
	}
	if in.JitterMS != nil {
		if p.jitter() != JitterEqual {
			return BackoffParams{}, errors.New(`backoff params: jitter_ms applies only to jitter "equal", not ` + strconv.Quote(string(p.jitter())))
		}
		p.JitterMS = explicit(*in.JitterMS)
	}
	if in.MaxDelayMS != nil {
		if *in.MaxDelayMS <= 0 {
			return BackoffParams{}, errors.New("backoff params: max_delay_ms " + strconv.Itoa(*in.MaxDelayMS) + " must be positive")
		}
		p.MaxDelayMS = *in.MaxDelayMS
	}
	return p, p.validate()
}

func (p BackoffParams) validate() error {
	switch {
	case p.MaxRetries > 1000:
		return errors.New("backoff params: max_retries " + strconv.Itoa(p.MaxRetries) + " is more than 1000")
	case p.BaseMS < 0 || p.BaseMS > MaxDelay:
		return errors.New("backoff params: base_ms " + strconv.Itoa(p.BaseMS) + " outside [1, " + strconv.Itoa(MaxDelay) + "]")
	case p.JitterMS > MaxDelay:
		return errors.New("backoff params: jitter_ms " + strconv.Itoa(p.JitterMS) + " is more than " + strconv.Itoa(MaxDelay))
	case p.MaxDelayMS < 0 || p.MaxDelayMS > MaxDelay:
		return errors.New("backoff params: max_delay_ms " + strconv.Itoa(p.MaxDelayMS) + " outside [1, " + strconv.Itoa(MaxDelay) + "]")
	}
	switch p.jitter() {
	case JitterEqual, JitterFull, JitterDecorrelated:
		return nil
	}
	// The name is the caller's input: quote a bounded prefix of it.
	return errors.New("backoff params: jitter " + strconv.Quote(Clip(string(p.Jitter))) + ` is not "full", "equal" or "decorrelated"`)
}

func (p BackoffParams) jitter() Jitter {
	if p.Jitter == "" {
		return DefaultBackoffJitter
	}
	return p.Jitter
}

// Decide is the backoff strategy, drawing its randomness from rnd (8 bytes
// a decision; nil means the platform's cryptographic source: crypto/rand,
// or in a WebAssembly guest the host's, through WASI's random_get; a
// failed read means no jitter: the exponential wait itself).
func (p BackoffParams) Decide(c *Conflict, rnd io.Reader) Decision {
	if rnd == nil {
		rnd = defaultRandom
	}
	maxRetries := orDefault(p.MaxRetries, DefaultMaxRetries)
	if c.Attempt > maxRetries {
		return giveUp(c, maxRetries)
	}
	base := int64(orDefault(p.BaseMS, DefaultBackoffBaseMS))
	maxDelay := int64(orDefault(p.MaxDelayMS, DefaultBackoffMaxDelayMS))
	n := max(c.Attempt, 0)

	delay := maxDelay
	if n < 32 {
		delay = min(base<<n, maxDelay)
	}
	if r, err := random64(rnd); err == nil {
		switch p.jitter() {
		case JitterEqual:
			if jitter := int64(orDefault(p.JitterMS, DefaultBackoffJitterMS)); jitter > 0 {
				delay += int64(r%uint64(2*jitter+1)) - jitter
			}
		case JitterFull:
			delay = int64(r % uint64(delay+1))
		case JitterDecorrelated:
			delay = decorrelated(r, n, base, maxDelay)
		}
	}
	delay = min(max(delay, 0), maxDelay)
	return Decision{
		Action:  ActionRetry,
		DelayMS: delay,
		Reason:  retryReason(c.Attempt, maxRetries, delay),
	}
}

// readUint64 reads 8 bytes from rnd, a little-endian uint64.
func readUint64(rnd io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return 0, err
	}
	return leUint64(b), nil
}

func leUint64(b [8]byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// decorrelated draws the n-th wait of the chain w0 = base,
// w(i) = min(maxDelay, uniform[base, 3*w(i-1)]), from the random seed r.
func decorrelated(r uint64, n int, base, maxDelay int64) int64 {
	w := base
	for range n {
		r = splitmix64(r)
		hi := min(3*w, maxDelay)
		if hi <= base {
			w = min(base, maxDelay)
			continue
		}
		w = base + int64(r%uint64(hi-base+1))
	}
	return w
}

// splitmix64 is one step of the SplitMix64 generator: small, fast, and the
// same on every host.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// retryReason is "retry N of M after D ms", built with one allocation: a
// plugin builds one on every call.
func retryReason(attempt, of int, delay int64) string {
	var b [64]byte
	r := append(b[:0], "retry "...)
	r = strconv.AppendInt(r, int64(attempt), 10)
	r = append(r, " of "...)
	r = strconv.AppendInt(r, int64(of), 10)
	r = append(r, " after "...)
	r = strconv.AppendInt(r, delay, 10)
	r = append(r, " ms"...)
	return string(r)
}

func giveUp(c *Conflict, retries int) Decision {
	return Decision{Action: ActionFail, Reason: "conflict on " + strconv.Quote(c.ID) + ": giving up after " + strconv.Itoa(retries) + " retries"}
}

// orDefault maps the zero value to def and a negative value to zero.
func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// explicit maps a value given in JSON params to the Go field convention,
// where zero means the default: an explicit zero (or less) becomes -1.
func explicit(v int) int {
	if v <= 0 {
		return -1
	}
	return v
}

// paramField is a key a plugin's parameters may hold, and what decodes
// its value.
type paramField struct {
	name   string
	decode func(v []byte) error
}

// decodeParams decodes a plugin's JSON parameters strictly, as
// encoding/json decodes them into a struct with DisallowUnknownFields: one
// object whose keys match fields' names regardless of case, no other key.
// Empty input or null means no parameters.
func decodeParams(raw []byte, fields []paramField) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	r := objectReader{b: raw}
	for r.next() {
		k := fieldIndex(r.key, names)
		if k < 0 {
			return errors.New("unknown field " + strconv.Quote(Clip(unquote(r.key))))
		}
		if err := fields[k].decode(r.val); err != nil {
			return wrapError(names[k]+": "+err.Error(), err)
		}
	}
	return r.err
}

// optInt decodes an optional integer: null sets *p to nil.
func optInt(p **int) func([]byte) error {
	return func(v []byte) error {
		if v[0] == 'n' {
			*p = nil
			return nil
		}
		var n int
		if err := decodeIntField(v, &n); err != nil {
			return err
		}
		*p = &n
		return nil
	}
}

// optString decodes an optional string: null sets *p to nil.
func optString(p **string) func([]byte) error {
	return func(v []byte) error {
		if v[0] == 'n' {
			*p = nil
			return nil
		}
		var s string
		if err := decodeString(v, &s); err != nil {
			return err
		}
		*p = &s
		return nil
	}
}
