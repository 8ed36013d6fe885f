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
