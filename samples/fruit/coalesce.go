package fruit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/resolve"
)

// Write coalescing (group commit), turned on by [Options.Coalesce].
//
// Without it, every PUT and tasting of a fruit reads the document and
// writes it on its own; concurrent ones race in CouchDB, and all but one
// of each round get a 409 that the resolver settles with another read and
// another write. With it, the service keeps one queue per fruit: while a
// write of the fruit is in flight, its next changes wait, and the next
// write carries them all (up to [Options.MaxBatch]) on the revision the
// last one made. Inside a batch the first change is applied to the
// revision read; each later one would have conflicted with it in
// CouchDB (both made on the same revision), so the resolver decides it as
// it decides a 409, with base (the revision read), mine (this change on
// base) and theirs (the batch so far), and the service acts on the
// decision without a round trip:
//
//   - merge: the resolver's document is the batch so far;
//   - retry without a wait: the change is applied to the batch so far
//     (what a re-read and re-apply would do);
//   - retry after delay_ms: the change leaves the batch, waits, and joins
//     the fruit's queue again (its next conflict is attempt n+1);
//   - accept: the change is dropped and its caller answered 409
//     superseded; fail: answered 409 conflict;
//   - a resolver that fails or answers an invalid decision fails that
//     change closed (503), not the batch.
//
// The batch is written through the store's conflict loop, so a conflict
// with another writer (another process, a sweeper, a replication) is a
// 409 the resolver decides as always; when the loop applies the batch
// again (to show the resolver mine, or to retry on the new revision),
// the resolver is asked again about each conflict inside it, and the
// callers' answers follow the application that was written. Every caller whose change the
// batch holds is answered only after the write succeeded, with the
// fruit as written; if the write fails, each of them gets its error. A
// caller whose request ends while its change waits is answered at once
// and its change is never written; one whose change is in a write in
// flight cannot know, and is answered 503 (indeterminate).
//
// Bounds: a queue holds only changes of requests being served, so all
// queues together hold at most [Options.MaxConcurrentRequests] changes,
// and a batch at most MaxBatch; a batch's write is bounded by
// RequestTimeout, as a request's is.

// DefaultMaxBatch is the default of [Options.MaxBatch].
const DefaultMaxBatch = 32

// coalescer holds the per-fruit queues of the changes waiting to be
// written.
type coalescer struct {
	s        *Service
	maxBatch int
	mu       sync.Mutex
	queues   map[string]*writeQueue // by document id; only while it has changes

	batches atomic.Int64 // writes made, each with one batch
	changes atomic.Int64 // changes taken into a batch
	largest atomic.Int64 // the most changes one batch carried

	// hold, if set (by tests), is called before each batch's write.
	hold func(id string, size int)
}

// writeQueue is the changes of one fruit waiting for the next write.
type writeQueue struct {
	pending []*pending
}

// The states of a pending change.
const (
	stateQueued    int32 = iota // in the queue
	stateTaken                  // in a batch being written
	stateAbandoned              // its caller left; never to be written
)

// pending is one caller's change in a queue.
type pending struct {
	change func(*doc) error
	state  atomic.Int32
	done   chan outcome // buffered: the writer never waits for the caller
	// started is when the caller's change was first queued, and
	// conflicts the conflicts it met so far: the resolver's elapsed_ms
	// and attempt.
	started   time.Time
	conflicts int
}

// outcome is what a batch's write means for one of its changes.
type outcome struct {
	res couch.Result[doc]
	err error
	// wait, when positive, is a retry the resolver asked for: wait, then
	// queue the change again.
	wait time.Duration
}

// fate is what a batch did with one change, as the batch was last
// applied (the store may apply it more than once: on each attempt).
type fate int

const (
	fateApplied fate = iota + 1 // in the document written
	fateRetry                   // to wait and be queued again
	fateDropped                 // superseded, refused or failed: not written
)

// CoalesceMetrics is the coalescing section of /v1.0/_metrics.
type CoalesceMetrics struct {
	// Writes counts the batches written (or tried), Changes the changes
	// they carried, Largest the most changes one carried.
	Writes  int64 `json:"writes"`
	Changes int64 `json:"changes"`
	Largest int64 `json:"largest"`
}

func newCoalescer(s *Service, maxBatch int) *coalescer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	return &coalescer{s: s, maxBatch: maxBatch, queues: map[string]*writeQueue{}}
}

func (c *coalescer) metrics() CoalesceMetrics {
	return CoalesceMetrics{Writes: c.batches.Load(), Changes: c.changes.Load(), Largest: c.largest.Load()}
}

