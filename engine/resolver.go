package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/accord-db/accord/resolve"
)

// errStart marks the failure to start an instance.
var errStart = errors.New("start")

// Resolver is a loaded plugin: a [resolve.Resolver] and
// [resolve.Describer] backed by a pool of instances of one compiled
// module. It is safe for concurrent use; at most Config.PoolSize calls run
// at once, more callers wait for an instance (or for their context).
// An instance is started when a call finds none idle and the pool is not
// full. An instance that fails a call is discarded, and a replacement
// started in the background, unless the plugin keeps failing: see
// [Resolver.Health].
type Resolver struct {
	rt       *Runtime
	name     string
	sha256   string
	desc     resolve.Description
	wrt      wazero.Runtime
	compiled wazero.CompiledModule
	// release releases compiled: closes it, or counts the resolver out of
	// its share (see Config.ShareCompiled).
	releaseCompiled func(context.Context) error
	params          []byte
	hasConfigure    bool
	enforce         bool
	// diff is true when the plugin asked for the diff (see diff.go).
	diff    bool
	timeout time.Duration
	// overhead is the host memory of an instance besides its linear
	// memory (moduleShape.hostBytes), counted in memory.
	overhead int64

	// slots holds a token for each call in progress: its capacity is
	// the pool size.
	slots chan struct{}
	// done is closed by Close.
	done chan struct{}

	mu     sync.Mutex
	closed bool
	idle   []*instance
	// live counts the instances that exist or are being started; it
	// never exceeds the pool size.
	live int
	// changed wakes the callers waiting for a replacement to start;
	// waiting counts them.
	changed  sync.Cond
	waiting  int
	starting sync.WaitGroup
	// strikes counts the failures (of calls and of starts) since the
	// last successful call; from maxStrikes on, no instance is started
	// until openUntil, and then only by one caller at a time (probing).
	strikes   int
	openUntil time.Time
	probing   bool
	lastErr   error

	calls, failures, created, discarded, startFailures, late atomic.Uint64
	memory                                                   atomic.Int64
	waits                                                    waitHistogram
}

// WaitBounds are the upper bounds of [Stats.WaitBuckets]: how long calls
// waited for an instance of the pool.
var WaitBounds = [...]time.Duration{
	10 * time.Microsecond, 100 * time.Microsecond, time.Millisecond,
	10 * time.Millisecond, 100 * time.Millisecond, time.Second,
}

// waitHistogram counts the waits for an instance.
type waitHistogram struct {
	count, nanos atomic.Uint64
	// buckets[i] counts the waits of at most WaitBounds[i]; the last,
	// the longer ones.
	buckets [len(WaitBounds) + 1]atomic.Uint64
}

func (h *waitHistogram) record(d time.Duration) {
	h.count.Add(1)
	h.nanos.Add(uint64(max(d, 0)))
	i := 0
	for i < len(WaitBounds) && d > WaitBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
}

var (
	_ resolve.Resolver  = (*Resolver)(nil)
	_ resolve.Describer = (*Resolver)(nil)
)

// Name is the resolver's name, as used in errors and logs.
func (r *Resolver) Name() string { return r.name }

// SHA256 is the hex SHA-256 of the plugin's module as it was given
// (compressed or not: what [Plugin.SHA256] pins and sha256sum prints for
// the file).
func (r *Resolver) SHA256() string { return r.sha256 }

// Describe returns what the plugin's accord_describe said at load. For a
// plugin without that export it has the resolver's name and nil Needs:
// the plugin is given every document.
func (r *Resolver) Describe() resolve.Description {
	d := r.desc
	d.Needs = slices.Clone(d.Needs) // nil stays nil, empty stays empty
	return d
}

// Resolve asks the plugin about c and returns its decision, validated
// against c. Documents the plugin did not declare it needs are not sent.
//
// Any failure of the plugin (see the package's Errors) is an error and
// its decision is discarded. Resolve waits for an idle instance if all
// are busy, until ctx is done; the call itself is bounded by
// Config.CallTimeout and by ctx's deadline.
//
// Each decision is logged at debug level (action, delay, reason clipped),
// and, with [Config.Recorder], each call is recorded.
func (r *Resolver) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	r.calls.Add(1)
	began := time.Now()
	d, err := r.resolve(ctx, c)
	took := time.Since(began)
	if err != nil {
		r.failures.Add(1)
		err = fmt.Errorf("engine: %s: %w", r.name, err)
	} else if log := r.rt.cfg.Logger; log.Enabled(ctx, slog.LevelDebug) {
		log.LogAttrs(ctx, slog.LevelDebug, "engine: decision",
			slog.String("plugin", r.name), slog.String("id", resolve.Clip(c.ID)), slog.Int("attempt", c.Attempt),
			slog.String("action", string(d.Action)), slog.Int64("delay_ms", d.DelayMS),
			slog.String("reason", resolve.Clip(d.Reason)), slog.Duration("took", took))
	}
	if rec := r.rt.cfg.Recorder; rec != nil {
		rec.record(r.desc.Name, r.sha256, began, took, c, d, err)
	}
	if err != nil {
		return resolve.Decision{}, err
	}
	return d, nil
}

