package resolve_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/resolve"
)

func conflict() *resolve.Conflict {
	return &resolve.Conflict{
		ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
		DB: "fruits", ID: "apple", Attempt: 1,
	}
}

func TestDecisionValidate(t *testing.T) {
	tests := []struct {
		name    string
		d       resolve.Decision
		wantErr string // "" means valid
	}{
		{"retry", resolve.Decision{Action: resolve.ActionRetry}, ""},
		{"retry with delay", resolve.Decision{Action: resolve.ActionRetry, DelayMS: 250}, ""},
		{"retry at the longest delay", resolve.Decision{Action: resolve.ActionRetry, DelayMS: resolve.MaxDelay}, ""},
		{"accept", resolve.Decision{Action: resolve.ActionAccept, Reason: "theirs is newer"}, ""},
		{"fail", resolve.Decision{Action: resolve.ActionFail, Reason: "no"}, ""},
		{"merge", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_id":"apple","n":2}`)}, ""},
		{"merge without _id", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"n":2}`)}, ""},
		{"reason at the limit", resolve.Decision{Action: resolve.ActionFail, Reason: strings.Repeat("x", resolve.MaxReasonBytes)}, ""},

		{"empty action", resolve.Decision{}, `unknown action ""`},
		{"unknown action", resolve.Decision{Action: "explode"}, `unknown action "explode"`},
		{"negative delay", resolve.Decision{Action: resolve.ActionRetry, DelayMS: -1}, "delay_ms -1 outside"},
		{"absurd delay", resolve.Decision{Action: resolve.ActionRetry, DelayMS: resolve.MaxDelay + 1}, "outside [0, 60000]"},
		{"delay on fail", resolve.Decision{Action: resolve.ActionFail, DelayMS: 5}, `delay_ms 5 on action "fail"`},
		{"delay on merge", resolve.Decision{Action: resolve.ActionMerge, DelayMS: 5, Doc: resolve.RawJSON(`{}`)}, `on action "merge"`},
		{"reason too long", resolve.Decision{Action: resolve.ActionFail, Reason: strings.Repeat("x", resolve.MaxReasonBytes+1)}, "reason is 4097 bytes"},
		{"reason not UTF-8", resolve.Decision{Action: resolve.ActionFail, Reason: "\xff"}, "not valid UTF-8"},
		{"doc on retry", resolve.Decision{Action: resolve.ActionRetry, Doc: resolve.RawJSON(`{}`)}, `doc on action "retry"`},
		{"doc on accept", resolve.Decision{Action: resolve.ActionAccept, Doc: resolve.RawJSON(`{}`)}, `doc on action "accept"`},
		{"merge without doc", resolve.Decision{Action: resolve.ActionMerge}, "merge without a doc"},
		{"merge doc is an array", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`[1]`)}, "not a JSON object"},
		{"merge doc is not JSON", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{`)}, "not a JSON object"},
		{"merge doc with another _id", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_id":"pear"}`)}, `_id "pear", the conflict is about "apple"`},
		{"merge doc with a numeric _id", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_id":7}`)}, "_id 7"},
		{"merge doc that deletes", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_deleted":true,"n":2}`)}, `special field "_deleted"`},
		{"merge doc with attachments", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_attachments":{}}`)}, `special field "_attachments"`},
		{"merge doc with _rev", resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_id":"apple","_rev":"2-x","n":2}`)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate(conflict())
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, resolve.ErrInvalidDecision)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestDecodeDecision(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    resolve.Decision
		wantErr string
	}{
		{"retry", `{"action":"retry","delay_ms":40,"reason":"r"}`, resolve.Decision{Action: resolve.ActionRetry, DelayMS: 40, Reason: "r"}, ""},
		{"white space around", " \n{\"action\":\"accept\"}\n ", resolve.Decision{Action: resolve.ActionAccept}, ""},
		{"unknown fields ignored", `{"action":"fail","future":true}`, resolve.Decision{Action: resolve.ActionFail}, ""},
		{"null doc is no doc", `{"action":"fail","doc":null}`, resolve.Decision{Action: resolve.ActionFail}, ""},
		{"merge doc kept raw", `{"action":"merge","doc":{"a": 1}}`, resolve.Decision{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"a": 1}`)}, ""},

		{"empty", ``, resolve.Decision{}, "EOF"},
		{"bad JSON", `{"action":`, resolve.Decision{}, "unexpected EOF"},
		{"not an object", `[]`, resolve.Decision{}, "cannot unmarshal array"},
		{"trailing data", `{"action":"fail"} {"action":"retry"}`, resolve.Decision{}, "trailing data"},
		{"trailing garbage", `{"action":"fail"}x`, resolve.Decision{}, "trailing data"},
		{"fractional delay", `{"action":"retry","delay_ms":1.5}`, resolve.Decision{}, "delay_ms"},
		{"huge delay", `{"action":"retry","delay_ms":1e30}`, resolve.Decision{}, "delay_ms"},
		{"reason not a string", `{"action":"fail","reason":1}`, resolve.Decision{}, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve.DecodeDecision([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, resolve.ErrInvalidDecision)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "DecodeDecision(%q)", tt.in)
		})
	}
}

func TestDecodeConflict(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *resolve.Conflict
		wantErr string
	}{
		{
			name: "write with documents",
			in:   `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":2,"elapsed_ms":7,"base":{"a":1},"mine":{"a":2},"theirs":{"a":3},"conflicts":[],"base_missing":false}`,
			want: &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 2, ElapsedMS: 7,
				Base: resolve.RawJSON(`{"a":1}`), Mine: resolve.RawJSON(`{"a":2}`), Theirs: resolve.RawJSON(`{"a":3}`), Conflicts: []resolve.RawJSON{}},
		},
		{
			name: "null documents are nil",
			in:   `{"abi":1,"kind":"replication","op":"delete","db":"d","id":"x","attempt":1,"base":null,"mine":null,"theirs":null,"base_missing":true}`,
			want: &resolve.Conflict{ABI: 1, Kind: resolve.KindReplication, Op: resolve.OpDelete, DB: "d", ID: "x", Attempt: 1, BaseMissing: true},
		},
		{
			name: "unknown fields ignored",
			in:   `{"abi":1,"kind":"write","op":"create","db":"d","id":"x","attempt":1,"later":{}}`,
			want: &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpCreate, DB: "d", ID: "x", Attempt: 1},
		},
		{name: "bad JSON", in: `{"abi":1,`, wantErr: "unexpected EOF"},
		{name: "trailing data", in: `{"abi":1,"kind":"write","op":"create"} 1`, wantErr: "trailing data"},
		{name: "missing abi", in: `{"kind":"write","op":"create"}`, wantErr: "abi 0, want 1"},
		{name: "abi 2", in: `{"abi":2,"kind":"write","op":"create"}`, wantErr: "abi 2, want 1"},
		{name: "unknown kind", in: `{"abi":1,"kind":"merge","op":"create"}`, wantErr: `unknown kind "merge"`},
		{name: "unknown op", in: `{"abi":1,"kind":"write","op":"upsert"}`, wantErr: `unknown op "upsert"`},
		{name: "null", in: `null`, wantErr: "abi 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve.DecodeConflict([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, resolve.ErrInvalidConflict)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConflictRoundTrip(t *testing.T) {
	c := conflict()
	c.Theirs = resolve.RawJSON(`{"_id":"apple","color":"red"}`)
	b, err := resolve.EncodeConflict(c)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"base":null`)
	assert.Contains(t, string(b), `"conflicts":[]`)
	assert.Nil(t, c.Conflicts, "EncodeConflict must not modify its argument")
	got, err := resolve.DecodeConflict(b)
	require.NoError(t, err)
	want := *c
	want.Conflicts = []resolve.RawJSON{}
	assert.Equal(t, &want, got)
}

func TestDecisionRoundTrip(t *testing.T) {
	for _, d := range []resolve.Decision{
		{Action: resolve.ActionRetry, DelayMS: 12, Reason: "r"},
		{Action: resolve.ActionMerge, Doc: resolve.RawJSON(`{"_id":"apple"}`)},
		{Action: resolve.ActionAccept},
	} {
		b, err := resolve.EncodeDecision(d)
		require.NoError(t, err)
		got, err := resolve.DecodeDecision(b)
		require.NoError(t, err)
		assert.Equal(t, d, got, "DecodeDecision(EncodeDecision(%+v))", d)
	}
}

func TestDescriptionHas(t *testing.T) {
	assert.True(t, resolve.Description{}.Has(resolve.NeedBase), "a description without needs gets everything")
	none := resolve.Description{Needs: []resolve.Need{}}
	for _, n := range resolve.AllNeeds {
		assert.False(t, none.Has(n), "empty needs has %s", n)
	}
	theirs := resolve.Description{Needs: []resolve.Need{resolve.NeedTheirs}}
	assert.True(t, theirs.Has(resolve.NeedTheirs))
	assert.False(t, theirs.Has(resolve.NeedMine))

	b, err := json.Marshal(resolve.BackoffDescription)
	require.NoError(t, err)
	var back resolve.Description
	require.NoError(t, json.Unmarshal(b, &back))
	assert.NotNil(t, back.Needs, "an empty needs list must survive JSON as empty, not absent")
	assert.Empty(t, back.Needs)
}

// TestValidateClipsGuestText checks that an error about a decision quotes
// at most MaxClipBytes of what the plugin wrote, however much it wrote.
func TestValidateClipsGuestText(t *testing.T) {
	huge := strings.Repeat("é", 2<<20) // 4 MiB
	c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 1}
	tests := []struct {
		name string
		d    resolve.Decision
	}{
		{"action", resolve.Decision{Action: resolve.Action(huge)}},
		{"merge _id", resolve.Decision{Action: resolve.ActionMerge, Doc: []byte(`{"_id":"` + huge + `"}`)}},
		{"special field", resolve.Decision{Action: resolve.ActionMerge, Doc: []byte(`{"_` + huge + `":1}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate(c)
			require.ErrorIs(t, err, resolve.ErrInvalidDecision)
			assert.Less(t, len(err.Error()), 4*resolve.MaxClipBytes+200, "Validate(%s) error is %d bytes", tt.name, len(err.Error()))
			assert.Contains(t, err.Error(), "bytes)")
			assert.True(t, utf8.ValidString(err.Error()))
		})
	}
	assert.Equal(t, "short", resolve.Clip("short"))
}

// TestDecodeConflictIntoReuses checks what DecodeConflictInto keeps from
// call to call: the DB and ID strings spelt the same again, documents
// that are slices of the input, and so no allocation for a conflict like
// the last.
func TestDecodeConflictIntoReuses(t *testing.T) {
	in := []byte(`{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":2,` +
		`"base":{"a":1},"mine":{"a":2},"theirs":{"a":3},"conflicts":[{"a":4},null],"base_missing":false}`)
	var c resolve.Conflict
	require.NoError(t, resolve.DecodeConflictInto(in, &c))
	assert.Equal(t, resolve.RawJSON(`{"a":2}`), c.Mine)
	assert.Equal(t, []resolve.RawJSON{resolve.RawJSON(`{"a":4}`), nil}, c.Conflicts)
	in[len(`{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":2,"base":{"a":1},"mine":{"a":`)] = '7'
	assert.Equal(t, resolve.RawJSON(`{"a":7}`), c.Mine, "a document is a slice of the input")

	tests := []struct {
		name, in, db, id string
	}{
		{"same db, other id", `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"pear"}`, "fruits", "pear"},
		{"escaped db", `{"abi":1,"kind":"write","op":"update","db":"fr\u0075its","id":"pear"}`, "fruits", "pear"},
		{"null db", `{"abi":1,"kind":"write","op":"update","db":null,"id":"pear"}`, "", "pear"},
		{"no id", `{"abi":1,"kind":"write","op":"update","db":"veg"}`, "veg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, resolve.DecodeConflictInto([]byte(tt.in), &c))
			assert.Equal(t, tt.db, c.DB)
			assert.Equal(t, tt.id, c.ID)
			assert.Nil(t, c.Mine)
		})
	}

	in = []byte(`{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":2,"elapsed_ms":0,` +
		`"base":{"a":1},"mine":{"a":2},"theirs":{"a":3},"conflicts":[],"base_missing":false}`)
	allocs := testing.AllocsPerRun(100, func() {
		if err := resolve.DecodeConflictInto(in, &c); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations to decode a conflict like the last")
}
