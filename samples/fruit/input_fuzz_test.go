package fruit

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadBody checks request-body validation on any Content-Type and
// body: it never panics; what it accepts is a JSON object holding exactly
// a non-empty color of at most 64 characters, decoded as encoding/json
// decodes it; what it refuses is a *badRequest with a known name.
func FuzzReadBody(f *testing.F) {
	f.Add("application/json", []byte(`{"color":"red"}`))
	f.Add("application/json; charset=UTF-8", []byte(` {"color":"grün"} `))
	f.Add("application/json", []byte(`{"color":""}`))
	f.Add("application/json", []byte(`{"color":"red","extra":1}`))
	f.Add("application/json", []byte(`{"color":"red"}{"color":"blue"}`))
	f.Add("application/json", []byte(`{"color":"\ud800"}`))
	f.Add("application/json", []byte(`["color"]`))
	f.Add("application/json", []byte(``))
	f.Add("text/plain", []byte(`{"color":"red"}`))
	f.Add("application/json; charset=latin1", []byte(`{"color":"red"}`))
	f.Add("application/json", []byte(`{"color":"`+strings.Repeat("a", 65)+`"}`))
	f.Add("application/json", []byte(`{"color":1e400}`))
	names := []string{"bad_content_type", "body_too_large", "bad_body", "bad_json"}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r := httptest.NewRequest("POST", "/v1.0/fruits", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		var dst fruitBody
		err := readJSON(r, bodySchema, &dst)
		if err != nil {
			br, ok := errors.AsType[*badRequest](err)
			if !ok {
				t.Fatalf("readBody(%q, %q) = %v, not a *badRequest", ct, body, err)
			}
			if !slices.Contains(names, br.name) {
				t.Fatalf("readBody(%q, %q): unknown error name %q", ct, body, br.name)
			}
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("readBody(%q, %q) accepted what encoding/json refuses: %v", ct, body, err)
		}
		color, ok := m["color"].(string)
		if len(m) != 1 || !ok {
			t.Fatalf("readBody(%q, %q) accepted %v, want exactly a string color", ct, body, m)
		}
		if color != dst.Color || color == "" || utf8.RuneCountInString(color) > 64 {
			t.Fatalf("readBody(%q, %q) accepted color %q (decoded %q)", ct, body, dst.Color, color)
		}
	})
}
