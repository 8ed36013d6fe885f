package keys_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/keys"
)

var (
	k1 = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("1", keys.Size)))
	k2 = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("2", keys.Size)))
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		ids      []string
	}{
		{"lines and comments", "# comment; with a semicolon\n\nnew " + k2 + "\n  old " + k1 + "  \n", []string{"new", "old"}},
		{"semicolons, as in a variable", "new " + k2 + ";old " + k1, []string{"new", "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := keys.Parse([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.ids, r.IDs())
			id, key := r.Active()
			assert.Equal(t, tt.ids[0], id)
			assert.Equal(t, strings.Repeat("2", keys.Size), string(key))
		})
	}
}

// TestParseRefuses checks bad rings, and that no error shows a key.
func TestParseRefuses(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	for _, in := range []string{"", "# only a comment", "k1", "k1 " + short, "k1 " + k1 + "\nk1 " + k2, "bad/id " + k1, "k1 " + k1 + " extra"} {
		_, err := keys.Parse([]byte(in))
		require.ErrorIs(t, err, keys.ErrInvalid, "Parse(%q)", in)
		assert.NotContains(t, err.Error(), k1)
		assert.NotContains(t, err.Error(), short)
	}
}

// TestLoad checks that the variable wins over the file, and that neither
// the ring's String nor %#v shows a key.
func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ring.keys")
	require.NoError(t, os.WriteFile(file, []byte("fromfile "+k1+"\n"), 0o600))
	r, err := keys.Load("", file)
	require.NoError(t, err)
	assert.Equal(t, []string{"fromfile"}, r.IDs())

	t.Setenv("ACCORD_TEST_KEYS", "fromenv "+k2)
	r, err = keys.Load("ACCORD_TEST_KEYS", file)
	require.NoError(t, err)
	assert.Equal(t, []string{"fromenv"}, r.IDs())
	for _, s := range []string{r.String(), fmt.Sprintf("%v %+v %#v %s", r, r, r, r)} {
		assert.NotContains(t, s, k2)
		assert.NotContains(t, s, strings.Repeat("2", 8))
	}

	t.Setenv("ACCORD_TEST_KEYS", "")
	_, err = keys.Load("ACCORD_TEST_KEYS", "")
	assert.ErrorIs(t, err, keys.ErrNoSource)
	_, err = keys.Load("", filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
