package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

var update = flag.Bool("update", false, "rewrite the wanted decisions in testdata/conflicts from the native strategies")

// fixture is one file of testdata/conflicts: conflicts for one plugin,
// configured one way, and the decision each must produce.
type fixture struct {
	About  string          `json:"about"`
	Plugin string          `json:"plugin"`
	Params json.RawMessage `json:"params,omitempty"`
	// RandByte pins the random source: every byte it yields is this one,
	// for the wasm plugin (through WASI) and the native twin alike. A
	// constant source gives the same jitter however many random bytes
	// the guest's Go runtime consumed before.
	RandByte byte `json:"rand_byte"`
	Cases    []struct {
		Conflict resolve.Conflict `json:"conflict"`
		Want     resolve.Decision `json:"want"`
	} `json:"cases"`
}

// constReader fills every buffer with one byte.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// native returns the native twin of a built-in plugin.
func native(f *fixture) (resolve.Resolver, error) {
	switch f.Plugin {
	case "basic":
		return resolve.Basic(), nil
	case "retry":
		p, err := resolve.ParseRetryParams(f.Params)
		return resolve.Retry(p), err
	case "backoff":
		p, err := resolve.ParseBackoffParams(f.Params)
		return resolve.Backoff(p, constReader(f.RandByte)), err
	case "merge":
		p, err := resolve.ParseMergeParams(f.Params)
		return resolve.Merge(p), err
	}
	return nil, fmt.Errorf("no native twin for %q", f.Plugin)
}

// TestConformance runs every conflict of testdata/conflicts through the
// built-in wasm plugin and its native twin: both must produce the wanted
// decision.
func TestConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "conflicts", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ctx := context.Background()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var f fixture
			require.NoError(t, json.Unmarshal(data, &f))
			require.NotEmpty(t, f.Cases)

			twin, err := native(&f)
			require.NoError(t, err)
			// A long call timeout: under -race, with other test binaries
			// compiling on the same cores, a call may wait for a CPU.
			rt, err := engine.New(ctx, engine.Config{Deterministic: true, Rand: constReader(f.RandByte), CallTimeout: 10 * time.Second})
			require.NoError(t, err)
			defer rt.Close(ctx)
			wasm, err := rt.Load(ctx, engine.Plugin{Builtin: f.Plugin, Params: f.Params})
			require.NoError(t, err)

			for i := range f.Cases {
				c := &f.Cases[i]
				if c.Want.Doc != nil {
					// A merged document is compared byte for byte,
					// compact, as the resolver writes it.
					var b bytes.Buffer
					require.NoError(t, json.Compact(&b, c.Want.Doc))
					c.Want.Doc = b.Bytes()
				}
				nd, err := twin.Resolve(ctx, &c.Conflict)
				require.NoError(t, err)
				if *update {
					c.Want = nd
				}
				wd, err := wasm.Resolve(ctx, &c.Conflict)
				require.NoError(t, err)
				assert.Equal(t, c.Want, nd, "case %d: native %s decided %+v, want %+v", i, f.Plugin, nd, c.Want)
				assert.Equal(t, c.Want, wd, "case %d: wasm %s decided %+v, want %+v", i, f.Plugin, wd, c.Want)
			}
			if *update {
				out, err := json.MarshalIndent(&f, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(file, append(out, '\n'), 0o644))
			}
		})
	}
}
