package fruit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// Config is a sample's configuration file (samples/NAME/config.yaml). The
// zero value is valid: each field documents its default.
type Config struct {
	// Database is the database URL, its name as the last path element:
	// http://127.0.0.1:5984/accord_sample (the default). Credentials may
	// be in it, or in COUCHDB_USER and COUCHDB_PASSWORD.
	Database string `yaml:"database"`
	// Listen is where the service listens.
	Listen struct {
		// IP defaults to 127.0.0.1.
		IP string `yaml:"ip"`
		// Port defaults to 8445.
		Port int `yaml:"port"`
	} `yaml:"listen"`
	// Log is the log level: debug, info (the default), warn or error.
	Log string `yaml:"log"`
	// RequestTimeout bounds one request's database work. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxAttempts caps one request's writes. Default 100.
	MaxAttempts int `yaml:"max_attempts"`
	// Resolver picks the conflict resolver.
	Resolver ResolverConfig `yaml:"resolver"`
	// Writes says how the service writes a fruit's changes.
	Writes WritesConfig `yaml:"writes"`
	// Server bounds what a client can hold of the service: time to send
	// a request, connections left idle, requests at once.
	Server ServerConfig `yaml:"server"`
	// Tamper turns on signing and verification (sealing.go).
	Tamper TamperConfig `yaml:"tamper"`
	// Secure turns on the sensitive properties (sealing.go).
	Secure SecureConfig `yaml:"secure"`
	// Sweep turns on the replication-conflict sweeper.
	Sweep SweepConfig `yaml:"sweep"`
	// Reload says how the running service replaces its plugin.
	Reload ReloadConfig `yaml:"reload"`
	// Record configures the flight recorder.
	Record RecordConfig `yaml:"record"`
}

// ServerConfig bounds the HTTP server's connections and requests. Every
// zero field takes its default; see [Config.HTTPServer].
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included, from
	// its first byte: a body trickled a byte at a time is cut off with
	// 408. Default 15s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its answer; past it the connection is closed. Default
	// request_timeout + 10s (40s), so that it never cuts off an answer
	// request_timeout allows.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sent no new
	// request for this long. Default 30s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps a request's headers (request line included).
	// Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConcurrentRequests caps the requests served at once; beyond it
	// the service answers 503 at once (see
	// [Options.MaxConcurrentRequests]). Default 256.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
}

// WritesConfig turns on write coalescing ([Options.Coalesce]).
type WritesConfig struct {
	// Coalesce writes the changes of one fruit that arrive while a
	// write of it is in flight together, in its next write, each decided
	// by the resolver as the conflict it would have been. Default false.
	Coalesce bool `yaml:"coalesce"`
	// MaxBatch caps the changes one write carries. Default 32.
	MaxBatch int `yaml:"max_batch"`
}

// Defaults of [ServerConfig].
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	// DefaultRequestTimeout is the default of Config.RequestTimeout and
	// Options.RequestTimeout.
	DefaultRequestTimeout = 30 * time.Second
)

// HTTPServer returns the server for handler, with c.Server's bounds (or
// their defaults). The caller sets its address or calls Serve.
func (c Config) HTTPServer(handler http.Handler) *http.Server {
	sc := c.Server
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	request := or(c.RequestTimeout, DefaultRequestTimeout)
	maxHeader := sc.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: or(sc.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(sc.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(sc.WriteTimeout, request+10*time.Second),
		IdleTimeout:       or(sc.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    maxHeader,
	}
}

// ResolverConfig picks and configures the conflict resolver.
type ResolverConfig struct {
	// Plugin is a built-in plugin's name (basic, retry, backoff, merge) or the
	// path of a .wasm or .wasm.gz file, relative to the config file.
	// Default basic.
	Plugin string `yaml:"plugin"`
	// Params are the plugin's parameters.
	Params map[string]any `yaml:"params"`
	// SHA256 pins a plugin file: the hex SHA-256 of its bytes.
	SHA256 string `yaml:"sha256"`
	// Timeout bounds one decision. Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
	// MemoryLimitMB caps each instance's memory. Default 32.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
	// PoolSize caps the instances, hence concurrent decisions. Default
	// GOMAXPROCS.
	PoolSize int `yaml:"pool_size"`
	// Trust says whether calls are interrupted at their deadline:
	// "untrusted" (always), "trusted" (never: faster, for plugins you
	// built and reviewed) or "" for the engine's default, which trusts
	// the built-ins and nothing else.
	Trust string `yaml:"trust"`
	// Native runs a built-in's native Go twin instead of its WebAssembly
	// build: the baseline for comparisons. Default false.
	Native bool `yaml:"native"`
}

// DefaultDatabase is the database a zero Config uses.
const DefaultDatabase = "http://127.0.0.1:5984/accord_sample"

// LoadConfig reads a config file. Unknown keys are an error, so a typo
// does not go unnoticed. A relative plugin path is made relative to the
// file's directory.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("fruit: config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return Config{}, fmt.Errorf("fruit: config %s: %w", path, err)
	}
	for _, rc := range []*ResolverConfig{&c.Resolver, c.Sweep.Resolver} {
		if rc != nil && isPath(rc.Plugin) && !filepath.IsAbs(rc.Plugin) {
			rc.Plugin = filepath.Join(filepath.Dir(path), rc.Plugin)
		}
	}
	c.relativeTo(filepath.Dir(path))
	c.relativeKeyFiles(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("fruit: config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks the values a zero default cannot fix.
func (c Config) Validate() error {
	switch strings.ToLower(c.Log) {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log %q is not debug, info, warn or error", c.Log)
	}
	if c.Listen.Port < 0 || c.Listen.Port > 65535 {
		return fmt.Errorf("listen.port %d is not a port", c.Listen.Port)
	}
	sc := c.Server
	if sc.ReadHeaderTimeout < 0 || sc.ReadTimeout < 0 || sc.WriteTimeout < 0 || sc.IdleTimeout < 0 ||
		sc.MaxHeaderBytes < 0 || sc.MaxConcurrentRequests < 0 || c.RequestTimeout < 0 {
		return errors.New("request_timeout and the server's timeouts and limits must not be negative")
	}
	if c.Writes.MaxBatch < 0 {
		return fmt.Errorf("writes.max_batch %d must not be negative", c.Writes.MaxBatch)
	}
	if err := c.Resolver.validate("resolver"); err != nil {
		return err
	}
	if err := c.Sweep.validate(); err != nil {
		return err
	}
	if err := c.validateLive(); err != nil {
		return err
	}
	return c.validateSealing()
}

// validate checks a resolver section, named name in errors.
func (r ResolverConfig) validate(name string) error {
	if r.Native && isPath(r.Plugin) {
		return fmt.Errorf("%s.native: %q is a file; only built-ins have native twins", name, r.Plugin)
	}
	if _, err := trustOf(r.Trust); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if r.Timeout < 0 || r.MemoryLimitMB < 0 || r.PoolSize < 0 {
		return fmt.Errorf("%s: timeout, memory_limit_mb and pool_size must not be negative", name)
	}
	return nil
}

// LogLevel returns the configured level.
func (c Config) LogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Log))
	return l
}

