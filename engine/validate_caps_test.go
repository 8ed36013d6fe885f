package engine

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckBinaryCaps checks each cap on a hand-written module, with caps
// scaled down where the real ones would need a large module.
func TestCheckBinaryCaps(t *testing.T) {
	small := limits
	small.bodyBytes = 1024
	tests := []struct {
		module   string
		lim      moduleLimits
		wantText string // "" if accepted
	}{
		{"accept", limits, ""},
		{"moody", limits, ""},
		{"bigbody", limits, ""},
		{"bigbody", small, "1504 bytes in a function body, at most 1024"},
		{"bigtable", limits, "134217728 table entries, at most 65536"},
		{"globals", limits, "1040 globals, at most 1024"},
		{"imports", limits, ""},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join("testdata", tt.module+".wasm"))
			require.NoError(t, err)
			_, err = checkBinary(wasm, tt.lim)
			if tt.wantText == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, errLimit)
			assert.ErrorContains(t, err, tt.wantText)
		})
	}
}

// TestCheckBinaryMalformed feeds checkBinary cut and corrupted modules:
// it refuses them without panicking.
func TestCheckBinaryMalformed(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("testdata", "flood.wasm"))
	require.NoError(t, err)
	for n := range len(wasm) {
		if n > 8 {
			_, _ = checkBinary(wasm[:n], limits)
		}
		b := append([]byte(nil), wasm...)
		b[n] ^= 0xff
		_, _ = checkBinary(b, limits)
	}
	_, err = checkBinary([]byte("\x00asm\x01\x00\x00\x00\x0a\xff\xff\xff\xff\x0f"), limits)
	assert.ErrorContains(t, err, "runs past the end")
}

// FuzzCheckBinary checks that no input makes checkBinary panic.
func FuzzCheckBinary(f *testing.F) {
	for _, name := range []string{"accept", "flood", "globals", "bigtable"} {
		wasm, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
		require.NoError(f, err)
		f.Add(wasm)
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if _, err := checkBinary(wasm, limits); err != nil {
			return
		}
		// What checkBinary accepts, instrument instruments (see
		// interrupt.go), into a module checkBinary reads as well.
		out, err := instrument(wasm)
		require.NoError(t, err)
		_, err = checkBinary(out, unlimited)
		require.NoError(t, err)
	})
}

// unlimited are limits nothing exceeds.
var unlimited = moduleLimits{
	tableEntries: math.MaxUint32, globals: math.MaxUint32, elements: math.MaxUint32,
	functions: math.MaxUint32, bodyBytes: math.MaxUint32, locals: math.MaxUint32,
	blocks: math.MaxUint32, types: math.MaxUint32, imports: math.MaxUint32, exports: math.MaxUint32,
}
