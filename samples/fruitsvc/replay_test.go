package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/resolve"
)

// constReader fills every buffer with one byte: a pinned random source.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// buildLoadgen builds tools/loadgen and returns the binary's path.
func buildLoadgen(t *testing.T) string {
	t.Helper()
	root, err := couchtest.Root()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "loadgen")
	cmd := exec.Command("go", "build", "-o", bin, "./tools/loadgen")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./tools/loadgen: %s", out)
	return bin
}

// openRecording opens every file of the recording at path, oldest first,
// as one reader.
func openRecording(t *testing.T, path string) io.Reader {
	t.Helper()
	var rs []io.Reader
	for _, name := range engine.RecordingFiles(path) {
		f, err := os.Open(name)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		rs = append(rs, f)
	}
	require.NotEmpty(t, rs, "no recording at %s", path)
	return io.MultiReader(rs...)
}

// TestRecordAndReplay records a loadgen run through fruitsvc with the
// backoff plugin, then replays the recording through basic, which gives
// up where backoff retried, and through backoff itself, which decides
// alike (its jitter aside). The report says which decisions changed.
func TestRecordAndReplay(t *testing.T) {
	loadgen := buildLoadgen(t)
	recording := filepath.Join(t.TempDir(), "flight.jsonl")
	params := `{"max_retries":50,"base_ms":25,"jitter":"full","max_delay_ms":1000}`
	s := serve(t, "-plugin", "backoff", "-params", params, "-record", recording)

	var out, errOut bytes.Buffer
	cmd := exec.Command(loadgen, "-service", s.base, "-concurrency", "8", "-number-fruit", "3", "-duration", "3s",
		"-percent-get", "20", "-percent-taste", "40", "-percent-put", "40", "-percent-post", "0", "-percent-delete", "0",
		"-seed", "11", "-progress-interval", "0")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "loadgen: the audit must pass\n%s\n%s", out.String(), errOut.String())
	require.Equal(t, 0, s.stop(), "fruitsvc stops cleanly (and closes the recording)")

	// What was recorded.
	recorded := map[resolve.Action]int{}
	for _, name := range engine.RecordingFiles(recording) {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		for _, a := range []resolve.Action{resolve.ActionRetry, resolve.ActionFail, resolve.ActionMerge, resolve.ActionAccept} {
			recorded[a] += bytes.Count(data, []byte(`"decision":{"action":"`+string(a)+`"`))
		}
	}
	t.Logf("recorded decisions: %v", recorded)
	require.Positive(t, recorded[resolve.ActionRetry], "the run made conflicts, and backoff retried them")

	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, Rand: constReader(0x40)})
	require.NoError(t, err)
	defer rt.Close(ctx)

	basic, err := rt.Load(ctx, engine.Plugin{Builtin: "basic"})
	require.NoError(t, err)
	rep, err := engine.Replay(ctx, openRecording(t, recording), basic)
	require.NoError(t, err)
	t.Logf("replayed through basic: %d records, %d replayed, %d same, %d changed %v; first difference: %+v",
		rep.Records, rep.Replayed, rep.Same, rep.Changed, rep.Changes, rep.Differences[0])
	total := recorded[resolve.ActionRetry] + recorded[resolve.ActionFail]
	assert.Equal(t, total, rep.Records)
	assert.Zero(t, rep.Malformed+rep.Skipped)
	assert.Equal(t, map[string]int{"retry→fail": recorded[resolve.ActionRetry]}, rep.Changes, "every retry became a fail")
	assert.Equal(t, recorded[resolve.ActionFail], rep.Same, "a backoff that gave up, basic gives up too")
	require.NotEmpty(t, rep.Differences)
	d := rep.Differences[0]
	assert.Equal(t, resolve.ActionRetry, d.Recorded.Action)
	require.NotNil(t, d.Replayed)
	assert.Equal(t, resolve.ActionFail, d.Replayed.Action)
	assert.NotEmpty(t, d.ID)

	backoff, err := rt.Load(ctx, engine.Plugin{Builtin: "backoff", Params: []byte(params)})
	require.NoError(t, err)
	rep, err = engine.Replay(ctx, openRecording(t, recording), backoff)
	require.NoError(t, err)
	t.Logf("replayed through backoff: %d replayed, %d same (%d with another delay), %d changed",
		rep.Replayed, rep.Same, rep.DelayChanged, rep.Changed)
	assert.Equal(t, total, rep.Same, "the same resolver takes the same actions")
	assert.Zero(t, rep.Changed)
}
