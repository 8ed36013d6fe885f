//go:build !wasip1

package resolve

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"time"
)

// This file is what only a host uses: a resolver called with a context,
// and the native strategies, the twins of the built-in plugins. A plugin
// (GOOS=wasip1) is built without it, so that it links neither context,
// time, crypto/rand nor encoding/json: see the package documentation.

// RawJSON is a raw JSON value: a document of a [Conflict] or a
// [Decision]. On a host it is encoding/json's RawMessage; in a
// WebAssembly guest a type of its own with the same JSON behaviour, so
// that a plugin does not link encoding/json.
type RawJSON = json.RawMessage

// Resolver decides what to do about a conflict. Implementations must be
// safe for concurrent use.
//
// An error means the resolver itself failed (it trapped, timed out,
// answered garbage); a host fails the write closed and writes nothing.
// Giving up on a conflict is not an error: it is a Decision with
// [ActionFail].
type Resolver interface {
	Resolve(ctx context.Context, c *Conflict) (Decision, error)
}

// Delay is DelayMS as a duration.
func (d Decision) Delay() time.Duration { return time.Duration(d.DelayMS) * time.Millisecond }

// defaultRandom is what [BackoffParams.Decide] draws from when given nil.
var defaultRandom = rand.Reader

// random64 is readUint64: the host has no faster way.
func random64(rnd io.Reader) (uint64, error) { return readUint64(rnd) }

// Strategy is a native Go [Resolver] built from a [Func] and its
// [Description]. It is safe for concurrent use if its Func is.
type Strategy struct {
	desc   Description
	decide Func
}

var (
	_ Resolver  = (*Strategy)(nil)
	_ Describer = (*Strategy)(nil)
)

// NewStrategy returns a native resolver that answers with decide.
func NewStrategy(desc Description, decide Func) *Strategy {
	return &Strategy{desc: desc, decide: decide}
}

// Resolve answers c with the strategy's function, unless ctx is done.
func (s *Strategy) Resolve(ctx context.Context, c *Conflict) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, wrapError("resolve: "+s.desc.Name+": "+err.Error(), err)
	}
	return s.decide(c), nil
}

// Describe returns the strategy's description.
func (s *Strategy) Describe() Description { return s.desc }

// Basic returns the native basic strategy.
func Basic() *Strategy { return NewStrategy(BasicDescription, DecideBasic) }

// Retry returns the native retry strategy.
func Retry(p RetryParams) *Strategy { return NewStrategy(RetryDescription, p.Decide) }

// Backoff returns the native backoff strategy. Its jitter comes from rnd,
// or from crypto/rand when rnd is nil; rnd must be safe for concurrent use
// if the strategy is used concurrently.
func Backoff(p BackoffParams, rnd io.Reader) *Strategy {
	if rnd == nil {
		rnd = defaultRandom
	}
	return NewStrategy(BackoffDescription, func(c *Conflict) Decision { return p.Decide(c, rnd) })
}

// Merge returns the native merge strategy.
func Merge(p MergeParams) *Strategy { return NewStrategy(MergeDescription, p.Decide) }
