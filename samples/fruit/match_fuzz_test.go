package fruit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// hasFruitIDByMap is hasFruitID's slow path alone, as it was before the
// fast path: the reference the fast path is checked against.
func hasFruitIDByMap(id string, raw json.RawMessage) bool {
	var d map[string]json.RawMessage
	if json.Unmarshal(raw, &d) != nil {
		return false
	}
	var typ, fruitID string
	return json.Unmarshal(d["type"], &typ) == nil && json.Unmarshal(d["fruit_id"], &fruitID) == nil &&
		fruitID == id && fruitTypePattern.MatchString(typ)
}

const matchID = "0123456789abcdef0123456789abcdef"

// matchCases are documents a fast path could read differently from the
// exact match, with the answer the view would give.
var matchCases = []struct {
	name string
	doc  string
	want bool
}{
	{"fruit", `{"_id":"x","type":"fruit_v1.0","fruit_id":"` + matchID + `","color":"red"}`, true},
	{"other id", `{"type":"fruit_v1.0","fruit_id":"` + matchID[1:] + `0"}`, false},
	{"not a fruit", `{"type":"apple_v1.0","fruit_id":"` + matchID + `"}`, false},
	{"no type", `{"fruit_id":"` + matchID + `"}`, false},
	{"type not a string", `{"type":1,"fruit_id":"` + matchID + `"}`, false},
	{"fruit_id upper case key only", `{"type":"fruit_v1.0","FRUIT_ID":"` + matchID + `"}`, false},
	{"Type key wins in a struct", `{"type":"fruit_v1.0","Type":"x_v1.0","fruit_id":"` + matchID + `"}`, true},
	{"Fruit_Id after the exact key", `{"type":"fruit_v1.0","fruit_id":"` + matchID + `","Fruit_Id":"nope"}`, true},
	{"Fruit_Id before the exact key", `{"type":"fruit_v1.0","Fruit_Id":"` + matchID + `"}`, false},
	{"escaped key", `{"type":"fruit_v1.0","fruit_\u0069d":"` + matchID + `"}`, true},
	{"escaped upper case key", `{"type":"fruit_v1.0","fruit_\u0049D":"` + matchID + `"}`, false},
	{"kelvin sign", `{"type":"fruit_v1.0","fruit_id":"` + matchID + `","\u212Aey":1}`, true},
	{"duplicate key, last wins", `{"type":"fruit_v1.0","fruit_id":"nope","fruit_id":"` + matchID + `"}`, true},
	{"duplicate key, last loses", `{"type":"fruit_v1.0","fruit_id":"` + matchID + `","fruit_id":"nope"}`, false},
	{"key as a value", `{"type":"fruit_v1.0","color":"fruit_id","fruit_id":"` + matchID + `"}`, true},
	{"nested", `{"type":"fruit_v1.0","x":{"fruit_id":"` + matchID + `"}}`, false},
	{"white space", " \t{ \"type\" :\n\"fruit_v1.0\" , \"fruit_id\"\r: \"" + matchID + "\" } ", true},
	{"brackets in strings and nesting", `{"a":["}",{"fruit_id":"x]"}],"type":"fruit_v1.0","b":{"c":"{"},"fruit_id":"` + matchID + `","n":-1.5e3,"t":true}`, true},
	{"empty object", `{}`, false},
	{"fruit_id a number", `{"type":"fruit_v1.0","fruit_id":12}`, false},
	{"fruit_id null", `{"type":"fruit_v1.0","fruit_id":null}`, false},
	{"a string", `"fruit_v1.0"`, false},
	{"null", `null`, false},
	{"array", `[{"type":"fruit_v1.0","fruit_id":"` + matchID + `"}]`, false},
	{"not JSON", `{"type":"fruit_v1.0",`, false},
}

// TestHasFruitID checks the point read's match on documents whose keys
// differ from "type" and "fruit_id" only in case or escaping, through
// the fast path and the reference alike.
func TestHasFruitID(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, hasFruitIDByMap(matchID, json.RawMessage(tc.doc)), "reference on %s", tc.doc)
			assert.Equal(t, tc.want, hasFruitID(matchID)(json.RawMessage(tc.doc)), "hasFruitID on %s", tc.doc)
		})
	}
}

// FuzzHasFruitID checks that hasFruitID, with its fast path, answers as
// the exact match through a map does, on any document.
func FuzzHasFruitID(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		want := hasFruitIDByMap(matchID, json.RawMessage(doc))
		if got := hasFruitID(matchID)(json.RawMessage(doc)); got != want {
			t.Fatalf("hasFruitID(%q) = %v, the exact match says %v", doc, got, want)
		}
	})
}

// BenchmarkHasFruitID compares the point read's match on a stored fruit
// with its fast path (via=walk) and through a map (via=map).
func BenchmarkHasFruitID(b *testing.B) {
	doc := json.RawMessage(`{"_id":"` + matchID + `","_rev":"3-6f0c0b9a0e7f4d9c8b1a2e3d4c5b6a79","type":"fruit_v1.0",` +
		`"fruit_id":"` + matchID + `","color":"red","tastings":12,"created_on":"2026-12-02T01:02:03.456789Z",` +
		`"updated_on":"2026-12-02T01:02:04.567890Z"}`)
	match := hasFruitID(matchID)
	for _, via := range []struct {
		name string
		f    func() bool
	}{{"walk", func() bool { return match(doc) }}, {"map", func() bool { return hasFruitIDByMap(matchID, doc) }}} {
		b.Run("via="+via.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !via.f() {
					b.Fatal("no match")
				}
			}
		})
	}
}
