package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/resolve"
)

// fruitParams is the fruit model's merge: color by the latest
// updated_on, updated_on the latest, tastings a counter.
const fruitParams = `{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"}}`

func mustParams(t *testing.T, raw string) resolve.MergeParams {
	t.Helper()
	p, err := resolve.ParseMergeParams([]byte(raw))
	require.NoError(t, err)
	return p
}

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return resolve.RawJSON(s)
}

// TestMergeDocs checks each rule, the default and nesting, on base, mine
// and theirs.
func TestMergeDocs(t *testing.T) {
	tests := []struct {
		name               string
		params             string
		base, mine, theirs string
		want               string
		wantNote           string
	}{
		{"fruit: concurrent tastings add up", fruitParams,
			`{"_id":"a","_rev":"1-a","color":"red","tastings":4,"updated_on":"2026-01-01T00:00:00.000000Z"}`,
			`{"_id":"a","_rev":"1-a","color":"red","tastings":5,"updated_on":"2026-01-01T00:00:02.000000Z"}`,
			`{"_id":"a","_rev":"2-b","color":"red","tastings":7,"updated_on":"2026-01-01T00:00:01.000000Z"}`,
			`{"_id":"a","_rev":"2-b","color":"red","tastings":8,"updated_on":"2026-01-01T00:00:02.000000Z"}`, ""},
		{"fruit: their color survives my later tasting", fruitParams,
			`{"color":"red","tastings":4,"updated_on":"2026-01-01T00:00:00.000000Z"}`,
			`{"color":"red","tastings":5,"updated_on":"2026-01-01T00:00:09.000000Z"}`,
			`{"color":"blue","tastings":4,"updated_on":"2026-01-01T00:00:01.000000Z"}`,
			`{"color":"blue","tastings":5,"updated_on":"2026-01-01T00:00:09.000000Z"}`, ""},
		{"latest_by: both changed, mine is later", fruitParams,
			`{"color":"red","updated_on":"1"}`, `{"color":"green","updated_on":"3"}`, `{"color":"blue","updated_on":"2"}`,
			`{"color":"green","updated_on":"3"}`, ""},
		{"latest_by: both changed, theirs is later", fruitParams,
			`{"color":"red","updated_on":"1"}`, `{"color":"green","updated_on":"2"}`, `{"color":"blue","updated_on":"3"}`,
			`{"color":"blue","updated_on":"3"}`, ""},
		{"latest_by: a tie takes the greater value, whichever side", fruitParams,
			`{"color":"red","updated_on":"1"}`, `{"color":"blue","updated_on":"2"}`, `{"color":"green","updated_on":"2"}`,
			`{"color":"green","updated_on":"2"}`, ""},
		{"latest_by: a tie, sides swapped, same answer", fruitParams,
			`{"color":"red","updated_on":"1"}`, `{"color":"green","updated_on":"2"}`, `{"color":"blue","updated_on":"2"}`,
			`{"color":"green","updated_on":"2"}`, ""},
		{"latest_by: absent by field loses", `{"fields":{"c":{"latest_by":"t"}}}`,
			`{"c":1}`, `{"c":2}`, `{"c":3,"t":0}`, `{"c":3,"t":0}`, ""},
		{"max of numbers, exactly", `{"fields":{"n":"max"}}`,
			`{"n":1}`, `{"n":12345678901234567890123}`, `{"n":12345678901234567890122.5}`, `{"n":12345678901234567890123}`, ""},
		{"max keeps the number as written", `{"fields":{"n":"max"}}`,
			`{"n":1}`, `{"n":1.50}`, `{"n":1.5e0}`, `{"n":1.5e0}`, ""},
		{"max of an 18-digit and a 19-digit integer", `{"fields":{"n":"max"}}`,
			`{"n":1}`, `{"n":999999999999999999}`, `{"n":-1000000000000000000}`, `{"n":999999999999999999}`, ""},
		{"max of strings: an escape decodes before comparing", `{"fields":{"s":"max"}}`,
			`{"s":""}`, `{"s":"\u0062"}`, `{"s":"a"}`, `{"s":"\u0062"}`, ""},
		{"max of strings: not UTF-8 compares as U+FFFD", `{"fields":{"s":"max"}}`,
			`{"s":""}`, "{\"s\":\"\xff\"}", `{"s":"\u00ff"}`, "{\"s\":\"\ufffd\"}", ""},
		{"min", `{"fields":{"n":"min"}}`,
			`{"n":5}`, `{"n":3}`, `{"n":-2e1}`, `{"n":-2e1}`, ""},
		{"max: a number is less than a string", `{"fields":{"n":"max"}}`,
			`{}`, `{"n":"a"}`, `{"n":99}`, `{"n":"a"}`, ""},
		{"max: absent is least", `{"fields":{"n":"max"}}`,
			`{"n":1}`, `{}`, `{"n":0}`, `{"n":0}`, ""},
		{"counter", `{"fields":{"n":"counter"}}`,
			`{"n":10}`, `{"n":12}`, `{"n":15}`, `{"n":17}`, ""},
		{"counter of decimals, exactly", `{"fields":{"n":"counter"}}`,
			`{"n":0.1}`, `{"n":0.3}`, `{"n":0.25}`, `{"n":0.45}`, ""},
		{"counter past int64", `{"fields":{"n":"counter"}}`,
			`{"n":9223372036854775807}`, `{"n":9223372036854775808}`, `{"n":9223372036854775808}`, `{"n":9223372036854775809}`, ""},
		{"counter of 18-digit integers, as int64s", `{"fields":{"n":"counter"}}`,
			`{"n":-999999999999999999}`, `{"n":999999999999999999}`, `{"n":999999999999999999}`, `{"n":2999999999999999997}`, ""},
		{"counter of a 19-digit integer, as decimals", `{"fields":{"n":"counter"}}`,
			`{"n":1}`, `{"n":1000000000000000000}`, `{"n":-0}`, `{"n":999999999999999999}`, ""},
		{"counter: minus zero is zero", `{"fields":{"n":"counter"}}`,
			`{"n":-0}`, `{"n":-0}`, `{"n":0}`, `{"n":0}`, ""},
		{"counter: an integer and an exponent", `{"fields":{"n":"counter"}}`,
			`{"n":1}`, `{"n":1e2}`, `{"n":3}`, `{"n":102}`, ""},
		{"counter without a base counts from 0 and says so", `{"fields":{"n":"counter"}}`,
			``, `{"n":1}`, `{"n":2}`, `{"n":3}`, "counter n had no base value, counted from 0"},
		{"counter: field absent from base", `{"fields":{"n":"counter"}}`,
			`{}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, "counter n had no base value, counted from 0"},
		{"union: sorted, once, removals stick", `{"fields":{"tags":"union"}}`,
			`{"tags":["a","b","c"]}`, `{"tags":["c","a","x"]}`, `{"tags":["b","a","c",{"k":1},2,"x"]}`,
			`{"tags":[2,"a","c","x",{"k":1}]}`, ""},
		{"union without a base", `{"fields":{"tags":"union"}}`,
			``, `{"tags":["b"]}`, `{}`, `{"tags":["b"]}`, ""},
		{"mine", `{"fields":{"n":"mine"}}`, `{"n":1}`, `{"n":1}`, `{"n":2}`, `{"n":1}`, ""},
		{"mine: absent stays absent", `{"fields":{"n":"mine"}}`, `{"n":1}`, `{}`, `{"n":2}`, `{}`, ""},
		{"theirs", `{"fields":{"n":"theirs"}}`, `{"n":1}`, `{"n":3}`, `{"n":1}`, `{"n":1}`, ""},
		{"default: only theirs changed", `{}`, `{"a":1,"b":1}`, `{"a":1,"b":2}`, `{"a":3,"b":1}`, `{"a":3,"b":2}`, ""},
		{"default: a field only mine removed", `{}`, `{"a":1,"b":1}`, `{"a":1}`, `{"a":2,"b":1}`, `{"a":2}`, ""},
		{"default: a field only theirs added", `{}`, `{}`, `{}`, `{"a":2}`, `{"a":2}`, ""},
		{"default: both changed, mine wins by default", `{}`, `{"a":1}`, `{"a":2}`, `{"a":3}`, `{"a":2}`, ""},
		{"default: both changed, theirs", `{"default":"theirs"}`, `{"a":1}`, `{"a":2}`, `{"a":3}`, `{"a":3}`, ""},
		{"default: both changed, max", `{"default":"max"}`, `{"a":1}`, `{"a":5}`, `{"a":3}`, `{"a":5}`, ""},
		{"default: both changed alike", `{"default":"theirs"}`, `{"a":1}`, `{"a":[1, 2]}`, `{"a":[1,2]}`, `{"a":[1,2]}`, ""},
		{"nested rules by dotted path", `{"fields":{"stock.count":"counter","stock.at":"max"}}`,
			`{"stock":{"count":1,"at":"a"},"name":"x"}`, `{"stock":{"count":3,"at":"c"},"name":"x"}`, `{"stock":{"count":2,"at":"b","w":1},"name":"y"}`,
			`{"name":"y","stock":{"at":"c","count":4,"w":1}}`, ""},
		{"nested objects merge field by field by default", `{}`,
			`{"o":{"a":1,"b":1}}`, `{"o":{"a":2,"b":1}}`, `{"o":{"b":2,"a":1}}`, `{"o":{"a":2,"b":2}}`, ""},
		{"nested rule under an absent object", `{"fields":{"o.n":"counter"}}`,
			`{}`, `{"o":{"n":1}}`, `{}`, `{"o":{"n":1}}`, "counter o.n had no base value, counted from 0"},
		{"_id and _rev from theirs, other _ fields left out", `{}`,
			`{"_id":"a","_rev":"1-a"}`, `{"_id":"a","_rev":"1-a","_deleted":true,"x":1}`, `{"_id":"a","_rev":"2-b","_attachments":{"f":{}},"_conflicts":["1-c"]}`,
			`{"_id":"a","_rev":"2-b","x":1}`, ""},
		{"keys are escaped as JSON", `{}`, `{}`, `{"a\"b\u0001":"\u00e9<"}`, `{}`, `{"a\"b\u0001":"\u00e9<"}`, ""},
		{"duplicate keys: the last counts", `{}`, `{}`, `{"a":1,"a":2}`, `{}`, `{"a":2}`, ""},
		{"keys unsorted, escaped and not, merge in order", `{}`,
			`{"b":1,"\u0061":1,"c":{"y":1,"x":1}}`, `{"c":{"x":2,"y":1},"a":2,"b":1}`, `{"a":1,"b":3,"c":{"y":3,"x":1}}`,
			`{"a":2,"b":3,"c":{"x":2,"y":3}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParams(t, tt.params)
			got, notes, err := resolve.MergeDocs(raw(tt.base), raw(tt.mine), raw(tt.theirs), p)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got), "MergeDocs(%s, %s, %s)", tt.base, tt.mine, tt.theirs)
			if tt.wantNote == "" {
				assert.Empty(t, notes)
			} else {
				assert.Equal(t, []string{tt.wantNote}, notes)
			}
			again, _, err := resolve.MergeDocs(raw(tt.base), raw(tt.mine), raw(tt.theirs), p)
			require.NoError(t, err)
			assert.Equal(t, got, again, "same inputs, same bytes")
		})
	}
}

