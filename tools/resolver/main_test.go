package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/resolve"
)

func TestMain(m *testing.M) { os.Exit(couchtest.MainLazy(m)) }

func runTool(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// repo is a path in the repository.
func repo(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := couchtest.Root()
	require.NoError(t, err)
	return filepath.Join(append([]string{root}, elem...)...)
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage: resolver COMMAND"},
		{[]string{"help"}, exitOK, "resolver replay -from"},
		{[]string{"nonesuch"}, exitUsage, `unknown command "nonesuch"`},
		{[]string{"describe"}, exitUsage, "usage: resolver describe FILE.wasm"},
		{[]string{"new", "-lang", "cobol", "x"}, exitFail, `-lang "cobol"`},
		{[]string{"new", "Bad_Name"}, exitFail, `name "Bad_Name"`},
		{[]string{"replay", "x.wasm"}, exitUsage, "usage: resolver replay"},
		{[]string{"build", t.TempDir()}, exitFail, "not a plugin"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runTool(tt.args...)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		file string
		code int
		want []string
	}{
		{repo(t, "plugins", "asretry", "asretry.wasm"), exitOK, []string{"imports: none", "name:    asretry", "needs:   nothing", "abi:     1, loads in this host"}},
		{repo(t, "plugins", "merge", "merge.wasm.gz"), exitOK, []string{"_initialize (func)", "needs:   base, mine, theirs", "wasi_snapshot_preview1.fd_write"}},
		{repo(t, "engine", "testdata", "accept.wasm"), exitOK, []string{"needs:   (no accord_describe"}},
		{repo(t, "engine", "testdata", "command.wasm"), exitFail, []string{"exports _start but no _initialize", "-buildmode=c-shared"}},
		{repo(t, "engine", "testdata", "abi2.wasm"), exitFail, []string{"unsupported ABI version"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			code, stdout, stderr := runTool("describe", tt.file)
			assert.Equal(t, tt.code, code, stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
		})
	}
}

func TestTestCommand(t *testing.T) {
	code, stdout, stderr := runTool("test", "-twin", repo(t, "plugins", "backoff", "backoff.wasm.gz"),
		repo(t, "testdata", "conflicts", "backoff-full.json"), repo(t, "testdata", "conflicts", "backoff-params.json"))
	require.Equal(t, exitOK, code, stdout+stderr)
	assert.Contains(t, stdout, " 0 failed")

	// The retry fixtures through basic: every decision differs.
	code, stdout, stderr = runTool("test", repo(t, "plugins", "basic", "basic.wasm.gz"), repo(t, "testdata", "conflicts", "retry-default.json"))
	assert.Equal(t, exitFail, code, stderr)
	assert.Contains(t, stdout, "FAIL ")
	assert.Contains(t, stdout, `want {"action":"retry","reason":"retry 1 of 20"}`)
	assert.Contains(t, stdout, "0 passed, 3 failed")

	// A plugin that refuses the fixture's parameters cannot be tested.
	code, _, stderr = runTool("test", repo(t, "plugins", "basic", "basic.wasm.gz"), repo(t, "testdata", "conflicts", "retry-max3.json"))
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, "basic takes no parameters")
}

// TestReplay replays a recording of backoff decisions through basic and
// through backoff itself.
func TestReplay(t *testing.T) {
	var rec bytes.Buffer
	backoff := resolve.Backoff(resolve.BackoffParams{MaxRetries: 2}, constReader(7))
	for i, attempt := range []int{1, 2, 3, 1} {
		c := &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: fmt.Sprintf("f%d", i), Attempt: attempt}
		d, err := backoff.Resolve(context.Background(), c)
		require.NoError(t, err)
		line, err := json.Marshal(engine.Record{Time: time.Unix(0, 0).UTC(), Resolver: "backoff", Conflict: c, Decision: &d})
		require.NoError(t, err)
		rec.Write(append(line, '\n'))
	}
	rec.WriteString("not json\n")
	file := filepath.Join(t.TempDir(), "rec.jsonl")
	require.NoError(t, os.WriteFile(file, rec.Bytes(), 0o644))

	code, stdout, stderr := runTool("replay", "-from", file, "basic")
	assert.Equal(t, exitFail, code, stderr)
	assert.Contains(t, stdout, "5 records: 4 replayed, 1 decided alike (0 retries with another delay), 3 changed; 0 skipped, 1 malformed")
	assert.Regexp(t, `retry→fail +3\n`, stdout)
	assert.Contains(t, stdout, `now {"action":"fail","reason":"conflict on \"f0\": basic gives up on the first conflict"} (basic)`)

	// retry takes backoff's actions, without its waits.
	code, stdout, stderr = runTool("replay", "-from", file, "-params", `{"max_retries":2}`, repo(t, "plugins", "retry", "retry.wasm.gz"))
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "5 records: 4 replayed, 4 decided alike (3 retries with another delay), 0 changed; 0 skipped, 1 malformed")
}

