package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeProfiles checks that -pprof serves Go's profiles on a
// loopback address, and only them, and refuses any address another
// machine could reach.
func TestServeProfiles(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	tests := []struct {
		addr string
		want error // nil: served
	}{
		{"127.0.0.1:0", nil},
		{"0.0.0.0:6060", errNotLoopback},
		{":6060", errNotLoopback},
		{"10.1.2.3:6060", errNotLoopback},
		{"localhost:6060", errNotLoopback},
		{"example.com:6060", errNotLoopback},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			at, stop, err := serveProfiles(tt.addr, discard)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			defer stop()
			for path, want := range map[string]int{"/debug/pprof/": http.StatusOK, "/v1.0/fruits": http.StatusNotFound} {
				resp, err := http.Get("http://" + at.String() + path)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				assert.Equal(t, want, resp.StatusCode, path)
			}
		})
	}
}
