// Package engine runs Accord's conflict resolvers: WebAssembly plugins
// speaking ABI v1 (see package resolve), sandboxed by wazero.
//
//	rt, err := engine.New(ctx, engine.Config{CallTimeout: 50 * time.Millisecond})
//	if err != nil {
//		return err
//	}
//	defer rt.Close(ctx) // closes every resolver it loaded
//
//	r, err := rt.Load(ctx, engine.Plugin{Builtin: "backoff", Params: []byte(`{"max_retries":5}`)})
//	if err != nil {
//		return err
//	}
//	d, err := r.Resolve(ctx, &resolve.Conflict{
//		ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
//		DB: "fruits", ID: "apple", Attempt: 1,
//	})
//	// d.Action == resolve.ActionRetry, d.DelayMS in [40, 60]
//
// A [Runtime] compiles each plugin once and serves it from a pool of
// instances, so a loaded [Resolver] is safe for concurrent use. Startup
// uses wazero's compilation cache on disk ([Config.CacheDir]): a Go
// plugin compiles in about a second cold and loads in tens of
// milliseconds from the cache. Runtimes of one process that set
// [Config.ShareCompiled] share the modules they have loaded: loading one
// again only starts its instances.
//
// # Failing closed
//
// A plugin from a file or from bytes is untrusted code. Every way it can
// misbehave ends the call with a typed error within a bounded time: a
// call that runs past [Config.CallTimeout] (an infinite loop included,
// see [Trust] for what that costs and for the built-ins, which are
// trusted by default), memory growth past
// [Config.MemoryLimitMiB], a trap or exit, output that is not a valid
// decision. The instance is discarded and replaced; the next call is
// served by a fresh one. A module that lacks an export or speaks another
// ABI version is refused at load.
//
// # Sandbox
//
// The guest sees WASI preview 1 with no files, no environment and no
// arguments. What it writes to stdout and stderr goes to
// [Config.Logger], one record per line. Its clocks are the host's and its
// random bytes come from crypto/rand, unless [Config.Deterministic] and
// [Config.Rand] pin them for tests and replays. Sleeping returns at once.
//
// # What is enforced
//
// Against a hostile module, before it is compiled: at most 16 MiB (as
// given and uncompressed); WebAssembly 1.0 with bulk memory, sign
// extension, non-trapping conversions and multiple results, but no
// reference types (so no table.grow and one table) and no SIMD; at most
// 65,536 table entries and as many elements, 1,024 globals, 32,768
// functions of at most 512 KiB, 4,096 locals and 2,048 blocks each
// (compiling takes time in the square of a function's blocks), 256
// imports (WASI functions only), 1,024 exports. A Go plugin uses at most
// 40% of each. Compiling is bounded by [Config.CompileTimeout]. Its name
// (1 to 64 of [A-Za-z0-9._-]), version (64 bytes) and description
// (1 KiB) are capped.
//
// While it runs: [Config.MemoryLimitMiB] of linear memory;
// [Config.CallTimeout] a call (for untrusted plugins, whose modules are
// instrumented for it before they are compiled, see [Trust]: such a
// module may not export accord_interrupt, the engine's name); an
// output budget of 16 KiB, 64 lines and 1,024 writes to stdout and
// stderr a call, past which its writes fail; an instance that made a
// call slower than 1 ms gets fresh call stacks, so an idle instance does
// not keep a deep one (wazero's own ceiling, some 100 MiB, bounds the
// stack during a call). Errors quote at most 64 bytes of any text it
// answers. A plugin that fails 3 times in a row is backed off (see
// [Resolver.Health]). The compilation cache must be private to its
// owner, and each entry matches the SHA-256 recorded when it was written
// or is rebuilt.
//
// # Hot reload, recording and replay
//
// [Runtime.LoadReloadable] returns a [Reloader], a resolver whose module
// can be replaced while it serves: the new one is loaded beside it and
// checked (pin, ABI, parameters, [Fixture]s, the same name and needs)
// before it takes the calls that come after; calls in flight finish on
// the old one. [Reloader.Watch] reloads a plugin file when it changes.
//
// With [Config.Recorder] every call is recorded as a [Record] (JSON
// lines, rotated by size, documents optionally redacted to their field
// names). [Replay] runs a recording through another resolver and
// reports the decisions that differ.
//
// # Errors
//
// Errors wrap one of [ErrTimeout], [ErrMemoryLimit], [ErrTrap],
// [ErrBadOutput] (which also matches resolve.ErrInvalidDecision when the
// decision is at fault), [ErrConfigure], [ErrMissingExport],
// [ErrABIVersion], [ErrInvalidModule], [ErrHashMismatch],
// [ErrUnknownBuiltin], [ErrUnhealthy], [ErrUnsafeCache] or [ErrClosed];
// a refused reload also [ErrIncompatible] or [ErrFixture];
// a call abandoned because the caller's context was cancelled wraps
// context.Canceled.
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Config configures a [Runtime]. The zero value is valid: each field
// documents its default.
type Config struct {
	// CallTimeout bounds one call into a plugin. Default 100 ms.
	//
	// Untrusted plugins are interrupted when it passes; trusted ones
	// (the built-ins, by default) cannot be, and their late answers are
	// refused. See [Trust].
	CallTimeout time.Duration
	// StartTimeout bounds starting an instance: instantiation, the
	// module's _initialize and its accord_configure. Default 5 s.
	StartTimeout time.Duration
	// CompileTimeout bounds compiling a module that is not in the
	// compilation cache. Default 60 s. (A Go plugin compiles in about
	// 1 s, 14 s under the race detector.)
	CompileTimeout time.Duration
	// MemoryLimitMiB caps the linear memory of each instance, in MiB.
	// Default 32; at most 4096. A module that declares a larger minimum
	// is refused at load.
	MemoryLimitMiB int
	// PoolSize is the most instances of one plugin, hence the most calls
	// it serves at once; more callers wait. Default GOMAXPROCS.
	PoolSize int
	// CacheDir holds wazero's compilation cache: a directory writable
	// by its owner only (created 0700; one that is group- or
	// world-writable, or owned by another user, is refused with
	// ErrUnsafeCache). Every entry is checked against the SHA-256
	// recorded when it was written before it is used, and rebuilt if it
	// does not match. It also keeps the decompressed bytes of the
	// gzip-compressed modules that compiled (the built-ins are), checked
	// the same way, so that a warm load need not decompress. Default:
	// accord/wazero-VERSION under [os.UserCacheDir], VERSION being the
	// wazero release the engine is built with, or an in-memory cache when
	// there is no such directory. (wazero keys its entries by its version
	// too, but reads it from the binary's build information, which test
	// binaries lack.)
	CacheDir string
	// NoCache turns the compilation cache off: every Runtime compiles
	// every module afresh (it still shares compiled code between the
	// resolvers it loads).
	NoCache bool
	// ShareCompiled shares compiled modules with the other runtimes of
	// this process that set it and use the same compilation cache
	// (CacheDir, or none with NoCache): a module that a resolver of any
	// of them has loaded and not closed is not read, decompressed,
	// checked, decoded, validated nor read from the cache again when it
	// is loaded again (a second runtime, a reload, tests); a new resolver
	// of it only starts its instances. Modules are shared only between
	// loads of the same bytes (as given, before decompression) with the
	// same deadline enforcement ([Trust]); the memory limit is checked at
	// every load. Closing a runtime closes its resolvers, not those of
	// the runtimes it shares with. A shared module is kept as long as a
	// resolver uses it, so a process that loads a module once, closes it
	// and loads it again reads the cache again. Default false: each
	// runtime compiles, or reads from the cache, what it loads.
	ShareCompiled bool
	// Logger receives what guests write to stdout and stderr (at info
	// level, one record a line, within each call's output budget), each
	// decision (at debug level: plugin, id, attempt, action, delay and
	// reason, clipped), and the engine's own notices. Default
	// slog.Default().
	Logger *slog.Logger
	// Recorder, if set, records every call of every resolver the
	// runtime loads: the conflict, the decision or the failure (see
	// [Recorder]). The runtime does not close it.
	Recorder *Recorder
	// Deterministic pins the guests' clocks to wazero's fake ones (the
	// wall clock starts at a fixed time; each reading advances 1 ms) and,
	// when Rand is nil, their random source to a fixed-seed stream per
	// instance. For tests and replays; a service wants the default, the
	// host's clocks.
	Deterministic bool
	// Rand is the guests' random source. It is read from the goroutines
	// that call resolvers, so it must be safe for concurrent use. Default
	// crypto/rand (see Deterministic).
	Rand io.Reader
}

