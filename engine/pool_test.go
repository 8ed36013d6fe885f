package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
)

// TestPoolWaitStats: a call that takes an idle instance is not counted
// as a wait; one that finds the pool busy is, with how long it waited.
func TestPoolWaitStats(t *testing.T) {
	rt := newRuntime(t, engine.Config{CallTimeout: time.Hour, PoolSize: 1})
	r := load(t, rt, engine.Plugin{Path: testModule("moody")})
	_, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
	require.NoError(t, err)
	st := r.Stats()
	assert.Zero(t, st.Waits, "the idle instance was taken at once")
	assert.Zero(t, st.WaitTime)

	// The one instance loops until its caller gives up; meanwhile
	// another caller waits for it.
	ctx, cancel := context.WithCancel(context.Background())
	looped := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, conflictOn("loop", 1))
		looped <- err
	}()
	for r.Stats().Idle != 0 {
		time.Sleep(time.Millisecond)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it wait
	cancel()
	require.ErrorIs(t, <-looped, context.Canceled)
	require.NoError(t, <-waited)

	st = r.Stats()
	assert.Equal(t, uint64(1), st.Waits)
	assert.Positive(t, st.WaitTime)
	var sum uint64
	for _, n := range st.WaitBuckets {
		sum += n
	}
	assert.Equal(t, st.Waits, sum)
	t.Logf("waited %v; buckets %v (bounds %v)", st.WaitTime, st.WaitBuckets, engine.WaitBounds)
}
