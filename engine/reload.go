package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accord-db/accord/resolve"
)

// ErrIncompatible: a reloaded module describes itself with another name
// or other needs than the one it would replace. Callers such as
// couch.Store read the resolver's description once, at start-up: its
// needs decide which documents they read, its name labels their metrics.
// Changing either takes a restart.
var ErrIncompatible = errors.New("incompatible with the running resolver")

// ReloadConfig configures a [Reloader]. The zero value is valid.
type ReloadConfig struct {
	// Fixtures are conflicts every module must decide as they say
	// before it serves: the first one at load, and each reloaded one
	// before it replaces the running one. Each fixture runs in a
	// runtime of its own with pinned clocks and random source (see
	// [Fixture]). Default none.
	Fixtures []Fixture
}

// Reloader is a resolver whose plugin can be replaced while it serves
// ("hot reload"): [Reloader.Reload] loads a new module beside the
// running one, checks it (its pin, the ABI, its parameters, the
// configured fixtures, the same name and needs), and only then makes it
// serve the calls that come after; the calls in flight finish on the old
// module's instances, which are closed once the last of them returns. A
// module that fails any check is refused, with an error and a log line,
// and the old one keeps serving. [Reloader.Watch] reloads a plugin file
// when it changes.
//
// A Reloader is a [resolve.Resolver] and [resolve.Describer], safe for
// concurrent use. Closing it, or the runtime, closes every module it
// loaded.
//
// # Pins
//
// A module is always checked against the pin of the [Plugin] it is
// reloaded with (Plugin.SHA256). Reloading a pinned plugin file that
// changed therefore fails with [ErrHashMismatch] and leaves the old
// module serving: a pin says "exactly this module", and a file replaced
// under a running service is what it is there to catch. To deploy a new
// pinned module, reload with a Plugin that carries the new pin (a
// service re-reads its configuration for that, on SIGHUP say).
type Reloader struct {
	rt  *Runtime
	cfg ReloadConfig

	cur    atomic.Pointer[generation]
	closed atomic.Bool

	// reloadMu serialises Reload. It is held while a module compiles,
	// so nothing else takes it.
	reloadMu sync.Mutex
	// mu guards plugin, stat and past, and orders a reload's swap with
	// Close.
	mu     sync.Mutex
	plugin Plugin
	// stat is the plugin file as it was before it was read for the
	// running module (nil for a built-in or bytes), where Watch starts.
	stat os.FileInfo
	// past sums the counters of the modules that were replaced.
	past     Stats
	retiring sync.WaitGroup

	reloads, refusals atomic.Uint64
}

var (
	_ resolve.Resolver  = (*Reloader)(nil)
	_ resolve.Describer = (*Reloader)(nil)
)

// generation is one loaded module of a Reloader, with the calls it is
// serving. Once retired it takes no new call, and drained is closed when
// the last one in flight returns.
type generation struct {
	r *Resolver

	mu       sync.Mutex
	inFlight int
	retired  bool
	drained  chan struct{}
}

// enter counts a call in, unless g is retired.
func (g *generation) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.retired {
		return false
	}
	g.inFlight++
	return true
}

func (g *generation) exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.retired && g.inFlight == 0 {
		close(g.drained)
	}
}

func (g *generation) retire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.retired {
		return
	}
	g.retired = true
	if g.inFlight == 0 {
		close(g.drained)
	}
}

// LoadReloadable loads p as [Runtime.Load] does, checks it against
// cfg's fixtures, and returns it as a [Reloader].
func (rt *Runtime) LoadReloadable(ctx context.Context, p Plugin, cfg ReloadConfig) (*Reloader, error) {
	rl := &Reloader{rt: rt, cfg: cfg}
	r, stat, p, err := rl.load(ctx, p)
	if err != nil {
		return nil, err
	}
	rl.plugin, rl.stat = p, stat
	rl.cur.Store(&generation{r: r, drained: make(chan struct{})})
	return rl, nil
}

