package resolve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeConflictFast checks the fast decoder against encoding/json:
// whatever it accepts, encoding/json must decode to the same conflict.
func FuzzDecodeConflictFast(f *testing.F) {
	for _, s := range []string{
		`{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":3,"elapsed_ms":0,"base":null,"mine":null,"theirs":null,"conflicts":[],"base_missing":false}`,
		`{"abi":1,"kind":"replication","op":"update","db":"d","id":"x","attempt":1,"elapsed_ms":-5,"base":{"a":[1,2,{"b":"c\"}"}]},"mine":"s","theirs":true,"conflicts":[{"_rev":"1-a"},null,2],"base_missing":true}`,
		` { "abi" : 1 , "abi":2 } `,
		`{}`,
		`{"abi":1.0}`,
		`{"abi":01}`,
		`{"abi":99999999999999999999}`,
		`{"ABI":1}`,
		`{"id":"caf\u00e9"}`,
		`{"id":"café"}`,
		`{"base":{"a":tru}}`,
		`{"conflicts":null}`,
		`{"conflicts":[1,]}`,
		`{"abi":1} x`,
		`{"base":"\"}`,
		`{"db":null}`,
	} {
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
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeConflictFast(b)
		if !ok {
			return
		}
		var slow Conflict
		if err := decodeOne(b, &slow, false); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", b, err)
		}
		slow.Base, slow.Mine, slow.Theirs = nullToNil(slow.Base), nullToNil(slow.Mine), nullToNil(slow.Theirs)
		for i, c := range slow.Conflicts {
			slow.Conflicts[i] = nullToNil(c)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("decoding %q:\nfast %#v\nslow %#v", b, fast, slow)
		}
	})
}

func TestDecodeConflictFastAcceptsHostOutput(t *testing.T) {
	c := &Conflict{ABI: 1, Kind: KindWrite, Op: OpUpdate, DB: "fruits", ID: "apple", Attempt: 2, ElapsedMS: 17,
		Theirs: json.RawMessage(`{"_id":"apple","tags":["a","b"],"n":1.5e3}`)}
	b, err := EncodeConflict(c)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeConflictFast(b)
	if !ok {
		t.Fatalf("the fast decoder refused what EncodeConflict wrote: %s", b)
	}
	if string(got.Theirs) != string(c.Theirs) || got.ID != "apple" || got.Attempt != 2 || got.ElapsedMS != 17 {
		t.Errorf("decodeConflictFast(%s) = %+v", b, got)
	}
}

// FuzzEncodeDecisionFast checks that the fast encoder, when it takes a
// decision, writes exactly what encoding/json writes.
func FuzzEncodeDecisionFast(f *testing.F) {
	f.Add("retry", int64(50), "retry 1 of 20 after 50 ms", "")
	f.Add("fail", int64(0), `conflict on "a<b>&c": giving up`, "")
	f.Add("accept", int64(0), "", "")
	f.Add("merge", int64(-3), "ünïcødé\x00\x7f", "")
	f.Add("merge", int64(0), "merged", `{"_id": "a", "n": [1, 2.5e3, "\u00e9 é"]}`)
	f.Add("merge", int64(0), "merged", `{"a": "<b>", "c": "\u2028"}`)
	f.Fuzz(func(t *testing.T, action string, delay int64, reason, doc string) {
		d := Decision{Action: Action(action), DelayMS: delay, Reason: reason}
		if doc != "" {
			d.Doc = json.RawMessage(doc)
		}
		want, err := json.Marshal(d)
		if err != nil {
			if _, ok := appendDecisionFast(nil, d); ok {
				t.Fatalf("appendDecisionFast(%+v) took what encoding/json refuses: %v", d, err)
			}
			return
		}
		got, ok := appendDecisionFast(nil, d)
		if ok && string(got) != string(want) {
			t.Fatalf("appendDecisionFast(%+v) = %s, encoding/json says %s", d, got, want)
		}
		if plainJSON(action) && plainJSON(reason) && d.Doc == nil && !ok {
			t.Fatalf("appendDecisionFast(%+v) refused a plain decision", d)
		}
	})
}

func TestEncodeDecisionFastLeavesHTMLInDocumentsToEncodingJSON(t *testing.T) {
	plain := Decision{Action: ActionMerge, Doc: json.RawMessage(`{"_id": "a"}`)}
	got, ok := appendDecisionFast(nil, plain)
	if !ok || string(got) != `{"action":"merge","doc":{"_id":"a"}}` {
		t.Fatalf("appendDecisionFast(%+v) = %s, %v", plain, got, ok)
	}
	html := Decision{Action: ActionMerge, Doc: json.RawMessage(`{"_id": "<a>"}`)}
	if _, ok := appendDecisionFast(nil, html); ok {
		t.Fatal("appendDecisionFast took a document that encoding/json escapes")
	}
	got, err := EncodeDecision(html)
	if err != nil || string(got) != `{"action":"merge","doc":{"_id":"\u003ca\u003e"}}` {
		t.Fatalf("EncodeDecision(%+v) = %s, %v", html, got, err)
	}
}

func FuzzEncodeConflictFast(f *testing.F) {
	f.Add(1, "write", "update", "fruits", "apple", 3, int64(12), false)
	f.Add(-7, "replication", "delete", "a/b$c", "_design/x y", 0, int64(-1), true)
	f.Add(1, "write", "create", "d<b>", "ünï", 1, int64(0), false)
	f.Fuzz(func(t *testing.T, abi int, kind, op, db, id string, attempt int, elapsed int64, missing bool) {
		c := &Conflict{ABI: abi, Kind: Kind(kind), Op: Op(op), DB: db, ID: id, Attempt: attempt, ElapsedMS: elapsed, BaseMissing: missing}
		cc := *c
		cc.Conflicts = []json.RawMessage{}
		want, err := json.Marshal(&cc)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeConflictFast(c)
		if ok && string(got) != string(want) {
			t.Fatalf("encodeConflictFast(%+v) = %s, encoding/json says %s", c, got, want)
		}
	})
}

// FuzzDecodeDecisionFast checks that the fast decoder, when it takes an
// input, decodes what encoding/json decodes.
func FuzzDecodeDecisionFast(f *testing.F) {
	f.Add([]byte(`{"action":"retry","delay_ms":57,"reason":"retry 3 of 20 after 57 ms"}`))
	f.Add([]byte(`{"action":"merge","doc":{"_id":"a","n":[1,2]},"reason":""}`))
	f.Add([]byte(` {"action":"fail","delay_ms":-0,"doc":null} `))
	f.Add([]byte(`{"action":"accept","extra":1}`))
	f.Add([]byte(`{"action":"retry","delay_ms":1e3}`))
	f.Add([]byte(`{"action":"retry","action":"fail"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := decodeDecisionFast(in)
		if !ok {
			return
		}
		var want Decision
		if err := decodeOne(in, &want, false); err != nil {
			t.Fatalf("decodeDecisionFast(%q) took what encoding/json refuses: %v", in, err)
		}
		got.Doc, want.Doc = nullToNil(got.Doc), nullToNil(want.Doc)
		if got.Action != want.Action || got.DelayMS != want.DelayMS || got.Reason != want.Reason || string(got.Doc) != string(want.Doc) {
			t.Fatalf("decodeDecisionFast(%q) = %+v, encoding/json says %+v", in, got, want)
		}
	})
}
