package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
)

// runReplay is engine.Replay on the command line: a flight recording
// through another resolver, a file or a built-in.
func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("replay", stderr)
	from := fs.String("from", "", "the flight `recording`: JSON lines, one engine.Record each")
	params := fs.String("params", "", "the resolver's parameters, a `JSON` object")
	maxShow := fs.Int("show", 20, "print at most `N` changed decisions")
	rest, code, ok := parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	if *from == "" {
		fs.Usage()
		return exitUsage
	}
	f, err := os.Open(*from)
	if err != nil {
		return fail(stderr, "replay: %v", err)
	}
	defer f.Close()

	// Pinned clock and random source: a replay gives the same report
	// twice.
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, Rand: constReader(0x80), CallTimeout: 10 * time.Second, StartTimeout: time.Minute})
	if err != nil {
		return fail(stderr, "replay: %v", err)
	}
	defer rt.Close(ctx)
	p := engine.Plugin{Params: json.RawMessage(*params)}
	if target := rest[0]; isBuiltin(target) {
		p.Builtin = target
	} else {
		p.Path = target
	}
	r, err := rt.Load(ctx, p)
	if err != nil {
		return fail(stderr, "replay: %v", err)
	}
	rep, err := engine.Replay(ctx, f, r)
	if err != nil {
		return fail(stderr, "replay: %v", err)
	}
	for i, d := range rep.Differences {
		if i == *maxShow {
			break
		}
		now := "error: " + d.Error
		if d.Replayed != nil {
			now = show(*d.Replayed)
		}
		fmt.Fprintf(stdout, "line %d %q attempt %d:\n  was %s\n  now %s (%s)\n", d.Line, d.ID, d.Attempt, show(d.Recorded), now, r.Name())
	}
	fmt.Fprintf(stdout, "%d records: %d replayed, %d decided alike (%d retries with another delay), %d changed; %d skipped, %d malformed\n",
		rep.Records, rep.Replayed, rep.Same, rep.DelayChanged, rep.Changed, rep.Skipped, rep.Malformed)
	keys := make([]string, 0, len(rep.Changes))
	for k := range rep.Changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-16s %d\n", k, rep.Changes[k])
	}
	if rep.Changed > 0 {
		return exitFail
	}
	return exitOK
}

func isBuiltin(name string) bool {
	for _, n := range plugins.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// constReader fills every buffer with one byte.
type constReader byte

func (r constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
