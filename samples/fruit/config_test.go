package fruit_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/samples/fruit"
)

// TestHTTPServer checks the server bounds a config sets, and their
// defaults.
func TestHTTPServer(t *testing.T) {
	tests := []struct {
		name                      string
		yaml                      string
		header, read, write, idle time.Duration
		maxHeader                 int
	}{
		{"defaults", "", 10 * time.Second, 15 * time.Second, 40 * time.Second, 30 * time.Second, 64 << 10},
		{"write follows request_timeout", "request_timeout: 5s\n", 10 * time.Second, 15 * time.Second, 15 * time.Second, 30 * time.Second, 64 << 10},
		{"every field", "request_timeout: 5s\nserver:\n  read_header_timeout: 1s\n  read_timeout: 2s\n  write_timeout: 3s\n  idle_timeout: 4s\n  max_header_bytes: 4096\n  max_concurrent_requests: 8\n",
			time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o600))
			cfg, err := fruit.LoadConfig(path)
			require.NoError(t, err)
			srv := cfg.HTTPServer(http.NotFoundHandler())
			assert.Equal(t, tt.header, srv.ReadHeaderTimeout)
			assert.Equal(t, tt.read, srv.ReadTimeout)
			assert.Equal(t, tt.write, srv.WriteTimeout)
			assert.Equal(t, tt.idle, srv.IdleTimeout)
			assert.Equal(t, tt.maxHeader, srv.MaxHeaderBytes)
		})
	}
}

func TestServerConfigRefusesNegatives(t *testing.T) {
	for _, field := range []string{"read_header_timeout: -1s", "read_timeout: -1s", "write_timeout: -1s", "idle_timeout: -1s", "max_header_bytes: -1", "max_concurrent_requests: -1"} {
		path := filepath.Join(t.TempDir(), "config.yaml")
		require.NoError(t, os.WriteFile(path, []byte("server:\n  "+field+"\n"), 0o600))
		_, err := fruit.LoadConfig(path)
		assert.ErrorContains(t, err, "must not be negative", field)
	}
}

// TestSweepConfig checks the sweep section: off by default, its own
// resolver with a path relative to the config file, and bad values.
func TestSweepConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		interval   time.Duration
		plugin     string // "" for no sweep.resolver
		wantErr    string
	}{
		{name: "off by default", yaml: ""},
		{name: "interval", yaml: "sweep:\n  interval: 5s\n", interval: 5 * time.Second},
		{name: "own resolver", yaml: "sweep:\n  interval: 1m\n  resolver:\n    plugin: merge\n    params: {fields: {tastings: counter}}\n", interval: time.Minute, plugin: "merge"},
		{name: "plugin file beside the config", yaml: "sweep:\n  interval: 1m\n  resolver:\n    plugin: mine.wasm\n", interval: time.Minute, plugin: "DIR/mine.wasm"},
		{name: "negative interval", yaml: "sweep:\n  interval: -1s\n", wantErr: "sweep.interval must not be negative"},
		{name: "bad resolver", yaml: "sweep:\n  resolver:\n    plugin: mine.wasm\n    native: true\n", wantErr: "sweep.resolver.native"},
		{name: "unknown key", yaml: "sweep:\n  every: 1s\n", wantErr: "field every not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o600))
			cfg, err := fruit.LoadConfig(path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.interval, cfg.Sweep.Interval)
			if tt.plugin == "" {
				assert.Nil(t, cfg.Sweep.Resolver)
				return
			}
			require.NotNil(t, cfg.Sweep.Resolver)
			assert.Equal(t, strings.ReplaceAll(tt.plugin, "DIR", dir), cfg.Sweep.Resolver.Plugin)
		})
	}
}
