package couch_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

func TestOneLogLinePerRequest(t *testing.T) {
	log, buf := debugLogger()
	u := couchtest.URL(t)
	c, err := couch.New(couch.Config{URL: u.String(), Logger: log})
	require.NoError(t, err)
	db := c.DB(couchtest.NewDB(t))

	_, err = db.Put(ctx, "a/b", map[string]any{"x": 1})
	require.NoError(t, err)
	var v any
	require.ErrorIs(t, db.Get(ctx, "missing", &v), couch.ErrNotFound)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, "one line per request:\n%s", buf.String())
	type line struct {
		Level    string `json:"level"`
		Msg      string `json:"msg"`
		Method   string `json:"method"`
		Path     string `json:"path"`
		Status   int    `json:"status"`
		Duration int64  `json:"duration"`
	}
	var put, get line
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &put))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &get))
	assert.Equal(t, "PUT", put.Method)
	assert.Equal(t, "/"+db.Name()+"/a%2Fb", put.Path)
	assert.Equal(t, 201, put.Status)
	assert.Positive(t, put.Duration)
	assert.Equal(t, "GET", get.Method)
	assert.Equal(t, 404, get.Status)
}

// authProxy demands user "accord" and a password with URL-special
// characters, over TLS with a self-signed certificate.
func authProxy(t *testing.T) *httptest.Server {
	return couchtest.AuthProxy(t, "accord", "s3cret/?#@")
}

func TestAuthAndTLS(t *testing.T) {
	srv := authProxy(t)
	withCreds := strings.Replace(srv.URL, "https://", "https://accord:s3cret%2F%3F%23%40@", 1)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	tests := []struct {
		name    string
		cfg     couch.Config
		wantErr error  // nil: Ping works
		errText string // for transport errors
	}{
		{"self-signed refused", couch.Config{URL: withCreds}, nil, "certificate"},
		{"skip verify, creds in URL", couch.Config{URL: withCreds, InsecureSkipVerify: true}, nil, ""},
		{"trusted CA, creds in config", couch.Config{URL: srv.URL, Username: "accord", Password: "s3cret/?#@", TLSConfig: &tls.Config{RootCAs: pool}}, nil, ""},
		{"config creds override URL", couch.Config{URL: strings.Replace(srv.URL, "https://", "https://bad:bad@", 1), Username: "accord", Password: "s3cret/?#@", InsecureSkipVerify: true}, nil, ""},
		{"no creds", couch.Config{URL: srv.URL, InsecureSkipVerify: true}, couch.ErrUnauthorized, ""},
		{"wrong password", couch.Config{URL: srv.URL, Username: "accord", Password: "nope", InsecureSkipVerify: true}, couch.ErrUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := debugLogger()
			tt.cfg.Logger = log
			c, err := couch.New(tt.cfg)
			require.NoError(t, err)
			err = c.Ping(ctx)
			switch {
			case tt.errText != "":
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errText)
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, 401, couch.HTTPStatus(err))
			default:
				require.NoError(t, err)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), "s3cret")
			}
			assert.NotContains(t, buf.String(), "s3cret", "credentials never reach the log")
			assert.NotContains(t, buf.String(), "accord:", "credentials never reach the log")
			assert.NotContains(t, c.URL().String(), "s3cret")
		})
	}
}

// TestReplicateCarriesCredentials replicates through the authenticating
// proxy by database name: the client must turn the names into URLs that
// carry its credentials, and must not log them.
func TestReplicateCarriesCredentials(t *testing.T) {
	c := newClient(t)
	src := c.DB(couchtest.NewDB(t))
	dst := c.DB(couchtest.NewDB(t))
	_, err := src.Put(ctx, "a", map[string]any{})
	require.NoError(t, err)

	log, buf := debugLogger()
	direct, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: log})
	require.NoError(t, err)
	_, err = direct.Replicate(ctx, couch.Replication{Source: src.Name(), Target: dst.Name()})
	require.NoError(t, err)
	var v any
	require.NoError(t, dst.Get(ctx, "a", &v))
	if pw, ok := couchtest.URL(t).User.Password(); ok {
		assert.NotContains(t, buf.String(), pw)
	}
}

// TestResponseSizeIsBounded: an answer larger than MaxResponseBytes fails
// with ErrResponseTooLarge instead of being read whole, and one within it
// reads as before.
func TestResponseSizeIsBounded(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "big", map[string]any{"pad": strings.Repeat("x", 10<<10)})
	require.NoError(t, err)
	for _, tt := range []struct {
		limit int64
		want  error
	}{
		{4 << 10, couch.ErrResponseTooLarge},
		{64 << 10, nil},
		{-1, nil},
	} {
		c, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), MaxResponseBytes: tt.limit, Logger: discard})
		require.NoError(t, err)
		var raw json.RawMessage
		err = c.DB(db.Name()).Get(ctx, "big", &raw)
		var doc map[string]any
		errStruct := c.DB(db.Name()).Get(ctx, "big", &doc)
		if tt.want != nil {
			assert.ErrorIs(t, err, tt.want, "limit %d, raw", tt.limit)
			assert.ErrorIs(t, errStruct, tt.want, "limit %d, decoded", tt.limit)
			continue
		}
		assert.NoError(t, err, "limit %d", tt.limit)
		assert.NoError(t, errStruct, "limit %d", tt.limit)
		assert.Len(t, doc["pad"], 10<<10)
	}
}
