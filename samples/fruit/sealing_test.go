package fruit_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/resolve"
	"github.com/accord-db/accord/samples/fruit"
)

// TestSensitivePropertiesRefusedWithoutSecure checks that a service
// without the sensitive properties refuses them (400, nothing written),
// so that it never stores a PIN or an e-mail in plain text, and has no
// PIN check.
func TestSensitivePropertiesRefusedWithoutSecure(t *testing.T) {
	e := newEnvWith(t, sampletest.NewDB(t, false), resolve.Basic())
	for _, body := range []string{`{"color":"red","grower_pin":"1234"}`, `{"color":"red","grower_email":"a@example.com"}`} {
		status, _ := e.do("POST", "/v1.0/fruits", "application/json", body)
		assert.Equal(t, http.StatusBadRequest, status, "POST %s", body)
	}
	status, body := e.do("GET", "/v1.0/fruits", "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body, "nothing was written")
	id := e.create("red")["fruit_id"].(string)
	status, _ = e.do("POST", "/v1.0/fruits/"+id+"/pin", "application/json", `{"pin":"1234"}`)
	assert.Equal(t, http.StatusNotFound, status)
}

// TestSealingConfig checks the tamper and secure sections: key files
// relative to the config, the variable winning over the file, and errors
// that name the source but never show a key.
func TestSealingConfig(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", keys.Size)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "signing.keys"), []byte("file1 "+key+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enc.keys"), []byte("enc1 "+key+"\n"), 0o600))
	write := func(yaml string) string {
		p := filepath.Join(dir, "config.yaml")
		require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
		return p
	}

	c, err := fruit.LoadConfig(write("tamper:\n  keys: {file: signing.keys}\nsecure:\n  encryption_keys: {file: enc.keys}\n  bcrypt_cost: 4\n"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "signing.keys"), c.Tamper.Keys.File)
	signer, props, err := fruit.OpenSealing(c)
	require.NoError(t, err)
	assert.NotNil(t, signer)
	assert.NotNil(t, props)

	none, err := fruit.LoadConfig(write("log: info\n"))
	require.NoError(t, err)
	signer, props, err = fruit.OpenSealing(none)
	require.NoError(t, err)
	assert.Nil(t, signer, "signing is off without keys")
	assert.Nil(t, props)

	t.Setenv("FRUIT_TEST_SIGNING_KEYS", "not a ring "+key)
	c, err = fruit.LoadConfig(write("tamper:\n  keys: {env: FRUIT_TEST_SIGNING_KEYS, file: signing.keys}\n"))
	require.NoError(t, err)
	_, _, err = fruit.OpenSealing(c)
	require.ErrorIs(t, err, keys.ErrInvalid, "the variable wins over the file")
	assert.Contains(t, err.Error(), "FRUIT_TEST_SIGNING_KEYS")
	assert.NotContains(t, err.Error(), key)

	c, err = fruit.LoadConfig(write("tamper:\n  keys: {file: missing.keys}\n"))
	require.NoError(t, err)
	_, _, err = fruit.OpenSealing(c)
	assert.ErrorIs(t, err, os.ErrNotExist)

	for _, bad := range []string{"secure:\n  bcrypt_cost: 10\n", "secure:\n  encryption_keys: {file: enc.keys}\n  bcrypt_cost: 3\n", "tamper:\n  key: x\n"} {
		_, err := fruit.LoadConfig(write(bad))
		assert.Error(t, err, "LoadConfig(%q)", bad)
	}
}