// The defaults of Config.
const (
	DefaultCallTimeout    = 100 * time.Millisecond
	DefaultStartTimeout   = 5 * time.Second
	DefaultCompileTimeout = 60 * time.Second
	DefaultMemoryLimitMiB = 32
	maxMemoryLimitMiB     = 4096
)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.CallTimeout < 0:
		return c, fmt.Errorf("engine: CallTimeout %v is negative", c.CallTimeout)
	case c.StartTimeout < 0:
		return c, fmt.Errorf("engine: StartTimeout %v is negative", c.StartTimeout)
	case c.CompileTimeout < 0:
		return c, fmt.Errorf("engine: CompileTimeout %v is negative", c.CompileTimeout)
	case c.MemoryLimitMiB < 0 || c.MemoryLimitMiB > maxMemoryLimitMiB:
		return c, fmt.Errorf("engine: MemoryLimitMiB %d outside [1, %d]", c.MemoryLimitMiB, maxMemoryLimitMiB)
	case c.PoolSize < 0:
		return c, fmt.Errorf("engine: PoolSize %d is negative", c.PoolSize)
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.CompileTimeout == 0 {
		c.CompileTimeout = DefaultCompileTimeout
	}
	if c.MemoryLimitMiB == 0 {
		c.MemoryLimitMiB = DefaultMemoryLimitMiB
	}
	if c.PoolSize == 0 {
		c.PoolSize = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Rand == nil && !c.Deterministic {
		c.Rand = rand.Reader
	}
	if c.CacheDir == "" && !c.NoCache {
		if dir, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(dir, "accord", "wazero-"+wazeroVersion)
		}
	}
	return c, nil
}

