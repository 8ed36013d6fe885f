package tamper_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/tamper"
)

// TestCanonicalRFC8785 checks Canonical against the examples of RFC 8785.
func TestCanonicalRFC8785(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// Section 3.2.2 (and Appendix, the full example).
			name: "section 3.2.2",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			// Section 3.2.3: sorting by UTF-16 code units.
			name: "section 3.2.3",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\"," +
				"\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{name: "nested objects sorted too", in: `{"b":{"z":1,"a":[{"y":2,"x":1}]},"a":0}`, want: `{"a":0,"b":{"a":[{"x":1,"y":2}],"z":1}}`},
		{name: "numbers CouchDB may rewrite", in: `[1.0,1e2,100,-0,0.0,1E-7,1e21,123456789012345678901234]`, want: `[1,100,100,0,0,1e-7,1e+21,1.2345678901234569e+23]`},
		{name: "empty containers", in: ` { "a" : [ ] , "b" : { } } `, want: `{"a":[],"b":{}}`},
		{name: "escapes", in: `"\u0000\u001f\b\f\t\u007f\u2028"`, want: "\"\\u0000\\u001f\\b\\f\\t\u007f\u2028\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tamper.Canonical([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got), "Canonical(%q)", tt.in)
		})
	}
}

// TestAppendNumberRFC8785 checks number formatting against the table of
// RFC 8785 section 3.2.2.3 (and Appendix B), given as IEEE 754 bits.
func TestAppendNumberRFC8785(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		f := math.Float64frombits(tt.bits)
		got := string(tamper.AppendNumber(nil, f))
		assert.Equal(t, tt.want, got, "AppendNumber(%#016x)", tt.bits)
	}
}

// TestCanonicalRefuses checks that input without a canonical form is
// refused with ErrNotCanonicalizable.
func TestCanonicalRefuses(t *testing.T) {
	deep := ""
	for range tamper.MaxDepth + 1 {
		deep += "["
	}
	for _, in := range []string{`{"a":1,"a":2}`, `1e999`, `{"a":}`, `{} {}`, ``, deep} {
		_, err := tamper.Canonical([]byte(in))
		assert.ErrorIs(t, err, tamper.ErrNotCanonicalizable, "Canonical(%.20q)", in)
	}
}

// FuzzCanonical checks Canonical against encoding/json: its output is
// JSON meaning what the input means, and canonical already.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1.5,"x\u0001",null,true]}`, `1e21`, `"\ud83d\ude00"`, `{"\ufb33":0,"\ud83d\ude00":1}`, `[0.1,-0,1E400]`,
		`"\ud800\u0041"`, `"\udc00\ud800"`, `{"a":"\u00e9\/\t"}`, `[01]`, `[1.]`, `-`, "\"\x01\"", "\"\xff\xfe\"", ` [ 1 , { } , [ ] ] `, `{"a":1,}`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := tamper.Canonical(in)
		if err != nil {
			// What encoding/json accepts is refused only for a name given
			// twice, a number out of range or too deep a nesting.
			if json.Valid(in) {
				msg := err.Error()
				require.True(t, strings.Contains(msg, "given twice") || strings.Contains(msg, "out of range") || strings.Contains(msg, "nested deeper"),
					"Canonical(%q) refused valid JSON: %v", in, err)
			}
			return
		}
		var a, b any
		require.NoError(t, json.Unmarshal(in, &a), "Canonical accepted what encoding/json refuses: %q", in)
		require.NoError(t, json.Unmarshal(out, &b), "Canonical(%q) = %q, not JSON", in, out)
		assert.Equal(t, a, b, "Canonical(%q) = %q changed the meaning", in, out)
		again, err := tamper.Canonical(out)
		require.NoError(t, err)
		assert.Equal(t, string(out), string(again), "Canonical is not idempotent on %q", in)
	})
}

// TestSignRefusesDuplicates checks that a member given twice is refused
// wherever it is, around members the signature leaves out too, in small
// and large objects.
func TestSignRefusesDuplicates(t *testing.T) {
	s := signer(t, ring(t, "dup", "k1"))
	many := ""
	for i := range 40 {
		many += fmt.Sprintf(`"m%d":%d,`, i, i)
	}
	for _, doc := range []string{
		`{"a":1,"_id":"x","a":2}`,
		`{"_rev":"1-a","b":1,"_rev":"2-b"}`,
		`{"a":1,"accord_signature":1,"accord_signature":2}`,
		`{` + many + `"m3":0}`,
		`{"o":{` + many + `"m39":1}}`,
	} {
		_, err := s.Sign("x", []byte(doc))
		assert.ErrorIs(t, err, tamper.ErrNotCanonicalizable, "Sign(%.60s)", doc)
	}
}
