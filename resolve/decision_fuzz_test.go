package resolve

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeDecision checks the decision decoder and validation as the
// host runs them on a plugin's answer: whatever the bytes, no panic; an
// error matches ErrInvalidDecision; a decision that validates is within
// its bounds, and encodes and decodes back to itself.
func FuzzDecodeDecision(f *testing.F) {
	f.Add([]byte(`{"action":"retry","delay_ms":57,"reason":"retry 3 of 20"}`))
	f.Add([]byte(`{"action":"merge","doc":{"_id":"a","type":"fruit_v1.0","n":[1,2]}}`))
	f.Add([]byte(`{"action":"merge","doc":{"_id":"b"}}`))
	f.Add([]byte(`{"action":"merge","doc":{"_deleted":true}}`))
	f.Add([]byte(`{"action":"merge","doc":[1]}`))
	f.Add([]byte(`{"action":"accept","doc":null}`))
	f.Add([]byte(`{"action":"fail","reason":"\udc00"}`))
	f.Add([]byte(`{"action":"retry","delay_ms":1e18}`))
	f.Add([]byte(`{"action":"retry","delay_ms":-1}`))
	f.Add([]byte(`{"action":"RETRY"}`))
	f.Add([]byte(`{"action":"fail"} {"action":"retry"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	c := &Conflict{ABI: ABIVersion, Kind: KindWrite, Op: OpUpdate, DB: "db", ID: "a", Attempt: 1}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := DecodeDecision(in)
		if err == nil {
			err = d.Validate(c)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidDecision) {
				t.Fatalf("DecodeDecision(%q): error %v does not match ErrInvalidDecision", in, err)
			}
			return
		}
		if !d.Action.Valid() || d.DelayMS < 0 || d.DelayMS > MaxDelay || len(d.Reason) > MaxReasonBytes || !utf8.ValidString(d.Reason) {
			t.Fatalf("DecodeDecision(%q) = %+v validated, out of bounds", in, d)
		}
		if (d.Action == ActionMerge) != (d.Doc != nil) {
			t.Fatalf("DecodeDecision(%q) = %+v validated, doc on the wrong action", in, d)
		}
		if d.Doc != nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(d.Doc, &m); err != nil || m == nil {
				t.Fatalf("DecodeDecision(%q): merge doc %s is not an object", in, d.Doc)
			}
		}
		b, err := EncodeDecision(d)
		if err != nil {
			t.Fatalf("EncodeDecision(%+v): %v", d, err)
		}
		back, err := DecodeDecision(b)
		if err != nil {
			t.Fatalf("DecodeDecision(EncodeDecision(%+v)) = %v", d, err)
		}
		if err := back.Validate(c); err != nil {
			t.Fatalf("round trip of %+v no longer validates: %v", d, err)
		}
		if back.Action != d.Action || back.DelayMS != d.DelayMS || back.Reason != d.Reason || !sameJSON(back.Doc, d.Doc) {
			t.Fatalf("round trip of %q: %+v, then %+v", in, d, back)
		}
	})
}

// sameJSON says whether a and b are the same JSON value (or both absent).
func sameJSON(a, b RawJSON) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
