package plugins_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/internal/askit"
	"github.com/accord-db/accord/internal/modroot"
	"github.com/accord-db/accord/resolve"
)

// echoReason is what plugins/pdk/assemblyscript/testdata/echo.ts answers
// for c, computed from the host's side.
func echoReason(t *testing.T, c *resolve.Conflict) string {
	t.Helper()
	present := "present"
	if c.BaseMissing {
		present = "missing"
	}
	r := fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s", c.Kind, c.Op, c.DB, c.ID, c.Attempt, c.ElapsedMS, present)
	var base map[string]any
	if require.NoError(t, json.Unmarshal(orNull(c.Base), &base)); base == nil {
		r += "|base null"
	} else {
		r += fmt.Sprintf("|base %d keys", len(base))
	}
	var mine struct{ N *int64 }
	if string(orNull(c.Mine)) == "null" {
		r += "|mine null"
	} else if require.NoError(t, json.Unmarshal(c.Mine, &mine)); mine.N == nil {
		r += "|mine n=none"
	} else {
		r += fmt.Sprintf("|mine n=%d", *mine.N)
	}
	var theirs struct{ S *string }
	if string(orNull(c.Theirs)) == "null" {
		r += "|theirs null"
	} else if require.NoError(t, json.Unmarshal(c.Theirs, &theirs)); theirs.S == nil {
		r += "|theirs s=none"
	} else {
		r += "|theirs s=" + *theirs.S
	}
	return r + fmt.Sprintf("|conflicts %d", len(c.Conflicts))
}

func orNull(doc json.RawMessage) json.RawMessage {
	if doc == nil {
		return json.RawMessage("null")
	}
	return doc
}

// TestAssemblyScriptDecode checks the AssemblyScript kit's conflict
// scanner against the host's encoding: escapes, unicode, documents read
// lazily with assemblyscript-json.
func TestAssemblyScriptDecode(t *testing.T) {
	root, err := modroot.Find()
	require.NoError(t, err)
	asc, err := askit.Compiler(root)
	require.NoError(t, err)
	wasm := filepath.Join(t.TempDir(), "echo.wasm")
	cmd := askit.Command(asc, filepath.Join(root, "plugins", "pdk", "assemblyscript", "testdata"), "echo.ts", wasm)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, CallTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer rt.Close(ctx)
	r, err := rt.Load(ctx, engine.Plugin{Path: wasm})
	require.NoError(t, err)

	doc := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []resolve.Conflict{
		{ID: "apple", Attempt: 1},
		{ID: `q"uo\te`, Attempt: 12, ElapsedMS: 345678},
		{ID: "tab\tnew\nline\x01\x1f", Attempt: 2},
		{ID: "pomme-é-日本-😀", Attempt: 3, BaseMissing: true},
		{ID: "f1", Attempt: 1, Op: resolve.OpDelete,
			Base:      doc(`{"_id":"f1","a":[1,{"b":"}"}],"c":null}`),
			Mine:      doc(`{"n":-42,"s":"x"}`),
			Theirs:    doc(`{"s":"caf\u00e9 \"q\" \\ \ud83d\ude00","n":1.5e3}`),
			Conflicts: []json.RawMessage{doc(`{"_rev":"2-a"}`), doc(`[]`)}},
		{ID: "f2", Attempt: 1, Mine: doc(`{}`), Theirs: doc(`{"t":true}`), Kind: resolve.KindReplication},
	}
	for _, c := range tests {
		t.Run(c.ID, func(t *testing.T) {
			c.ABI, c.DB = resolve.ABIVersion, "fruits"
			if c.Kind == "" {
				c.Kind = resolve.KindWrite
			}
			if c.Op == "" {
				c.Op = resolve.OpUpdate
			}
			d, err := r.Resolve(ctx, &c)
			require.NoError(t, err)
			assert.Equal(t, resolve.ActionFail, d.Action)
			assert.Equal(t, echoReason(t, &c), d.Reason)
		})
	}
	// Every reason stays valid however the id is spelled.
	for i := range 64 {
		id := strings.Repeat(string(rune(i)), 3) + "x"
		c := resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "d", ID: id, Attempt: 1}
		d, err := r.Resolve(ctx, &c)
		require.NoError(t, err, "id %q", id)
		assert.Equal(t, echoReason(t, &c), d.Reason, "id %q", id)
	}
	_ = os.Remove(wasm)
}
