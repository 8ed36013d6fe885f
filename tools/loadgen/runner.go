package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The fruit in play come in two pools. The core pool is the -number-fruit
// fruit created before the mix: gets, puts and tastings aim at them, and
// nothing deletes them, so every one of them is audited at the end. The
// spare pool holds the fruit that posts create during the mix: gets, puts
// and tastings aim at them too, and deletes aim at them only. A delete
// that finds no spare fruit sends a post instead, so that the spare pool
// fills as the mix asks for deletes.

// colors are what posts and puts paint fruit with.
var colors = []string{"red", "orange", "yellow", "green", "blue", "purple", "brown", "black", "white", "pink"}

// fruitState is one fruit in play. Its fields are guarded by runner.mu.
type fruitState struct {
	rec fruitRecord
	// deleting: a DELETE of it is under way, succeeded, or got no definite
	// answer, so a 404 for it is expected.
	deleting bool
}

// runner sends the mix and keeps the ledger.
type runner struct {
	cfg config
	svc *service
	t0  time.Time // start of the mix

	mu    sync.Mutex
	all   []*fruitState // every fruit created, in order
	core  []*fruitState // fixed after setup
	spare []*fruitState // spare fruit that no delete has claimed

	// For the progress line.
	requests atomic.Int64
	failed   atomic.Int64
}

func newRunner(cfg config, svc *service) *runner {
	return &runner{cfg: cfg, svc: svc}
}

// createFruit posts a new fruit and returns its state.
func (r *runner) createFruit(ctx context.Context, color string, spare bool) (*fruitState, answer, error) {
	a := r.svc.do(ctx, http.MethodPost, pathFruits, map[string]string{"color": color})
	if a.Err != nil || a.Status/100 != 2 {
		return nil, a, fmt.Errorf("POST %s: %s", pathFruits, a.describe())
	}
	f, err := decodeFruit(a)
	if err != nil {
		return nil, a, fmt.Errorf("POST %s: %w", pathFruits, err)
	}
	return &fruitState{rec: fruitRecord{ID: f.FruitID, Spare: spare, Base: f.Tastings}}, a, nil
}

// setup creates the core fruit, -concurrency at a time. The first
// failure stops it.
func (r *runner) setup(ctx context.Context) error {
	created := make([]*fruitState, r.cfg.NumberFruit)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	for range min(r.cfg.Concurrency, r.cfg.NumberFruit) {
		wg.Go(func() {
			for i := range next {
				f, _, err := r.createFruit(ctx, colors[i%len(colors)], false)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				created[i] = f
			}
		})
	}
feed:
	for i := range r.cfg.NumberFruit {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return fmt.Errorf("creating %d fruit: %w", r.cfg.NumberFruit, firstErr)
	}
	r.core = created
	r.all = append(r.all, created...)
	return nil
}

// runMix runs the workers until the duration is over or stop is done,
// and returns every request's sample and how long the mix ran.
func (r *runner) runMix(stop context.Context) ([]sample, time.Duration) {
	return r.runPhase(stop, r.cfg.Duration, func(ctx context.Context, rng *rand.Rand) sample {
		return r.one(ctx, rng, r.cfg.Mix.pick(rng))
	})
}

