package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/tamper"
)

// keyFile writes a key file of one key, made from seed, and returns its
// path and a signer of the same key.
func keyFile(t *testing.T, seed string) (string, *tamper.Signer) {
	t.Helper()
	key := []byte(strings.Repeat(seed, keys.Size)[:keys.Size])
	path := filepath.Join(t.TempDir(), "signing.keys")
	require.NoError(t, os.WriteFile(path, []byte("# test key\nseed1 "+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600))
	ring, err := keys.New([]string{"seed1"}, [][]byte{key})
	require.NoError(t, err)
	s, err := tamper.New(tamper.Config{Keys: ring})
	require.NoError(t, err)
	return path, s
}

// TestSeedDocSigner checks that -seeddocsigner signs every seed document
// with the service's scheme, that a second run leaves the signed
// documents alone, and that -verify finds nothing wrong, then names the
// one document changed directly in the database, and every unsigned one.
func TestSeedDocSigner(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	file, signer := keyFile(t, "k")
	_, seedIDs := sampleIDs(t)

	first := dbinstall(t, tg.args("-seeddocsigner", file)...)
	require.Equal(t, exitOK, first.code, "stderr: %s", first.stderr)
	assert.NotContains(t, first.stdout+first.stderr, base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", keys.Size))), "the key is never shown")
	for _, id := range seedIDs {
		var raw json.RawMessage
		require.NoError(t, tg.db.Get(ctx, id, &raw))
		assert.NoError(t, signer.Verify(id, raw), "seed document %s", id)
	}

	second := dbinstall(t, tg.args("-seeddocsigner", file)...)
	require.Equal(t, exitOK, second.code, "stderr: %s", second.stderr)
	assert.Contains(t, second.stdout, "done: nothing changed", "signed seed documents already there are left alone")

	ok := dbinstall(t, tg.args("-verify", "-seeddocsigner", file)...)
	require.Equal(t, exitOK, ok.code, "stderr: %s", ok.stderr)
	assert.Equal(t, []string{"verify: 6 documents verified"}, ok.lines(t))

	// Someone edits a seed document in the database.
	var doc map[string]any
	victim := seedIDs[0]
	require.NoError(t, tg.db.Get(ctx, victim, &doc))
	doc["color"] = "forged"
	_, err := tg.db.Put(ctx, victim, doc)
	require.NoError(t, err)

	bad := dbinstall(t, tg.args("-verify", "-seeddocsigner", file, "-json")...)
	assert.Equal(t, exitTampered, bad.code, "stderr: %s", bad.stderr)
	var sum summary
	require.NoError(t, json.Unmarshal([]byte(bad.stdout), &sum))
	require.NotNil(t, sum.Verify)
	assert.Equal(t, 6, sum.Verify.Checked)
	assert.Equal(t, []Failure{{ID: victim, Reason: tamper.ReasonMismatch}}, sum.Verify.Failing)
	assert.Contains(t, bad.stderr, "1 of 6 documents")

	// Another key: every document fails, each listed.
	other, _ := keyFile(t, "o")
	wrong := dbinstall(t, tg.args("-verify", "-seeddocsigner", other)...)
	assert.Equal(t, exitTampered, wrong.code)
	assert.Len(t, strings.Split(strings.TrimSpace(wrong.stdout), "\n"), 1+6+1, "%s", wrong.stdout)
}

// TestUnsignedSeedFailsVerify checks that -verify reports seed documents
// installed without a signer.
func TestUnsignedSeedFailsVerify(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	file, _ := keyFile(t, "k")
	require.Equal(t, exitOK, dbinstall(t, tg.args()...).code)
	r := dbinstall(t, tg.args("-verify", "-seeddocsigner", file)...)
	assert.Equal(t, exitTampered, r.code)
	assert.Contains(t, r.stdout, tamper.ReasonUnsigned)
}

func TestSignerFlagErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.keys")
	require.NoError(t, os.WriteFile(bad, []byte("k1 c2VjcmV0LXRvby1zaG9ydA==\n"), 0o600))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing key file", []string{"-seeddocsigner", filepath.Join(t.TempDir(), "none.keys")}, exitBadFiles, "-seeddocsigner: keys: open"},
		{"bad key file", []string{"-seeddocsigner", bad}, exitBadFiles, "line 1: the key is not base64 of 32 bytes"},
		{"verify without keys", []string{"-verify"}, exitUsage, "-verify needs the keys"},
		{"verify with delete", []string{"-verify", "-seeddocsigner", bad, "-delete=true"}, exitUsage, "does not go with -delete=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dbinstall(t, append([]string{"-host", "http://127.0.0.1:1"}, tt.args...)...)
			assert.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.NotContains(t, r.stderr, "c2VjcmV0LXRvby1zaG9ydA", "the key is never shown")
		})
	}
}
