package couch_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

func TestCheckType(t *testing.T) {
	tests := []struct {
		doc  string
		want string // "" for no error
	}{
		{`{"type":"fruit_v1.0"}`, ""},
		{`{"type":"fruit_v12.34","color":"red"}`, ""},
		{`{"type":"a.b-c_v0.0"}`, ""},
		{`{"type":"fruit_v1"}`, `does not match`},
		{`{"type":"fruit_1.0"}`, `does not match`},
		{`{"type":"fruit v_v1.0"}`, `does not match`},
		{`{"type":"_v1.0"}`, `does not match`},
		{`{"type":"fruit_v1.0 "}`, `does not match`},
		{`{"type":"fruit_v1.0\n"}`, `does not match`},
		{`{"type":""}`, `does not match`},
		{`{"type":1}`, `not a string`},
		{`{"type":null}`, `no "type" property`},
		{`{"color":"red"}`, `no "type" property`},
		{`[]`, `not a JSON object`},
	}
	for _, tt := range tests {
		err := couch.CheckType([]byte(tt.doc))
		if tt.want == "" {
			assert.NoError(t, err, "CheckType(%s)", tt.doc)
			continue
		}
		assert.ErrorIs(t, err, couch.ErrInvalidType, "CheckType(%s)", tt.doc)
		assert.ErrorContains(t, err, tt.want, "CheckType(%s)", tt.doc)
	}
}

// TestCheckTypeBoundsWhatItRepeats: a bad "type" from a client or the
// database is repeated in the error only in part, since errors reach logs
// and HTTP answers.
func TestCheckTypeBoundsWhatItRepeats(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, doc := range []string{
		`{"type":[` + strings.Repeat(`"`+long[:1000]+`",`, 100) + `1]}`, // not a string
		`{"type":"` + long + `"}`, // does not match
	} {
		err := couch.CheckType([]byte(doc))
		require.ErrorIs(t, err, couch.ErrInvalidType)
		assert.Less(t, len(err.Error()), 300, "the error repeats %d bytes of a %d-byte document", len(err.Error()), len(doc))
	}
}
