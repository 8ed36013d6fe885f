package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The package's JSON (json.go) is checked here against encoding/json, its
// reference: on valid input it must give what encoding/json gives, and on
// anything else an error, never a panic. The fuzzers' seeds (f.Add and
// testdata/fuzz) run as ordinary tests; a short search is
//
//	go test -run '^$' -fuzz '^FuzzDecodeConflictJSON$' -fuzztime 60s ./resolve/

// refDecode decodes exactly one JSON value from b into v with
// encoding/json, as the package did before it had its own decoder:
// anything but white space after it is an error, and so is an unknown
// field if strict.
func refDecode(b []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return errors.New("trailing data")
	}
	return nil
}

// jsonSeeds are inputs every decoder fuzzer starts from: the edges of
// JSON's grammar and of encoding/json's decoding.
var jsonSeeds = []string{
	`{}`, ` { } `, `null`, ` null `, `[]`, `"x"`, `1`, ``, ` `, `{`, `}`, `{} x`, `{}{}`,
	`{"abi":1.0}`, `{"abi":01}`, `{"abi":-0}`, `{"abi":1e2}`, `{"abi":99999999999999999999}`, `{"abi":null}`,
	`{"ABI":1}`, `{"Kind":"write"}`, `{"\u0061bi":1}`, `{"ba\u017fe":{}}`, `{"ba\u017Fe":{}}`, `{"\u212aind":"write"}`, `{"kınd":"write"}`,
	`{"id":"caf\u00e9"}`, `{"id":"café"}`, `{"id":"\ud83d\ude00"}`, `{"id":"\ud800"}`, `{"id":"\ud800\u0041"}`, `{"id":"\udc00\ud800"}`,
	"{\"id\":\"\xff\xfe\"}", "{\"id\":\"a\x01\"}", `{"id":"\x"}`, `{"id":"\u12"}`, `{"id":"\/\b\f\n\r\t\"\\"}`,
	`{"base":{"a":tru}}`, `{"base":{"a":[1,2,{"b":"c\"}"}]}}`, `{"base":null,"base":{"x":1}}`, `{"conflicts":null}`, `{"conflicts":[1,]}`,
	`{"conflicts":[null,{"_rev":"1-a"},2]}`, `{"conflicts":{}}`, `{"base_missing":"true"}`, `{"base_missing":null}`, `{"db":null}`, `{"db":5}`,
	`{"action":"retry","delay_ms":57,"reason":"r"}`, `{"action":"merge","doc":{"_id":"a"}}`, `{"action":"retry","action":"fail"}`,
	`{"DELAY_MS":3}`, `{"doc":null}`, `{"doc": [ 1 , 2 ] }`, `{"reason":"<b>&\u2028"}`,
	`{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `[1 2]`, `-`, `1.`, `1e`, `.5`, `+1`, `0x1`, `tru`, `nul`, `"\u00`,
	`{"max_retries":3}`, `{"MAX_RETRIES":3}`, `{"max_retries":"3"}`, `{"max_retries":3.0}`, `{"jitter":"equal","jitter_ms":5}`,
	`{"fields":{"a":"max"},"fields":{"b":"min"}}`, `{"fields":{"a":{"latest_by":"t"}}}`, `{"fields":{"a":{"LATEST_BY":"t","x":1}}}`,
	`{"fields":null}`, `{"default":null}`, `{"on_base_missing":null}`, `{"fields":{"a":null}}`, `{"fields":{"a":{}}}`,
	"{\"action\":\"fail\"}\u00a0", "null\f", "{}\v\u2028", "\u00a0{}", "1\f",
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	`{"base":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat("}", 200) + `}`,
}

func addSeeds(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "conflicts", "*.json"))
	for _, file := range files {
		var fx struct {
			Cases []struct {
				Conflict json.RawMessage `json:"conflict"`
			} `json:"cases"`
		}
		if data, err := os.ReadFile(file); err == nil && json.Unmarshal(data, &fx) == nil {
			for _, c := range fx.Cases {
				f.Add([]byte(c.Conflict))
			}
		}
	}
}

// FuzzDecodeConflictJSON checks the conflict decoder against
// encoding/json: the same conflicts accepted, decoded alike (but for
// null documents, which it leaves nil), the same refused.
func FuzzDecodeConflictJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Conflict
		err := decodeConflict(b, &got, false)
		var want Conflict
		wantErr := refDecode(b, &want, false)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decodeConflict(%q) error %v, encoding/json's %v", b, err, wantErr)
		}
		if err != nil {
			return
		}
		want.Base, want.Mine, want.Theirs = nullToNil(want.Base), nullToNil(want.Mine), nullToNil(want.Theirs)
		for i, c := range want.Conflicts {
			want.Conflicts[i] = nullToNil(c)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeConflict(%q):\n got %#v\nwant %#v", b, got, want)
		}
		// Into a Conflict that held another (DecodeConflictInto's case):
		// the documents are slices of b, the strings kept if the same.
		again := Conflict{DB: "fruits", ID: "\xff"}
		if err := decodeConflict(b, &again, true); err != nil {
			t.Fatalf("decodeConflict(%q) into a used Conflict: %v", b, err)
		}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("decodeConflict(%q) into a used Conflict:\n got %#v\nwant %#v", b, again, want)
		}
	})
}

// FuzzDecodeDecisionJSON checks the decision decoder against
// encoding/json.
func FuzzDecodeDecisionJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeDecision(b)
		var want Decision
		wantErr := refDecode(b, &want, false)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeDecision(%q) error %v, encoding/json's %v", b, err, wantErr)
		}
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidDecision)
			return
		}
		want.Doc = nullToNil(want.Doc)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeDecision(%q):\n got %#v\nwant %#v", b, got, want)
		}
	})
}

// FuzzValidJSON checks the scanner and compaction against encoding/json.
func FuzzValidJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b)
		if got := validDocument(b); got != want {
			t.Fatalf("validDocument(%q) = %v, json.Valid says %v", b, got, want)
		}
		depth, ok := validJSON(b, maxJSONDepth)
		if ok != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, ok, want)
		}
		if !ok {
			return
		}
		if depth != depthOf(b) {
			t.Fatalf("validJSON(%q) depth %d, want %d", b, depth, depthOf(b))
		}
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, b))
		var got bytes.Buffer
		writeCompact(&got, b)
		if !bytes.Equal(got.Bytes(), compact.Bytes()) {
			t.Fatalf("writeCompact(%q) = %q, want %q", b, got.Bytes(), compact.Bytes())
		}
		marshalled, err := json.Marshal(json.RawMessage(b))
		require.NoError(t, err)
		if raw, err := appendRaw(nil, b); err != nil || !bytes.Equal(raw, marshalled) {
			t.Fatalf("appendRaw(%q) = %q, %v; json.Marshal says %q", b, raw, err, marshalled)
		}
	})
}

// FuzzStringJSON checks string encoding and decoding against
// encoding/json.
func FuzzStringJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<a href='x'>&amp;</a>", "\u2028\u2029", "\x00\x1f\x7f", "\xff\xc3", "ünïcødé 😀", "\b\f\n\r\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got := appendString(nil, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, json.Marshal says %s", s, got, want)
		}
		// s as the inside of a string token, escapes and all.
		tok := append(append([]byte{'"'}, s...), '"')
		if end, ok := scanString(tok, 0); ok && end == len(tok) {
			var want string
			require.NoError(t, json.Unmarshal(tok, &want), "scanString took %q", tok)
			if got := unquote(tok); got != want {
				t.Fatalf("unquote(%q) = %q, json.Unmarshal says %q", tok, got, want)
			}
		} else if json.Valid(tok) {
			t.Fatalf("scanString refused %q, which encoding/json takes", tok)
		}
	})
}

// FuzzEncodeConflictJSON checks that EncodeConflict writes what
// json.Marshal writes, and refuses what it refuses.
func FuzzEncodeConflictJSON(f *testing.F) {
	f.Add(1, "write", "update", "fruits", "apple", 3, int64(12), false, "", "", `{"_id":"apple", "n":1}`, "")
	f.Add(-7, "replication", "delete", "a/b$c", "_design/x y", 0, int64(-1), true, `{"a":"<b>"}`, `null`, `[1, 2]`, `{"_rev":"1-a"}`)
	f.Add(1, "write", "create", "d<b>", "ünï\xff", 1, int64(0), false, `{`, "", "", "")
	f.Add(1, "write", "create", "d", "\u2028", 1, int64(0), false, " ", "", "", "x")
	f.Fuzz(func(t *testing.T, abi int, kind, op, db, id string, attempt int, elapsed int64, missing bool, base, mine, theirs, conflict string) {
		raw := func(s string) RawJSON {
			if s == "" {
				return nil
			}
			return RawJSON(s)
		}
		c := &Conflict{ABI: abi, Kind: Kind(kind), Op: Op(op), DB: db, ID: id, Attempt: attempt, ElapsedMS: elapsed, BaseMissing: missing,
			Base: raw(base), Mine: raw(mine), Theirs: raw(theirs)}
		if conflict != "" {
			c.Conflicts = []RawJSON{raw(conflict), nil}
		}
		cc := *c
		if cc.Conflicts == nil {
			cc.Conflicts = []RawJSON{}
		}
		want, wantErr := json.Marshal(&cc)
		got, err := EncodeConflict(c)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("EncodeConflict(%+v) error %v, json.Marshal's %v", c, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("EncodeConflict(%+v) = %s, json.Marshal says %s", c, got, want)
		}
	})
}

// FuzzEncodeDecisionJSON checks that EncodeDecision writes what
// json.Marshal writes, and refuses what it refuses.
func FuzzEncodeDecisionJSON(f *testing.F) {
	f.Add("retry", int64(50), "retry 1 of 20 after 50 ms", "")
	f.Add("fail", int64(0), `conflict on "a<b>&c": giving up`, "")
	f.Add("merge", int64(-3), "ünïcødé\x00\x7f\xff", "")
	f.Add("merge", int64(0), "merged", `{"_id": "a", "n": [1, 2.5e3, "\u00e9 é"]}`)
	f.Add("merge", int64(0), "merged", `{"a": "<b>", "c": "`+"\u2028"+`"}`)
	f.Add("merge", int64(0), "", `{"a": }`)
	f.Fuzz(func(t *testing.T, action string, delay int64, reason, doc string) {
		d := Decision{Action: Action(action), DelayMS: delay, Reason: reason}
		if doc != "" {
			d.Doc = RawJSON(doc)
		}
		want, wantErr := json.Marshal(d)
		got, err := EncodeDecision(d)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("EncodeDecision(%+v) error %v, json.Marshal's %v", d, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("EncodeDecision(%+v) = %s, json.Marshal says %s", d, got, want)
		}
	})
}

// refParseRetryParams, refParseBackoffParams and refParseMergeParams
// decode parameters with encoding/json, as the package did, and then
// build the params with the package's code.
func refParseRetryParams(raw []byte) (RetryParams, error) {
	var in struct {
		MaxRetries *int `json:"max_retries"`
	}
	if err := refDecodeParams(raw, &in); err != nil {
		return RetryParams{}, err
	}
	var p RetryParams
	if in.MaxRetries != nil {
		p.MaxRetries = explicit(*in.MaxRetries)
	}
	return p, p.validate()
}

func refDecodeParams(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return refDecode(raw, v, true)
}

func refParseMergeFields(raw []byte) (fields map[string]json.RawMessage, def json.RawMessage, retries *int, missing string, err error) {
	var in struct {
		Fields      map[string]json.RawMessage `json:"fields"`
		Default     json.RawMessage            `json:"default"`
		MaxRetries  *int                       `json:"max_retries"`
		BaseMissing string                     `json:"on_base_missing"`
	}
	err = refDecodeParams(raw, &in)
	return in.Fields, in.Default, in.MaxRetries, in.BaseMissing, err
}

func refParseRule(raw json.RawMessage) (FieldRule, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		if name == string(MergeLatestBy) {
			return FieldRule{}, errors.New("latest_by needs its field")
		}
		return FieldRule{Rule: MergeRule(name)}, nil
	}
	var obj struct {
		LatestBy *string `json:"latest_by"`
	}
	if err := refDecode(raw, &obj, true); err != nil || obj.LatestBy == nil {
		return FieldRule{}, errRuleForm
	}
	return FieldRule{Rule: MergeLatestBy, By: *obj.LatestBy}, nil
}

// FuzzParamsJSON checks the parameters' decoders against encoding/json's
// strict decoding.
func FuzzParamsJSON(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseRetryParams(b)
		want, wantErr := refParseRetryParams(b)
		if (err == nil) != (wantErr == nil) || got != want {
			t.Fatalf("ParseRetryParams(%q) = %+v, %v; with encoding/json %+v, %v", b, got, err, want, wantErr)
		}

		var in struct {
			MaxRetries *int    `json:"max_retries"`
			BaseMS     *int    `json:"base_ms"`
			Jitter     *string `json:"jitter"`
			JitterMS   *int    `json:"jitter_ms"`
			MaxDelayMS *int    `json:"max_delay_ms"`
		}
		wantErr = refDecodeParams(b, &in)
		_, err = ParseBackoffParams(b)
		if wantErr != nil && err == nil {
			t.Fatalf("ParseBackoffParams(%q) took what encoding/json refuses: %v", b, wantErr)
		}
		var gotIn struct {
			MaxRetries, BaseMS, JitterMS, MaxDelayMS *int
			Jitter                                   *string
		}
		err = decodeParams(b, []paramField{
			{"max_retries", optInt(&gotIn.MaxRetries)},
			{"base_ms", optInt(&gotIn.BaseMS)},
			{"jitter", optString(&gotIn.Jitter)},
			{"jitter_ms", optInt(&gotIn.JitterMS)},
			{"max_delay_ms", optInt(&gotIn.MaxDelayMS)},
		})
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("decoding backoff params %q: error %v, encoding/json's %v", b, err, wantErr)
		}
		if err == nil {
			assert.Equal(t, in.MaxRetries, gotIn.MaxRetries)
			assert.Equal(t, in.BaseMS, gotIn.BaseMS)
			assert.Equal(t, in.Jitter, gotIn.Jitter)
			assert.Equal(t, in.JitterMS, gotIn.JitterMS)
			assert.Equal(t, in.MaxDelayMS, gotIn.MaxDelayMS)
		}

		mp, err := ParseMergeParams(b)
		fields, def, retries, missing, wantErr := refParseMergeFields(b)
		if wantErr != nil {
			if err == nil {
				t.Fatalf("ParseMergeParams(%q) took what encoding/json refuses: %v", b, wantErr)
			}
			return
		}
		if err != nil && !strings.Contains(err.Error(), "merge params: field") && !strings.Contains(err.Error(), "merge params: default") &&
			!strings.Contains(err.Error(), "on_base_missing") && !strings.Contains(err.Error(), "max_retries") && !strings.Contains(err.Error(), "fields, at most") {
			t.Fatalf("ParseMergeParams(%q) refused what encoding/json decodes: %v", b, err)
		}
		if err != nil {
			return
		}
		assert.Equal(t, missing, mp.OnBaseMissing)
		if retries != nil {
			assert.Equal(t, explicit(*retries), mp.MaxRetries)
		}
		assert.Len(t, mp.Fields, len(fields))
		for path, raw := range fields {
			r, err := refParseRule(raw)
			require.NoError(t, err, "ParseMergeParams(%q) took rule %s", b, raw)
			assert.Equal(t, r, mp.Fields[path])
		}
		if def != nil {
			r, err := refParseRule(def)
			require.NoError(t, err)
			assert.Equal(t, r, mp.Default)
		}
	})
}

func TestKeyIsFoldsAsEncodingJSON(t *testing.T) {
	tests := []struct {
		key  string
		name string
		want bool
	}{
		{`"abi"`, "abi", true},
		{`"ABI"`, "abi", true},
		{`"\u0041bi"`, "abi", true},
		{`"ba\u017fe"`, "base", true},
		{"\"\u212aind\"", "kind", true},
		{`"kınd"`, "kind", false},
		{`"abi "`, "abi", false},
		{`"ab"`, "abi", false},
		{"\"ab\xff\"", "abi", false},
	}
	for _, tt := range tests {
		var v struct {
			Kind int `json:"kind"`
			Base int `json:"base"`
			ABI  int `json:"abi"`
		}
		require.NoError(t, json.Unmarshal([]byte(`{`+tt.key+`:1}`), &v))
		ref := map[string]int{"kind": v.Kind, "base": v.Base, "abi": v.ABI}[tt.name] == 1
		require.Equal(t, tt.want, ref, "the table disagrees with encoding/json on %s", tt.key)
		assert.Equal(t, tt.want, keyIs([]byte(tt.key), tt.name), "keyIs(%s, %q)", tt.key, tt.name)
	}
}

func TestDecodeTopRefusesHostileInputWithoutPanicking(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("[", 1<<20),
		strings.Repeat(`{"a":`, 20000),
		`"` + strings.Repeat(`\u`, 1000),
		strings.Repeat(" ", 1<<16),
	} {
		_, err := decodeTop([]byte(in))
		assert.ErrorIs(t, err, errJSONSyntax)
		_, err = DecodeDecision([]byte(in))
		assert.ErrorIs(t, err, ErrInvalidDecision)
		_, err = DecodeConflict([]byte(in))
		assert.ErrorIs(t, err, ErrInvalidConflict)
	}
}

