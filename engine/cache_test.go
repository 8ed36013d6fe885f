package engine_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// cacheEntries lists the files of wazero's cache under dir.
func cacheEntries(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "wazero-*", "*"))
	require.NoError(t, err)
	m := make(map[string]bool)
	for _, f := range files {
		m[f] = true
	}
	return m
}

// loadIn loads a test module with a fresh runtime on the cache in dir,
// and returns it with the cache entries its compilation added.
func loadIn(t *testing.T, dir, module string) (*engine.Resolver, []string) {
	t.Helper()
	before := cacheEntries(t, dir)
	rt := newRuntime(t, engine.Config{CacheDir: dir, CallTimeout: 200 * time.Millisecond})
	r := load(t, rt, engine.Plugin{Path: testModule(module)})
	var added []string
	for f := range cacheEntries(t, dir) {
		if !before[f] {
			added = append(added, f)
		}
	}
	return r, added
}

// TestCacheIntegrity tampers with the compilation cache in the ways that
// hung or crashed the host: the compiled code of a looping module planted
// in another's entry, random bytes, one changed byte in the offset table,
// an empty file. Each time the entry is rebuilt and the module answers as
// itself.
func TestCacheIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, entry, planted string)
	}{
		{"planted code of another module", func(t *testing.T, entry, planted string) {
			require.NoError(t, os.WriteFile(entry, must(os.ReadFile(planted)), 0o600))
		}},
		{"random bytes", func(t *testing.T, entry, _ string) {
			b := make([]byte, 100)
			for i := range b {
				b[i] = byte(i*7 + 3)
			}
			require.NoError(t, os.WriteFile(entry, b, 0o600))
		}},
		{"one byte of the offset table", func(t *testing.T, entry, _ string) {
			b := must(os.ReadFile(entry))
			b[6+1+len("dev")+4+1] ^= 0x40 // past magic, version, count: first offset
			require.NoError(t, os.WriteFile(entry, b, 0o600))
		}},
		{"empty", func(t *testing.T, entry, _ string) {
			require.NoError(t, os.WriteFile(entry, nil, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, added := loadIn(t, dir, "accept")
			require.Len(t, added, 1)
			entry := added[0]
			_, planted := loadIn(t, dir, "planted")
			require.Len(t, planted, 1)
			tt.tamper(t, entry, planted[0])

			r, _ := loadIn(t, dir, "accept")
			d, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
			require.NoError(t, err, "the tampered entry must not be used")
			assert.Equal(t, resolve.ActionAccept, d.Action)
			// The rebuilt entry is used as it is next time.
			r, added = loadIn(t, dir, "accept")
			assert.Empty(t, added)
			_, err = r.Resolve(context.Background(), conflictOn("fruits", 1))
			require.NoError(t, err)
		})
	}
}

// TestCacheDirPermissions checks that the cache directory is created
// private and that one writable by others is refused.
func TestCacheDirPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	newRuntime(t, engine.Config{CacheDir: dir})
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	for _, mode := range []os.FileMode{0o777, 0o775, 0o722} {
		open := t.TempDir()
		require.NoError(t, os.Chmod(open, mode))
		_, err := engine.New(context.Background(), engine.Config{CacheDir: open})
		assert.ErrorIs(t, err, engine.ErrUnsafeCache, "mode %v", mode)
	}

	// A private directory of another user's: its entries are whatever
	// that user put there.
	theirs := t.TempDir()
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Logf("cannot give a directory to another user here (%v): the owner check is tested where the tests run as root, as in CI", err)
		return
	}
	_, err = engine.New(context.Background(), engine.Config{CacheDir: theirs})
	assert.ErrorIs(t, err, engine.ErrUnsafeCache, "a cache owned by uid 65534")
}