// runPhase runs -concurrency workers for d or until stop is done, each
// calling next for one request after another, and returns every
// request's sample and how long the phase ran. Requests under way when
// the phase stops are finished (each within -timeout), not cancelled, so
// that what follows (the audit) meets a service at rest. Each worker's
// choices come from its own generator, seeded from -seed and its number,
// so a seed replays each worker's sequence of operations (and, with a
// fixed set of fruit, of targets and colors).
func (r *runner) runPhase(stop context.Context, d time.Duration, next func(context.Context, *rand.Rand) sample) ([]sample, time.Duration) {
	stop, cancel := context.WithTimeout(stop, d)
	defer cancel()
	r.requests.Store(0)
	r.failed.Store(0)
	r.t0 = time.Now()
	results := make([][]sample, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range r.cfg.Concurrency {
		wg.Go(func() {
			rng := newRand(r.cfg.Seed, w)
			// Requests are not bound to stop: one under way is finished.
			ctx := context.WithoutCancel(stop)
			for stop.Err() == nil {
				s := next(ctx, rng)
				r.requests.Add(1)
				if s.Outcome == outcomeFailed {
					r.failed.Add(1)
				}
				results[w] = append(results[w], s)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(r.t0)
	var n int
	for _, s := range results {
		n += len(s)
	}
	all := make([]sample, 0, n)
	for _, s := range results {
		all = append(all, s...)
	}
	return all, elapsed
}

// one sends one request of kind o and books its outcome.
func (r *runner) one(ctx context.Context, rng *rand.Rand, o op) sample {
	switch o {
	case opGet, opPut, opTaste:
		return r.onFruit(ctx, rng, o)
	case opDelete:
		if s, ok := r.deleteSpare(ctx, rng); ok {
			return s
		}
		return r.post(ctx, rng) // nothing to delete
	default:
		return r.post(ctx, rng)
	}
}

// timed sends a request through c and starts its sample.
func (r *runner) timed(ctx context.Context, c *service, o op, method, path string, body any) (sample, answer) {
	start := time.Now()
	a := c.do(ctx, method, path, body)
	s := sample{Start: start.Sub(r.t0), Latency: time.Since(start), Op: o, Status: int16(a.Status)}
	if a.Err != nil {
		s.Status = 0
		s.Timeout = isTimeout(a.Err)
	}
	return s, a
}

// newRand returns the generator of worker w for seed.
func newRand(seed uint64, w int) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(w))) }

// target picks a fruit for a get, put or tasting among the core and the
// unclaimed spare fruit.
func (r *runner) target(rng *rand.Rand) *fruitState {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := rng.IntN(len(r.core) + len(r.spare))
	if i < len(r.core) {
		return r.core[i]
	}
	return r.spare[i-len(r.core)]
}

func (r *runner) onFruit(ctx context.Context, rng *rand.Rand, o op) sample {
	f := r.target(rng)
	id := f.rec.ID // immutable
	var (
		s sample
		a answer
	)
	switch o {
	case opGet:
		s, a = r.timed(ctx, r.svc, o, http.MethodGet, fruitPath(id), nil)
	case opPut:
		s, a = r.timed(ctx, r.svc, o, http.MethodPut, fruitPath(id), map[string]string{"color": colors[rng.IntN(len(colors))]})
	default:
		s, a = r.timed(ctx, r.svc, o, http.MethodPost, tastingsPath(id), nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case a.Err == nil && a.Status == http.StatusOK:
		s.Outcome = outcomeOK
	case a.Err == nil && a.Status == http.StatusNotFound && (f.deleting || f.rec.Deleted):
		s.Outcome = outcomeGone
	default:
		s.Outcome = outcomeFailed
	}
	if o == opTaste {
		switch {
		case s.Outcome == outcomeOK:
			f.rec.Acknowledged++
		case a.definite():
			f.rec.Refused++
		default:
			f.rec.Indeterminate++
		}
	}
	return s
}

func (r *runner) post(ctx context.Context, rng *rand.Rand) sample {
	color := colors[rng.IntN(len(colors))]
	start := time.Now()
	f, a, err := r.createFruit(ctx, color, true)
	s := sample{Start: start.Sub(r.t0), Latency: time.Since(start), Op: opPost, Status: int16(a.Status), Outcome: outcomeFailed}
	if a.Err != nil {
		s.Status = 0
		s.Timeout = isTimeout(a.Err)
	}
	if err != nil {
		return s
	}
	s.Outcome = outcomeOK
	r.mu.Lock()
	r.all = append(r.all, f)
	r.spare = append(r.spare, f)
	r.mu.Unlock()
	return s
}

// deleteSpare deletes a random spare fruit; ok is false when there is
// none.
func (r *runner) deleteSpare(ctx context.Context, rng *rand.Rand) (s sample, ok bool) {
	r.mu.Lock()
	if len(r.spare) == 0 {
		r.mu.Unlock()
		return s, false
	}
	i := rng.IntN(len(r.spare))
	f := r.spare[i]
	r.spare[i] = r.spare[len(r.spare)-1]
	r.spare = r.spare[:len(r.spare)-1]
	f.deleting = true
	r.mu.Unlock()

	s, a := r.timed(ctx, r.svc, opDelete, http.MethodDelete, fruitPath(f.rec.ID), nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case a.Err == nil && a.Status == http.StatusOK:
		s.Outcome = outcomeOK
		f.rec.Deleted = true
	case !a.definite():
		s.Outcome = outcomeFailed
		f.rec.DeleteUnknown = true
	case a.Status == http.StatusNotFound:
		// Only loadgen deletes spare fruit, once: it vanished. The
		// audit will read it back and say so.
		s.Outcome = outcomeFailed
		f.deleting = false
	default:
		// Refused (409, 503 resolver_failed): the fruit lives on and may be deleted
		// again later.
		s.Outcome = outcomeFailed
		f.deleting = false
		r.spare = append(r.spare, f)
	}
	return s, true
}

// records returns a copy of the ledger.
func (r *runner) records() []fruitRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := make([]fruitRecord, len(r.all))
	for i, f := range r.all {
		recs[i] = f.rec
	}
	return recs
}

// readBack reads every fruit, deleted ones included (an acknowledged
// delete must have happened), -concurrency at a time, trying each up to
// three times while no definite answer comes back.
func (r *runner) readBack(ctx context.Context, recs []fruitRecord) map[string]readBack {
	out := make(map[string]readBack, len(recs))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	next := make(chan string)
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for id := range next {
				rb := r.readOne(ctx, id)
				mu.Lock()
				out[id] = rb
				mu.Unlock()
			}
		})
	}
	for _, rec := range recs {
		next <- rec.ID
	}
	close(next)
	wg.Wait()
	return out
}

func (r *runner) readOne(ctx context.Context, id string) readBack {
	var a answer
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		a = r.svc.do(ctx, http.MethodGet, fruitPath(id), nil)
		switch {
		case a.Err == nil && a.Status == http.StatusOK:
			var f fruit
			if err := json.Unmarshal(a.Body, &f); err != nil {
				return readBack{Err: fmt.Sprintf("GET %s: answer is not a fruit: %v", fruitPath(id), err)}
			}
			return readBack{Found: true, Tastings: f.Tastings}
		case a.Err == nil && a.Status == http.StatusNotFound:
			return readBack{}
		}
	}
	return readBack{Err: fmt.Sprintf("GET %s: %s", fruitPath(id), a.describe())}
}
