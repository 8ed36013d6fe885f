package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accord-db/accord/internal/couchtest"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// The benchmarks measure what DESIGN.md's prototype measured, on the
// built-in plugins. Run them with
//
//	go test -run '^$' -bench . -count 5 ./engine/ > bench.txt
//	benchstat -col /impl bench.txt   # and -col /cache, /callers, /mode

// BenchmarkDecision is one backoff decision without documents: natively,
// through the pool of the wasm plugin without deadline enforcement (how
// built-ins run by default), and with it (how untrusted plugins run); and,
// as the yardstick a decision must be small against, one GET of a small
// document from the CouchDB-compatible test server (impl=couchdb-get).
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	c := conflictOn("fruits", 3)
	b.Run("impl=couchdb-get", func(b *testing.B) {
		docURL := couchDoc(b)
		hc := &http.Client{}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := hc.Get(docURL)
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status, err)
			}
		}
	})
	b.Run("impl=native", func(b *testing.B) {
		r := resolve.Backoff(resolve.BackoffParams{}, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Resolve(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name  string
		trust engine.Trust
	}{
		{"impl=wasm", engine.Trusted},
		{"impl=wasm-deadline", engine.Untrusted},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := newRuntime(b, engine.Config{PoolSize: 1})
			r := load(b, rt, engine.Plugin{Builtin: "backoff", Trust: bc.trust})
			benchCPU(b, func() {
				if _, err := r.Resolve(ctx, c); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// couchDoc writes a small fruit document to a fresh database on the test
// server and returns its URL.
func couchDoc(b *testing.B) string {
	b.Helper()
	base := couchtest.URL(b)
	u := base.JoinPath(couchtest.NewDB(b), "apple").String()
	req, err := http.NewRequest(http.MethodPut, u, strings.NewReader(`{"type":"fruit_v1.0","fruit_id":"5d25431b78ca79b5799d1e98990f9f82","color":"red","tastings":0}`))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT %s: %s", u, resp.Status)
	}
	// Warm the server up (node's JIT) so that the round trip is a steady
	// one.
	for range 2000 {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return u
}

// BenchmarkLoad is a cold start of one Go plugin: a new runtime, compile
// (or read the compilation cache), start the first instance. cache=off
// compiles; cache=warm reads the cache on disk, as a service's start
// does; cache=in-process loads a module another runtime of the process
// has loaded (Config.ShareCompiled), as a second runtime or a reload
// does: only the instance is started.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	warm := warmCache(b)
	for _, bc := range []struct {
		name string
		cfg  engine.Config
	}{
		{"cache=off", engine.Config{NoCache: true}},
		{"cache=warm", engine.Config{CacheDir: warm}},
		{"cache=in-process", engine.Config{CacheDir: warm, ShareCompiled: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.cfg.ShareCompiled {
				holder := newRuntime(b, bc.cfg)
				load(b, holder, engine.Plugin{Builtin: "backoff"})
			}
			b.ReportAllocs()
			var cpu cpuMeter
			for b.Loop() {
				cpu.start()
				rt, err := engine.New(ctx, bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rt.Load(ctx, engine.Plugin{Builtin: "backoff"}); err != nil {
					b.Fatal(err)
				}
				cpu.stop()
				b.StopTimer()
				if err := rt.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			cpu.report(b)
		})
	}
}

// BenchmarkLoadBuiltins is what loading every built-in plugin adds to a
// service's start with a warm compilation cache: one after the other, or
// all at once as a service loading its resolvers concurrently does.
func BenchmarkLoadBuiltins(b *testing.B) {
	ctx := context.Background()
	cfg := engine.Config{CacheDir: warmCache(b)}
	for _, concurrent := range []bool{false, true} {
		b.Run(fmt.Sprintf("mode=%s", map[bool]string{false: "sequential", true: "concurrent"}[concurrent]), func(b *testing.B) {
			var cpu cpuMeter
			for b.Loop() {
				cpu.start()
				rt, err := engine.New(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				for _, name := range plugins.Names() {
					load := func() {
						if _, err := rt.Load(ctx, engine.Plugin{Builtin: name}); err != nil {
							b.Error(err)
						}
					}
					if concurrent {
						wg.Go(load)
					} else {
						load()
					}
				}
				wg.Wait()
				cpu.stop()
				b.StopTimer() // closing is not part of a start
				if err := rt.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			cpu.report(b)
		})
	}
}

// cpuMeter sums the process's CPU time over the timed parts of a
// benchmark's iterations: on a shared machine it is what the code costs,
// without the waits for a CPU.
type cpuMeter struct{ began, used time.Duration }

func (m *cpuMeter) start() { m.began = processCPU() }
func (m *cpuMeter) stop()  { m.used += processCPU() - m.began }

// report reports the CPU time per iteration, where it can be read.
func (m *cpuMeter) report(b *testing.B) {
	if m.began > 0 {
		b.ReportMetric(float64(m.used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// warmCache returns a compilation cache directory holding every built-in
// plugin: a private one, since the default directory is shared with every
// other test binary of this user, whose runs can rewrite its entries
// while a benchmark reads them (a warm load then measured a compile).
func warmCache(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "cache")
	rt, err := engine.New(ctx, engine.Config{CacheDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	for _, name := range plugins.Names() {
		if _, err := rt.Load(ctx, engine.Plugin{Builtin: name}); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkPool is the throughput of one resolver (a pool of GOMAXPROCS
// instances) with 1, 2, 4, 8 and 25 callers: ns/op is wall time per
// decision. It reports how long a call waited for an instance on
// average (wait-ns/call), the share of calls that waited at all, and
// the instances started (the first at load included): the pool's side
// of a service's decision time under load.
func BenchmarkPool(b *testing.B) {
	ctx := context.Background()
	c := conflictOn("fruits", 3)
	for _, callers := range []int{1, 2, 4, 8, 25} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			rt := newRuntime(b, engine.Config{})
			r := load(b, rt, engine.Plugin{Builtin: "backoff"})
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range callers {
				n := b.N / callers
				if i < b.N%callers {
					n++
				}
				wg.Go(func() {
					for range n {
						if _, err := r.Resolve(ctx, c); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			st := r.Stats()
			b.ReportMetric(float64(st.WaitTime.Nanoseconds())/float64(st.Calls), "wait-ns/call")
			b.ReportMetric(float64(st.Waits)/float64(st.Calls), "waited/call")
			b.ReportMetric(float64(st.InstancesStarted), "instances")
		})
	}
}

// BenchmarkMemory reports the linear memory of one instance after it
// starts and after 100,000 decisions.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	const calls = 100_000
	for b.Loop() {
		rt, err := engine.New(ctx, engine.Config{PoolSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		r, err := rt.Load(ctx, engine.Plugin{Builtin: "backoff"})
		if err != nil {
			b.Fatal(err)
		}
		started := r.Stats().MemoryBytes
		for i := range calls {
			if _, err := r.Resolve(ctx, conflictOn("fruits", 1+i%20)); err != nil {
				b.Fatal(err)
			}
		}
		after := r.Stats().MemoryBytes
		if err := rt.Close(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(started)/(1<<20), "MiB/instance")
		b.ReportMetric(float64(after)/(1<<20), "MiB-after-100k")
	}
}

// BenchmarkReloader is one backoff decision (built-in, trusted, no
// documents) straight from its Resolver, through a Reloader (what a
// reloadable service pays per call), and through a Resolver whose runtime
// records every call (the flight recorder's cost, writing to a file).
func BenchmarkReloader(b *testing.B) {
	ctx := context.Background()
	c := conflictOn("fruits", 3)
	bench := func(b *testing.B, r resolve.Resolver) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Resolve(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	p := engine.Plugin{Builtin: "backoff"}
	b.Run("via=resolver", func(b *testing.B) {
		bench(b, load(b, newRuntime(b, engine.Config{PoolSize: 1}), p))
	})
	b.Run("via=reloader", func(b *testing.B) {
		rl, err := newRuntime(b, engine.Config{PoolSize: 1}).LoadReloadable(ctx, p, engine.ReloadConfig{})
		if err != nil {
			b.Fatal(err)
		}
		bench(b, rl)
	})
	b.Run("via=recorded", func(b *testing.B) {
		rec, err := engine.NewRecorder(engine.RecorderConfig{Path: b.TempDir() + "/flight.jsonl"})
		if err != nil {
			b.Fatal(err)
		}
		defer rec.Close()
		bench(b, load(b, newRuntime(b, engine.Config{PoolSize: 1, Recorder: rec}), p))
	})
}

// BenchmarkEnforcement is one decision of every built-in plugin and of
// the AssemblyScript example (plugins/asretry), trusted (no deadline
// enforcement) and untrusted (enforced, as a plugin from a file runs),
// on a conflict with three small documents: what enforcement costs each
// kind of guest. Besides the wall time it reports the calling thread's
// CPU time a call (cpu-ns/op), steadier on a shared machine.
//
//	go test -run '^$' -bench Enforcement -count 5 ./engine/ > enforce.txt
//	benchstat -col /trust enforce.txt
func BenchmarkEnforcement(b *testing.B) {
	ctx := context.Background()
	c := conflictOn("fruits", 3)
	c.Base = []byte(`{"_id":"apple","_rev":"3-a","type":"fruit_v1.0","color":"red","tastings":4}`)
	c.Mine = []byte(`{"_id":"apple","_rev":"3-a","type":"fruit_v1.0","color":"red","tastings":5}`)
	c.Theirs = []byte(`{"_id":"apple","_rev":"4-b","type":"fruit_v1.0","color":"green","tastings":4}`)
	asretry, err := os.ReadFile(filepath.Join("..", "plugins", "asretry", "asretry.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	guests := []struct {
		name string
		p    engine.Plugin
	}{{"asretry", engine.Plugin{Wasm: asretry}}}
	for _, name := range plugins.Names() {
		guests = append(guests, struct {
			name string
			p    engine.Plugin
		}{name, engine.Plugin{Builtin: name}})
	}
	for _, g := range guests {
		for _, trust := range []engine.Trust{engine.Trusted, engine.Untrusted} {
			b.Run(fmt.Sprintf("plugin=%s/trust=%s", g.name, map[engine.Trust]string{engine.Trusted: "trusted", engine.Untrusted: "untrusted"}[trust]), func(b *testing.B) {
				p := g.p
				p.Trust = trust
				r := load(b, newRuntime(b, engine.Config{PoolSize: 1}), p)
				benchCPU(b, func() {
					if _, err := r.Resolve(ctx, c); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// benchCPU runs op in b's loop on one locked OS thread, and reports
// allocations and, where threadCPU can read it, the thread's CPU time an
// op (the guest runs on the calling thread).
func benchCPU(b *testing.B, op func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	began := threadCPU()
	for b.Loop() {
		op()
	}
	if used := threadCPU() - began; began > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