func (r *Resolver) resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	if err := c.Validate(); err != nil {
		return resolve.Decision{}, err
	}
	sent := r.trim(c)
	var diff *diffNode
	if r.diff {
		sent, diff, _ = diffConflict(sent)
	}
	in, err := resolve.EncodeConflict(sent)
	if err != nil {
		return resolve.Decision{}, err
	}
	inst, err := r.acquire(ctx)
	if err != nil {
		return resolve.Decision{}, err
	}
	d, err := inst.decide(ctx, in, c)
	r.release(inst, err, ctx.Err() != nil)
	if err == nil && diff != nil && d.Action == resolve.ActionMerge {
		// The plugin answered the diff: rebuild the whole document. The
		// answer was validated; what is added to it is theirs' (less its
		// special fields), so the whole stays valid.
		if d.Doc, err = applyDiff(c.Theirs, d.Doc, diff); err != nil {
			return resolve.Decision{}, fmt.Errorf("call: %w: %w", ErrBadOutput, err)
		}
	}
	return d, err
}

// trim leaves out of c the documents the plugin does not need.
func (r *Resolver) trim(c *resolve.Conflict) *resolve.Conflict {
	if r.desc.Needs == nil {
		return c
	}
	t := *c
	if !r.desc.Has(resolve.NeedBase) {
		t.Base = nil
	}
	if !r.desc.Has(resolve.NeedMine) {
		t.Mine = nil
	}
	if !r.desc.Has(resolve.NeedTheirs) {
		t.Theirs = nil
	}
	if !r.desc.Has(resolve.NeedConflicts) {
		t.Conflicts = nil
	}
	return &t
}

// acquire takes a pool slot and an instance for it: an idle one, or a
// new one if the pool is not full, or else the one being started in the
// background to replace a discarded one.
func (r *Resolver) acquire(ctx context.Context) (*instance, error) {
	// The common case, a free slot and an idle instance, reads no clock;
	// any other is timed as a wait.
	haveSlot := false
	select {
	case r.slots <- struct{}{}:
		r.mu.Lock()
		if n := len(r.idle); n > 0 && !r.closed {
			inst := r.idle[n-1]
			r.idle = r.idle[:n-1]
			r.mu.Unlock()
			return inst, nil
		}
		r.mu.Unlock()
		haveSlot = true
	default:
	}
	began := time.Now()
	inst, err := r.acquireSlow(ctx, haveSlot)
	r.waits.record(time.Since(began))
	return inst, err
}

// acquireSlow is acquire when a caller may have to wait.
func (r *Resolver) acquireSlow(ctx context.Context, haveSlot bool) (*instance, error) {
	if !haveSlot {
		select {
		case r.slots <- struct{}{}:
		case <-r.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for an instance: %w", ctx.Err())
		}
	}
	r.mu.Lock()
	probe := false
	for {
		if r.closed {
			r.mu.Unlock()
			<-r.slots
			return nil, ErrClosed
		}
		if n := len(r.idle); n > 0 {
			inst := r.idle[n-1]
			r.idle = r.idle[:n-1]
			r.mu.Unlock()
			return inst, nil
		}
		if r.live < cap(r.slots) {
			if err := r.mayStart(); err != nil {
				r.mu.Unlock()
				<-r.slots
				return nil, err
			}
			probe = r.probing
			break
		}
		// Every instance exists and, since this caller holds a slot,
		// one of them is not busy: it is a replacement starting.
		if err := ctx.Err(); err != nil {
			r.mu.Unlock()
			<-r.slots
			return nil, fmt.Errorf("wait for an instance: %w", err)
		}
		r.waiting++
		stop := context.AfterFunc(ctx, func() {
			r.mu.Lock()
			r.changed.Broadcast()
			r.mu.Unlock()
		})
		r.changed.Wait()
		stop()
		r.waiting--
	}
	r.live++
	r.mu.Unlock()
	inst, err := r.start(ctx, nil)
	if probe {
		r.mu.Lock()
		r.probing = false
		r.mu.Unlock()
	}
	if err != nil {
		r.mu.Lock()
		r.live--
		if ctx.Err() == nil {
			r.strike(err)
		}
		r.wake()
		if r.closed {
			err = ErrClosed
		}
		r.mu.Unlock()
		<-r.slots
		return nil, err
	}
	return inst, nil
}

