package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/resolve"
)

// TestHostileModulesRefused loads modules written to cost the host memory
// or time outside the linear memory limit: each is refused at load,
// before it is compiled or instantiated.
func TestHostileModulesRefused(t *testing.T) {
	tests := []struct {
		module   string
		wantText string
	}{
		{"tablegrow", "instruction 0xd0 is not allowed"},
		{"bigtable", "134217728 table entries, at most 65536"},
		{"globals", "1040 globals, at most 1024"},
		{"manyblocks", "2049 blocks in a function, at most 2048"},
	}
	rt := newRuntime(t, engine.Config{})
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			r, err := rt.Load(context.Background(), engine.Plugin{Path: testModule(tt.module)})
			require.Error(t, err)
			assert.Nil(t, r)
			assert.ErrorIs(t, err, engine.ErrInvalidModule)
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
}

// TestGzipBomb loads a 64 KB .wasm.gz that expands to a module of one
// 64 MiB function: it is refused for its size, before it is compiled.
func TestGzipBomb(t *testing.T) {
	var module bytes.Buffer
	module.WriteString("\x00asm\x01\x00\x00\x00")
	module.Write([]byte{1, 4, 1, 0x60, 0, 0}) // type section: () -> ()
	module.Write([]byte{3, 2, 1, 0})          // one function of type 0
	const bodySize = 64 << 20
	module.WriteByte(10) // code section
	module.Write(uleb5(1 + 5 + bodySize))
	module.WriteByte(1) // one body
	module.Write(uleb5(bodySize))
	module.WriteByte(0)                                  // no locals
	module.Write(bytes.Repeat([]byte{0x01}, bodySize-2)) // nop...
	module.WriteByte(0x0b)
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	require.NoError(t, err)
	_, err = zw.Write(module.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	t.Logf("%d bytes gzipped to %d", module.Len(), gz.Len())

	rt := newRuntime(t, engine.Config{NoCache: true})
	began := time.Now()
	_, err = rt.Load(context.Background(), engine.Plugin{Wasm: gz.Bytes()})
	t.Logf("refused in %v", time.Since(began))
	assert.ErrorIs(t, err, engine.ErrInvalidModule)
	assert.ErrorContains(t, err, "more than 16 MiB uncompressed")

	// Within the size cap, the function body cap refuses it.
	const smallBody = 4 << 20
	small := module.Bytes()[:8+6+4]
	small = append(small, 10)
	small = append(small, uleb5(1+5+smallBody)...)
	small = append(small, 1)
	small = append(small, uleb5(smallBody)...)
	small = append(small, 0)
	small = append(small, bytes.Repeat([]byte{0x01}, smallBody-2)...)
	small = append(small, 0x0b)
	_, err = rt.Load(context.Background(), engine.Plugin{Wasm: small})
	assert.ErrorIs(t, err, engine.ErrInvalidModule)
	assert.ErrorContains(t, err, "4194304 bytes in a function body, at most 524288")
}

// TestDeepRecursionLeavesNoStack recurses 1.5 million calls deep, which
// makes wazero grow a call stack of some 100 MiB, and checks that the
// idle instance does not keep it: the host's heap after the call is
// within a few MiB of before.
func TestDeepRecursionLeavesNoStack(t *testing.T) {
	// 1.5 M calls deep take a second alone, and many under -race on a
	// loaded machine: a generous CallTimeout, this test is about memory.
	rt := newRuntime(t, engine.Config{PoolSize: 1, CallTimeout: time.Minute})
	r := load(t, rt, engine.Plugin{Path: testModule("recurse")})
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range 3 {
		d, err := r.Resolve(ctx, conflictOn("fruits", 1))
		require.NoError(t, err)
		require.Equal(t, resolve.ActionAccept, d.Action)
	}
	after := heap()
	t.Logf("heap %.1f MiB before, %.1f MiB after 3 calls 1.5 M deep", mib(int64(before)), mib(int64(after)))
	assert.Less(t, int64(after)-int64(before), int64(8<<20), "an idle instance must not keep its deep stack")
	assert.Equal(t, uint64(1), r.Stats().InstancesStarted)
}

// TestOutputBudget floods the log from a plugin: one fd_write of a
// million lines, a million empty writes, and writes in a loop until the
// caller's deadline. Each call logs at most the budget's lines, then one
// notice, and the loop ends at its deadline.
func TestOutputBudget(t *testing.T) {
	var log syncbuf.Buffer
	rt := newRuntime(t, engine.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	r := load(t, rt, engine.Plugin{Path: testModule("flood")})
	ctx := context.Background()
	tests := []struct {
		db      string
		want    error
		records int // at most
	}{
		{"vast", nil, 64 + 1},
		{"zero", nil, 1},
		{"loop", engine.ErrTimeout, 64 + 1},
		{"fruits", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.db, func(t *testing.T) {
			before := len(log.String())
			// The loop runs until this deadline; the others end by
			// themselves, but may wait for an instance replacing the one
			// the loop lost, which takes long on a loaded machine.
			limit := 30 * time.Second
			if tt.want != nil {
				limit = time.Second
			}
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			_, err := r.Resolve(ctx, conflictOn(tt.db, 1))
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
			out := log.String()[before:]
			records := strings.Count(out, "\n")
			t.Logf("%d records, %d bytes of log", records, len(out))
			assert.LessOrEqual(t, records, tt.records)
			assert.LessOrEqual(t, len(out), 16<<10)
		})
	}
}

// uleb5 encodes n as an unsigned LEB128 in exactly 5 bytes.
func uleb5(n int) []byte {
	return []byte{byte(n) | 0x80, byte(n>>7) | 0x80, byte(n>>14) | 0x80, byte(n>>21) | 0x80, byte(n >> 28)}
}

// TestGuestTextIsClipped makes a plugin answer 4 MiB where a short text
// belongs (its name, its refusal of parameters, its action): the plugin
// is refused or its call fails, and no error quotes more than a few
// dozen bytes of it.
func TestGuestTextIsClipped(t *testing.T) {
	rt := newRuntime(t, engine.Config{})
	ctx := context.Background()
	_, err := rt.Load(ctx, engine.Plugin{Wasm: must(os.ReadFile(testModule("longname")))})
	require.ErrorIs(t, err, engine.ErrBadOutput)
	assert.Less(t, len(err.Error()), 300, err.Error())

	_, err = rt.Load(ctx, engine.Plugin{Path: testModule("verbose"), Params: json.RawMessage(`{"x":1}`)})
	require.ErrorIs(t, err, engine.ErrConfigure)
	assert.Less(t, len(err.Error()), 300, err.Error())

	r := load(t, rt, engine.Plugin{Path: testModule("verbose")})
	_, err = r.Resolve(ctx, conflictOn("fruits", 1))
	require.ErrorIs(t, err, resolve.ErrInvalidDecision)
	assert.Less(t, len(err.Error()), 300, err.Error())

	_, err = rt.Load(ctx, engine.Plugin{Path: testModule("accept"), Name: strings.Repeat("n", 4<<20)})
	require.ErrorIs(t, err, engine.ErrInvalidModule)
	assert.Less(t, len(err.Error()), 300)
	// A trap's stack trace names the module's own functions (longtrap's
	// has a 1,000-byte name): the error keeps the first line, clipped.
	trap := load(t, rt, engine.Plugin{Path: testModule("longtrap")})
	_, err = trap.Resolve(ctx, conflictOn("fruits", 1))
	require.ErrorIs(t, err, engine.ErrTrap)
	assert.Less(t, len(err.Error()), 300, err.Error())
	assert.NotContains(t, err.Error(), strings.Repeat("x", 100))
}

// firstZero yields 0 to its first reader and 1 to every later one.
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

// TestFailingPluginBacksOff calls a plugin whose calls all trap and whose
// replacement instances spin in _initialize until StartTimeout. After
// three failures in a row the resolver starts no more instances: later
// calls fail at once with ErrUnhealthy, and Health says so.
func TestFailingPluginBacksOff(t *testing.T) {
	rt := newRuntime(t, engine.Config{PoolSize: 1, StartTimeout: 200 * time.Millisecond, Rand: &firstZero{}, Logger: slog.New(slog.DiscardHandler)})
	r := load(t, rt, engine.Plugin{Path: testModule("spinstart")})
	ctx := context.Background()
	assert.True(t, r.Health().Healthy)
	var unhealthy int
	for range 20 {
		_, err := r.Resolve(ctx, conflictOn("fruits", 1))
		require.Error(t, err)
		if errors.Is(err, engine.ErrUnhealthy) {
			unhealthy++
		}
	}
	s := r.Stats()
	t.Logf("%d of 20 calls refused as unhealthy; %+v", unhealthy, s)
	assert.GreaterOrEqual(t, unhealthy, 17, "calls after the third failure fail at once")
	assert.LessOrEqual(t, s.StartFailures, uint64(2), "no instance is started while backed off")
	h := r.Health()
	assert.False(t, h.Healthy)
	assert.GreaterOrEqual(t, h.Failures, 3)
	assert.True(t, h.RetryAt.After(time.Now()))
	assert.Error(t, h.LastError)
}

// TestCallerDeadlineIsNoStrike: calls cut short by their caller's own
// deadline (shorter than CallTimeout) fail, but do not back the plugin
// off: only a plugin's own failures count against it.
func TestCallerDeadlineIsNoStrike(t *testing.T) {
	rt := newRuntime(t, engine.Config{CallTimeout: 10 * time.Second, PoolSize: 1})
	r := load(t, rt, engine.Plugin{Path: testModule("moody")})
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := r.Resolve(ctx, conflictOn("loop", 1)) // moody loops on "l"
		cancel()
		require.ErrorIs(t, err, engine.ErrTimeout)
		require.NotErrorIs(t, err, engine.ErrUnhealthy)
	}
	assert.True(t, r.Health().Healthy, "the caller's deadlines are not the plugin's failures: %+v", r.Health())
	d, err := r.Resolve(context.Background(), conflictOn("fruits", 1))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionAccept, d.Action)
}
