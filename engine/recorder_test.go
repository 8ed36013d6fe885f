package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// readRecords reads every record of the recording at path, oldest first.
func readRecords(t *testing.T, path string) []engine.Record {
	t.Helper()
	var recs []engine.Record
	for _, name := range engine.RecordingFiles(path) {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var r engine.Record
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "%s", sc.Text())
			recs = append(recs, r)
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	return recs
}

// docConflict is a replication conflict with documents, for redaction.
func docConflict(id string, attempt int, secret string) *resolve.Conflict {
	return &resolve.Conflict{
		ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: id, Attempt: attempt,
		Base:   json.RawMessage(`{"_id":"` + id + `","_rev":"1-a","color":"` + secret + `","tastings":1}`),
		Mine:   json.RawMessage(`{"_id":"` + id + `","_rev":"1-a","color":"` + secret + `","tastings":2}`),
		Theirs: json.RawMessage(`{"_id":"` + id + `","_rev":"2-b","color":"` + secret + `","tastings":2,"nested":{"a":[1,2]}}`),
	}
}

// TestRecorder records the calls of a plugin: one line per decision, with
// the module's hash, rotated by size, with at most MaxFiles old files.
func TestRecorder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flight.jsonl")
	rec, err := engine.NewRecorder(engine.RecorderConfig{Path: path, MaxBytes: 4 << 10, MaxFiles: 2})
	require.NoError(t, err)
	rt := newRuntime(t, engine.Config{Recorder: rec, Rand: constReader(0)})
	r := load(t, rt, engine.Plugin{Builtin: "backoff"})
	const calls = 60
	for i := range calls {
		_, err := r.Resolve(ctx, docConflict("kiwi", 1+i%5, "green"))
		require.NoError(t, err)
	}
	require.NoError(t, rec.Close())

	st := rec.Stats()
	assert.Equal(t, uint64(calls), st.Records)
	assert.Zero(t, st.Dropped)
	assert.Positive(t, st.Rotations)
	files := engine.RecordingFiles(path)
	require.Equal(t, []string{path + ".2", path + ".1", path}, files, "two old files kept, oldest first")
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, fi.Size(), int64(4<<10), "%s", f)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a recording holds documents: private")
	}
	recs := readRecords(t, path)
	require.NotEmpty(t, recs)
	assert.Less(t, len(recs), calls, "the oldest records were rotated away")
	last := recs[len(recs)-1]
	assert.Equal(t, "backoff", last.Resolver)
	assert.Equal(t, r.SHA256(), last.Module)
	require.NotNil(t, last.Decision)
	assert.Equal(t, resolve.ActionRetry, last.Decision.Action)
	assert.Equal(t, "kiwi", last.Conflict.ID)
	assert.JSONEq(t, string(docConflict("kiwi", 1, "green").Theirs), string(last.Conflict.Theirs), "the documents as the host gave them")
	assert.False(t, last.Redacted)

	_, err = r.Resolve(ctx, conflictOn("fruits", 1))
	require.NoError(t, err, "a closed recorder drops records, never decisions")
	assert.Equal(t, uint64(1), rec.Stats().Dropped)
}

// TestRecorderRedacts records with Redact: no value of any document is
// in the file, every field name is, and a record too large for the bound
// is kept without its documents.
func TestRecorderRedacts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flight.jsonl")
	rec, err := engine.NewRecorder(engine.RecorderConfig{Path: path, Redact: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	rt := newRuntime(t, engine.Config{Recorder: rec})
	r := load(t, rt, engine.Plugin{Builtin: "merge"})
	d, err := r.Resolve(ctx, docConflict("kiwi", 1, "secret-colour"))
	require.NoError(t, err)
	require.Equal(t, resolve.ActionMerge, d.Action)
	require.Contains(t, string(d.Doc), "secret-colour", "the merge writes the value")

	// A record over 1 MiB, written directly.
	big := docConflict("pear", 1, strings.Repeat("x", 2<<20))
	require.NoError(t, rec.Add(engine.Record{Resolver: "merge", Conflict: big, Decision: &resolve.Decision{Action: resolve.ActionFail}}))
	require.NoError(t, rec.Close())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "secret-colour")
	assert.NotContains(t, string(data), `"a":[1,2]`)
	assert.Less(t, len(data), 8<<10, "the large record is small now")
	recs := readRecords(t, path)
	require.Len(t, recs, 2)
	assert.True(t, recs[0].Redacted)
	assert.JSONEq(t, `{"_id":"kiwi","_rev":"2-b","color":null,"tastings":null,"nested":null}`, string(recs[0].Conflict.Theirs))
	assert.JSONEq(t, `{"_id":"kiwi","_rev":"1-a","color":null,"tastings":null}`, string(recs[0].Conflict.Base))
	require.NotNil(t, recs[0].Decision)
	assert.NotContains(t, string(recs[0].Decision.Doc), "secret")
	assert.True(t, recs[1].Redacted)
	assert.False(t, recs[1].Truncated, "2 MiB of one value redact to a few bytes")
}

