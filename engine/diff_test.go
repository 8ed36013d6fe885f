package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/resolve"
)

// sameJSON asserts that a and b are the same JSON value.
func sameJSON(t *testing.T, a, b json.RawMessage, msgAndArgs ...any) {
	t.Helper()
	var x, y any
	require.NoError(t, json.Unmarshal(a, &x), "%s", a)
	require.NoError(t, json.Unmarshal(b, &y), "%s", b)
	assert.Equal(t, x, y, msgAndArgs...)
}

// decideThroughDiff is what the engine does for a plugin that needs the
// diff, with the merge strategy as the plugin.
func decideThroughDiff(t *testing.T, p resolve.MergeParams, c *resolve.Conflict) resolve.Decision {
	t.Helper()
	cut, node, ok := diffConflict(c)
	d := p.Decide(cut)
	if ok && d.Action == resolve.ActionMerge {
		doc, err := applyDiff(c.Theirs, d.Doc, node)
		require.NoError(t, err)
		d.Doc = doc
	}
	return d
}

// TestDiffMergesAsWhole runs the merge strategy on whole documents and
// on the host's diff of them, rebuilt: the two documents must be equal,
// for the conformance fixtures and for random fruit with nested objects.
func TestDiffMergesAsWhole(t *testing.T) {
	p, err := resolve.ParseMergeParams([]byte(`{"fields":{"color":{"latest_by":"updated_on"},"updated_on":"max","tastings":"counter","stock.count":"counter","tags":"union"}}`))
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(1, 2))
	value := func() any {
		switch rnd.IntN(6) {
		case 0:
			return nil
		case 1:
			return rnd.IntN(5)
		case 2:
			return fmt.Sprintf("s%d", rnd.IntN(3))
		case 3:
			return []int{rnd.IntN(3), rnd.IntN(3)}
		case 4:
			return map[string]any{"a": rnd.IntN(2), "b": map[string]any{"c": rnd.IntN(2)}}
		}
		return true
	}
	doc := func(rev string) map[string]any {
		d := map[string]any{"_id": "f", "_rev": rev, "tastings": rnd.IntN(10), "color": fmt.Sprintf("c%d", rnd.IntN(3)),
			"updated_on": fmt.Sprintf("2026-12-01T10:00:0%dZ", rnd.IntN(3)), "stock": map[string]any{"count": rnd.IntN(9), "where": fmt.Sprintf("w%d", rnd.IntN(2))},
			"tags": []string{fmt.Sprintf("t%d", rnd.IntN(3))}}
		for i := range 4 {
			if rnd.IntN(2) == 0 {
				d[fmt.Sprintf("x%d", i)] = value()
			}
		}
		return d
	}
	mutate := func(d map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range d {
			out[k] = v
		}
		for range rnd.IntN(3) {
			k := []string{"tastings", "color", "updated_on", "x0", "x1", "x2", "x3"}[rnd.IntN(7)]
			if rnd.IntN(4) == 0 {
				delete(out, k)
			} else {
				out[k] = value()
			}
		}
		if rnd.IntN(2) == 0 {
			out["stock"] = map[string]any{"count": rnd.IntN(9), "where": d["stock"].(map[string]any)["where"]}
		}
		return out
	}
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	for i := range 500 {
		base := doc("1-a")
		mine, theirs := mutate(base), mutate(base)
		mine["_rev"], theirs["_rev"] = "1-a", "2-b"
		c := &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "d", ID: "f", Attempt: 1,
			Base: raw(base), Mine: raw(mine), Theirs: raw(theirs)}
		whole := p.Decide(c)
		got := decideThroughDiff(t, p, c)
		require.Equal(t, whole.Action, got.Action, "case %d: %s", i, whole.Reason)
		if whole.Action == resolve.ActionMerge {
			sameJSON(t, whole.Doc, got.Doc, "case %d:\nbase %s\nmine %s\ntheirs %s", i, c.Base, c.Mine, c.Theirs)
		}
	}

	files, err := filepath.Glob("../testdata/conflicts/merge*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var fx struct {
			Params json.RawMessage `json:"params"`
			Cases  []struct {
				Conflict json.RawMessage `json:"conflict"`
			} `json:"cases"`
		}
		require.NoError(t, json.Unmarshal(b, &fx))
		fp, err := resolve.ParseMergeParams(fx.Params)
		require.NoError(t, err)
		for i, tc := range fx.Cases {
			c, err := resolve.DecodeConflict(tc.Conflict)
			require.NoError(t, err)
			whole := fp.Decide(c)
			got := decideThroughDiff(t, fp, c)
			require.Equal(t, whole.Action, got.Action, "%s case %d", f, i)
			if whole.Action == resolve.ActionMerge {
				sameJSON(t, whole.Doc, got.Doc, "%s case %d", f, i)
			}
		}
	}
}

