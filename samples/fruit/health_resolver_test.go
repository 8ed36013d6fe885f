package fruit_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
	"github.com/accord-db/accord/samples/fruit"
)

// firstZero yields 0 to its first reader and 1 to every later one: the
// first instance of engine/testdata/spinstart starts, later ones spin.
type firstZero struct{ read atomic.Bool }

func (r *firstZero) Read(p []byte) (int, error) {
	b := byte(1)
	if !r.read.Swap(true) {
		b = 0
	}
	for i := range p {
		p[i] = b
	}
	return len(p), nil
}

// TestHealthResolverBackedOff checks that a quick health check reports a
// plugin that keeps failing (engine/testdata/spinstart: its calls trap,
// its replacements never start) as yellow, without its errors.
func TestHealthResolverBackedOff(t *testing.T) {
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{PoolSize: 1, StartTimeout: 200 * time.Millisecond, CallTimeout: 10 * time.Second,
		Rand: &firstZero{}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer rt.Close(ctx)
	r, err := rt.Load(ctx, engine.Plugin{Path: "../../engine/testdata/spinstart.wasm"})
	require.NoError(t, err)
	client, err := couch.New(couch.Config{URL: "http://127.0.0.1:1", Logger: discard})
	require.NoError(t, err)

	get := func() (int, map[string]any) {
		svc, err := fruit.New(fruit.Options{DB: client.DB("accord_sample"), Resolver: r, Logger: discard})
		require.NoError(t, err)
		srv := httptest.NewServer(svc)
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/v1.0/_health")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	code, body := get()
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "green", body["status"])

	c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 1}
	for range 5 {
		_, err := r.Resolve(ctx, c)
		require.Error(t, err)
	}
	require.False(t, r.Health().Healthy)
	code, body = get()
	assert.Equal(t, http.StatusOK, code, "the service still serves")
	assert.Equal(t, "yellow", body["status"])
	assert.Equal(t, "yellow", body["resolver"].(map[string]any)["status"])
	raw, _ := json.Marshal(body)
	assert.NotContains(t, string(raw), "unreachable", "the plugin's errors stay in the log")
}
