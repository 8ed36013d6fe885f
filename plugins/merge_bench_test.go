package plugins_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// mergeConflict is a conflict over a fruit of about size bytes (each of
// base, mine and theirs): the fruit's fields and a "notes" object of
// 100-byte strings. Mine tasted it; theirs tasted it and rewrote a note.
func mergeConflict(size int) *resolve.Conflict {
	doc := func(rev string, tastings int, updated string, note string) json.RawMessage {
		var b strings.Builder
		fmt.Fprintf(&b, `{"_id":"f1","_rev":%q,"type":"fruit_v1.0","fruit_id":"f1","color":"red","tastings":%d,"created_on":"2026-12-01T10:00:00.000000Z","updated_on":%q,"notes":{`, rev, tastings, updated)
		for i := 0; b.Len() < size-120; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			text := strings.Repeat("abcdefghij", 10)
			if i == 3 {
				text = note
			}
			fmt.Fprintf(&b, `"n%03d":%q`, i, text)
		}
		b.WriteString("}}")
		return json.RawMessage(b.String())
	}
	return &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "f1", Attempt: 1,
		Base:   doc("3-a", 4, "2026-12-01T10:00:01.000000Z", "base"),
		Mine:   doc("3-a", 5, "2026-12-01T10:00:03.000000Z", "base"),
		Theirs: doc("4-b", 5, "2026-12-01T10:00:02.000000Z", "theirs"),
	}
}

// BenchmarkMerge is one merge decision of the fruit model over documents
// of 200 B and 10 KB: natively (resolve.Merge) and through the built-in
// wasm plugin, one instance, without deadline enforcement (how built-ins
// run) and with it. Compare impl=wasm with impl=native of the same size:
//
//	go test -run '^$' -bench Merge -count 5 ./plugins/ > bench.txt
//	benchstat -col /impl bench.txt
func BenchmarkMerge(b *testing.B) {
	ctx := context.Background()
	params := []byte(`{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"}}`)
	p, err := resolve.ParseMergeParams(params)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{200, 10 << 10} {
		c := mergeConflict(size)
		want, err := resolve.Merge(p).Resolve(ctx, c)
		if err != nil || want.Action != resolve.ActionMerge {
			b.Fatal(want, err)
		}
		b.Run(fmt.Sprintf("size=%d/impl=native", size), func(b *testing.B) {
			r := resolve.Merge(p)
			b.SetBytes(int64(len(c.Base) + len(c.Mine) + len(c.Theirs)))
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
			{"wasm", engine.Trusted},
			{"wasm-deadline", engine.Untrusted},
		} {
			b.Run(fmt.Sprintf("size=%d/impl=%s", size, bc.name), func(b *testing.B) {
				rt, err := engine.New(ctx, engine.Config{PoolSize: 1, CallTimeout: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer rt.Close(ctx)
				r, err := rt.Load(ctx, engine.Plugin{Builtin: "merge", Params: params, Trust: bc.trust})
				if err != nil {
					b.Fatal(err)
				}
				d, err := r.Resolve(ctx, c)
				if err != nil || string(d.Doc) != string(want.Doc) {
					b.Fatalf("wasm decided %+v, %v; native %+v", d, err, want)
				}
				b.SetBytes(int64(len(c.Base) + len(c.Mine) + len(c.Theirs)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.Resolve(ctx, c); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
