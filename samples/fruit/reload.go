package fruit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// ReloadConfig is the config file's reload section: how a running
// service replaces its resolver plugin. A service reloads on SIGHUP
// whatever this says (see samples/fruitsvc).
type ReloadConfig struct {
	// Watch, if positive, polls the plugin file at this interval and
	// reloads it when it changes (replace it by renaming a complete file
	// over it). Default 0: no polling.
	Watch time.Duration `yaml:"watch"`
	// Fixtures are conflict fixture files (the format of
	// testdata/conflicts), relative to the config file: every module
	// must decide them as they say before it serves, at start-up and at
	// each reload. Default none.
	Fixtures []string `yaml:"fixtures"`
}

// RecordConfig is the config file's record section: the flight
// recorder, which writes every conflict the plugin decides and its
// decision (JSON lines of engine.Record) for engine.Replay, `tools/resolver
// replay`, to try another resolver on. Off unless Path is set. It records
// plugins, not native twins.
type RecordConfig struct {
	// Path is the recording's file, relative to the config file.
	// Rotated files are Path.1, Path.2...
	Path string `yaml:"path"`
	// MaxMB is the size of a file past which it is rotated, in MiB.
	// Default 64.
	MaxMB int `yaml:"max_mb"`
	// Files is how many rotated files are kept. Default 3.
	Files int `yaml:"files"`
	// Redact records each document's field names only, none of its
	// values. Default false.
	Redact bool `yaml:"redact"`
}

// validateLive checks the reload and record sections.
func (c Config) validateLive() error {
	if c.Reload.Watch < 0 {
		return errors.New("reload.watch must not be negative")
	}
	if c.Record.MaxMB < 0 || c.Record.Files < 0 {
		return errors.New("record.max_mb and record.files must not be negative")
	}
	if c.Resolver.Native && (c.Reload.Watch > 0 || len(c.Reload.Fixtures) > 0 || c.Record.Path != "") {
		return errors.New("resolver.native: a native twin is not reloaded nor recorded; drop reload and record")
	}
	return nil
}

// relativeTo makes the reload and record sections' relative paths
// relative to dir, the config file's directory.
func (c *Config) relativeTo(dir string) {
	for i, f := range c.Reload.Fixtures {
		if !filepath.IsAbs(f) {
			c.Reload.Fixtures[i] = filepath.Join(dir, f)
		}
	}
	if p := c.Record.Path; p != "" && !filepath.IsAbs(p) {
		c.Record.Path = filepath.Join(dir, p)
	}
}

// LiveResolver is a service's resolver as its configuration opens it: a
// plugin that can be reloaded while the service runs, and its flight
// recorder, or a built-in's native twin, which is neither.
type LiveResolver struct {
	// Resolver is what to give the service (Options.Resolver): the
	// *engine.Reloader, or the native twin.
	Resolver resolve.Resolver
	// Reloader is the plugin; nil for a native twin.
	Reloader *engine.Reloader
	// Recorder is the flight recorder; nil unless record.path is set.
	Recorder *engine.Recorder

	rt    *engine.Runtime
	watch time.Duration
}

// OpenLive opens the resolver cfg configures: its resolver, reload and
// record sections. Close it when done.
func OpenLive(ctx context.Context, cfg Config, logger *slog.Logger) (*LiveResolver, error) {
	if err := cfg.validateLive(); err != nil {
		return nil, fmt.Errorf("fruit: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	rc := cfg.Resolver
	live := &LiveResolver{watch: cfg.Reload.Watch}
	if rc.Native {
		params, err := pluginParams(rc)
		if err != nil {
			return nil, err
		}
		if live.Resolver, err = nativeResolver(pluginName(rc), params); err != nil {
			return nil, err
		}
		return live, nil
	}
	var fixtures []engine.Fixture
	for _, path := range cfg.Reload.Fixtures {
		fx, err := engine.ReadFixture(path)
		if err != nil {
			return nil, fmt.Errorf("reload.fixtures: %w", err)
		}
		fixtures = append(fixtures, fx)
	}
	if rp := cfg.Record; rp.Path != "" {
		rec, err := engine.NewRecorder(engine.RecorderConfig{
			Path: rp.Path, MaxBytes: int64(rp.MaxMB) << 20, MaxFiles: rp.Files, Redact: rp.Redact, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		live.Recorder = rec
	}
	rt, err := engine.New(ctx, engine.Config{
		CallTimeout:    rc.Timeout,
		MemoryLimitMiB: rc.MemoryLimitMB,
		PoolSize:       rc.PoolSize,
		Logger:         logger,
		Recorder:       live.Recorder,
	})
	if err != nil {
		_ = live.closeRecorder()
		return nil, err
	}
	live.rt = rt
	p, err := pluginOf(rc)
	if err == nil {
		live.Reloader, err = rt.LoadReloadable(ctx, p, engine.ReloadConfig{Fixtures: fixtures})
	}
	if err != nil {
		_ = live.Close(ctx)
		return nil, builtinHint(err)
	}
	live.Resolver = live.Reloader
	return live, nil
}

// Reload loads the plugin rc configures in place of the running one (see
// engine.Reloader.Reload): rc's plugin, parameters and pin; its timeout,
// memory and pool settings take a restart. It reports whether the plugin
// was replaced.
func (l *LiveResolver) Reload(ctx context.Context, rc ResolverConfig) (bool, error) {
	if l.Reloader == nil {
		return false, errors.New("fruit: reload: a native twin is not reloaded; restart the service")
	}
	p, err := pluginOf(rc)
	if err != nil {
		return false, err
	}
	return l.Reloader.Reload(ctx, p)
}

// Watch polls the plugin file as the reload section says, until ctx is
// done; it returns at once if the section asks for no polling or the
// plugin is no file.
func (l *LiveResolver) Watch(ctx context.Context) {
	if l.Reloader == nil || l.watch <= 0 || l.Reloader.Plugin().Path == "" {
		return
	}
	_ = l.Reloader.Watch(ctx, l.watch)
}

// Close closes the plugin (its calls in flight return first) and the
// recorder.
func (l *LiveResolver) Close(ctx context.Context) error {
	var err error
	if l.Reloader != nil {
		err = l.Reloader.Close(ctx)
	}
	if l.rt != nil {
		err = errors.Join(err, l.rt.Close(ctx))
	}
	return errors.Join(err, l.closeRecorder())
}

func (l *LiveResolver) closeRecorder() error {
	if l.Recorder == nil {
		return nil
	}
	return l.Recorder.Close()
}
