package pdktest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/plugins/pdk/pdktest"
	"github.com/accord-db/accord/resolve"
)

// wat assembles testdata/NAME.wat into a temporary file.
func wat(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Fatal("wat2wasm is missing: install Debian's wabt (make tools)")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	b, err := exec.Command("wat2wasm", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// repo is a path in the repository.
func repo(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", ".."}, elem...)...)
}

func TestStoreRules(t *testing.T) {
	theirs := []byte(`{"_id":"f1","_rev":"2-b","tastings":2}`)
	update := resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "f1", Attempt: 1, Theirs: theirs}
	del := update
	del.Op = resolve.OpDelete
	gone := update
	gone.Theirs = nil
	merge := resolve.Decision{Action: resolve.ActionMerge, Doc: []byte(`{"tastings":3}`)}
	three := resolve.Description{Name: "m", Needs: []resolve.Need{resolve.NeedBase, resolve.NeedMine, resolve.NeedTheirs}}
	mineOnly := resolve.Description{Name: "m", Needs: []resolve.Need{resolve.NeedMine}}
	tests := []struct {
		name string
		desc resolve.Description
		c    resolve.Conflict
		d    resolve.Decision
		want string // "" for no error
	}{
		{"three-way merge", three, update, merge, ""},
		{"merge without theirs", mineOnly, update, merge, `declare "theirs"`},
		{"merge of a resolver given everything", resolve.Description{Name: "m"}, update, merge, ""},
		{"merge answering a delete", three, del, merge, "cannot answer a conflicting delete"},
		{"merge over a deleted document", three, gone, merge, "deleted meanwhile"},
		{"retry without needs", mineOnly, update, resolve.Decision{Action: resolve.ActionRetry}, ""},
		{"invalid decision", three, update, resolve.Decision{Action: "panic"}, "unknown action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pdktest.StoreRules(tt.desc, &tt.c, tt.d)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, pdktest.ErrStoreRule)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestCheckNaiveMerge: a merge from a plugin that does not see theirs is
// caught in the author's test, even though the engine accepts it.
func TestCheckNaiveMerge(t *testing.T) {
	fixtures, err := pdktest.ReadFixtures(filepath.Join("testdata", "conflicts"))
	require.NoError(t, err)
	report, err := pdktest.Check(context.Background(), wat(t, "naive"), fixtures, pdktest.Options{Determinism: true})
	require.NoError(t, err)
	assert.Equal(t, "naive", report.Plugin.Name)
	problems := strings.Join(report.Problems(), "\n")
	assert.Contains(t, problems, `declare "theirs"`)
	assert.Contains(t, problems, `decided {"action":"merge","doc":{"tastings":9}}, want {"action":"merge","doc":{"_id":"f1","_rev":"2-b","tastings":10}}`)
	assert.NotContains(t, problems, "not deterministic")
}

// TestCheckDeterminism: a plugin that keeps state from call to call is
// caught by Options.Determinism, and only with it.
func TestCheckDeterminism(t *testing.T) {
	fixtures, err := pdktest.ReadFixtures(filepath.Join("testdata", "counter"))
	require.NoError(t, err)
	wasm := wat(t, "counter")
	report, err := pdktest.Check(context.Background(), wasm, fixtures, pdktest.Options{})
	require.NoError(t, err)
	assert.Empty(t, report.Problems())

	report, err = pdktest.Check(context.Background(), wasm, fixtures, pdktest.Options{Determinism: true})
	require.NoError(t, err)
	problems := report.Problems()
	require.Len(t, problems, 1)
	assert.Contains(t, problems[0], `counter.json case 1: not deterministic: decided {"action":"retry","delay_ms":1} after the cases before it, {"action":"retry"} alone on a fresh instance`)
}

// TestCheckBuiltins runs the repository's fixtures through the built-in
// plugins' modules (as files) and their native twins: no problem.
func TestCheckBuiltins(t *testing.T) {
	ctx := context.Background()
	// Determinism costs two more instances a case, a Go one slow to
	// start under the race detector: asretry checks it here.
	for _, name := range []string{"retry", "merge"} {
		t.Run(name, func(t *testing.T) {
			files, err := filepath.Glob(repo("testdata", "conflicts", name+"-*.json"))
			require.NoError(t, err)
			fixtures, err := pdktest.ReadFixtures(files...)
			require.NoError(t, err)
			report, err := pdktest.Check(ctx, repo("plugins", name, name+".wasm.gz"), fixtures, pdktest.Options{Twin: pdktest.BuiltinTwin})
			require.NoError(t, err)
			assert.Empty(t, report.Problems())
			assert.Len(t, report.Results, countCases(fixtures))
		})
	}
	t.Run("asretry", func(t *testing.T) {
		files, err := filepath.Glob(repo("testdata", "conflicts", "retry-*.json"))
		require.NoError(t, err)
		fixtures, err := pdktest.ReadFixtures(files...)
		require.NoError(t, err)
		report, err := pdktest.Check(ctx, repo("plugins", "asretry", "asretry.wasm"), fixtures, pdktest.Options{Twin: pdktest.BuiltinTwin, Determinism: true})
		require.NoError(t, err)
		assert.Empty(t, report.Problems())
	})
}

// TestCheckCatchesWrongWants: a fixture whose wanted decision is not the
// plugin's fails, naming the case.
func TestCheckCatchesWrongWants(t *testing.T) {
	data, err := os.ReadFile(repo("testdata", "conflicts", "retry-max3.json"))
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "wrong.json")
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(data), `"retry 3 of 3"`, `"retry 3 of 4"`, 1)), 0o644))
	fixtures, err := pdktest.ReadFixtures(file)
	require.NoError(t, err)
	report, err := pdktest.Check(context.Background(), repo("plugins", "retry", "retry.wasm.gz"), fixtures, pdktest.Options{Twin: pdktest.BuiltinTwin})
	require.NoError(t, err)
	problems := report.Problems()
	require.Len(t, problems, 1)
	assert.Contains(t, problems[0], `wrong.json case 0: decided {"action":"retry","reason":"retry 3 of 3"}, want {"action":"retry","reason":"retry 3 of 4"}`)
}

func TestReadFixturesRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	tests := []struct{ name, text, want string }{
		{"unknown field", `{"plugin":"x","cases":[],"extra":1}`, "unknown field"},
		{"no cases", `{"plugin":"x","cases":[]}`, "no cases"},
		{"invalid conflict", `{"plugin":"x","cases":[{"conflict":{"abi":2},"want":{}}]}`, "case 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pdktest.ReadFixtures(write(strings.ReplaceAll(tt.name, " ", "_")+".json", tt.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := pdktest.ReadFixtures(t.TempDir())
	assert.ErrorContains(t, err, "no fixture files")
}

func countCases(fs []pdktest.Fixture) int {
	n := 0
	for _, f := range fs {
		n += len(f.Cases)
	}
	return n
}