// TestReplay records a backoff and replays the recording through basic
// and through backoff itself.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flight.jsonl")
	rec, err := engine.NewRecorder(engine.RecorderConfig{Path: path})
	require.NoError(t, err)
	rt := newRuntime(t, engine.Config{Recorder: rec, Rand: constReader(0x80)})
	backoff := load(t, rt, engine.Plugin{Builtin: "backoff", Params: []byte(`{"max_retries":3}`)})
	actions := map[resolve.Action]int{}
	for id := range 5 {
		for attempt := 1; attempt <= 4; attempt++ {
			d, err := backoff.Resolve(ctx, docConflict("fruit-"+string(rune('a'+id)), attempt, "red"))
			require.NoError(t, err)
			actions[d.Action]++
		}
	}
	require.Equal(t, map[resolve.Action]int{resolve.ActionRetry: 15, resolve.ActionFail: 5}, actions)
	require.NoError(t, rec.Close())
	// A line that is no record, and a blank one, in the middle.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("not json\n\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	replay := func(r resolve.Resolver) engine.ReplayReport {
		t.Helper()
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		rep, err := engine.Replay(ctx, f, r)
		require.NoError(t, err)
		return rep
	}
	other := newRuntime(t, engine.Config{Deterministic: true, Rand: constReader(0x80)})
	rep := replay(load(t, other, engine.Plugin{Builtin: "basic"}))
	t.Logf("replayed through basic: %+v", rep)
	assert.Equal(t, 21, rep.Records)
	assert.Equal(t, 1, rep.Malformed)
	assert.Equal(t, 20, rep.Replayed)
	assert.Equal(t, 5, rep.Same, "backoff gave up where basic does")
	assert.Equal(t, 15, rep.Changed)
	assert.Equal(t, map[string]int{"retry→fail": 15}, rep.Changes)
	require.Len(t, rep.Differences, 15)
	first := rep.Differences[0]
	assert.Equal(t, 1, first.Line)
	assert.Equal(t, "fruit-a", first.ID)
	assert.Equal(t, resolve.ActionRetry, first.Recorded.Action)
	require.NotNil(t, first.Replayed)
	assert.Equal(t, resolve.ActionFail, first.Replayed.Action)

	rep = replay(load(t, other, engine.Plugin{Builtin: "backoff", Params: []byte(`{"max_retries":3}`)}))
	assert.Equal(t, 20, rep.Same, "the same resolver, the same random bytes: the same decisions")
	assert.Zero(t, rep.Changed)
	assert.Zero(t, rep.DelayChanged)

	// Cancelled: the replay stops with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f, err = os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = engine.Replay(cctx, f, resolve.Basic())
	assert.ErrorIs(t, err, context.Canceled)
}

// TestReplaySkips replays records it cannot compare: failures of the
// recorded resolver, and redacted records for a resolver that reads
// documents; a line longer than any record is malformed.
func TestReplaySkips(t *testing.T) {
	ctx := context.Background()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	c := docConflict("kiwi", 1, "red")
	require.NoError(t, enc.Encode(engine.Record{Resolver: "x", Conflict: c, Error: "engine: x: guest trapped"}))
	require.NoError(t, enc.Encode(engine.Record{Resolver: "x", Conflict: c, Decision: &resolve.Decision{Action: resolve.ActionFail}, Redacted: true}))
	b.WriteString(`{"conflict":"` + strings.Repeat("y", 3<<20) + "\"}\n")
	require.NoError(t, enc.Encode(engine.Record{Resolver: "x", Conflict: c, Decision: &resolve.Decision{Action: "explode"}}))
	require.NoError(t, enc.Encode(engine.Record{Resolver: "x", Conflict: c, Decision: &resolve.Decision{Action: resolve.ActionFail}}))

	rt := newRuntime(t, engine.Config{})
	merge := load(t, rt, engine.Plugin{Builtin: "merge"})
	rep, err := engine.Replay(ctx, strings.NewReader(b.String()), merge)
	require.NoError(t, err)
	assert.Equal(t, engine.ReplayReport{Records: 5, Malformed: 2, Skipped: 2, Replayed: 1, Changed: 1,
		Changes: map[string]int{"fail→merge": 1}, Differences: rep.Differences}, rep)

	basic := load(t, rt, engine.Plugin{Builtin: "basic"})
	rep, err = engine.Replay(ctx, io.MultiReader(strings.NewReader(b.String())), basic)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Skipped, "basic reads no document: a redacted record replays")
	assert.Equal(t, 2, rep.Same)
}

// TestReplayReportBounded replays more differences than a report keeps,
// with reasons longer than it quotes: the counts go on, the list and the
// reasons are bounded.
func TestReplayReportBounded(t *testing.T) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	long := strings.Repeat("because ", 10_000)
	for i := range 150 {
		require.NoError(t, enc.Encode(engine.Record{Resolver: "x", Conflict: conflictOn("fruits", 1+i%3),
			Decision: &resolve.Decision{Action: resolve.ActionRetry, DelayMS: 5, Reason: long}}))
	}
	rep, err := engine.Replay(context.Background(), strings.NewReader(b.String()), resolve.Basic())
	require.NoError(t, err)
	assert.Equal(t, 150, rep.Changed)
	assert.Equal(t, map[string]int{"retry→fail": 150}, rep.Changes)
	require.Len(t, rep.Differences, engine.MaxReplayDifferences)
	for _, d := range rep.Differences {
		assert.LessOrEqual(t, len(d.Recorded.Reason), 100, "the recorded reason is clipped")
	}
	assert.Equal(t, 100, rep.Differences[99].Line)
}
