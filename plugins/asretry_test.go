package plugins_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// asretryWasm is the AssemblyScript example plugin, built by
// tools/wasmbuild from plugins/asretry/index.ts.
var asretryWasm = filepath.Join("asretry", "asretry.wasm")

// TestConformanceAssemblyScript runs the retry fixtures of
// testdata/conflicts through asretry, the AssemblyScript twin of retry:
// it must decide as the Go plugin and the native strategy do.
func TestConformanceAssemblyScript(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "conflicts", "retry-*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, CallTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer rt.Close(ctx)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var f fixture
			require.NoError(t, json.Unmarshal(data, &f))
			require.Equal(t, "retry", f.Plugin)
			r, err := rt.Load(ctx, engine.Plugin{Path: asretryWasm, Params: f.Params})
			require.NoError(t, err)
			defer r.Close(ctx)
			for i, c := range f.Cases {
				got, err := r.Resolve(ctx, &c.Conflict)
				require.NoError(t, err)
				assert.Equal(t, c.Want, got, "case %d: asretry decided %+v, want %+v", i, got, c.Want)
			}
		})
	}
}

// TestAssemblyScriptPlugin checks what the AssemblyScript kit adds around
// a decision: its description, refused parameters, and ids that need
// quoting in a reason, against the native retry.
func TestAssemblyScriptPlugin(t *testing.T) {
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, CallTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer rt.Close(ctx)

	r, err := rt.Load(ctx, engine.Plugin{Path: asretryWasm, Params: []byte(`{"max_retries":2}`)})
	require.NoError(t, err)
	desc := r.Describe()
	assert.Equal(t, "asretry", desc.Name)
	assert.Equal(t, []resolve.Need{}, desc.Needs)

	twin := resolve.Retry(resolve.RetryParams{MaxRetries: 2})
	for _, id := range []string{"apple", `a "quoted" id`, `back\slash`, "tab\there", "new\nline", "\x01ctl\x7f", "pomme-é"} {
		for _, attempt := range []int{1, 2, 3} {
			c := &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: id, Attempt: attempt}
			want, err := twin.Resolve(ctx, c)
			require.NoError(t, err)
			got, err := r.Resolve(ctx, c)
			require.NoError(t, err)
			assert.Equal(t, want, got, "Resolve(%q, attempt %d)", id, attempt)
		}
	}

	tests := []struct {
		name, params, want string
	}{
		{"unknown field", `{"max_retry":1}`, `unknown field "max_retry"`},
		{"not an integer", `{"max_retries":"3"}`, "max_retries is not an integer"},
		{"too many", `{"max_retries":1001}`, "more than 1000"},
		{"not an object", `[1]`, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rt.Load(ctx, engine.Plugin{Path: asretryWasm, Params: []byte(tt.params)})
			require.ErrorIs(t, err, engine.ErrConfigure)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