// TestFromEmptyFolder is what an author does, from a folder outside the
// module, in both languages: new, build, test; then the fruit service
// serves with the built module, and concurrent tastings are all counted.
func TestFromEmptyFolder(t *testing.T) {
	root := repo(t)
	bin := sampletest.BuildService(t)
	base := couchtest.URL(t)
	for _, tt := range []struct{ lang, name string }{{"go", "tally"}, {"assemblyscript", "patient"}} {
		t.Run(tt.lang, func(t *testing.T) {
			work := t.TempDir()
			code, stdout, stderr := runTool("new", "-lang", tt.lang, "-accord", root, "-dir", work, tt.name)
			require.Equal(t, exitOK, code, stderr)
			dir := filepath.Join(work, tt.name)
			assert.Contains(t, stdout, "wrote "+filepath.Join(dir, "testdata", "conflicts", tt.name+".json"))
			if tt.lang == "go" {
				cmd := exec.Command("go", "test", "./...")
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "go test in the scaffold:\n%s", out)
			}

			code, stdout, stderr = runTool("build", dir)
			require.Equal(t, exitOK, code, stderr)
			wasm := filepath.Join(dir, tt.name+".wasm")
			assert.Regexp(t, `^built .+\.wasm: \d+ bytes, sha256 [0-9a-f]{64}\n$`, stdout)
			first := stdout
			if tt.lang == "go" {
				// The template's plugin parses JSON as the built-ins do,
				// so it is as small as they are.
				module, err := os.ReadFile(wasm)
				require.NoError(t, err)
				assert.False(t, bytes.Contains(module, []byte("encoding/json.")), "the plugin links encoding/json")
				assert.Less(t, len(module), 2_500_000, "module size")
			}

			code, stdout, stderr = runTool("build", dir)
			require.Equal(t, exitOK, code, stderr)
			assert.Equal(t, first, stdout, "the build is reproducible")

			// -determinism starts two more instances a case: a Go one
			// is slow to start under the race detector, so only the
			// AssemblyScript module is checked for it here (TestGuide
			// checks both, without the race detector).
			args := []string{"test", wasm}
			if tt.lang == "assemblyscript" {
				args = []string{"test", "-determinism", wasm}
			}
			code, stdout, stderr = runTool(args...)
			require.Equal(t, exitOK, code, stdout+stderr)
			assert.Contains(t, stdout, " 0 failed")

			config := filepath.Join(work, "config.yaml")
			require.NoError(t, os.WriteFile(config, []byte("resolver:\n  plugin: "+wasm+"\n"), 0o644))
			db := sampletest.NewDB(t, false)
			s := sampletest.StartService(t, bin, config, base.JoinPath(db.Name()).String())
			assert.Contains(t, s.Output.String(), "resolver="+tt.name)
			tastingsCounted(t, s.URL)
		})
	}
}

// tastingsCounted sends concurrent tastings of one fruit and checks the
// audit's rule: every tasting answered 200 is counted.
func tastingsCounted(t *testing.T, url string) {
	t.Helper()
	status, body := sampletest.Request(t, "POST", url+"/v1.0/fruits", "application/json", `{"color":"red"}`)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	id := body.(map[string]any)["fruit_id"].(string)
	const writers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for range writers {
		wg.Go(func() {
			resp, err := http.Post(url+"/v1.0/fruits/"+id+"/tastings", "application/json", nil)
			if err != nil {
				t.Errorf("tasting: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				acked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	status, body = sampletest.Request(t, "GET", url+"/v1.0/fruits/"+id, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, writers, acked, "every tasting acknowledged")
	assert.EqualValues(t, acked, body.(map[string]any)["tastings"], "every acknowledged tasting counted")
}
