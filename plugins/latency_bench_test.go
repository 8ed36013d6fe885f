package plugins_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// guestsDir, if set, is where BenchmarkDecisionLatency reads the
// built-ins' modules (DIR/NAME.wasm.gz) instead of the embedded ones, so
// that one test binary, whose host side is then the same, compares two
// builds of the guests:
//
//	mkdir old && for p in basic retry backoff merge; do git show main:plugins/$p/$p.wasm.gz > old/$p.wasm.gz; done
//	go test -run '^$' -bench DecisionLatency -benchtime 20000x ./plugins/ -args -guests $PWD/old
var guestsDir = flag.String("guests", "", "read the built-ins' modules from `DIR`/NAME.wasm.gz (BenchmarkDecisionLatency)")

// BenchmarkDecisionLatency is the distribution of one instance's
// decision times in a tight loop, for each built-in (merge on the
// 200-byte fruit of BenchmarkMerge, the others on a conflict without
// documents), run as built-ins run (trusted) and with deadline
// enforcement (untrusted): the median (p50-ns), p99-ns, p99.9-ns and
// the slowest call (max-ns), besides the mean (ns/op) and the process's
// CPU time per call (cpu-ns/op: the host's and the guest's work, and the
// Go runtime's, which waiting for a core on a loaded machine does not
// inflate as it does the times measured by the clock). A collection in
// the guest, which stops the call it falls into, shows in the tail; the
// instance's linear memory at the end is instance-bytes.
//
//	go test -run '^$' -bench DecisionLatency -benchtime 20000x ./plugins/
func BenchmarkDecisionLatency(b *testing.B) {
	ctx := context.Background()
	noDocs := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 3}
	cases := []struct {
		plugin string
		params string
		c      *resolve.Conflict
	}{
		{"basic", "", noDocs},
		{"retry", "", noDocs},
		{"backoff", "", noDocs},
		{"merge", `{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"}}`, mergeConflict(200)},
	}
	for _, tc := range cases {
		wasm, err := plugins.Builtin(tc.plugin)
		if *guestsDir != "" {
			wasm, err = os.ReadFile(filepath.Join(*guestsDir, tc.plugin+".wasm.gz"))
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, trust := range []struct {
			name  string
			trust engine.Trust
		}{{"trusted", engine.Trusted}, {"untrusted", engine.Untrusted}} {
			b.Run("plugin="+tc.plugin+"/trust="+trust.name, func(b *testing.B) {
				rt, err := engine.New(ctx, engine.Config{PoolSize: 1, CallTimeout: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer rt.Close(ctx)
				var params []byte
				if tc.params != "" {
					params = []byte(tc.params)
				}
				r, err := rt.Load(ctx, engine.Plugin{Name: tc.plugin, Wasm: wasm, Params: params, Trust: trust.trust})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Resolve(ctx, tc.c); err != nil {
					b.Fatal(err)
				}
				times := make([]time.Duration, 0, max(b.N, 1))
				b.ReportAllocs()
				cpuStart, cpuOK := cpuTime()
				for b.Loop() {
					start := time.Now()
					if _, err := r.Resolve(ctx, tc.c); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(start))
				}
				if cpuEnd, ok := cpuTime(); ok && cpuOK {
					b.ReportMetric(float64(cpuEnd-cpuStart)/float64(len(times)), "cpu-ns/op")
				}
				slices.Sort(times)
				at := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) }
				b.ReportMetric(at(0.50), "p50-ns")
				b.ReportMetric(at(0.99), "p99-ns")
				b.ReportMetric(at(0.999), "p99.9-ns")
				b.ReportMetric(at(1), "max-ns")
				b.ReportMetric(float64(r.Stats().MemoryBytes), "instance-bytes")
			})
		}
	}
}
