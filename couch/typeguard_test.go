package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
