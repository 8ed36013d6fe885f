package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
)

// BenchmarkWazeroWarmLoad is the floor under BenchmarkLoad/cache=warm:
// what wazero alone costs a fresh process to load a module from its
// warm compilation cache (a new cache and runtime, as at a start:
// decode, validate, read and check the entry, map its code), and to
// start an instance of it (instantiate, _initialize), without any of
// the engine's checks. Modules: backoff as a built-in runs (decompressed),
// backoff as an untrusted plugin from a file runs (instrumented), and
// asretry, the AssemblyScript plugin (instrumented).
func BenchmarkWazeroWarmLoad(b *testing.B) {
	ctx := context.Background()
	backoff, err := plugins.Builtin("backoff")
	if err != nil {
		b.Fatal(err)
	}
	asretry, err := os.ReadFile(filepath.Join("..", "plugins", "asretry", "asretry.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	modules := []struct {
		name string
		wasm []byte
	}{
		{"backoff", backoff},
		{"backoff-instrumented", must(engine.Instrument(backoff))},
		{"asretry-instrumented", must(engine.Instrument(asretry))},
	}
	newRuntime := func(b *testing.B, dir string) (wazero.Runtime, wazero.CompilationCache) {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		return wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCompilationCache(cache).WithCoreFeatures(engine.CoreFeatures)), cache
	}
	for _, m := range modules {
		dir := b.TempDir()
		w, cache := newRuntime(b, dir)
		if _, err := w.CompileModule(ctx, m.wasm); err != nil {
			b.Fatal(err)
		}
		_ = w.Close(ctx)
		_ = cache.Close(ctx)
		for _, instantiate := range []bool{false, true} {
			step := "step=compile"
			if instantiate {
				step = "step=compile+instantiate"
			}
			b.Run("module="+m.name+"/"+step, func(b *testing.B) {
				b.ReportAllocs()
				b.ReportMetric(float64(len(m.wasm)), "module-bytes")
				var cpu cpuMeter
				for b.Loop() {
					b.StopTimer()
					w, cache := newRuntime(b, dir)
					if _, err := wasi_snapshot_preview1.Instantiate(ctx, w); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					cpu.start()
					compiled, err := w.CompileModule(ctx, m.wasm)
					if err != nil {
						b.Fatal(err)
					}
					if instantiate {
						cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions()
						mod, err := w.InstantiateModule(ctx, compiled, cfg)
						if err != nil {
							b.Fatal(err)
						}
						if fn := mod.ExportedFunction("_initialize"); fn != nil {
							if _, err := fn.Call(ctx); err != nil {
								b.Fatal(err)
							}
						}
					}
					cpu.stop()
					b.StopTimer()
					_ = w.Close(ctx)
					_ = cache.Close(ctx)
					b.StartTimer()
				}
				cpu.report(b)
			})
		}
	}
}