// TestDiffSendsOnlyWhatDiffers checks what the plugin is sent for 10 KB
// documents that differ in three fields, one of them nested.
func TestDiffSendsOnlyWhatDiffers(t *testing.T) {
	notes := func(n3 string) string {
		var b strings.Builder
		for i := range 90 {
			text := strings.Repeat("abcdefghij", 10)
			if i == 3 {
				text = n3
			}
			fmt.Fprintf(&b, `%s"n%03d":%q`, map[bool]string{true: "", false: ","}[i == 0], i, text)
		}
		return b.String()
	}
	doc := func(rev string, tastings int, n3 string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"_id":"f1","_rev":%q,"type":"fruit_v1.0","tastings":%d,"notes":{%s}}`, rev, tastings, notes(n3)))
	}
	c := &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "d", ID: "f1", Attempt: 1,
		Base: doc("3-a", 4, "base"), Mine: doc("3-a", 5, "base"), Theirs: doc("4-b", 5, "theirs")}
	cut, _, ok := diffConflict(c)
	require.True(t, ok)
	assert.JSONEq(t, `{"_id":"f1","_rev":"3-a","tastings":4,"notes":{"n003":"base"}}`, string(cut.Base))
	assert.JSONEq(t, `{"_id":"f1","_rev":"3-a","tastings":5,"notes":{"n003":"base"}}`, string(cut.Mine))
	assert.JSONEq(t, `{"_id":"f1","_rev":"4-b","tastings":5,"notes":{"n003":"theirs"}}`, string(cut.Theirs))
	assert.Greater(t, len(c.Theirs), 9000)

	// An absent document: sent whole.
	c.Base = nil
	cut, _, ok = diffConflict(c)
	assert.False(t, ok)
	assert.Equal(t, c, cut)
}

// TestDiffThroughThePlugin runs a 10 KB conflict through the built-in
// merge plugin, which asks for the diff, and its native twin.
func TestDiffThroughThePlugin(t *testing.T) {
	ctx := context.Background()
	rt, err := New(ctx, Config{PoolSize: 1})
	require.NoError(t, err)
	defer rt.Close(ctx)
	params := []byte(`{"fields":{"tastings":"counter"}}`)
	r, err := rt.Load(ctx, Plugin{Builtin: "merge", Params: params})
	require.NoError(t, err)
	require.True(t, r.diff, "the merge plugin asks for the diff")
	p, err := resolve.ParseMergeParams(params)
	require.NoError(t, err)
	big := strings.Repeat("x", 10<<10)
	c := &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "d", ID: "f1", Attempt: 1,
		Base:   json.RawMessage(`{"_id":"f1","_rev":"1-a","tastings":1,"big":"` + big + `","nested":{"a":1,"b":2}}`),
		Mine:   json.RawMessage(`{"_id":"f1","_rev":"1-a","tastings":2,"big":"` + big + `","nested":{"a":1,"b":3}}`),
		Theirs: json.RawMessage(`{"_id":"f1","_rev":"2-b","tastings":3,"big":"` + big + `","nested":{"a":5,"b":2},"extra":true}`)}
	got, err := r.Resolve(ctx, c)
	require.NoError(t, err)
	want := p.Decide(c)
	require.Equal(t, resolve.ActionMerge, got.Action)
	sameJSON(t, want.Doc, got.Doc)
	assert.Contains(t, string(got.Doc), `"tastings":4`)
}
