package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/resolve"
)

// place writes data to path as a deployment would: a complete file
// renamed over the old one.
func place(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// TestReload replaces a plugin file under a reloader: each valid module
// serves from the reload on, with its hash; every invalid one is refused
// with the matching error and a log line while the old one serves on.
func TestReload(t *testing.T) {
	ctx := context.Background()
	var log syncbuf.Buffer
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	accept := must(os.ReadFile(testModule("accept")))
	parrot := must(os.ReadFile(testModule("parrot")))
	path := filepath.Join(t.TempDir(), "resolver.wasm")
	place(t, path, accept)
	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path}, engine.ReloadConfig{})
	require.NoError(t, err)
	require.Equal(t, sha256Hex(accept), rl.SHA256())
	decide := func() resolve.Action {
		t.Helper()
		d, err := rl.Resolve(ctx, conflictOn("fruits", 1))
		require.NoError(t, err)
		return d.Action
	}
	require.Equal(t, resolve.ActionAccept, decide())

	// The same module compressed: another hash, the same name and needs.
	place(t, path, gz(t, accept))
	replaced, err := rl.Reload(ctx, rl.Plugin())
	require.NoError(t, err)
	assert.True(t, replaced)
	assert.Equal(t, sha256Hex(gz(t, accept)), rl.SHA256())
	replaced, err = rl.Reload(ctx, rl.Plugin())
	require.NoError(t, err)
	assert.False(t, replaced, "the same bytes and parameters again: nothing to replace")

	refused := []struct {
		name   string
		module []byte
		plugin func(engine.Plugin) engine.Plugin
		want   error
	}{
		{"truncated", accept[:len(accept)/2], nil, engine.ErrInvalidModule},
		{"no accord_resolve", must(os.ReadFile(testModule("noresolve"))), nil, engine.ErrMissingExport},
		{"pinned to another module", accept, func(p engine.Plugin) engine.Plugin { p.SHA256 = sha256Hex(parrot); return p }, engine.ErrHashMismatch},
		{"refuses its parameters", accept, func(p engine.Plugin) engine.Plugin { p.Params = []byte(`{"x":1}`); return p }, engine.ErrConfigure},
		{"another name", accept, func(p engine.Plugin) engine.Plugin { p.Name = "other"; return p }, engine.ErrIncompatible},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := rl.SHA256()
			place(t, path, tt.module)
			p := rl.Plugin()
			if tt.plugin != nil {
				p = tt.plugin(p)
			}
			replaced, err := rl.Reload(ctx, p)
			require.ErrorIs(t, err, tt.want)
			assert.False(t, replaced)
			assert.Equal(t, before, rl.SHA256(), "the old module is still active")
			assert.Equal(t, resolve.ActionAccept, decide(), "and serves")
			assert.Contains(t, log.String(), "engine: reload refused")
		})
	}

	// A module that describes itself with another name is refused;
	// loaded on its own, one module serves what its parameters say.
	place(t, path, parrot)
	p := rl.Plugin()
	p.Params = []byte(`{"action":"fail","reason":"parrot"}`)
	_, err = rl.Reload(ctx, p)
	require.ErrorIs(t, err, engine.ErrIncompatible, "parrot describes itself as parrot")
	assert.Equal(t, engine.ReloadStats{Reloads: 1, Refusals: uint64(len(refused)) + 1}, rl.ReloadStats())
	assert.Contains(t, log.String(), "engine: reloaded plugin")
	// One call on the first module, the others on the second; the first
	// one's counters join the sum once it is closed, in the background.
	assert.Eventually(t, func() bool { return rl.Stats().Calls == uint64(len(refused)+1) }, 10*time.Second, time.Millisecond,
		"counters add up over the modules: %+v", rl.Stats())

	pr, err := rt.LoadReloadable(ctx, p, engine.ReloadConfig{})
	require.NoError(t, err)
	defer pr.Close(ctx)
	d, err := pr.Resolve(ctx, conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionFail, d.Action)
	p.Params = []byte(`{"action":"retry","delay_ms":3}`)
	replaced, err = pr.Reload(ctx, p)
	require.NoError(t, err)
	assert.True(t, replaced, "the same module with other parameters")
	d, err = pr.Resolve(ctx, conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionRetry, d.Action)

	require.NoError(t, rl.Close(ctx))
	_, err = rl.Resolve(ctx, conflictOn("fruits", 1))
	assert.ErrorIs(t, err, engine.ErrClosed)
	_, err = rl.Reload(ctx, p)
	assert.ErrorIs(t, err, engine.ErrClosed)
}