// wazeroVersion is the wazero release in go.mod (TestWazeroVersion keeps
// them equal). It keys the default compilation cache directory.
const wazeroVersion = "v1.12.0"

// DefaultCacheDir is where a zero Config keeps the compilation cache, or
// "" when the platform has no user cache directory.
func DefaultCacheDir() string {
	c, _ := Config{}.withDefaults()
	return c.CacheDir
}

// Runtime loads plugins and owns what they use: one wazero runtime, its
// compilation cache, and every [Resolver] it loaded. It is safe for
// concurrent use. Closing the runtime closes every resolver it loaded.
// With [Config.ShareCompiled], the wazero runtime and the compiled modules
// are shared with the process's other runtimes on the same cache, and
// outlive the runtime as long as one of those uses them.
type Runtime struct {
	cfg   Config
	cache wazero.CompilationCache
	// cacheMu serialises checking the compilation cache, compiling and
	// recording the new entries' sums.
	cacheMu sync.Mutex

	mu     sync.Mutex
	closed bool
	// wrt is the wazero runtime, created when a plugin first needs it.
	// Deadline enforcement does not need a runtime of its own: it is
	// instrumented into the untrusted modules (see interrupt.go), and
	// watch interrupts their calls; it is started with the first
	// untrusted plugin.
	wrt wazero.Runtime
	// share, with Config.ShareCompiled, is where wrt comes from.
	share  *share
	watch  *watcher
	loaded map[*Resolver]struct{}
}

// New returns a runtime configured by cfg, or an error if cfg is invalid
// or the cache directory cannot be created.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rt := &Runtime{cfg: cfg, loaded: make(map[*Resolver]struct{})}
	// With ShareCompiled, the share's wazero runtime holds the cache.
	if cfg.NoCache || cfg.CacheDir == "" {
		if !cfg.ShareCompiled {
			rt.cache = wazero.NewCompilationCache()
		}
		return rt, nil
	}
	if err := prepareCacheDir(cfg.CacheDir); err != nil {
		return nil, fmt.Errorf("engine: compilation cache: %w", err)
	}
	if !cfg.ShareCompiled {
		if rt.cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("engine: compilation cache: %w", err)
		}
	}
	return rt, nil
}

// Config returns the runtime's configuration, defaults filled in.
func (rt *Runtime) Config() Config { return rt.cfg }

// coreFeatures are the WebAssembly features a plugin may use: those of
// WebAssembly 1.0 and those Go's wasm backend emits (bulk memory
// operations, sign extension, non-trapping float-to-int conversions,
// multiple results). Reference types are left out: without them a table
// cannot grow at run time (table.grow) nor a module have more than one,
// so checkBinary can bound a table by its declared size. SIMD is left
// out for the size of the compiler it would expose; no resolver needs it.
const coreFeatures = api.CoreFeaturesV1 |
	api.CoreFeatureBulkMemoryOperations |
	api.CoreFeatureSignExtensionOps |
	api.CoreFeatureNonTrappingFloatToIntConversion |
	api.CoreFeatureMultiValue

// wazeroRuntime returns the wazero runtime, creating it (or joining the
// share, with Config.ShareCompiled) on first use, and the share if any;
// it starts the watcher if enforce is true and it is not running.
func (rt *Runtime) wazeroRuntime(ctx context.Context, enforce bool) (wazero.Runtime, *share, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, nil, ErrClosed
	}
	if enforce && rt.watch == nil {
		rt.watch = newWatcher()
	}
	if rt.wrt != nil {
		return rt.wrt, rt.share, nil
	}
	if rt.cfg.ShareCompiled {
		s, err := joinShare(ctx, rt.cfg)
		if err != nil {
			return nil, nil, err
		}
		rt.share, rt.wrt = s, s.wrt
		return s.wrt, s, nil
	}
	w, err := newWazeroRuntime(ctx, rt.cache)
	if err != nil {
		return nil, nil, err
	}
	rt.wrt = w
	return w, nil, nil
}

// Close closes every resolver the runtime loaded, then the runtime.
// Calls in flight are waited for (until ctx is done); later calls and
// loads fail with ErrClosed. Close is idempotent.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	loaded := make([]*Resolver, 0, len(rt.loaded))
	for r := range rt.loaded {
		loaded = append(loaded, r)
	}
	rt.loaded = nil
	wrt, watch, share := rt.wrt, rt.watch, rt.share
	rt.mu.Unlock()

	var errs []error
	for _, r := range loaded {
		errs = append(errs, r.Close(ctx))
	}
	if watch != nil {
		watch.close()
	}
	switch {
	case share != nil:
		errs = append(errs, share.leave(ctx))
	case wrt != nil:
		errs = append(errs, wrt.Close(ctx))
	}
	if rt.cache != nil {
		errs = append(errs, rt.cache.Close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: close: %w", err)
	}
	return nil
}

func (rt *Runtime) forget(r *Resolver) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	delete(rt.loaded, r)
}
