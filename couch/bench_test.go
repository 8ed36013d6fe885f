package couch_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// BenchmarkGet reads the same document with the client and with a bare
// net/http GET that decodes into the same type, in the same run: the
// difference is the client's overhead (URL building, escaping, logging,
// error handling). Compare the two with benchstat.
func BenchmarkGet(b *testing.B) {
	u := couchtest.URL(b)
	c, err := couch.New(couch.Config{URL: u.String(), Logger: discard})
	require.NoError(b, err)
	db := c.DB(couchtest.NewDB(b))
	_, err = db.Put(ctx, "apple", fruit{Type: "fruit_v1.0", Color: "red"})
	require.NoError(b, err)
	docURL := u.JoinPath(db.Name(), "apple").String()
	// Warm the server up (node's JIT, the database's caches) so that the
	// sub-benchmark that runs first is not penalised.
	for range 3000 {
		var f fruit
		require.NoError(b, db.Get(ctx, "apple", &f))
	}

	viaClient := func(b *testing.B) {
		var f fruit
		if err := db.Get(ctx, "apple", &f); err != nil {
			b.Fatal(err)
		}
	}
	hc := &http.Client{}
	viaNetHTTP := func(b *testing.B) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var f fruit
		err = json.NewDecoder(resp.Body).Decode(&f)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status, err)
		}
	}
	b.Run("client=couch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			viaClient(b)
		}
	})
	b.Run("client=net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			viaNetHTTP(b)
		}
	})
	// Interleaved: each iteration does one GET each way, so drift in the
	// server or the machine touches both alike; it reports the mean of
	// each and their ratio.
	b.Run("client=interleaved", func(b *testing.B) {
		var tClient, tNet time.Duration
		for b.Loop() {
			start := time.Now()
			viaClient(b)
			mid := time.Now()
			viaNetHTTP(b)
			tNet += time.Since(mid)
			tClient += mid.Sub(start)
		}
		b.ReportMetric(float64(tClient.Nanoseconds())/float64(b.N), "couch-ns/get")
		b.ReportMetric(float64(tNet.Nanoseconds())/float64(b.N), "nethttp-ns/get")
		b.ReportMetric(float64(tClient)/float64(tNet), "couch/nethttp")
	})
}
