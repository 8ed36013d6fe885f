package tamper_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/tamper"
	"github.com/accord-db/accord/internal/couchtest"
)

func TestMain(m *testing.M) { os.Exit(couchtest.MainLazy(m)) }

// ring returns a key ring of the ids, each key made from its id and a
// salt, the first active.
func ring(t testing.TB, salt string, ids ...string) *keys.Ring {
	t.Helper()
	var ks [][]byte
	for _, id := range ids {
		k := bytes.Repeat([]byte(salt+id), keys.Size)[:keys.Size]
		ks = append(ks, k)
	}
	r, err := keys.New(ids, ks)
	require.NoError(t, err)
	return r
}

func signer(t testing.TB, r *keys.Ring) *tamper.Signer {
	t.Helper()
	s, err := tamper.New(tamper.Config{Keys: r})
	require.NoError(t, err)
	return s
}

// corpusDoc is the document the corpus tampers with: every JSON type,
// nesting, numbers CouchDB re-encodes (1.0, 1e2, 2.50) and escapes it may
// rewrite, keys out of order.
const corpusDoc = `{"type":"fruit_v1.0","color":"red","fruit_id":"f00d","tastings":3,"ratio":2.50,"weight":1.0,"big":1e2,
 "ripe":true,"rotten":false,"note":null,"tags":["a","b\u00e9"],"grower":{"name":"Ann \u0041","since":2019,"pins":[1,2]},
 "empty":{},"none":[]}`

// mutation is one direct change to a signed document.
type mutation struct {
	name  string
	apply func(doc map[string]any)
}

// mutations lists, for doc, every single-property change, addition,
// removal and type change, at every level; then the signature's
// removal, a key-id swap, signatures from other keys, and a flipped bit.
func mutations(t testing.TB, doc map[string]any, other *tamper.Signer, otherKID string) []mutation {
	var out []mutation
	kinds := []any{"s", json.Number("7"), true, nil, []any{}, map[string]any{}}
	kindOf := func(v any) string { return fmt.Sprintf("%T", v) }
	var walk func(path string, get func(map[string]any) any, set func(map[string]any, any), del func(map[string]any), v any)
	walk = func(path string, get func(map[string]any) any, set func(map[string]any, any), del func(map[string]any), v any) {
		// A change of value within the type.
		var changed any
		switch x := v.(type) {
		case string:
			changed = x + "x"
		case json.Number:
			changed = json.Number(x.String() + "1")
		case bool:
			changed = !x
		case []any:
			changed = append(slices.Clone(x), "added")
		case map[string]any:
			changed = map[string]any{"added": json.Number("1")}
			for k, e := range x {
				changed.(map[string]any)[k] = e
			}
		}
		if changed != nil {
			out = append(out, mutation{"change " + path, func(d map[string]any) { set(d, changed) }})
		}
		for _, k := range kinds {
			if kindOf(k) != kindOf(v) {
				out = append(out, mutation{fmt.Sprintf("type of %s to %s", path, kindOf(k)), func(d map[string]any) { set(d, k) }})
			}
		}
		if del != nil {
			out = append(out, mutation{"remove " + path, del})
		}
		switch x := v.(type) {
		case map[string]any:
			out = append(out, mutation{"add to " + path, func(d map[string]any) { get(d).(map[string]any)["added"] = "x" }})
			for k, e := range x {
				k := k
				walk(path+"."+k,
					func(d map[string]any) any { return get(d).(map[string]any)[k] },
					func(d map[string]any, v any) { get(d).(map[string]any)[k] = v },
					func(d map[string]any) { delete(get(d).(map[string]any), k) }, e)
			}
		case []any:
			for i, e := range x {
				i := i
				walk(fmt.Sprintf("%s[%d]", path, i),
					func(d map[string]any) any { return get(d).([]any)[i] },
					func(d map[string]any, v any) { get(d).([]any)[i] = v },
					nil, e)
			}
		}
	}
	for k, v := range doc {
		if strings.HasPrefix(k, "_") || k == tamper.DefaultField {
			continue
		}
		k := k
		walk(k, func(d map[string]any) any { return d[k] }, func(d map[string]any, v any) { d[k] = v }, func(d map[string]any) { delete(d, k) }, v)
	}
	out = append(out,
		mutation{"add a property", func(d map[string]any) { d["added"] = "x" }},
		mutation{"remove the signature", func(d map[string]any) { delete(d, tamper.DefaultField) }},
		mutation{"signature null", func(d map[string]any) { d[tamper.DefaultField] = nil }},
		mutation{"swap the key id for the other key's", func(d map[string]any) { d[tamper.DefaultField].(map[string]any)["kid"] = "k1" }},
		mutation{"unknown key id", func(d map[string]any) { d[tamper.DefaultField].(map[string]any)["kid"] = "k9" }},
		mutation{"flip a bit of the MAC", func(d map[string]any) {
			sig := d[tamper.DefaultField].(map[string]any)
			mac, _ := base64.RawURLEncoding.DecodeString(sig["hmac"].(string))
			mac[7] ^= 1
			sig["hmac"] = base64.RawURLEncoding.EncodeToString(mac)
		}},
		mutation{"extra member in the signature", func(d map[string]any) { d[tamper.DefaultField].(map[string]any)["alg"] = "none" }},
		mutation{"signed by another key, same key id", func(d map[string]any) { resign(t, other, d) }},
		mutation{"signed by another key, " + otherKID, func(d map[string]any) { resign(t, other, d, otherKID) }},
	)
	return out
}

