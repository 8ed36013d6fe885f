package engine_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// TestInterruptManyCalls runs infinite loops in eight untrusted resolvers
// of one runtime at once, while another answers call after call: the
// runtime's one watcher stops every loop at its deadline, and stops no
// call that answers in time.
func TestInterruptManyCalls(t *testing.T) {
	rt := newRuntime(t, engine.Config{CallTimeout: 200 * time.Millisecond, PoolSize: 2})
	ctx := context.Background()
	const loops = 8
	var looping []*engine.Resolver
	for range loops {
		looping = append(looping, load(t, rt, engine.Plugin{Path: testModule("moody")}))
	}
	answering := load(t, rt, engine.Plugin{Path: testModule("moody")})

	var wg sync.WaitGroup
	errs := make([]error, loops)
	for i, r := range looping {
		wg.Go(func() {
			_, errs[i] = r.Resolve(ctx, conflictOn("loop", 1))
		})
	}
	stop := make(chan struct{})
	var answered int
	var answerErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			d, err := answering.Resolve(ctx, conflictOn("fruits", 1))
			if err != nil {
				answerErr = err
				return
			}
			if d.Action == resolve.ActionAccept {
				answered++
			}
		}
	})
	for i := range looping {
		for looping[i].Stats().Failures == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	for i, err := range errs {
		assert.ErrorIs(t, err, engine.ErrTimeout, "loop %d", i)
	}
	require.NoError(t, answerErr, "a call that answers in time is not interrupted")
	assert.Positive(t, answered)
	st := answering.Stats()
	assert.Zero(t, st.Failures)
	assert.Equal(t, uint64(1), st.InstancesStarted, "no instance of the answering resolver was lost")
	t.Logf("%d answers while %d loops were stopped", answered, loops)

	// Each looping resolver replaced its instance and answers.
	for i, r := range looping {
		d, err := r.Resolve(ctx, conflictOn("fruits", 1))
		require.NoError(t, err, "resolver %d after its loop", i)
		assert.Equal(t, resolve.ActionAccept, d.Action)
		assert.Equal(t, uint64(1), r.Stats().InstancesDiscarded)
	}
}

// TestNoStaleDeadline: a call's deadline does not outlive it. A call with
// a short deadline of its caller answers; after that deadline has passed,
// the same instance answers the next call (with none), and so on.
func TestNoStaleDeadline(t *testing.T) {
	rt := newRuntime(t, engine.Config{CallTimeout: 10 * time.Second, PoolSize: 1})
	r := load(t, rt, engine.Plugin{Path: testModule("moody")})
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		d, err := r.Resolve(ctx, conflictOn("fruits", 1))
		cancel()
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, resolve.ActionAccept, d.Action)
		time.Sleep(300 * time.Millisecond) // past the last call's deadline
		d, err = r.Resolve(context.Background(), conflictOn("fruits", 1))
		require.NoError(t, err, "call %d after the deadline of the one before", i)
		assert.Equal(t, resolve.ActionAccept, d.Action)
	}
	st := r.Stats()
	assert.Zero(t, st.Failures)
	assert.Equal(t, uint64(1), st.InstancesStarted)
}

// TestInterruptedLoopDoesNotHoldTheGC: Go's runtime cannot preempt native
// code, so a guest that never left it would stop every garbage
// collection (which stops the world) until its call ends, and with it
// every goroutine. An instrumented guest leaves native code often enough
// that a collection completes while it loops; then the caller gives up,
// the loop is interrupted, and a new instance serves.
func TestInterruptedLoopDoesNotHoldTheGC(t *testing.T) {
	rt := newRuntime(t, engine.Config{CallTimeout: time.Hour, PoolSize: 1})
	r := load(t, rt, engine.Plugin{Path: testModule("moody")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, conflictOn("loop", 1))
		done <- err
	}()
	for r.Stats().Idle != 0 {
		time.Sleep(time.Millisecond)
	}
	runtime.GC() // hangs if the looping guest cannot be stopped
	runtime.GC()
	select {
	case err := <-done:
		t.Fatalf("the loop ended before its caller gave up: %v", err)
	default:
	}
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "abandoned")

	d, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionAccept, d.Action)
	assert.Equal(t, uint64(2), r.Stats().InstancesStarted)
}
