package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/accord-db/accord/plugins"
)

// TestInstrument instruments every test module the engine accepts and
// every built-in plugin: wazero compiles what instrument makes, and the module has a check at the start of
// each function and each loop. (The engine's start fails on an
// instance without the flag.)
func TestInstrument(t *testing.T) {
	modules := map[string][]byte{}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	require.NoError(t, err)
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		require.NoError(t, err)
		modules[strings.TrimSuffix(filepath.Base(p), ".wasm")] = wasm
	}
	for _, name := range plugins.Names() {
		gz, err := plugins.Compressed(name)
		require.NoError(t, err)
		wasm, err := gunzip(gz)
		require.NoError(t, err)
		modules[name] = wasm
	}
	ctx := context.Background()
	w := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures))
	defer w.Close(ctx)
	var instrumented int
	for name, wasm := range modules {
		t.Run(name, func(t *testing.T) {
			shape, err := checkBinary(wasm, limits)
			if err != nil {
				t.Logf("refused before it is instrumented: %v", err)
				return
			}
			out, err := instrument(wasm)
			require.NoError(t, err)
			instrumented++
			after, err := checkBinary(out, unlimited)
			require.NoError(t, err)
			assert.Equal(t, shape.globals+2, after.globals)
			assert.Equal(t, shape.functions, after.functions)

			loops := 0
			countLoops(t, wasm, &loops)
			check := interruptCheck(uint32(shape.globals), uint32(shape.globals+1))
			assert.Equal(t, int(shape.functions)+loops, bytes.Count(out, check), "a check a function and a loop")

			m, err := w.CompileModule(ctx, out)
			if err != nil {
				// A module that wazero refuses anyway.
				_, plain := w.CompileModule(ctx, wasm)
				require.Error(t, plain, "instrumenting broke a module: %v", err)
				return
			}
			_ = m.Close(ctx)
		})
	}
	assert.Greater(t, instrumented, 10)
}

// countLoops counts the loop instructions of a module's code.
func countLoops(t *testing.T, wasm []byte, n *int) {
	r := &wasmReader{b: wasm, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		size := int(r.u32())
		require.NoError(t, r.err)
		if id != 10 {
			r.pos += size
			continue
		}
		sec := &wasmReader{b: r.b[:r.pos+size], pos: r.pos}
		r.pos += size
		for range sec.u32() {
			bodySize := int(sec.u32())
			body := &wasmReader{b: sec.b[:sec.pos+bodySize], pos: sec.pos}
			sec.pos += bodySize
			for range body.u32() {
				body.u32()
				body.byte()
			}
			var loops []int
			body.loops = &loops
			body.countBlocks(^uint64(0))
			require.NoError(t, body.err)
			*n += len(loops)
		}
	}
}

// TestInstrumentRefusesTheAddedGlobals checks that a module whose code
// names a global beyond its own is refused: once instrumented, that
// index would be the fuel or the flag, and a loop that refuels itself or
// clears its flag would never be stopped. wazero would refuse such a
// module, but only after instrument has made the index valid.
func TestInstrumentRefusesTheAddedGlobals(t *testing.T) {
	// module: type () -> (); one function: <op> <index>; end
	module := func(globals int, body ...byte) []byte {
		m := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0}
		if globals > 0 {
			sec := []byte{byte(globals)}
			for range globals {
				sec = append(sec, 0x7f, 0x01, 0x41, 0x00, 0x0b) // mutable i32 = 0
			}
			m = append(m, 6, byte(len(sec)))
			m = append(m, sec...)
		}
		code := append([]byte{0}, body...) // no locals
		code = append(code, 0x0b)
		m = append(m, 10, byte(len(code)+2), 1, byte(len(code)))
		return append(m, code...)
	}
	cases := []struct {
		name    string
		wasm    []byte
		refused bool
	}{
		{"its own global", module(1, 0x23, 0, 0x1a), false},
		{"set its own global", module(1, 0x41, 0, 0x24, 0), false},
		{"get the fuel", module(0, 0x23, 0, 0x1a), true},
		{"refuel", module(1, 0x41, 0x7f, 0x24, 1), true},
		{"clear the flag", module(1, 0x41, 0, 0x24, 2), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := instrument(tc.wasm)
			if tc.refused {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "does not exist")
				return
			}
			require.NoError(t, err)
			ctx := context.Background()
			w := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures))
			defer w.Close(ctx)
			_, err = w.CompileModule(ctx, out)
			require.Error(t, err, "compiles only with a memory for the checks' trips into Go")
			assert.Contains(t, err.Error(), "memory")
		})
	}
}