func TestDecimalMatchesTheMergesFormat(t *testing.T) {
	tests := []struct {
		mine, theirs, base string
		want               string
	}{
		{"5", "4", "3", "6"},
		{"1.5", "1.5", "0", "3"},
		{"0.1", "0.2", "0", "0.3"},
		{"-0.5", "0", "0", "-0.5"},
		{"1.50", "0", "0", "1.50"},
		{"1e2", "1", "0", "101"},
		{"1e-3", "0", "0", "0.001"},
		{"-1", "1", "0", "0"},
		{"12345678901234567890", "1", "0", "12345678901234567891"},
		{"1E+2", "-1e2", "100", "-100"},
	}
	for _, tt := range tests {
		var sum decimal
		scale := 0
		for i, s := range []string{tt.mine, tt.theirs, tt.base} {
			d, sc, err := parseNumber([]byte(s))
			require.NoError(t, err)
			scale = max(scale, sc)
			if i == 2 && len(d.digits) > 0 {
				d.neg = !d.neg
			}
			sum = addDecimal(sum, d)
		}
		assert.Equal(t, tt.want, sum.format(scale), "%s + %s - %s", tt.mine, tt.theirs, tt.base)
	}
}

func TestAppendStringIsUTF8(t *testing.T) {
	assert.True(t, utf8.Valid(appendString(nil, "\xff\xfe")))
}

func TestSyntaxErrorsNameTheByte(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":x}`, `invalid character 'x' at offset 5`},
		{`{"a":1}}`, `trailing data after the JSON value at offset 7`},
		{`{'a':1}`, `invalid character '\'' at offset 1`},
		{"{\xff}", `invalid character '\xff' at offset 1`},
		{`{"a":`, `unexpected EOF`},
		{` `, `EOF`},
	}
	for _, tt := range tests {
		_, err := decodeTop([]byte(tt.in))
		require.ErrorIs(t, err, errJSONSyntax, "decodeTop(%q)", tt.in)
		assert.Contains(t, err.Error(), tt.want, "decodeTop(%q)", tt.in)
	}
}
