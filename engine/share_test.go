package engine_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// emptyCache deletes wazero's entries under dir (not the record), so
// that a load that compiles writes an entry again and one that shares a
// compiled module writes none.
func emptyCache(t *testing.T, dir string) {
	t.Helper()
	for e := range cacheEntries(t, dir) {
		require.NoError(t, os.Remove(e))
	}
}

// TestShareCompiled checks what Config.ShareCompiled shares: a module
// loaded by a runtime of the process is loaded by another without reading
// the cache or compiling (none of its entries is needed, none is
// written), but only for the same bytes with the same deadline
// enforcement, and never past the other runtime's memory limit.
func TestShareCompiled(t *testing.T) {
	accept := must(os.ReadFile(testModule("accept")))
	tests := []struct {
		name string
		// first is loaded by a runtime that stays open, second by
		// another after the cache's entries were deleted.
		first, second engine.Plugin
		secondCfg     engine.Config
		shared        bool
		err           error
	}{
		{"same file", engine.Plugin{Path: testModule("accept")}, engine.Plugin{Path: testModule("accept")}, engine.Config{}, true, nil},
		{"same bytes, from a file and given", engine.Plugin{Path: testModule("accept")}, engine.Plugin{Wasm: accept}, engine.Config{}, true, nil},
		{"trusted, then untrusted", engine.Plugin{Path: testModule("accept"), Trust: engine.Trusted}, engine.Plugin{Path: testModule("accept")}, engine.Config{}, false, nil},
		{"untrusted, then trusted", engine.Plugin{Path: testModule("accept")}, engine.Plugin{Path: testModule("accept"), Trust: engine.Trusted}, engine.Config{}, false, nil},
		{"another module", engine.Plugin{Path: testModule("accept")}, engine.Plugin{Path: testModule("hello")}, engine.Config{}, false, nil},
		{"a lower memory limit", engine.Plugin{Path: testModule("bigmem")}, engine.Plugin{Path: testModule("bigmem")}, engine.Config{MemoryLimitMiB: 32}, true, engine.ErrMemoryLimit},
		{"not shared by the second", engine.Plugin{Path: testModule("accept")}, engine.Plugin{Path: testModule("accept")}, engine.Config{ShareCompiled: false}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := newRuntime(t, engine.Config{CacheDir: dir, ShareCompiled: true, MemoryLimitMiB: 128})
			load(t, first, tt.first)
			emptyCache(t, dir)

			cfg := tt.secondCfg
			cfg.CacheDir = dir
			cfg.ShareCompiled = tt.name != "not shared by the second"
			second := newRuntime(t, cfg)
			r, err := second.Load(context.Background(), tt.second)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if tt.shared {
				assert.Empty(t, cacheEntries(t, dir), "a shared module is neither compiled nor read from the cache")
			} else {
				assert.Len(t, cacheEntries(t, dir), 1, "a module not shared is compiled")
			}
			if tt.second.Path != testModule("hello") {
				d, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
				require.NoError(t, err)
				assert.Equal(t, resolve.ActionAccept, d.Action)
			}
		})
	}
}

// TestShareCompiledEnforcement loads moody trusted, then untrusted into
// another runtime of the share: the untrusted one's looping call is
// interrupted, so it runs instrumented code, not the trusted one's.
func TestShareCompiledEnforcement(t *testing.T) {
	dir := t.TempDir()
	trusted := newRuntime(t, engine.Config{CacheDir: dir, ShareCompiled: true})
	load(t, trusted, engine.Plugin{Path: testModule("moody"), Trust: engine.Trusted})
	untrusted := newRuntime(t, engine.Config{CacheDir: dir, ShareCompiled: true, CallTimeout: 100 * time.Millisecond})
	r := load(t, untrusted, engine.Plugin{Path: testModule("moody")})
	_, err := r.Resolve(context.Background(), conflictOn("loop", 1))
	require.ErrorIs(t, err, engine.ErrTimeout)
}

// TestShareCompiledClose closes runtimes and resolvers of a share in
// turn: the others keep serving, start new instances of the shared
// module, and load it again without compiling; once no resolver uses
// it, a load reads it from the cache again.
func TestShareCompiledClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := engine.Config{CacheDir: dir, ShareCompiled: true, CallTimeout: 100 * time.Millisecond}
	a, err := engine.New(ctx, cfg)
	require.NoError(t, err)
	load(t, a, engine.Plugin{Path: testModule("moody")})
	b := newRuntime(t, cfg)
	rb := load(t, b, engine.Plugin{Path: testModule("moody")})
	require.NoError(t, a.Close(ctx))
	emptyCache(t, dir)

	// A trap discards the instance; the next call starts another.
	_, err = rb.Resolve(ctx, conflictOn("trap", 1))
	require.ErrorIs(t, err, engine.ErrTrap)
	d, err := rb.Resolve(ctx, conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionAccept, d.Action)
	st := rb.Stats()
	assert.GreaterOrEqual(t, st.InstancesDiscarded, uint64(1))
	assert.GreaterOrEqual(t, st.InstancesStarted, uint64(2), "a new instance of the shared module")

	// b's resolver still holds the module: a third runtime shares it.
	c := newRuntime(t, cfg)
	rc := load(t, c, engine.Plugin{Path: testModule("moody")})
	assert.Empty(t, cacheEntries(t, dir), "shared, not compiled")
	require.NoError(t, rb.Close(ctx))
	_, err = rc.Resolve(ctx, conflictOn("fruits", 1))
	require.NoError(t, err)
	require.NoError(t, rc.Close(ctx))

	// No resolver uses it any more: it is compiled again.
	load(t, c, engine.Plugin{Path: testModule("moody")})
	assert.Len(t, cacheEntries(t, dir), 1, "released, then compiled")
}

// TestShareCompiledConcurrent loads one module at once from many
// runtimes of a share, and different modules beside it: each module is
// compiled once, and every resolver answers as its module.
func TestShareCompiledConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := engine.Config{CacheDir: dir, ShareCompiled: true}
	var wg sync.WaitGroup
	for i := range 12 {
		name := []string{"accept", "moody", "parrot"}[i%3]
		wg.Go(func() {
			rt, err := engine.New(ctx, cfg)
			if !assert.NoError(t, err) {
				return
			}
			defer rt.Close(ctx)
			r, err := rt.Load(ctx, engine.Plugin{Path: testModule(name), Params: []byte(map[string]string{"parrot": `{"action":"fail","reason":"p"}`}[name])})
			if !assert.NoError(t, err, name) {
				return
			}
			d, err := r.Resolve(ctx, conflictOn("fruits", 1))
			if assert.NoError(t, err, name) {
				assert.Equal(t, map[string]resolve.Action{"accept": resolve.ActionAccept, "moody": resolve.ActionAccept, "parrot": resolve.ActionFail}[name], d.Action)
			}
		})
	}
	wg.Wait()
	assert.Len(t, cacheEntries(t, dir), 3)
}
