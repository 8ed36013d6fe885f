package plugins_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// BenchmarkGuests compares the same resolver, retry, written in Go
// (plugins/retry) and in AssemblyScript (plugins/asretry), in one run:
// the module's size, a cold load (compiled afresh, no cache), a warm
// load (a new runtime over a warm compilation cache, as a restarted
// service), and one decision, with the native strategy as the baseline.
// Both load as an author's plugin does: from bytes, untrusted (deadline
// enforced).
//
//	go test -run '^$' -bench Guests -count 5 ./plugins/ > guests.txt
//	benchstat -col /guest guests.txt
func BenchmarkGuests(b *testing.B) {
	ctx := context.Background()
	goWasm, err := plugins.Builtin("retry")
	if err != nil {
		b.Fatal(err)
	}
	asWasm, err := os.ReadFile(asretryWasm)
	if err != nil {
		b.Fatal(err)
	}
	c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 3}
	guests := []struct {
		name string
		wasm []byte
	}{{"go", goWasm}, {"assemblyscript", asWasm}}
	load := func(b *testing.B, cfg engine.Config, wasm []byte) {
		rt, err := engine.New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Load(ctx, engine.Plugin{Name: "guest", Wasm: wasm}); err != nil {
			b.Fatal(err)
		}
		if err := rt.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	for _, g := range guests {
		b.Run("op=cold-load/guest="+g.name, func(b *testing.B) {
			for b.Loop() {
				load(b, engine.Config{NoCache: true}, g.wasm)
			}
			b.ReportMetric(float64(len(g.wasm)), "module-bytes")
		})
		b.Run("op=warm-load/guest="+g.name, func(b *testing.B) {
			cfg := engine.Config{CacheDir: b.TempDir()}
			load(b, cfg, g.wasm) // fills the cache
			b.ResetTimer()
			for b.Loop() {
				load(b, cfg, g.wasm)
			}
		})
		b.Run("op=decide/guest="+g.name, func(b *testing.B) {
			rt, err := engine.New(ctx, engine.Config{CallTimeout: 10 * time.Second, PoolSize: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(ctx)
			r, err := rt.Load(ctx, engine.Plugin{Name: "guest", Wasm: g.wasm})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Resolve(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.Stats().MemoryBytes), "instance-bytes")
		})
	}
	b.Run("op=decide/guest=native", func(b *testing.B) {
		r := resolve.Retry(resolve.RetryParams{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Resolve(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