// update queues change for the fruit id and waits for the write that
// holds it, or for a decision that drops it.
func (c *coalescer) update(ctx context.Context, id string, change func(*doc) error) (couch.Result[doc], error) {
	p := &pending{change: change, started: time.Now()}
	for {
		p.done = make(chan outcome, 1)
		p.state.Store(stateQueued)
		c.enqueue(id, p)
		var o outcome
		select {
		case o = <-p.done:
		case <-ctx.Done():
			if p.state.CompareAndSwap(stateQueued, stateAbandoned) {
				return couch.Result[doc]{}, fmt.Errorf("couch: update: %q: waiting for the write before it, not written: %w", id, ctx.Err())
			}
			// In a write in flight: its fate is unknown.
			return couch.Result[doc]{}, fmt.Errorf("couch: update: %q: %w", id, ctx.Err())
		}
		if o.wait <= 0 {
			return o.res, o.err
		}
		c.s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected updating fruit '%s' - retrying after waiting %d ms", id, o.wait.Milliseconds()),
			slog.String("resolver", c.s.store.Resolver().Name), slog.String("id", id), slog.Int("attempt", p.conflicts), slog.Bool("coalesced", true))
		if deadline, ok := ctx.Deadline(); ok {
			if left := time.Until(deadline); left < o.wait {
				return couch.Result[doc]{}, fmt.Errorf("couch: update: %q: retry after a conflict: %w", id, &couch.WaitError{Wait: o.wait, Left: max(left, 0)})
			}
		}
		t := time.NewTimer(o.wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return couch.Result[doc]{}, fmt.Errorf("couch: update: %q: retry after a conflict: %w", id, ctx.Err())
		}
	}
}

// enqueue adds p to id's queue, starting its writer if it has none.
func (c *coalescer) enqueue(id string, p *pending) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.queues[id]
	if !ok {
		q = &writeQueue{}
		c.queues[id] = q
		go c.run(id, q)
	}
	q.pending = append(q.pending, p)
}