func isPath(plugin string) bool {
	return strings.ContainsRune(plugin, filepath.Separator) || strings.HasSuffix(plugin, ".wasm") || strings.HasSuffix(plugin, ".gz")
}

// OpenResolver loads the resolver rc names: a WebAssembly plugin in its
// own engine (an *engine.Reloader, see [OpenLive]), or a built-in's native
// twin. close releases it.
func OpenResolver(ctx context.Context, rc ResolverConfig, logger *slog.Logger) (r resolve.Resolver, close func(context.Context) error, err error) {
	live, err := OpenLive(ctx, Config{Resolver: rc}, logger)
	if err != nil {
		return nil, nil, err
	}
	return live.Resolver, live.Close, nil
}

// pluginName is the plugin rc names, basic by default.
func pluginName(rc ResolverConfig) string {
	if rc.Plugin == "" {
		return "basic"
	}
	return rc.Plugin
}

// pluginParams are rc's parameters as JSON, nil if it has none.
func pluginParams(rc ResolverConfig) ([]byte, error) {
	if rc.Params == nil {
		return nil, nil
	}
	params, err := json.Marshal(rc.Params)
	if err != nil {
		return nil, fmt.Errorf("resolver params: %w", err)
	}
	return params, nil
}

// pluginOf is the engine's Plugin for rc.
func pluginOf(rc ResolverConfig) (engine.Plugin, error) {
	params, err := pluginParams(rc)
	if err != nil {
		return engine.Plugin{}, err
	}
	trust, err := trustOf(rc.Trust)
	if err != nil {
		return engine.Plugin{}, err
	}
	p := engine.Plugin{Params: params, SHA256: rc.SHA256, Trust: trust}
	if name := pluginName(rc); isPath(name) {
		p.Path = name
	} else {
		p.Builtin = name
	}
	return p, nil
}

// builtinHint adds the built-ins' names to an unknown built-in's error.
func builtinHint(err error) error {
	if errors.Is(err, engine.ErrUnknownBuiltin) {
		return fmt.Errorf("%w (built-ins: %s; or give a path to a .wasm file)", err, strings.Join(plugins.Names(), ", "))
	}
	return err
}

func trustOf(s string) (engine.Trust, error) {
	switch s {
	case "":
		return engine.TrustDefault, nil
	case "trusted":
		return engine.Trusted, nil
	case "untrusted":
		return engine.Untrusted, nil
	}
	return 0, fmt.Errorf("trust %q is not trusted or untrusted", s)
}

// nativeResolver returns a built-in's native Go twin.
func nativeResolver(name string, params []byte) (resolve.Resolver, error) {
	switch name {
	case "basic":
		if len(bytes.TrimSpace(params)) > 0 && string(params) != "{}" {
			return nil, errors.New("basic takes no params")
		}
		return resolve.Basic(), nil
	case "retry":
		p, err := resolve.ParseRetryParams(params)
		if err != nil {
			return nil, err
		}
		return resolve.Retry(p), nil
	case "backoff":
		p, err := resolve.ParseBackoffParams(params)
		if err != nil {
			return nil, err
		}
		return resolve.Backoff(p, nil), nil
	case "merge":
		p, err := resolve.ParseMergeParams(params)
		if err != nil {
			return nil, err
		}
		return resolve.Merge(p), nil
	}
	return nil, fmt.Errorf("no native twin for %q (native ones: basic, retry, backoff, merge)", name)
}
