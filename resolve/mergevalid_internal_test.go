package resolve

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzValidJSON checks validJSON and writeCompact against encoding/json.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-0.5e+3,"\u00e9\n",true,false,null,{}]}`, ` [ ] `, `01`, `"\x"`, `{"a" 1}`, `[1,]`, `-`, `1.`, `1e`, "\"\x01\"", `"\ud800"`, `{}{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		depth, ok := validJSON(b, 1<<20)
		if want := json.Valid(b); ok != want || validDocument(b) != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, ok, want)
		}
		if !ok {
			return
		}
		if depth != depthOf(b) {
			t.Fatalf("validJSON(%q) depth %d, want %d", b, depth, depthOf(b))
		}
		var want bytes.Buffer
		if err := json.Compact(&want, b); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		writeCompact(&got, b)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("writeCompact(%q) = %q, want %q", b, got.Bytes(), want.Bytes())
		}
	})
}