// load reads p's module once, loads it and runs the fixtures on the very
// same bytes. It returns the file's stat taken before it was read (nil if
// p is no file), and p as given.
func (rl *Reloader) load(ctx context.Context, p Plugin) (*Resolver, os.FileInfo, Plugin, error) {
	orig := p
	if p.Trust == TrustDefault {
		// What the default says for p, kept when the module is
		// handed over as bytes.
		if p.enforce() {
			p.Trust = Untrusted
		} else {
			p.Trust = Trusted
		}
	}
	var stat os.FileInfo
	if p.Path != "" {
		// Read the file once: what is checked is what serves.
		name := p.displayName()
		stat, _ = os.Stat(p.Path)
		raw, err := p.raw()
		if err != nil {
			return nil, nil, orig, fmt.Errorf("engine: load %s: %w", name, err)
		}
		if p.Name == "" {
			p.Name = name
		}
		p.Path, p.Wasm = "", raw
	}
	r, err := rl.rt.Load(ctx, p)
	if err != nil {
		return nil, nil, orig, err
	}
	if len(rl.cfg.Fixtures) > 0 {
		fp := p
		fp.Name = r.name
		if err := rl.rt.checkFixtures(ctx, fp, rl.cfg.Fixtures); err != nil {
			_ = r.Close(ctx)
			return nil, nil, orig, fmt.Errorf("engine: load %s: %w", r.name, err)
		}
	}
	return r, stat, orig, nil
}

// Reload loads p (the same plugin re-read, or another file, pin or
// parameters) and, if every check passes, makes it serve in place of the
// running module. It reports whether the module was replaced: a module
// with the same SHA-256 and parameters as the running one is not
// reloaded. On error the running module keeps serving; the error wraps
// the load's (ErrHashMismatch, ErrInvalidModule, ErrConfigure,
// ErrFixture...) or [ErrIncompatible], and is logged. Reloads are
// serialised.
func (rl *Reloader) Reload(ctx context.Context, p Plugin) (bool, error) {
	rl.reloadMu.Lock()
	defer rl.reloadMu.Unlock()
	if rl.closed.Load() {
		return false, fmt.Errorf("engine: reload: %w", ErrClosed)
	}
	old := rl.cur.Load()
	log := rl.rt.cfg.Logger
	r, stat, p, err := rl.load(ctx, p)
	if err == nil {
		err = compatible(old.r.desc, r.desc)
		if err != nil {
			_ = r.Close(ctx)
			err = fmt.Errorf("engine: reload %s: %w", r.name, err)
		}
	}
	if err != nil {
		rl.refusals.Add(1)
		log.Error("engine: reload refused; the running module keeps serving",
			"plugin", old.r.name, "sha256", old.r.sha256, "err", err)
		return false, err
	}
	rl.mu.Lock()
	if rl.closed.Load() {
		rl.mu.Unlock()
		_ = r.Close(ctx)
		return false, fmt.Errorf("engine: reload: %w", ErrClosed)
	}
	rl.plugin, rl.stat = p, stat
	if r.sha256 == old.r.sha256 && bytes.Equal(r.params, old.r.params) {
		rl.mu.Unlock()
		_ = r.Close(ctx)
		return false, nil
	}
	rl.cur.Store(&generation{r: r, drained: make(chan struct{})})
	rl.retiring.Add(1)
	rl.mu.Unlock()
	old.retire()
	rl.reloads.Add(1)
	log.Info("engine: reloaded plugin", "plugin", r.name, "version", r.desc.Version,
		"sha256", r.sha256, "replaced", old.r.sha256)
	go func() {
		defer rl.retiring.Done()
		<-old.drained
		st := old.r.Stats()
		_ = old.r.Close(context.Background())
		rl.mu.Lock()
		rl.past.Calls += st.Calls
		rl.past.Failures += st.Failures
		rl.past.InstancesStarted += st.InstancesStarted
		rl.past.InstancesDiscarded += st.InstancesDiscarded + uint64(st.Instances)
		rl.past.StartFailures += st.StartFailures
		rl.past.Waits += st.Waits
		rl.past.WaitTime += st.WaitTime
		for i := range st.WaitBuckets {
			rl.past.WaitBuckets[i] += st.WaitBuckets[i]
		}
		rl.past.LateAnswers += st.LateAnswers
		rl.mu.Unlock()
	}()
	return true, nil
}

// compatible refuses a new description whose name or needs differ.
func compatible(old, new resolve.Description) error {
	if old.Name != new.Name {
		return fmt.Errorf("%w: it is named %q, the running one %q", ErrIncompatible, new.Name, old.Name)
	}
	if (old.Needs == nil) != (new.Needs == nil) || !sameSet(old.Needs, new.Needs) {
		return fmt.Errorf("%w: it needs %q, the running one %q", ErrIncompatible, new.Needs, old.Needs)
	}
	return nil
}

