package fruit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteJSON checks that writeJSON, which encodes into pooled
// buffers, answers the bytes json.Marshal gives and a newline, whatever
// the answers before it were (a long one left in a buffer, a failed one).
func TestWriteJSON(t *testing.T) {
	long := make([]Fruit, 2000) // past the 64 KiB a pooled buffer keeps
	for i := range long {
		long[i] = Fruit{FruitID: strings.Repeat("a", 32), Color: "red"}
	}
	tests := []struct {
		name   string
		v      any
		status int
	}{
		{"fruit", Fruit{FruitID: "f", Color: "<&> \u2028", Tastings: 3, HasPIN: true}, http.StatusOK},
		{"long list", long, http.StatusOK},
		{"error", map[string]string{"error": "not_found", "reason": "no \"fruit\""}, http.StatusNotFound},
		{"after a long one", []Fruit{{FruitID: "x"}}, http.StatusOK},
		{"unencodable", map[string]any{"f": func() {}}, http.StatusInternalServerError},
		{"after a failed one", Fruit{FruitID: "y"}, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			status := tc.status
			if status == http.StatusInternalServerError {
				status = http.StatusOK // writeJSON finds out
			}
			writeJSON(w, status, tc.v)
			require.Equal(t, tc.status, w.Code)
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			want, err := json.Marshal(tc.v)
			if err != nil {
				want = []byte(`{"error":"internal","reason":"encoding the answer failed"}`)
			}
			assert.Equal(t, string(want)+"\n", w.Body.String())
		})
	}
}