// TestMergeDocsErrors checks that documents the rules cannot merge fail
// with ErrMerge, and that the errors quote no more than a clip of them.
func TestMergeDocsErrors(t *testing.T) {
	long := strings.Repeat("9", resolve.MaxMergeNumberBytes+1)
	deep := strings.Repeat(`{"a":`, resolve.MaxMergeDepth+2) + "1" + strings.Repeat("}", resolve.MaxMergeDepth+2)
	tests := []struct {
		name               string
		params             string
		base, mine, theirs string
	}{
		{"counter of a string", `{"fields":{"n":"counter"}}`, `{"n":1}`, `{"n":"2"}`, `{"n":3}`},
		{"counter of a long number", `{"fields":{"n":"counter"}}`, `{"n":1}`, `{"n":` + long + `}`, `{"n":3}`},
		{"counter with a huge exponent", `{"fields":{"n":"counter"}}`, `{"n":1}`, `{"n":1e999999999}`, `{"n":3}`},
		{"max of long numbers", `{"fields":{"n":"max"}}`, `{}`, `{"n":` + long + `}`, `{"n":1}`},
		{"union of a string", `{"fields":{"n":"union"}}`, `{}`, `{"n":"a"}`, `{"n":[]}`},
		{"mine is not an object", `{}`, `{}`, `[1]`, `{}`},
		{"theirs is not JSON", `{}`, `{}`, `{}`, `{"a":`},
		{"too deep", `{}`, `{}`, deep, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := resolve.MergeDocs(raw(tt.base), raw(tt.mine), raw(tt.theirs), mustParams(t, tt.params))
			require.ErrorIs(t, err, resolve.ErrMerge)
			assert.LessOrEqual(t, len(err.Error()), 300, "the error quotes a clip: %v", err)
		})
	}
}