// TestCacheConcurrentLoads loads different modules at once, each from
// runtimes of its own on one cache directory: cold (compiling), warm
// (reading the cache side by side), and after accept's entry was
// tampered with. Every load answers as its module, a warm round adds no
// entry, and the tampered entry is rebuilt.
func TestCacheConcurrentLoads(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	modules := []struct {
		name   string
		params string
		want   resolve.Action
	}{
		{"accept", "", resolve.ActionAccept},
		{"parrot", `{"action":"fail","reason":"parrot"}`, resolve.ActionFail},
		{"hello", "", resolve.ActionAccept},
		{"planted", "", ""}, // loaded only: its resolve never returns
	}
	round := func(t *testing.T) {
		t.Helper()
		var wg sync.WaitGroup
		for _, m := range modules {
			for range 2 {
				wg.Go(func() {
					ctx := context.Background()
					rt, err := engine.New(ctx, engine.Config{CacheDir: dir, Logger: quiet})
					if !assert.NoError(t, err) {
						return
					}
					defer rt.Close(ctx)
					r, err := rt.Load(ctx, engine.Plugin{Path: testModule(m.name), Params: []byte(m.params)})
					if !assert.NoError(t, err, m.name) || m.want == "" {
						return
					}
					d, err := r.Resolve(ctx, conflictOn("fruits", 1))
					if assert.NoError(t, err, m.name) {
						assert.Equal(t, m.want, d.Action, m.name)
					}
				})
			}
		}
		wg.Wait()
	}
	round(t)
	cold := cacheEntries(t, dir)
	require.Len(t, cold, len(modules))
	round(t)
	assert.Equal(t, cold, cacheEntries(t, dir), "a warm round writes no entry")

	// Plant planted's code in accept's entry: found by accept's loads.
	_, accept := loadIn(t, t.TempDir(), "accept")
	var entry, planted string
	for e := range cold {
		if filepath.Base(e) == filepath.Base(accept[0]) {
			entry = e
		}
	}
	_, plantedIn := loadIn(t, t.TempDir(), "planted")
	for e := range cold {
		if filepath.Base(e) == filepath.Base(plantedIn[0]) {
			planted = e
		}
	}
	require.NotEmpty(t, entry, "accept's entry is named as in any directory")
	require.NotEmpty(t, planted)
	require.NoError(t, os.WriteFile(entry, must(os.ReadFile(planted)), 0o600))
	round(t)
	round(t)
	assert.Equal(t, cold, cacheEntries(t, dir), "the tampered entry is rebuilt under its name")
}

// TestCachePlain checks the decompressed bytes of a compressed module
// that the cache keeps: written once the module compiled (not for a
// module refused), read by the next load, and when they were tampered
// with, not used but written afresh.
func TestCachePlain(t *testing.T) {
	accept := must(os.ReadFile(testModule("accept")))
	zipped := gz(t, accept)
	plainPath := func(dir string, module []byte) string {
		return filepath.Join(dir, "accord-sums", "plain-"+sha256Hex(module))
	}
	want := append([]byte(sha256Hex(accept)+"\n"), accept...)
	tests := []struct {
		name   string
		tamper func(b []byte) []byte
	}{
		{"one byte of the module", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"another module's bytes", func(b []byte) []byte {
			return append(b[:65], must(os.ReadFile(testModule("planted")))...)
		}},
		{"truncated", func(b []byte) []byte { return b[:70] }},
		{"empty", func([]byte) []byte { return nil }},
		{"no newline", func(b []byte) []byte { b[64] = ' '; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rt := newRuntime(t, engine.Config{CacheDir: dir, CallTimeout: 200 * time.Millisecond})
			load(t, rt, engine.Plugin{Wasm: zipped})
			require.Equal(t, want, must(os.ReadFile(plainPath(dir, zipped))))
			require.NoError(t, os.WriteFile(plainPath(dir, zipped), tt.tamper(must(os.ReadFile(plainPath(dir, zipped)))), 0o600))

			r := load(t, newRuntime(t, engine.Config{CacheDir: dir, CallTimeout: 200 * time.Millisecond}), engine.Plugin{Wasm: zipped})
			d, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
			require.NoError(t, err)
			assert.Equal(t, resolve.ActionAccept, d.Action)
			assert.Equal(t, want, must(os.ReadFile(plainPath(dir, zipped))), "written afresh")
		})
	}

	t.Run("refused", func(t *testing.T) {
		dir := t.TempDir()
		rt := newRuntime(t, engine.Config{CacheDir: dir})
		bad := gz(t, must(os.ReadFile(testModule("globals"))))
		_, err := rt.Load(context.Background(), engine.Plugin{Wasm: bad})
		require.ErrorIs(t, err, engine.ErrInvalidModule)
		assert.NoFileExists(t, plainPath(dir, bad))
	})
}

// TestCacheRecordListsMissingEntry checks a module's record that lists
// an entry no longer there (deleted, or wazero's key changed): the load
// does not trust the record as it is (it may lack the entry wazero looks
// for, which wazero would then write unrecorded) but checks the cache
// under the exclusive lock, and records what is there.
func TestCacheRecordListsMissingEntry(t *testing.T) {
	dir := t.TempDir()
	_, added := loadIn(t, dir, "accept")
	require.Len(t, added, 1)
	records, err := filepath.Glob(filepath.Join(dir, "accord-sums", "module-*"))
	require.NoError(t, err)
	require.Len(t, records, 1)
	gone := filepath.Join(filepath.Base(filepath.Dir(added[0])), "0000000000000000000000000000000000000000000000000000000000000000")
	f, err := os.OpenFile(records[0], os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(gone + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r, added := loadIn(t, dir, "accept")
	assert.Empty(t, added)
	_, err = r.Resolve(context.Background(), conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.NotContains(t, string(must(os.ReadFile(records[0]))), gone, "the record lists what is there")
}
