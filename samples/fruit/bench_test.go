package fruit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/samples/fruit"
)

// BenchmarkServiceVsCouch reads and updates one fruit through the
// service's HTTP API (op=…/via=service) and does the same work directly
// with couch (op=…/via=couch: the fruit_by_fruit_id view lookup and, for
// a PUT, the write through the same Store), in the same run. No write
// conflicts, so the resolver is never asked; the difference is the
// service's own cost: HTTP, routing, schema validation, encoding.
//
//	go test -run '^$' -bench ServiceVsCouch -count 5 ./samples/fruit/ > bench.txt
//	benchstat -col /via bench.txt
func BenchmarkServiceVsCouch(b *testing.B) {
	ctx := context.Background()
	db := sampletest.NewDB(b, false)
	client, err := couch.New(couch.Config{URL: couchtest.URL(b).String(), Logger: discard})
	require.NoError(b, err)
	db = client.DB(db.Name())
	svc, err := fruit.New(fruit.Options{DB: db, Logger: discard})
	require.NoError(b, err)
	srv := &http.Server{Handler: svc}
	ln := listen(b)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	resp, err := hc.Post(base+"/v1.0/fruits", "application/json", strings.NewReader(`{"color":"red"}`))
	require.NoError(b, err)
	var created struct {
		FruitID string `json:"fruit_id"`
	}
	require.NoError(b, decodeJSON(resp, &created))
	id := created.FruitID
	store, err := couch.NewStore[map[string]any](db, couch.StoreConfig{Type: fruit.DocType, Logger: discard})
	require.NoError(b, err)
	loc := couch.ByView("fruit_by_fruit_id", "fruit_by_fruit_id", id)

	do := func(b *testing.B, method, body string) {
		req, err := http.NewRequestWithContext(ctx, method, base+"/v1.0/fruits/"+id, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", method, resp.Status)
		}
	}
	ops := []struct {
		name    string
		service func(b *testing.B, i int)
		direct  func(b *testing.B, i int)
	}{
		{"get",
			func(b *testing.B, _ int) { do(b, http.MethodGet, "") },
			func(b *testing.B, _ int) {
				if _, err := store.Get(ctx, loc); err != nil {
					b.Fatal(err)
				}
			}},
		{"put",
			func(b *testing.B, i int) { do(b, http.MethodPut, fmt.Sprintf(`{"color":"c%d"}`, i)) },
			func(b *testing.B, i int) {
				_, err := store.Update(ctx, loc, func(d *map[string]any) error {
					(*d)["color"] = fmt.Sprintf("c%d", i)
					(*d)["updated_on"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}},
	}
	// Warm the server up so that the sub-benchmark that runs first is
	// not penalised.
	for i := range 500 {
		ops[0].direct(b, i)
		ops[0].service(b, i)
	}
	for _, op := range ops {
		for _, via := range []struct {
			name string
			f    func(*testing.B, int)
		}{{"service", op.service}, {"couch", op.direct}} {
			b.Run("op="+op.name+"/via="+via.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					via.f(b, i)
					i++
				}
			})
		}
		// Interleaved, so that drift touches both alike.
		b.Run("op="+op.name+"/via=ratio", func(b *testing.B) {
			var tSvc, tDirect time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				op.service(b, i)
				t1 := time.Now()
				op.direct(b, i)
				tDirect += time.Since(t1)
				tSvc += t1.Sub(t0)
				i++
			}
			b.ReportMetric(float64(tSvc.Nanoseconds())/float64(b.N), "service-ns/op")
			b.ReportMetric(float64(tDirect.Nanoseconds())/float64(b.N), "couch-ns/op")
			b.ReportMetric(float64(tSvc)/float64(tDirect), "service/couch")
		})
	}
}
