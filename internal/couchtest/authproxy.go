package couchtest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
)

// AuthProxy starts a TLS server (self-signed) in front of the test server
// that demands basic auth with user and password, answering 401 as
// CouchDB does otherwise. It passes requests on with the test server's own
// credentials, so it works in front of pouchdb-server (which has no
// users) and of a CouchDB reached with COUCHDB_URL's credentials.
func AuthProxy(t testing.TB, user, password string) *httptest.Server {
	t.Helper()
	upstream := URL(t)
	upstreamUser := upstream.User
	upstream.User = nil
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unauthorized","reason":"Name or password is incorrect."}`))
			return
		}
		r.Header.Del("Authorization")
		if upstreamUser != nil {
			pw, _ := upstreamUser.Password()
			r.SetBasicAuth(upstreamUser.Username(), pw)
		}
		proxy.ServeHTTP(w, r)
	}))
	// A client that does not trust the certificate hangs up in the
	// handshake; tests do that on purpose.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
