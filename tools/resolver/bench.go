package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins/pdk/pdktest"
	"github.com/accord-db/accord/resolve"
)

// benchSizes are the document sizes bench measures a decision for: no
// document, then base, mine and theirs of about each size.
var benchSizes = []struct {
	name  string
	bytes int
}{{"no docs", 0}, {"200 B", 200}, {"10 KB", 10 << 10}, {"100 KB", 100 << 10}}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("bench", stderr)
	params := fs.String("params", "", "the plugin's parameters, a `JSON` object")
	baselineParams := fs.String("baseline-params", "", "the baseline's parameters, a `JSON` object (default -params)")
	baseline := fs.String("baseline", "", "the built-in whose native strategy is the baseline (`NAME`: basic, retry, backoff, merge; default the one the plugin is named after, else basic)")
	benchtime := fs.Duration("benchtime", time.Second, "how long to measure each size, at `least`")
	rest, code, ok := parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	file := rest[0]
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{CallTimeout: 10 * time.Second, StartTimeout: time.Minute, PoolSize: 1})
	if err != nil {
		return fail(stderr, "bench: %v", err)
	}
	defer rt.Close(ctx)
	r, err := rt.Load(ctx, engine.Plugin{Path: file, Params: json.RawMessage(*params)})
	if err != nil {
		return fail(stderr, "bench: %v", err)
	}
	desc := r.Describe()
	if *baseline == "" {
		*baseline = "basic"
		if _, err := pdktest.BuiltinTwin(&pdktest.Fixture{Fixture: engine.Fixture{Plugin: desc.Name, Params: json.RawMessage(*params)}}); err == nil {
			*baseline = desc.Name
		}
	}
	if *baselineParams == "" {
		*baselineParams = *params
	}
	native, err := pdktest.BuiltinTwin(&pdktest.Fixture{Fixture: engine.Fixture{Plugin: *baseline, Params: json.RawMessage(*baselineParams)}})
	if err != nil {
		return fail(stderr, "bench: baseline: %v", err)
	}
	fmt.Fprintf(stdout, "%s: one decision, from the file (deadline enforced), against native %s\n", desc.Name, *baseline)
	fmt.Fprintf(stdout, "%-8s %14s %14s %8s\n", "docs", "wasm", "native", "ratio")
	for _, size := range benchSizes {
		c := benchConflict(size.bytes)
		wasm, err := measure(ctx, r, c, *benchtime)
		if err != nil {
			return fail(stderr, "bench: %s: %v", size.name, err)
		}
		nat, err := measure(ctx, native, c, *benchtime)
		if err != nil {
			return fail(stderr, "bench: %s: native: %v", size.name, err)
		}
		fmt.Fprintf(stdout, "%-8s %14s %14s %7.1fx\n", size.name, wasm, nat, float64(wasm)/float64(max(nat, 1)))
	}
	return exitOK
}

// measure is the mean time of one decision, over at least d.
func measure(ctx context.Context, r resolve.Resolver, c *resolve.Conflict, d time.Duration) (time.Duration, error) {
	if _, err := r.Resolve(ctx, c); err != nil {
		return 0, err
	}
	var failed error
	began, n := time.Now(), 0
	res := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Resolve(ctx, c); err != nil {
				failed = err
				b.FailNow()
			}
		}
	})
	for time.Since(began) < d && failed == nil && n < 2 {
		// testing.Benchmark runs about a second; more runs for a longer
		// -benchtime.
		more := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Resolve(ctx, c); err != nil {
					failed = err
					b.FailNow()
				}
			}
		})
		res.N += more.N
		res.T += more.T
		n++
	}
	if failed != nil {
		return 0, failed
	}
	if res.N == 0 {
		return 0, fmt.Errorf("no iteration")
	}
	return res.T / time.Duration(res.N), nil
}

// benchConflict is an update conflict over a fruit whose documents are
// about size bytes each (none for 0).
func benchConflict(size int) *resolve.Conflict {
	c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "f1", Attempt: 1, Conflicts: []json.RawMessage{}}
	if size == 0 {
		return c
	}
	doc := func(rev string, tastings int, color string) json.RawMessage {
		head := fmt.Sprintf(`{"_id":"f1","_rev":%q,"type":"fruit_v1.0","color":%q,"tastings":%d,"notes":"`, rev, color, tastings)
		return json.RawMessage(head + strings.Repeat("n", max(0, size-len(head)-2)) + `"}`)
	}
	c.Base, c.Mine, c.Theirs = doc("1-a", 4, "red"), doc("1-a", 5, "red"), doc("2-b", 5, "blue")
	return c
}
