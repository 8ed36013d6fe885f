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
	db := benchDB(b)
	base := serveFruit(b, fruit.Options{DB: db, Logger: discard})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	// The operations go round nFruit fruit, so that no document's
	// revision history grows long: a PUT on a document with thousands
	// of revisions measures the server's revision tree (pouchdb-server
	// slows down with it), not the service.
	const nFruit = 50
	ids := make([]string, nFruit)
	for i := range ids {
		resp, err := hc.Post(base+"/v1.0/fruits", "application/json", strings.NewReader(`{"color":"red"}`))
		require.NoError(b, err)
		var created struct {
			FruitID string `json:"fruit_id"`
		}
		require.NoError(b, decodeJSON(resp, &created))
		ids[i] = created.FruitID
	}
	store, err := couch.NewStore[map[string]any](db, couch.StoreConfig{Type: fruit.DocType, Logger: discard})
	require.NoError(b, err)
	byID := func(i int) couch.Locator { return couch.ByID(ids[i%nFruit]) }
	byView := func(i int) couch.Locator {
		return couch.ByView("fruit_by_fruit_id", "fruit_by_fruit_id", ids[i%nFruit])
	}

	do := func(b *testing.B, i int, method, body string) {
		req, err := http.NewRequestWithContext(ctx, method, base+"/v1.0/fruits/"+ids[i%nFruit], strings.NewReader(body))
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
	get := func(loc func(int) couch.Locator) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			if _, err := store.Get(ctx, loc(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	put := func(loc func(int) couch.Locator) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			_, err := store.Update(ctx, loc(i), func(d *map[string]any) error {
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
			func(b *testing.B, i int) { do(b, i, http.MethodGet, "") },
			get(byID), get(byView)},
		{"put",
			func(b *testing.B, i int) { do(b, i, http.MethodPut, fmt.Sprintf(`{"color":"c%d"}`, i)) },
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
		// Interleaved, so that drift touches all alike, and in turns
		// first, second and third on the same fruit, so that none always
		// finds the server's caches warmed by another.
		b.Run("op="+op.name+"/via=ratio", func(b *testing.B) {
			var tSvc, tDirect, tView time.Duration
			ways := []struct {
				f func(*testing.B, int)
				t *time.Duration
			}{{op.service, &tSvc}, {op.direct, &tDirect}, {op.view, &tView}}
			i := 0
			for b.Loop() {
				for k := range ways {
					w := ways[(i+k)%len(ways)]
					t0 := time.Now()
					w.f(b, i)
					*w.t += time.Since(t0)
				}
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
