package engine

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGunzipSizeTrailer checks that gunzip reads what the stream holds
// whatever size its trailer claims (the trailer only sizes the buffer),
// and still refuses more than maxModuleBytes.
func TestGunzipSizeTrailer(t *testing.T) {
	gz := func(b []byte, claim func(uint32) uint32) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(b)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		out := buf.Bytes()
		tail := out[len(out)-4:]
		binary.LittleEndian.PutUint32(tail, claim(binary.LittleEndian.Uint32(tail)))
		return out
	}
	module := bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00"), 100_000)
	tests := []struct {
		name    string
		content []byte
		claim   func(uint32) uint32
		wantErr string
	}{
		{"true size", module, func(n uint32) uint32 { return n }, ""},
		{"claims nothing", module, func(uint32) uint32 { return 0 }, ""},
		{"claims less", module, func(n uint32) uint32 { return n / 3 }, ""},
		{"claims 4 GiB", module, func(uint32) uint32 { return 1<<32 - 1 }, ""},
		{"empty", nil, func(n uint32) uint32 { return n }, ""},
		{"too large, true size", make([]byte, maxModuleBytes+1), func(n uint32) uint32 { return n }, "uncompressed"},
		{"too large, claims little", make([]byte, maxModuleBytes+4096), func(uint32) uint32 { return 8 }, "uncompressed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The trailer's size is not what the stream held: gzip's
			// reader refuses it after the data; what is read before must
			// still be bounded.
			got, err := gunzip(gz(tt.content, tt.claim))
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.ErrorIs(t, err, ErrInvalidModule)
				return
			}
			if tt.name == "true size" || tt.name == "empty" {
				require.NoError(t, err)
				assert.Equal(t, len(tt.content), len(got))
				assert.True(t, bytes.Equal(tt.content, got))
				return
			}
			assert.ErrorIs(t, err, ErrInvalidModule, "a trailer that lies fails gzip's own check")
		})
	}
}