// TestReloadPinned reloads a pinned plugin file: a changed file is refused
// for its pin, and served once the pin names it.
func TestReloadPinned(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.DiscardHandler)})
	accept := must(os.ReadFile(testModule("accept")))
	path := filepath.Join(t.TempDir(), "resolver.wasm")
	place(t, path, accept)
	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path, SHA256: sha256Hex(accept)}, engine.ReloadConfig{})
	require.NoError(t, err)
	defer rl.Close(ctx)

	next := gz(t, accept)
	place(t, path, next)
	_, err = rl.Reload(ctx, rl.Plugin())
	require.ErrorIs(t, err, engine.ErrHashMismatch, "the file changed under its pin")
	assert.Equal(t, sha256Hex(accept), rl.SHA256())

	p := rl.Plugin()
	p.SHA256 = sha256Hex(next)
	replaced, err := rl.Reload(ctx, p)
	require.NoError(t, err)
	assert.True(t, replaced, "the new pin names the new file")
	assert.Equal(t, sha256Hex(next), rl.SHA256())
}

// TestReloadFixtures checks modules against fixtures: one that decides
// otherwise is refused at load and at reload.
func TestReloadFixtures(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.DiscardHandler)})
	fixture := filepath.Join(t.TempDir(), "accepts.json")
	require.NoError(t, os.WriteFile(fixture, []byte(`{"about":"accepts","cases":[
		{"conflict":{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":1},
		 "want":{"action":"accept","reason":"ours is older"}}]}`), 0o600))
	fx, err := engine.ReadFixture(fixture)
	require.NoError(t, err)
	cfg := engine.ReloadConfig{Fixtures: []engine.Fixture{fx}}
	path := filepath.Join(t.TempDir(), "resolver.wasm")

	parrot := must(os.ReadFile(testModule("parrot")))
	place(t, path, parrot)
	_, err = rt.LoadReloadable(ctx, engine.Plugin{Path: path, Params: []byte(`{"action":"fail"}`)}, cfg)
	require.ErrorIs(t, err, engine.ErrFixture, "the first module is checked too")

	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path, Params: []byte(`{"action":"accept","reason":"ours is older"}`)}, cfg)
	require.NoError(t, err)
	defer rl.Close(ctx)

	place(t, path, gz(t, parrot))
	p := rl.Plugin()
	p.Params = []byte(`{"action":"accept","reason":"another reason"}`)
	_, err = rl.Reload(ctx, p)
	require.ErrorIs(t, err, engine.ErrFixture)
	assert.Equal(t, sha256Hex(parrot), rl.SHA256())
	p.Params = []byte(`{"action":"accept","reason":"ours is older"}`)
	replaced, err := rl.Reload(ctx, p)
	require.NoError(t, err)
	assert.True(t, replaced, "a module that passes the fixture")
	assert.Equal(t, sha256Hex(gz(t, parrot)), rl.SHA256())
}

