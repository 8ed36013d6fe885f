package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWarmLoadSharesCacheLock checks that a warm load takes the cache
// directory's lock shared: it completes while another holder (a warm
// load of another process, here the test) holds it shared, where it used
// to wait for it exclusively, so warm loads were serialised.
func TestWarmLoadSharesCacheLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	warm, err := New(ctx, Config{CacheDir: dir})
	require.NoError(t, err)
	_, err = warm.Load(ctx, Plugin{Path: filepath.Join("testdata", "accept.wasm")})
	require.NoError(t, err)
	require.NoError(t, warm.Close(ctx))

	unlock, err := lockCache(filepath.Join(dir, sumsDir), false)
	require.NoError(t, err)
	defer unlock()
	rt, err := New(ctx, Config{CacheDir: dir})
	require.NoError(t, err)
	defer rt.Close(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := rt.Load(ctx, Plugin{Path: filepath.Join("testdata", "accept.wasm")})
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute): // a deadlock, not a measurement
		unlock()
		t.Fatal("a warm load waited for a shared holder of the cache lock")
	}
}