// run writes id's queue, a batch at a time, until it is empty.
func (c *coalescer) run(id string, q *writeQueue) {
	for {
		c.mu.Lock()
		var batch []*pending
		n := 0
		for ; n < len(q.pending) && len(batch) < c.maxBatch; n++ {
			if p := q.pending[n]; p.state.CompareAndSwap(stateQueued, stateTaken) {
				batch = append(batch, p)
			}
		}
		q.pending = slices.Delete(q.pending, 0, n)
		if len(batch) == 0 {
			delete(c.queues, id)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if c.hold != nil {
			c.hold(id, len(batch))
		}
		c.write(id, batch)
	}
}

// write writes one batch and answers its callers.
func (c *coalescer) write(id string, batch []*pending) {
	c.batches.Add(1)
	c.changes.Add(int64(len(batch)))
	for {
		l := c.largest.Load()
		if int64(len(batch)) <= l || c.largest.CompareAndSwap(l, int64(len(batch))) {
			break
		}
	}
	// The batch is nobody's request: it outlives a caller that leaves,
	// within the time one request may take.
	ctx, cancel := context.WithTimeout(context.Background(), c.s.timeout)
	defer cancel()
	// The fates of the batch as last applied with something to write,
	// which is what the store writes (or merges); and as last applied
	// at all, for a batch the store stopped because nothing was left to
	// write. (The store ignores an error of a re-application it makes
	// only to show the resolver, and goes on with the write before.)
	var fates, none []fate
	var outs, noneOuts []outcome
	res, err := c.s.store.Update(ctx, byFruitID(id), func(d *doc) error {
		f, o := c.apply(ctx, id, d, batch)
		if !slices.Contains(f, fateApplied) {
			none, noneOuts = f, o
			return errNothingToWrite // every caller has its answer
		}
		fates, outs = f, o
		return nil
	})
	if errors.Is(err, errNothingToWrite) {
		fates, outs = none, noneOuts
	}
	for i, p := range batch {
		switch {
		case fates == nil || fates[i] == fateApplied:
			p.done <- outcome{res: res, err: err}
		case fates[i] == fateRetry:
			p.conflicts++
			p.done <- outs[i]
		default:
			if outs[i].err == nil {
				// Superseded (the resolver kept the others'
				// changes): the fruit as the batch wrote it, without
				// this caller's change.
				outs[i].res = couch.Result[doc]{Doc: couch.Doc[doc]{ID: id, Rev: res.Rev, Value: res.Value}, Status: couch.StatusSuperseded}
			}
			p.done <- outs[i]
		}
	}
}

// apply applies the batch's changes to d, the revision read, deciding
// each change after the first with the resolver; it returns each
// change's fate and, for those not applied, their outcome.
func (c *coalescer) apply(ctx context.Context, id string, d *doc, batch []*pending) ([]fate, []outcome) {
	fates := make([]fate, len(batch))
	outs := make([]outcome, len(batch))
	base := *d
	applied := false
	desc := c.s.store.Resolver()
	for i, p := range batch {
		if !applied {
			next := *d
			if err := p.change(&next); err != nil {
				fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %q: %w", id, err)}
				continue
			}
			*d, fates[i], applied = next, fateApplied, true
			continue
		}
		// A conflict: this change, made on base, against the batch so far.
		mine := base
		if err := p.change(&mine); err != nil {
			fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %q: %w", id, err)}
			continue
		}
		if p.conflicts+1 >= c.s.maxAttempts {
			fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %w", &couch.ConflictError{ID: id, Attempts: p.conflicts + 1, Capped: true,
				Reason: fmt.Sprintf("giving up after %d attempts, the hard cap", p.conflicts+1), Err: errQueuedConflict})}
			continue
		}
		cf := &resolve.Conflict{
			ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
			DB: c.s.db.Name(), ID: id, Attempt: p.conflicts + 1, ElapsedMS: time.Since(p.started).Milliseconds(),
		}
		if desc.Has(resolve.NeedBase) {
			cf.Base = withID(id, base)
		}
		if desc.Has(resolve.NeedMine) {
			cf.Mine = withID(id, mine)
		}
		if desc.Has(resolve.NeedTheirs) {
			cf.Theirs = withID(id, *d)
		}
		dec, err := c.s.store.Decide(ctx, cf)
		if err != nil {
			fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %w", err)}
			continue
		}
		switch dec.Action {
		case resolve.ActionMerge:
			merged, err := c.mergedDoc(id, base, dec, desc)
			if err != nil {
				fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %w", err)}
				continue
			}
			*d, fates[i] = merged, fateApplied
		case resolve.ActionRetry:
			if dec.DelayMS > 0 {
				fates[i], outs[i] = fateRetry, outcome{wait: dec.Delay()}
				continue
			}
			next := *d
			if err := p.change(&next); err != nil {
				fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %q: %w", id, err)}
				continue
			}
			*d, fates[i] = next, fateApplied
		case resolve.ActionAccept:
			fates[i] = fateDropped
		default: // fail
			c.s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected updating fruit '%s' - giving up after %d attempt(s): %s", id, p.conflicts+1, dec.Reason),
				slog.String("resolver", desc.Name), slog.String("id", id), slog.Bool("coalesced", true))
			fates[i], outs[i] = fateDropped, outcome{err: fmt.Errorf("couch: update: %w",
				&couch.ConflictError{ID: id, Attempts: p.conflicts + 1, Reason: dec.Reason, Err: errQueuedConflict})}
		}
	}
	return fates, outs
}

// errNothingToWrite stops a batch none of whose changes is to be written.
var errNothingToWrite = errors.New("no change to write")

// errQueuedConflict is the conflict a queued change met: another change
// of the same batch, made on the same revision. It matches
// [couch.ErrConflict].
var errQueuedConflict = &couch.Error{StatusCode: 409, Name: "conflict", Reason: "another change of the same revision was written first"}

// mergedDoc checks a merge decision as the store checks one (a resolver
// that reads theirs, a document of the fruit's type and id) and returns
// its document.
func (c *coalescer) mergedDoc(id string, base doc, dec resolve.Decision, desc resolve.Description) (doc, error) {
	fail := func(why string) error {
		err := fmt.Errorf("%w: %s", resolve.ErrInvalidDecision, why)
		c.s.logger.Error("resolver failed, write failed closed", "resolver", desc.Name, "id", id, "error", err.Error())
		return &couch.ResolverError{Resolver: desc.Name, ID: id, Err: err}
	}
	if !desc.Has(resolve.NeedTheirs) {
		return doc{}, fail(`a merge needs the current revision: declare "theirs" in the resolver's needs`)
	}
	var m doc
	if err := json.Unmarshal(dec.Doc, &m); err != nil {
		return doc{}, fail("merged document: " + clipErr(err))
	}
	if m.Type != base.Type || m.FruitID != base.FruitID {
		return doc{}, fail("merged document changes the fruit's type or fruit_id")
	}
	return m, nil
}

// withID is d as the resolver sees it: the document with its _id.
func withID(id string, d doc) json.RawMessage {
	b, err := json.Marshal(struct {
		ID string `json:"_id"`
		doc
	}{id, d})
	if err != nil {
		panic(errors.Join(errors.New("fruit: encoding a fruit"), err)) // a struct of strings and an int
	}
	return b
}