// wake tells the callers waiting in acquire that the pool changed. The
// caller holds r.mu.
func (r *Resolver) wake() {
	if r.waiting > 0 {
		r.changed.Broadcast()
	}
}

// release returns inst to the pool after a successful call, or discards
// it after a failed one and starts a replacement in the background.
//
// A failure while the caller's context was already done (its deadline
// shorter than CallTimeout, or it gave up) is no strike against the plugin:
// the instance is discarded, but the plugin is not backed off for it.
func (r *Resolver) release(inst *instance, callErr error, callerDone bool) {
	defer func() { <-r.slots }()
	healthy := callErr == nil || errors.Is(callErr, errNotCalled) || errors.Is(callErr, errAnsweredLate)
	r.mu.Lock()
	if callErr == nil {
		r.strikes, r.lastErr = 0, nil
	} else if !healthy && !callerDone && !errors.Is(callErr, context.Canceled) {
		r.strike(callErr)
	}
	if healthy && !r.closed {
		r.idle = append(r.idle, inst)
		r.wake()
		r.mu.Unlock()
		return
	}
	r.live--
	// A plugin that keeps failing is not replaced at once: the next
	// caller after its back-off starts an instance (acquire).
	replace := !healthy && !r.closed && r.strikes < maxStrikes
	if replace {
		r.live++
		r.starting.Add(1)
	}
	r.mu.Unlock()
	r.discard(inst)
	if replace {
		go r.replace()
	}
}

// replace starts an instance in the background and makes it idle.
func (r *Resolver) replace() {
	defer r.starting.Done()
	inst, err := r.start(context.Background(), nil)
	r.mu.Lock()
	if err == nil && !r.closed {
		r.idle = append(r.idle, inst)
		r.wake()
		r.mu.Unlock()
		return
	}
	r.live--
	if err != nil {
		r.strike(err)
	}
	r.wake()
	r.mu.Unlock()
	if err != nil {
		r.rt.cfg.Logger.Warn("engine: start a replacement instance", "plugin", r.name, "err", err)
		return
	}
	r.discard(inst)
}

func (r *Resolver) discard(inst *instance) {
	r.discarded.Add(1)
	r.memory.Add(-int64(inst.memSize) - r.overhead)
	inst.close(context.Background())
}

