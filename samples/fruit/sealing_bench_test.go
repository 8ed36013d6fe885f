package fruit_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/tamper"
	"github.com/accord-db/accord/samples/fruit"
)

// BenchmarkSigning reads (GET) and updates (PUT) one fruit through the
// service with signing on (signing=on: every read verified, every write
// signed) and off, in the same run, against the same database server.
// The ratio sub-benchmarks interleave the two, so that drift touches both
// alike, and report signed/unsigned: the goal is under 1.05.
//
//	go test -run '^$' -bench Signing -count 5 ./samples/fruit/
func BenchmarkSigning(b *testing.B) {
	ctx := context.Background()
	db := benchDB(b)
	ring, err := keys.New([]string{"k1"}, [][]byte{bytes.Repeat([]byte{1}, keys.Size)})
	require.NoError(b, err)
	signer, err := tamper.New(tamper.Config{Keys: ring})
	require.NoError(b, err)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	type target struct{ base, id string }
	start := func(opts fruit.Options) target {
		opts.DB, opts.Logger = db, discard
		base := serveFruit(b, opts)
		return target{base, createFruit(b, base)}
	}
	plain := start(fruit.Options{})
	signed := start(fruit.Options{Signer: signer})

	do := func(b *testing.B, tg target, method, body string) {
		req, err := http.NewRequestWithContext(ctx, method, tg.base+"/v1.0/fruits/"+tg.id, strings.NewReader(body))
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
		name string
		f    func(b *testing.B, tg target, i int)
	}{
		{"get", func(b *testing.B, tg target, _ int) { do(b, tg, http.MethodGet, "") }},
		{"put", func(b *testing.B, tg target, i int) { do(b, tg, http.MethodPut, fmt.Sprintf(`{"color":"c%d"}`, i)) }},
	}
	for i := range 300 { // warm up
		ops[0].f(b, plain, i)
		ops[0].f(b, signed, i)
	}
	for _, op := range ops {
		for _, s := range []struct {
			name string
			tg   target
		}{{"off", plain}, {"on", signed}} {
			b.Run("op="+op.name+"/signing="+s.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					op.f(b, s.tg, i)
					i++
				}
			})
		}
		b.Run("op="+op.name+"/signing=ratio", func(b *testing.B) {
			var on, off []time.Duration
			var ratios []float64
			i := 0
			for b.Loop() {
				// Alternate which goes first.
				first, second := signed, plain
				if i%2 == 1 {
					first, second = plain, signed
				}
				t0 := time.Now()
				op.f(b, first, i)
				t1 := time.Now()
				op.f(b, second, i)
				d1, d2 := t1.Sub(t0), time.Since(t1)
				if i%2 == 1 {
					d1, d2 = d2, d1
				}
				on, off = append(on, d1), append(off, d2)
				ratios = append(ratios, float64(d1)/float64(d2))
				i++
			}
			var sumOn, sumOff time.Duration
			for j := range on {
				sumOn, sumOff = sumOn+on[j], sumOff+off[j]
			}
			b.ReportMetric(float64(sumOn.Nanoseconds())/float64(len(on)), "signed-ns/op")
			b.ReportMetric(float64(sumOff.Nanoseconds())/float64(len(off)), "unsigned-ns/op")
			b.ReportMetric(float64(sumOn)/float64(sumOff), "signed/unsigned")
			// The median of the pairs' ratios: robust to the stalls of a
			// shared machine, which hit one request of a pair, not both.
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "median-pair-ratio")
		})
	}
}