// resign replaces d's signature with one made by s (with kid, if given,
// put in place of the kid s wrote).
func resign(t testing.TB, s *tamper.Signer, d map[string]any, kid ...string) {
	b, err := json.Marshal(d)
	require.NoError(t, err)
	id, _ := d["_id"].(string)
	signed, err := s.Sign(id, b)
	require.NoError(t, err)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&m))
	if len(kid) > 0 {
		m[tamper.DefaultField].(map[string]any)["kid"] = kid[0]
	}
	d[tamper.DefaultField] = m[tamper.DefaultField]
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&m))
	return m
}

// TestTamperCorpus signs a document, then checks that every mutation of
// the corpus is detected (100 %) and that the untouched document
// verifies: first in memory, then after each version went through the
// database server, which may reorder keys and re-encode numbers and
// strings.
func TestTamperCorpus(t *testing.T) {
	const id = "corpus"
	// k2 signs; k1, the previous key, still verifies.
	s := signer(t, ring(t, "main", "k2", "k1"))
	other := signer(t, ring(t, "other", "k2"))
	otherRing := signer(t, ring(t, "other", "k1"))

	signed, err := s.Sign(id, []byte(`{"_id":"corpus",`+corpusDoc[1:]))
	require.NoError(t, err)
	require.NoError(t, s.Verify(id, signed), "the untouched document")
	require.Error(t, s.Verify("another-id", signed), "the same body under another id")

	base := decode(t, signed)
	muts := mutations(t, base, other, "k1")
	// A key id the verifier knows (k1), with a MAC from another ring's k1.
	muts = append(muts, mutation{"signed by another ring's k1", func(d map[string]any) { resign(t, otherRing, d) }})
	require.Greater(t, len(muts), 60)

	t.Run("memory", func(t *testing.T) {
		detected := 0
		for _, m := range muts {
			d := decode(t, signed)
			m.apply(d)
			b, err := json.Marshal(d)
			require.NoError(t, err)
			err = s.Verify(id, b)
			if assert.ErrorIs(t, err, tamper.ErrTampered, "mutation %q not detected", m.name) {
				detected++
			}
		}
		t.Logf("%d of %d mutations detected", detected, len(muts))
	})

	t.Run("server", func(t *testing.T) {
		ctx := context.Background()
		client, err := couch.New(couch.Config{URL: couchtest.URL(t).String()})
		require.NoError(t, err)
		db := client.DB(couchtest.NewDB(t))
		// The signed document as sent: keys out of order, 1.0, 1e2, \u escapes.
		raw := reversed(t, signed)
		require.Contains(t, string(raw), `1.0`)
		require.Contains(t, string(raw), `1e2`)
		require.Contains(t, string(raw), `\u00e9`)
		require.NoError(t, s.Verify(id, raw), "the hand-spelled body verifies")
		rev, err := db.Put(ctx, id, json.RawMessage(raw))
		require.NoError(t, err)
		var back json.RawMessage
		require.NoError(t, db.Get(ctx, id, &back))
		t.Logf("as the server returns it: %s", back)
		require.NoError(t, s.Verify(id, back), "the untouched document after a round trip")

		detected := 0
		for _, m := range muts {
			d := decode(t, back)
			m.apply(d)
			d["_rev"] = rev
			var err error
			rev, err = db.Put(ctx, id, d)
			require.NoError(t, err, "mutation %q", m.name)
			var stored json.RawMessage
			require.NoError(t, db.Get(ctx, id, &stored))
			if assert.ErrorIs(t, s.Verify(id, stored), tamper.ErrTampered, "mutation %q not detected after the round trip: %s", m.name, stored) {
				detected++
			}
			// Put the untouched document back: it verifies again.
			orig := decode(t, back)
			orig["_rev"] = rev
			rev, err = db.Put(ctx, id, orig)
			require.NoError(t, err)
			require.NoError(t, db.Get(ctx, id, &stored))
			require.NoError(t, s.Verify(id, stored), "the untouched document, written back after %q", m.name)
		}
		t.Logf("%d of %d mutations detected after a round trip through %s", detected, len(muts), couchtest.Vendor(t))
		assert.Equal(t, len(muts), detected)
	})
}

// reversed returns the JSON object doc with its top-level members in the
// reverse order, each spelled as in doc.
func reversed(t testing.TB, doc []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	_, err := dec.Token()
	require.NoError(t, err)
	var members []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
		kb, _ := json.Marshal(k)
		members = append(members, string(kb)+": "+string(v))
	}
	slices.Reverse(members)
	return []byte("{" + strings.Join(members, ", ") + "}")
}
