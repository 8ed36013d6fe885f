package couchtest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// Proxy starts a reverse proxy in front of the test server and returns
// its URL. Every request is handed to before first, so a test can act at
// the exact moment a request is about to reach the server: change a
// document just before a client's write lands, say, to force a conflict.
// The proxy adds the test server's credentials; clients send none.
func Proxy(t testing.TB, before func(r *http.Request)) *url.URL {
	t.Helper()
	forward := forwarder(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before(r)
		forward(w, r)
	}))
	t.Cleanup(srv.Close)
	return serverURL(t, srv)
}

// forwarder returns a handler that passes a request on to the test server
// with the test server's credentials.
func forwarder(t testing.TB) http.HandlerFunc {
	t.Helper()
	upstream := URL(t)
	user := upstream.User
	upstream.User = nil
	rp := httputil.NewSingleHostReverseProxy(upstream)
	return func(w http.ResponseWriter, r *http.Request) {
		if user != nil {
			pw, _ := user.Password()
			r.SetBasicAuth(user.Username(), pw)
		}
		rp.ServeHTTP(w, r)
	}
}

func serverURL(t testing.TB, srv *httptest.Server) *url.URL {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("couchtest: proxy URL: %v", err)
	}
	return u
}