func sameSet(a, b []resolve.Need) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// Resolve asks the running module about c (see [Resolver.Resolve]). A
// call that began before a reload finishes on the module it began on.
func (rl *Reloader) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	for {
		if rl.closed.Load() {
			return resolve.Decision{}, fmt.Errorf("engine: %w", ErrClosed)
		}
		g := rl.cur.Load()
		if !g.enter() {
			continue // replaced since it was loaded: take the new one
		}
		d, err := g.r.Resolve(ctx, c)
		g.exit()
		return d, err
	}
}

// Describe describes the running module.
func (rl *Reloader) Describe() resolve.Description { return rl.cur.Load().r.Describe() }

// Name is the running module's name, as used in errors and logs.
func (rl *Reloader) Name() string { return rl.cur.Load().r.Name() }

// SHA256 is the running module's hex SHA-256 (see [Resolver.SHA256]).
func (rl *Reloader) SHA256() string { return rl.cur.Load().r.SHA256() }

// Plugin returns the plugin as last loaded: Reload(ctx, rl.Plugin())
// re-reads the same file with the same pin and parameters.
func (rl *Reloader) Plugin() Plugin {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.plugin
}

// Health is the running module's health (see [Resolver.Health]).
func (rl *Reloader) Health() Health { return rl.cur.Load().r.Health() }

// ReloadStats counts a Reloader's reloads.
type ReloadStats struct {
	// Reloads counts the modules that replaced a running one, Refusals
	// the reloads refused.
	Reloads, Refusals uint64
}

// ReloadStats returns the reload counters.
func (rl *Reloader) ReloadStats() ReloadStats {
	return ReloadStats{Reloads: rl.reloads.Load(), Refusals: rl.refusals.Load()}
}

// Stats returns the counters of every module the reloader ran, summed
// (the running module's gauges: Instances, Idle, MemoryBytes; the modules
// being retired are not counted until they are closed).
func (rl *Reloader) Stats() Stats {
	st := rl.cur.Load().r.Stats()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	st.Calls += rl.past.Calls
	st.Failures += rl.past.Failures
	st.InstancesStarted += rl.past.InstancesStarted
	st.InstancesDiscarded += rl.past.InstancesDiscarded
	st.StartFailures += rl.past.StartFailures
	st.LateAnswers += rl.past.LateAnswers
	st.Waits += rl.past.Waits
	st.WaitTime += rl.past.WaitTime
	for i := range st.WaitBuckets {
		st.WaitBuckets[i] += rl.past.WaitBuckets[i]
	}
	return st
}

// Watch polls p.Path (of the plugin as last loaded) every interval and
// reloads it when its size, modification time or identity changes, until
// ctx is done; it returns ctx's error. A refused reload is logged (by
// Reload) and tried again only when the file changes again, so replace
// a plugin file by renaming a complete one over it: a half-written file
// is refused, and the next change tried. Watch fails at once if the
// plugin is not a file.
func (rl *Reloader) Watch(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("engine: watch: interval %v is not positive", interval)
	}
	rl.mu.Lock()
	path, last := rl.plugin.Path, rl.stat
	rl.mu.Unlock()
	if path == "" {
		return errors.New("engine: watch: the plugin is not a file")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		rl.mu.Lock()
		p, stat := rl.plugin, rl.stat
		rl.mu.Unlock()
		if p.Path != path {
			// Reloaded from another file (or a built-in) meanwhile:
			// watch what serves now.
			path, last = p.Path, stat
		}
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || sameFile(last, fi) {
			continue // a file being replaced may be missing for a moment
		}
		last = fi
		_, _ = rl.Reload(ctx, p)
	}
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Close closes the running module once its calls in flight return (until
// ctx is done), and waits for the modules being retired. Later calls and
// reloads fail with ErrClosed; a reload under way when Close is called
// closes the module it loaded. Close is idempotent.
func (rl *Reloader) Close(ctx context.Context) error {
	rl.mu.Lock()
	if rl.closed.Swap(true) {
		rl.mu.Unlock()
		return nil
	}
	g := rl.cur.Load()
	rl.mu.Unlock()
	g.retire()
	var err error
	select {
	case <-g.drained:
	case <-ctx.Done():
		err = fmt.Errorf("engine: close with calls in flight: %w", ctx.Err())
	}
	err = errors.Join(err, g.r.Close(ctx))
	done := make(chan struct{})
	go func() { rl.retiring.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("engine: close while modules retire: %w", ctx.Err()))
	}
	return err
}
