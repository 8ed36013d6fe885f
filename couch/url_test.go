package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

// badCredentialURLs are URLs whose password is not percent-encoded, each
// with the pieces of the password that must never be printed. Each of
// them either fails url.Parse with a message quoting the password, or
// parses with the password in the host, path, query or fragment.
var badCredentialURLs = []struct {
	name   string
	raw    string
	secret []string
}{
	{"slash", "http://admin:hun/ter2@127.0.0.1:5984/accord_sample", []string{"hun", "ter2"}},
	{"slash, digits", "http://admin:4242/2424@127.0.0.1:5984/accord_sample", []string{"4242", "2424"}},
	{"hash", "http://admin:hun#ter2@127.0.0.1:5984/accord_sample", []string{"hun", "ter2"}},
	{"hash, digits", "http://admin:4242#2424@127.0.0.1:5984/accord_sample", []string{"4242", "2424"}},
	{"question mark", "http://admin:hun?ter2@127.0.0.1:5984/accord_sample", []string{"hun", "ter2"}},
	{"question mark, digits", "http://admin:4242?2424@127.0.0.1:5984/accord_sample", []string{"4242", "2424"}},
	{"invalid port", "http://admin:hunter2@127.0.0.1:hunter2/accord_sample", []string{"hunter2"}},
	{"space", "http://admin:hun ter2@127.0.0.1:5984/accord_sample", []string{"hun", "ter2"}},
	{"bad escape", "http://admin:hun%zzter2@127.0.0.1:5984/accord_sample", []string{"hun", "ter2"}},
	{"no scheme", "admin:hunter2@127.0.0.1:5984", []string{"hunter2"}},
}

func TestParseURLNeverQuotesCredentials(t *testing.T) {
	for _, tt := range badCredentialURLs {
		t.Run(tt.name, func(t *testing.T) {
			u, err := couch.ParseURL(tt.raw)
			require.ErrorIs(t, err, couch.ErrBadURL, "ParseURL(%q) = %v", tt.raw, u)
			_, newErr := couch.New(couch.Config{URL: tt.raw})
			require.ErrorIs(t, newErr, couch.ErrBadURL)
			for _, msg := range []string{err.Error(), newErr.Error()} {
				for _, s := range tt.secret {
					assert.NotContains(t, msg, s)
				}
				assert.Contains(t, msg, "percent-encode")
			}
		})
	}
}

func TestParseURLAcceptsEncodedCredentials(t *testing.T) {
	tests := []struct {
		raw, user, password string
	}{
		{"http://admin:hun%2Fter2@127.0.0.1:5984/accord_sample", "admin", "hun/ter2"},
		{"http://admin:hun%23ter%3F2%40@127.0.0.1:5984", "admin", "hun#ter?2@"},
		{"http://admin:hun@ter2@127.0.0.1:5984", "admin", "hun@ter2"}, // the last '@' ends the user information
		{"https://127.0.0.1:6984", "", ""},
	}
	for _, tt := range tests {
		u, err := couch.ParseURL(tt.raw)
		require.NoError(t, err, tt.raw)
		pw, _ := u.User.Password()
		assert.Equal(t, tt.user, u.User.Username(), tt.raw)
		assert.Equal(t, tt.password, pw, tt.raw)
		assert.NotContains(t, u.Redacted(), "ter2")
	}
}

func TestSplitDatabaseURL(t *testing.T) {
	cases := []struct {
		raw, server, name string
		wantErr           error
	}{
		{raw: "http://127.0.0.1:5984/accord_sample", server: "http://127.0.0.1:5984", name: "accord_sample"},
		{raw: "http://admin:secret@db.example:5984/prefix/accord_sample/", server: "http://admin:secret@db.example:5984/prefix", name: "accord_sample"},
		{raw: "http://127.0.0.1:5984/", wantErr: couch.ErrBadURL},
		{raw: "http://127.0.0.1:5984/Bad", wantErr: couch.ErrInvalidDBName},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			server, name, err := couch.SplitDatabaseURL(tc.raw)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), "secret")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.server, server.String())
			assert.Equal(t, tc.name, name)
		})
	}
}