// TestReloadUnderLoad reloads, again and again, while 8 goroutines call:
// no call fails, not those that race a swap, and each call is answered by
// the module that was active when it began or a later one.
func TestReloadUnderLoad(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.DiscardHandler), PoolSize: 2})
	path := filepath.Join(t.TempDir(), "resolver.wasm")
	place(t, path, must(os.ReadFile(testModule("parrot"))))
	params := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"action":"retry","delay_ms":%d}`, i))
	}
	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path, Params: params(0)}, engine.ReloadConfig{})
	require.NoError(t, err)
	defer rl.Close(ctx)

	var version atomic.Int64 // the delay the last finished reload answers
	var calls, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := version.Load()
				d, err := rl.Resolve(ctx, conflictOn("fruits", 1))
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("call during reloads: %v", err)
					return
				}
				if d.DelayMS < floor {
					t.Errorf("a call that began after reload %d was answered by module %d", floor, d.DelayMS)
				}
			}
		})
	}
	const reloads = 20
	for i := 1; i <= reloads; i++ {
		p := rl.Plugin()
		p.Params = params(i)
		replaced, err := rl.Reload(ctx, p)
		require.NoError(t, err)
		require.True(t, replaced)
		version.Store(int64(i))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls during %d reloads, %d failed", calls.Load(), reloads, failed.Load())
	assert.Zero(t, failed.Load())
	assert.Equal(t, uint64(reloads), rl.ReloadStats().Reloads)
	require.NoError(t, rl.Close(ctx))
	// Every retired module was closed: only the runtime's own remain.
	st := rl.Stats()
	assert.Equal(t, st.InstancesStarted, st.InstancesDiscarded+uint64(st.Instances), "%+v", st)
}

// TestWatch replaces the plugin file under Watch: the new module serves.
func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.DiscardHandler)})
	accept := must(os.ReadFile(testModule("accept")))
	path := filepath.Join(t.TempDir(), "resolver.wasm")
	place(t, path, accept)
	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path}, engine.ReloadConfig{})
	require.NoError(t, err)
	defer rl.Close(context.Background())
	done := make(chan error, 1)
	go func() { done <- rl.Watch(ctx, 10*time.Millisecond) }()

	next := gz(t, accept)
	place(t, path, next)
	require.Eventually(t, func() bool { return rl.SHA256() == sha256Hex(next) }, 30*time.Second, 10*time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)

	builtin, err := rt.LoadReloadable(context.Background(), engine.Plugin{Builtin: "basic"}, engine.ReloadConfig{})
	require.NoError(t, err)
	assert.Error(t, builtin.Watch(context.Background(), time.Second), "a built-in is no file to watch")
}

// gate is a slog.Handler that holds the goroutine logging a record with
// its message until released, and says when one came.
type gate struct {
	msg      string
	came     chan struct{}
	once     sync.Once
	released chan struct{}
}

func (g *gate) Enabled(context.Context, slog.Level) bool { return true }
func (g *gate) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *gate) WithGroup(string) slog.Handler            { return g }
func (g *gate) Handle(_ context.Context, r slog.Record) error {
	if r.Message == g.msg {
		g.once.Do(func() { close(g.came) })
		<-g.released
	}
	return nil
}

// TestReloadDoesNotBlock holds a reload in the middle of its fixture
// check (the new module's output is logged, and the log holds it): the
// running module serves, and its hash, plugin and counters answer.
func TestReloadDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	g := &gate{msg: "hello from the guest", came: make(chan struct{}), released: make(chan struct{})}
	rt := newRuntime(t, engine.Config{Logger: slog.New(g)})
	fixture := filepath.Join(t.TempDir(), "accepts.json")
	require.NoError(t, os.WriteFile(fixture, []byte(`{"cases":[
		{"conflict":{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":1},"want":{"action":"accept"}}]}`), 0o600))
	fx, err := engine.ReadFixture(fixture)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "resolver.wasm")
	accept := must(os.ReadFile(testModule("accept")))
	place(t, path, accept)
	_, err = rt.LoadReloadable(ctx, engine.Plugin{Path: path}, engine.ReloadConfig{Fixtures: []engine.Fixture{fx}})
	require.ErrorIs(t, err, engine.ErrFixture, "accept gives a reason the fixture does not want")
	fx.Cases[0].Want.Reason = "ours is older"
	rl, err := rt.LoadReloadable(ctx, engine.Plugin{Path: path}, engine.ReloadConfig{Fixtures: []engine.Fixture{fx}})
	require.NoError(t, err)
	defer rl.Close(ctx)

	hello := must(os.ReadFile(testModule("hello")))
	place(t, path, hello)
	reloaded := make(chan error, 1)
	go func() { _, err := rl.Reload(ctx, rl.Plugin()); reloaded <- err }()
	<-g.came // the reload is checking the fixture, and holds there

	answered := make(chan struct{})
	go func() {
		defer close(answered)
		d, err := rl.Resolve(ctx, conflictOn("fruits", 1))
		assert.NoError(t, err)
		assert.Equal(t, resolve.ActionAccept, d.Action)
		assert.Equal(t, sha256Hex(accept), rl.SHA256())
		assert.Equal(t, path, rl.Plugin().Path)
		assert.Positive(t, rl.Stats().Calls)
		assert.True(t, rl.Health().Healthy)
	}()
	select {
	case <-answered:
	case <-time.After(time.Minute):
		t.Fatal("the running module did not answer while a reload was under way")
	}
	select {
	case err := <-reloaded:
		t.Fatalf("the reload ended (%v) while its fixture check was held", err)
	default:
	}
	close(g.released)
	require.ErrorIs(t, <-reloaded, engine.ErrFixture, "hello answers no reason")
	assert.Equal(t, sha256Hex(accept), rl.SHA256())
}