// TestParseMergeParams checks that params are parsed strictly.
func TestParseMergeParams(t *testing.T) {
	p := mustParams(t, fruitParams+"\n")
	assert.Equal(t, resolve.MergeParams{Fields: map[string]resolve.FieldRule{
		"color":      {Rule: resolve.MergeLatestBy, By: "updated_on"},
		"updated_on": {Rule: resolve.MergeMax},
		"tastings":   {Rule: resolve.MergeCounter},
	}}, p)
	p = mustParams(t, `{"default":{"latest_by":"a.b"},"max_retries":0}`)
	assert.Equal(t, resolve.MergeParams{Default: resolve.FieldRule{Rule: resolve.MergeLatestBy, By: "a.b"}, MaxRetries: -1}, p)
	for _, empty := range []string{"", "null", "{}"} {
		assert.Equal(t, resolve.MergeParams{}, mustParams(t, empty))
	}

	many := map[string]string{}
	for i := range resolve.MaxMergeFields + 1 {
		many[strings.Repeat("f", i+1)] = "max"
	}
	tooMany, err := json.Marshal(map[string]any{"fields": many})
	require.NoError(t, err)
	bad := []string{
		`{"fields":{"a":"sum"}}`,
		`{"fields":{"a":"latest_by"}}`,
		`{"fields":{"a":{"latest_by":"b","x":1}}}`,
		`{"fields":{"a":{"latest_by":""}}}`,
		`{"fields":{"a":3}}`,
		`{"fields":{"_rev":"max"}}`,
		`{"fields":{"a..b":"max"}}`,
		`{"fields":{"a":"max","a.b":"min"}}`,
		`{"fields":{"` + strings.Repeat("a", resolve.MaxMergePathBytes+1) + `":"max"}}`,
		`{"default":"plus"}`,
		`{"max_retries":1001}`,
		`{"field":{}}`,
		`{} {}`,
		string(tooMany),
	}
	for _, b := range bad {
		_, err := resolve.ParseMergeParams([]byte(b))
		assert.Error(t, err, "ParseMergeParams(%s)", resolve.Clip(b))
		if err != nil {
			assert.LessOrEqual(t, len(err.Error()), 300)
		}
	}
}

