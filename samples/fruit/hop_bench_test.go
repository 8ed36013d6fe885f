package fruit_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/samples/fruit"
)

// BenchmarkLoopbackHop measures what one extra loopback HTTP hop in Go
// costs a document GET, the floor under BenchmarkServiceVsCouch's
// service/couch ratio: the same GET of one fruit's document with a bare
// net/http client, straight to CouchDB (via=direct) and through the
// most trivial Go proxy (via=proxy: one net/http server whose handler
// sends the GET on with one net/http client and copies status,
// Content-Type and body back; no routing, no JSON, no logging), in the
// same run. via=ratio interleaves the two and reports proxy/direct and
// the hop's cost in ns.
//
//	go test -run '^$' -bench LoopbackHop -benchtime 2000x ./samples/fruit/
func BenchmarkLoopbackHop(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	fruitID := createFruit(b, serveFruit(b, fruit.Options{DB: db, Logger: discard}))

	// The document's URL on the server, credentials apart, as the couch
	// client sends it.
	u := couchtest.URL(b)
	user := u.User
	u.User = nil
	docURL := u.JoinPath(db.Name(), fruitID)
	auth := func(r *http.Request) {
		if user != nil {
			p, _ := user.Password()
			r.SetBasicAuth(user.Username(), p)
		}
		r.Header.Set("Accept", "application/json")
	}

	upstream := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, docURL.String(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		auth(req)
		resp, err := upstream.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	pln := listen(b)
	go func() { _ = proxy.Serve(pln) }()
	b.Cleanup(func() { _ = proxy.Close() })
	proxyURL := &url.URL{Scheme: "http", Host: pln.Addr().String(), Path: "/doc"}

	get := func(u *url.URL) func(*testing.B) {
		return func(b *testing.B) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			auth(req)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %s", u.Redacted(), resp.Status)
			}
		}
	}
	direct, proxied := get(docURL), get(proxyURL)
	for range 500 {
		direct(b)
		proxied(b)
	}
	for _, via := range []struct {
		name string
		f    func(*testing.B)
	}{{"direct", direct}, {"proxy", proxied}} {
		b.Run("via="+via.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				via.f(b)
			}
		})
	}
	b.Run("via=ratio", func(b *testing.B) {
		var tDirect, tProxy time.Duration
		i := 0
		for b.Loop() {
			for k := range 2 {
				f, t := direct, &tDirect
				if (i+k)%2 == 1 {
					f, t = proxied, &tProxy
				}
				t0 := time.Now()
				f(b)
				*t += time.Since(t0)
			}
			i++
		}
		b.ReportMetric(float64(tDirect.Nanoseconds())/float64(b.N), "direct-ns/op")
		b.ReportMetric(float64(tProxy.Nanoseconds())/float64(b.N), "proxy-ns/op")
		b.ReportMetric(float64((tProxy-tDirect).Nanoseconds())/float64(b.N), "hop-ns/op")
		b.ReportMetric(float64(tProxy)/float64(tDirect), "proxy/direct")
	})
}
