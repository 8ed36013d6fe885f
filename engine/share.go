package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// A share is what the runtimes of this process that set
// Config.ShareCompiled, on one compilation cache, have in common: one
// wazero runtime and the modules compiled in it, each kept while a
// resolver of any of those runtimes uses it.
//
// A wazero CompiledModule belongs to the wazero runtime that compiled it
// (its function type ids are that runtime's), so sharing compiled
// modules means sharing the wazero runtime. What the engine configures
// per runtime besides (the memory limit, clocks, random source, logger,
// watcher, timeouts) is applied per instance or per call, so it is not
// shared; the memory limit is checked against the module at every load.
type share struct {
	key string
	// runtimes counts the runtimes using the share; the last one to
	// close closes it.
	runtimes int
	cache    wazero.CompilationCache
	wrt      wazero.Runtime
	modules  map[shareKey]*sharedModule
}

// shareKey names a compiled module in a share: the SHA-256 of the
// module's bytes as given (so different bytes never share, even those of
// one module compressed and not) and whether it was instrumented for
// deadline enforcement (an untrusted module never shares a trusted one's
// uninstrumented code, nor the reverse).
type shareKey struct {
	sum     string
	enforce bool
}

// sharedModule is a module compiled in a share. ready is closed when
// compiling ended; then compiled and overhead are set, or err.
type sharedModule struct {
	key      shareKey
	ready    chan struct{}
	compiled wazero.CompiledModule
	overhead int64
	err      error
	// users counts the resolvers (and loads in progress) using it; the
	// last to release it closes it.
	users int
}

// shares are the process's shares by cache, guarded by sharesMu (which
// also guards each share's runtimes and modules).
var (
	sharesMu sync.Mutex
	shares   = map[string]*share{}
)

// shareKeyOf is the key of cfg's share: its cache directory, or none.
func shareKeyOf(cfg Config) string {
	if cfg.NoCache || cfg.CacheDir == "" {
		return "memory"
	}
	if abs, err := filepath.Abs(cfg.CacheDir); err == nil {
		return "dir:" + abs
	}
	return "dir:" + cfg.CacheDir
}

// joinShare returns cfg's share, creating it and its wazero runtime
// if no open runtime uses it, and counts the runtime in.
func joinShare(ctx context.Context, cfg Config) (*share, error) {
	sharesMu.Lock()
	defer sharesMu.Unlock()
	key := shareKeyOf(cfg)
	if s := shares[key]; s != nil {
		s.runtimes++
		return s, nil
	}
	var cache wazero.CompilationCache
	if key == "memory" {
		cache = wazero.NewCompilationCache()
	} else {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
	}
	w, err := newWazeroRuntime(ctx, cache)
	if err != nil {
		_ = cache.Close(ctx)
		return nil, err
	}
	s := &share{key: key, runtimes: 1, cache: cache, wrt: w, modules: map[shareKey]*sharedModule{}}
	shares[key] = s
	return s, nil
}

// leave counts a closing runtime out of the share, and closes the share
// if it was the last. Its resolvers have released their modules.
func (s *share) leave(ctx context.Context) error {
	sharesMu.Lock()
	s.runtimes--
	last := s.runtimes == 0
	if last {
		delete(shares, s.key)
	}
	sharesMu.Unlock()
	if !last {
		return nil
	}
	return errors.Join(s.wrt.Close(ctx), s.cache.Close(ctx))
}

// module returns the compiled module of key, compiled by build unless
// another load compiled it or is compiling it (then it waits for that),
// and the function that releases it. A failed build is not kept: the
// loads waiting for it build it themselves.
func (s *share) module(ctx context.Context, key shareKey, build func() (wazero.CompiledModule, int64, error)) (*sharedModule, func(context.Context) error, error) {
	for {
		sharesMu.Lock()
		m := s.modules[key]
		if m == nil {
			m = &sharedModule{key: key, ready: make(chan struct{}), users: 1}
			s.modules[key] = m
			sharesMu.Unlock()
			m.compiled, m.overhead, m.err = build()
			if m.err != nil {
				sharesMu.Lock()
				delete(s.modules, key)
				m.users--
				sharesMu.Unlock()
				close(m.ready)
				return nil, nil, m.err
			}
			close(m.ready)
			return m, s.releaser(m), nil
		}
		m.users++
		sharesMu.Unlock()
		select {
		case <-m.ready:
		case <-ctx.Done():
			_ = s.release(ctx, m)
			return nil, nil, ctx.Err()
		}
		if m.err == nil {
			return m, s.releaser(m), nil
		}
		_ = s.release(ctx, m)
	}
}

// releaser returns the function that releases m once.
func (s *share) releaser(m *sharedModule) func(context.Context) error {
	var once sync.Once
	return func(ctx context.Context) (err error) {
		once.Do(func() { err = s.release(ctx, m) })
		return err
	}
}

// release counts a user out of m, and closes m if it was the last.
func (s *share) release(ctx context.Context, m *sharedModule) error {
	sharesMu.Lock()
	m.users--
	last := m.users == 0
	if last && s.modules[m.key] == m {
		delete(s.modules, m.key)
	}
	sharesMu.Unlock()
	if !last || m.compiled == nil {
		return nil
	}
	return m.compiled.Close(ctx)
}

// newWazeroRuntime returns a wazero runtime on cache with the features
// plugins may use and WASI instantiated.
func newWazeroRuntime(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	w := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCoreFeatures(coreFeatures))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, w); err != nil {
		_ = w.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	return w, nil
}