// TestMergeDecide checks the strategy's decisions.
func TestMergeDecide(t *testing.T) {
	p := mustParams(t, `{"fields":{"n":"counter"},"max_retries":2}`)
	conflict := func(op resolve.Op, attempt int, base, mine, theirs string) *resolve.Conflict {
		return &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: op, DB: "d", ID: "x", Attempt: attempt,
			Base: raw(base), Mine: raw(mine), Theirs: raw(theirs), BaseMissing: base == ""}
	}
	tests := []struct {
		name string
		c    *resolve.Conflict
		want resolve.Decision
	}{
		{"merge", conflict(resolve.OpUpdate, 1, `{"_id":"x","_rev":"1-a","n":1}`, `{"_id":"x","_rev":"1-a","n":2}`, `{"_id":"x","_rev":"2-b","n":2}`),
			resolve.Decision{Action: resolve.ActionMerge, Doc: raw(`{"_id":"x","_rev":"2-b","n":3}`), Reason: "merged on conflict 1"}},
		{"base missing is left", conflict(resolve.OpUpdate, 2, ``, `{"n":2}`, `{"_id":"x","_rev":"2-b","n":2}`),
			resolve.Decision{Action: resolve.ActionFail,
				Reason: `conflict on "x": the common ancestor's body is gone (base_missing); merging without it would count what both sides share twice, so it is left (on_base_missing: merge merges anyway)`}},
		{"deleted meanwhile", conflict(resolve.OpUpdate, 1, `{"n":1}`, `{"n":2}`, ``),
			resolve.Decision{Action: resolve.ActionRetry, Reason: "retry 1 of 2: the document was deleted meanwhile"}},
		{"a delete", conflict(resolve.OpDelete, 1, `{"n":1}`, `{"_id":"x","_deleted":true}`, `{"n":2}`),
			resolve.Decision{Action: resolve.ActionRetry, Reason: "retry 1 of 2: a delete is retried, not merged"}},
		{"cannot merge", conflict(resolve.OpUpdate, 1, `{"n":1}`, `{"n":"two"}`, `{"n":2}`),
			resolve.Decision{Action: resolve.ActionFail, Reason: `conflict on "x": resolve: cannot merge: counter "n" is not a number`}},
		{"gives up", conflict(resolve.OpUpdate, 3, `{"n":1}`, `{"n":2}`, `{"n":2}`),
			resolve.Decision{Action: resolve.ActionFail, Reason: `conflict on "x": giving up after 2 retries`}},
	}
	s := resolve.Merge(p)
	assert.Equal(t, []resolve.Need{resolve.NeedBase, resolve.NeedMine, resolve.NeedTheirs, resolve.NeedDiff}, s.Describe().Needs)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.Resolve(context.Background(), tt.c)
			require.NoError(t, err)
			assert.Equal(t, tt.want, d)
			require.NoError(t, d.Validate(tt.c), "the decision passes the host's validation")
		})
	}
}

