package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// maxRecordBytes bounds one line of a recording.
const maxRecordBytes = 8 << 20

func runReplay(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("replay", stderr)
	from := fs.String("from", "", "the flight `recording`: JSON lines, one engine.Record each")
	params := fs.String("params", "", "the resolver's parameters, a `JSON` object")
	maxLines := fs.Int("max-lines", 1_000_000, "read at most `N` records")
	show := fs.Int("show", 20, "print at most `N` changed decisions")
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

	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, CallTimeout: 10 * time.Second, StartTimeout: time.Minute})
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

	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxRecordBytes)
	var (
		records, same, changed, skipped int
		transitions                     = map[string]int{}
	)
	for line := 1; sc.Scan(); line++ {
		if records+skipped >= *maxLines {
			fmt.Fprintf(stderr, "replay: stopped after %d lines (-max-lines)\n", *maxLines)
			break
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec engine.Record
		if err := json.Unmarshal(text, &rec); err != nil || rec.Conflict == nil {
			skipped++
			if skipped <= *show {
				fmt.Fprintf(stderr, "replay: line %d: not a record: %s\n", line, resolve.Clip(fmt.Sprint(err)))
			}
			continue
		}
		records++
		got, err := r.Resolve(ctx, rec.Conflict)
		was, now := outcome(rec.Decision, rec.Error), outcome(&got, errString(err))
		if err == nil && rec.Decision != nil && equal(*rec.Decision, got) {
			same++
			continue
		}
		changed++
		transitions[action(rec.Decision, rec.Error)+" -> "+action(&got, errString(err))]++
		if changed <= *show {
			fmt.Fprintf(stdout, "line %d %s %q attempt %d:\n  was %s (%s)\n  now %s (%s)\n", line, rec.Conflict.Kind, resolve.Clip(rec.Conflict.ID), rec.Conflict.Attempt,
				was, recorded(rec), now, r.Name())
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fail(stderr, "replay: a line is longer than %d bytes", maxRecordBytes)
		}
		return fail(stderr, "replay: %v", err)
	}
	fmt.Fprintf(stdout, "%d records: %d decided the same, %d changed", records, same, changed)
	if skipped > 0 {
		fmt.Fprintf(stdout, ", %d lines skipped", skipped)
	}
	fmt.Fprintln(stdout)
	keys := make([]string, 0, len(transitions))
	for k := range transitions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-24s %d\n", k, transitions[k])
	}
	if changed > 0 || skipped > 0 {
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

// equal compares decisions, a merged document as compact JSON.
func equal(a, b resolve.Decision) bool {
	if a.Action != b.Action || a.DelayMS != b.DelayMS || a.Reason != b.Reason {
		return false
	}
	return bytes.Equal(compact(a.Doc), compact(b.Doc))
}

func compact(doc json.RawMessage) []byte {
	if doc == nil {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, doc) != nil {
		return doc
	}
	return b.Bytes()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func outcome(d *resolve.Decision, err string) string {
	if err != "" || d == nil {
		return "error: " + resolve.Clip(err)
	}
	return show(*d)
}

func action(d *resolve.Decision, err string) string {
	if err != "" || d == nil {
		return "error"
	}
	return string(d.Action)
}

func recorded(rec engine.Record) string {
	if rec.Resolver == "" {
		return "recorded"
	}
	s := "recorded, " + rec.Resolver
	if rec.Module != "" {
		s += " " + strings.TrimSpace(rec.Module[:min(12, len(rec.Module))])
	}
	return s
}
