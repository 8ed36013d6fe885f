package secure_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/secure"
)

func ring(t *testing.T, ids ...string) *keys.Ring {
	t.Helper()
	var ks [][]byte
	for _, id := range ids {
		ks = append(ks, bytes.Repeat([]byte(id), keys.Size)[:keys.Size])
	}
	r, err := keys.New(ids, ks)
	require.NoError(t, err)
	return r
}

var model = secure.Model{Bcrypt: []string{"pin"}, Lookup: []string{"email_hash"}, Encrypted: []string{"email", "address"}}

func props(t *testing.T, enc ...string) *secure.Properties {
	t.Helper()
	p, err := secure.New(secure.Config{Model: model, EncryptionKeys: ring(t, enc...), Pepper: ring(t, "p1"), BcryptCost: 4})
	require.NoError(t, err)
	return p
}

const plain = `{"_id":"d1","type":"grower_v1.0","pin":"4321","email_hash":"ann@example.com","email":"ann@example.com","address":{"city":"Lyon"},"name":"Ann"}`

func members(t *testing.T, doc []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &m))
	return m
}

// TestSealOpen checks that no sensitive value is left in plain text, that
// Open gives the encrypted ones back, that hashes are kept as they are
// on a rewrite, and that a PIN and a lookup value can be checked.
func TestSealOpen(t *testing.T) {
	p := props(t, "e1")
	sealed, err := p.Seal("d1", []byte(plain))
	require.NoError(t, err)
	for _, secret := range []string{"4321", "ann@example.com", "Lyon"} {
		assert.NotContains(t, string(sealed), secret)
	}
	m := members(t, sealed)
	assert.JSONEq(t, `"Ann"`, string(m["name"]), "other properties untouched")

	opened, err := p.Open("d1", sealed)
	require.NoError(t, err)
	o := members(t, opened)
	assert.JSONEq(t, `"ann@example.com"`, string(o["email"]))
	assert.JSONEq(t, `{"city":"Lyon"}`, string(o["address"]))
	assert.Equal(t, m["pin"], o["pin"], "hashes are left as stored")

	again, err := p.Seal("d1", opened)
	require.NoError(t, err)
	a := members(t, again)
	assert.Equal(t, m["pin"], a["pin"], "a bcrypt hash is not hashed again")
	assert.Equal(t, m["email_hash"], a["email_hash"], "a lookup hash is not hashed again")
	assert.NotEqual(t, m["email"], a["email"], "a fresh nonce on every write")

	var pin, lookup string
	require.NoError(t, json.Unmarshal(m["pin"], &pin))
	require.NoError(t, json.Unmarshal(m["email_hash"], &lookup))
	assert.True(t, p.Check(pin, "4321"))
	assert.False(t, p.Check(pin, "1234"))
	assert.True(t, p.MatchLookup(lookup, "ann@example.com"))
	assert.False(t, p.MatchLookup(lookup, "bob@example.com"))
	assert.Contains(t, p.LookupHashes("ann@example.com"), lookup)
}

// TestRotation checks that after a new key is added in front, documents
// written with the old key still open, and are written with the new key.
func TestRotation(t *testing.T) {
	old := props(t, "e1")
	sealed, err := old.Seal("d1", []byte(plain))
	require.NoError(t, err)

	rotated := props(t, "e2", "e1")
	opened, err := rotated.Open("d1", sealed)
	require.NoError(t, err)
	assert.JSONEq(t, `"ann@example.com"`, string(members(t, opened)["email"]))
	resealed, err := rotated.Seal("d1", opened)
	require.NoError(t, err)
	var email string
	require.NoError(t, json.Unmarshal(members(t, resealed)["email"], &email))
	assert.Equal(t, "e2", secure.KeyID(email))

	_, err = props(t, "e2").Open("d1", sealed)
	assert.ErrorIs(t, err, secure.ErrUndecryptable, "the old key dropped: old documents no longer open")
}

// TestOpenRefuses checks the ciphertexts Open refuses, and that its
// errors show neither the value nor a key.
func TestOpenRefuses(t *testing.T) {
	p := props(t, "e1")
	sealed, err := p.Seal("d1", []byte(plain))
	require.NoError(t, err)
	m := members(t, sealed)
	var email string
	require.NoError(t, json.Unmarshal(m["email"], &email))
	tests := []struct {
		name  string
		id    string
		email any
	}{
		{"plain text", "d1", "ann@example.com"},
		{"a flipped character", "d1", email[:len(email)-3] + flip(email[len(email)-3]) + email[len(email)-2:]},
		{"unknown key id", "d1", strings.Replace(email, ":e1:", ":e9:", 1)},
		{"moved to another document", "d2", email},
		{"not a string", "d1", 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := members(t, sealed)
			m["email"], _ = json.Marshal(tt.email)
			doc, _ := json.Marshal(m)
			_, err := p.Open(tt.id, doc)
			require.ErrorIs(t, err, secure.ErrUndecryptable)
			assert.NotContains(t, err.Error(), "ann@")
			assert.NotContains(t, err.Error(), "e1e1e1")
		})
	}
	t.Run("moved to another property", func(t *testing.T) {
		m := members(t, sealed)
		m["address"] = m["email"]
		doc, _ := json.Marshal(m)
		_, err := p.Open("d1", doc)
		assert.ErrorIs(t, err, secure.ErrUndecryptable)
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestSealRefusesBadValues(t *testing.T) {
	p := props(t, "e1")
	for _, doc := range []string{`{"pin":1234}`, `{"pin":"` + strings.Repeat("9", 73) + `"}`, `{"email_hash":true}`} {
		_, err := p.Seal("d", []byte(doc))
		assert.ErrorIs(t, err, secure.ErrInvalidValue, "Seal(%s)", doc)
	}
}