// TestMergeOnBaseMissing: with on_base_missing merge, a conflict whose
// ancestor is gone is merged without it, and the reason says so.
func TestMergeOnBaseMissing(t *testing.T) {
	s := resolve.Merge(mustParams(t, `{"fields":{"n":"counter"},"on_base_missing":"merge"}`))
	c := &resolve.Conflict{ABI: 1, Kind: resolve.KindReplication, Op: resolve.OpUpdate, DB: "d", ID: "x", Attempt: 2,
		Mine: raw(`{"n":2}`), Theirs: raw(`{"_id":"x","_rev":"2-b","n":2}`), BaseMissing: true}
	d, err := s.Resolve(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, resolve.Decision{Action: resolve.ActionMerge, Doc: raw(`{"_id":"x","_rev":"2-b","n":4}`),
		Reason: "merged on conflict 2, without a base (base_missing): counter n had no base value, counted from 0"}, d)
	_, err = resolve.ParseMergeParams([]byte(`{"on_base_missing":"guess"}`))
	assert.ErrorContains(t, err, `on_base_missing "guess" is not leave or merge`)
}

// TestCompareJSON checks the order of the max, min, latest_by and union
// rules.
func TestCompareJSON(t *testing.T) {
	ordered := []string{`null`, `false`, `true`, `-1e3`, `-2`, `0`, `0.5`, `1`, `1.5e0`, `2`, `12345678901234567890`,
		`""`, `"A"`, `"a"`, `"é"`, `[]`, `[1]`, `[1,2]`, `[2]`, `{}`, `{"a":2}`, `{"a":1,"b":1}`, `{"b":0}`}
	for i, a := range ordered {
		for j, b := range ordered {
			c, err := resolve.CompareJSON(raw(a), raw(b))
			require.NoError(t, err)
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			assert.Equal(t, want, c, "CompareJSON(%s, %s)", a, b)
		}
	}
	c, err := resolve.CompareJSON(nil, raw(`null`))
	require.NoError(t, err)
	assert.Equal(t, -1, c, "absent is least")
	c, err = resolve.CompareJSON(raw(`1.0`), raw(`1`))
	require.NoError(t, err)
	assert.Equal(t, 0, c, "numbers by value")
}