// The circuit breaker of a failing plugin: after maxStrikes failures in a
// row (calls that failed and starts that failed, with no successful call
// between), the resolver starts no instance for a back-off that doubles
// from minBackoff to maxBackoff with each further failure. Meanwhile a
// call that finds no idle instance fails at once with ErrUnhealthy,
// instead of waiting for an instance that would cost up to StartTimeout
// to start and fail again. After the back-off one caller at a time tries
// a new instance; a successful call ends it all.
const (
	maxStrikes = 3
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// strike counts a failure of the plugin. The caller holds r.mu.
func (r *Resolver) strike(err error) {
	r.strikes++
	if errors.Is(err, errStart) {
		r.startFailures.Add(1)
	}
	r.lastErr = err
	if r.strikes >= maxStrikes {
		backoff := maxBackoff
		if n := r.strikes - maxStrikes; n < 6 {
			backoff = min(minBackoff<<n, maxBackoff)
		}
		r.openUntil = time.Now().Add(backoff)
	}
}

// mayStart reports, with ErrUnhealthy, whether the plugin failed too
// often to start an instance now; else, if the back-off is over, it
// makes the caller the one that tries. The caller holds r.mu.
func (r *Resolver) mayStart() error {
	if r.strikes < maxStrikes {
		return nil
	}
	if r.probing || time.Now().Before(r.openUntil) {
		return fmt.Errorf("%w: %d failures in a row, next try after %s: last: %w",
			ErrUnhealthy, r.strikes, r.openUntil.Format(time.RFC3339Nano), r.lastErr)
	}
	r.probing = true
	return nil
}

// Health says whether a resolver is serving, for a service's health
// check.
type Health struct {
	// Healthy is false while the plugin is backed off: it failed
	// maxStrikes (3) times in a row, calls or starts, and no call has
	// succeeded since.
	Healthy bool
	// Failures counts the failures in a row.
	Failures int
	// RetryAt is when the resolver next tries to start an instance, if
	// it is not healthy.
	RetryAt time.Time
	// LastError is the last failure's error, nil after a success. Its
	// text quotes nothing unbounded from the plugin.
	LastError error
}

// Health returns the resolver's health. See [Health].
func (r *Resolver) Health() Health {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := Health{Healthy: r.strikes < maxStrikes, Failures: r.strikes, LastError: r.lastErr}
	if !h.Healthy {
		h.RetryAt = r.openUntil
	}
	return h
}

// Stats counts what a resolver has done, for metrics.
type Stats struct {
	// Calls and Failures count Resolve calls, and those that returned an
	// error.
	Calls, Failures uint64
	// InstancesStarted and InstancesDiscarded count instances started
	// (the first at load included) and discarded (after a failure, or
	// when closing).
	InstancesStarted, InstancesDiscarded uint64
	// StartFailures counts instances that failed to start after the
	// first (which fails the load).
	StartFailures uint64
	// LateAnswers counts answers of a trusted plugin that came after
	// Config.CallTimeout (and were used, see [Trusted]).
	LateAnswers uint64
	// Instances is the number of instances alive now, Idle how many of
	// them wait for a call.
	Instances, Idle int
	// MemoryBytes is the memory of the live instances, as of the end of
	// their last call: their linear memory, and an estimate of what else
	// each costs the host (its table, globals and call stacks).
	MemoryBytes int64
	// Waits counts the calls that found no idle instance: they waited
	// for a free slot of the pool (all Config.PoolSize instances busy),
	// for a replacement being started, or started an instance themselves.
	// WaitTime is the sum of those waits. The other calls (Calls -
	// Waits) took an idle instance at once, and are not timed.
	Waits    uint64
	WaitTime time.Duration
	// WaitBuckets counts the Waits by duration: WaitBuckets[i] those of
	// at most WaitBounds[i], the last those longer than every bound.
	// (Not cumulative; a Prometheus histogram sums them.)
	WaitBuckets [len(WaitBounds) + 1]uint64
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	r.mu.Lock()
	live, idle := r.live, len(r.idle)
	r.mu.Unlock()
	s := Stats{
		Calls:              r.calls.Load(),
		Failures:           r.failures.Load(),
		InstancesStarted:   r.created.Load(),
		InstancesDiscarded: r.discarded.Load(),
		StartFailures:      r.startFailures.Load(),
		LateAnswers:        r.late.Load(),
		Instances:          live,
		Idle:               idle,
		MemoryBytes:        r.memory.Load(),
		Waits:              r.waits.count.Load(),
		WaitTime:           time.Duration(r.waits.nanos.Load()),
	}
	for i := range s.WaitBuckets {
		s.WaitBuckets[i] = r.waits.buckets[i].Load()
	}
	return s
}

// Close releases the resolver: it refuses new calls with ErrClosed,
// waits for the calls in flight to return (each is bounded by
// Config.CallTimeout, or until ctx is done), then releases its instances
// and compiled module. Close is idempotent; [Runtime.Close] calls it for
// every resolver the runtime loaded.
func (r *Resolver) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	r.changed.Broadcast()
	r.mu.Unlock()

	// Holding every slot means no call is in flight: the instances can
	// be closed without pulling memory from under a running guest.
	var err error
drain:
	for range cap(r.slots) {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			err = fmt.Errorf("engine: %s: close with calls in flight: %w", r.name, ctx.Err())
			break drain
		}
	}
	// Wait for replacements being started, as long as ctx allows: a
	// trusted plugin whose _initialize never returns would hold Close
	// forever.
	started := make(chan struct{})
	go func() { r.starting.Wait(); close(started) }()
	select {
	case <-started:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("engine: %s: close while instances start: %w", r.name, ctx.Err())
		}
	}
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.live -= len(idle)
	r.mu.Unlock()
	for _, inst := range idle {
		r.discard(inst)
	}
	r.rt.forget(r)
	if cerr := r.releaseCompiled(ctx); cerr != nil && err == nil {
		err = fmt.Errorf("engine: %s: close: %w", r.name, cerr)
	}
	return err
}

// errTimeout builds the error of a call that ran past limit.
func errTimeout(what string, limit time.Duration, cause error) error {
	if cause == nil || !errors.Is(cause, context.DeadlineExceeded) {
		cause = context.DeadlineExceeded
	}
	return fmt.Errorf("%s: %w (limit %v): %w", what, ErrTimeout, limit, cause)
}
