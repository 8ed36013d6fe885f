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
// with couch (op=…/via=couch: the store's read or write of the fruit by
// its document id, which is how the service finds a fruit it created;
// see byFruitID), in the same run. No write conflicts, so the resolver
// is never asked; the difference is the service's own cost: HTTP,
// routing, schema validation, encoding. op=…/via=view does the work the
// way the seed's service did, through the fruit_by_fruit_id view.
//
// op=…/via=ratio interleaves the three and reports service/couch (the
// service's overhead over the bare client, issue 14's goal ≤ 1.05) and
// service/view (the service against the seed's view lookup).
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
	byID := couch.ByID(id)
	byView := couch.ByView("fruit_by_fruit_id", "fruit_by_fruit_id", id)

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
	get := func(loc couch.Locator) func(*testing.B, int) {
		return func(b *testing.B, _ int) {
			if _, err := store.Get(ctx, loc); err != nil {
				b.Fatal(err)
			}
		}
	}
	put := func(loc couch.Locator) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			_, err := store.Update(ctx, loc, func(d *map[string]any) error {
				(*d)["color"] = fmt.Sprintf("c%d", i)
				(*d)["updated_on"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	ops := []struct {
		name    string
		service func(b *testing.B, i int)
		direct  func(b *testing.B, i int)
		view    func(b *testing.B, i int)
	}{
		{"get",
			func(b *testing.B, _ int) { do(b, http.MethodGet, "") },
			get(byID), get(byView)},
		{"put",
			func(b *testing.B, i int) { do(b, http.MethodPut, fmt.Sprintf(`{"color":"c%d"}`, i)) },
			put(byID), put(byView)},
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
		}{{"service", op.service}, {"couch", op.direct}, {"view", op.view}} {
			b.Run("op="+op.name+"/via="+via.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					via.f(b, i)
					i++
				}
			})
		}
		// Interleaved, so that drift touches all alike.
		b.Run("op="+op.name+"/via=ratio", func(b *testing.B) {
			var tSvc, tDirect, tView time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				op.service(b, i)
				t1 := time.Now()
				op.direct(b, i)
				t2 := time.Now()
				op.view(b, i)
				tView += time.Since(t2)
				tDirect += t2.Sub(t1)
				tSvc += t1.Sub(t0)
				i++
			}
			b.ReportMetric(float64(tSvc.Nanoseconds())/float64(b.N), "service-ns/op")
			b.ReportMetric(float64(tDirect.Nanoseconds())/float64(b.N), "couch-ns/op")
			b.ReportMetric(float64(tView.Nanoseconds())/float64(b.N), "view-ns/op")
			b.ReportMetric(float64(tSvc)/float64(tDirect), "service/couch")
			b.ReportMetric(float64(tSvc)/float64(tView), "service/view")
		})
	}
}