// FuzzMergeDocs checks that a merge of any three objects is a JSON object
// holding what encoding/json reads in them, and the same bytes each time.
func FuzzMergeDocs(f *testing.F) {
	f.Add(`{"a":1}`, `{"a":2,"b":[1,"x"]}`, `{"a":3,"c":{"d":"\u00e9\n"}}`)
	f.Add(`{}`, `{"a":"\ud800"}`, `{"a":1e5}`)
	p := resolve.MergeParams{Default: resolve.FieldRule{Rule: resolve.MergeTheirs}}
	f.Fuzz(func(t *testing.T, base, mine, theirs string) {
		got, _, err := resolve.MergeDocs(raw(base), raw(mine), raw(theirs), p)
		if err != nil {
			return
		}
		again, _, err := resolve.MergeDocs(raw(base), raw(mine), raw(theirs), p)
		require.NoError(t, err)
		require.Equal(t, got, again)
		var out map[string]any
		require.NoError(t, json.Unmarshal(got, &out), "%s", got)
		// mine == theirs merges to theirs, as encoding/json reads it.
		same, _, err := resolve.MergeDocs(raw(base), raw(theirs), raw(theirs), p)
		require.NoError(t, err)
		var want map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(theirs)))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&want))
		for k := range want {
			if strings.HasPrefix(k, "_") && k != "_id" && k != "_rev" {
				delete(want, k)
			}
		}
		dec = json.NewDecoder(bytes.NewReader(same))
		dec.UseNumber()
		var have map[string]any
		require.NoError(t, dec.Decode(&have))
		require.Equal(t, want, have)
	})
}

// TestMergeDocsReuse checks that merges one after the other and at the
// same time, which share the storage MergeDocs reuses, each give what a
// merge alone gives.
func TestMergeDocsReuse(t *testing.T) {
	p := mustParams(t, `{"fields":{"tags":"union","n":"counter","o.m":"max"}}`)
	inputs := [][3]string{
		{`{"n":1,"tags":["a"],"o":{"m":1}}`, `{"n":2,"tags":["a","b"],"o":{"m":3}}`, `{"n":5,"tags":["c"],"o":{"m":2,"z":[1,{"k":"v"}]}}`},
		{`{"x":{"y":{"z":1}}}`, `{"x":{"y":{"z":2}},"n":0.5}`, `{"x":{"y":{"z":1,"w":2}},"n":0.25}`},
		{`{}`, `{"s":"` + strings.Repeat("é", 300) + `"}`, `{"t":[` + strings.Repeat(`{"a":1},`, 200) + `1]}`},
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		got, _, err := resolve.MergeDocs(raw(in[0]), raw(in[1]), raw(in[2]), p)
		require.NoError(t, err)
		want[i] = string(got)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for k := range 50 {
				i := (g + k) % len(inputs)
				in := inputs[i]
				got, _, mergeErr := resolve.MergeDocs(raw(in[0]), raw(in[1]), raw(in[2]), p)
				if mergeErr != nil || string(got) != want[i] {
					err = fmt.Errorf("merge %d of goroutine %d: %s, %v; want %s", k, g, got, mergeErr, want[i])
					break
				}
			}
			done <- err
		}()
	}
	for range 4 {
		assert.NoError(t, <-done)
	}
}

// TestMergeDocsAllocs checks that a merge of small documents allocates
// its result and the path of a nested field it merges, and not one value
// per field: garbage collection is what a merge in a WebAssembly guest
// cost most.
func TestMergeDocsAllocs(t *testing.T) {
	p := mustParams(t, fruitParams)
	base := raw(`{"_id":"f1","_rev":"3-a","tastings":4,"updated_on":"2026-12-01T10:00:01.000000Z","color":"red","notes":{"a":"x"}}`)
	mine := raw(`{"_id":"f1","_rev":"3-a","tastings":5,"updated_on":"2026-12-01T10:00:03.000000Z","color":"red","notes":{"a":"y"}}`)
	theirs := raw(`{"_id":"f1","_rev":"4-b","tastings":5,"updated_on":"2026-12-01T10:00:02.000000Z","color":"red","notes":{"a":"x","b":"z"}}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := resolve.MergeDocs(base, mine, theirs, p); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 3.0, "allocations per merge")
}
