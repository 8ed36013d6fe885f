package pdk

import (
	"runtime"
	"testing"

	"github.com/accord-db/accord/resolve"
)

// mergeDiffInput is the conflict the merge plugin receives for
// plugins.BenchmarkMerge's 200-byte fruit: the engine sends, of base,
// mine and theirs, only the fields where they differ (and _id, _rev).
const mergeDiffInput = `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"f1","attempt":1,"elapsed_ms":0,` +
	`"base":{"_id":"f1","_rev":"3-a","tastings":4,"updated_on":"2026-12-01T10:00:01.000000Z"},` +
	`"mine":{"_id":"f1","_rev":"3-a","tastings":5,"updated_on":"2026-12-01T10:00:03.000000Z"},` +
	`"theirs":{"_id":"f1","_rev":"4-b","tastings":5,"updated_on":"2026-12-01T10:00:02.000000Z"},` +
	`"conflicts":[],"base_missing":false}`

// backoffInput is what the backoff, retry and basic plugins receive: no
// documents.
const backoffInput = `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":3,"elapsed_ms":0,"base":null,"mine":null,"theirs":null,"conflicts":[],"base_missing":false}`

// BenchmarkGuestParts is a built-in's work inside the guest, split into
// its parts (decode the conflict, decide, encode the decision) and whole
// (handleResolve), with the garbage collections each call caused. Run it
// natively, or in WebAssembly, where the plugins run:
//
//	GOOS=wasip1 GOARCH=wasm go test -exec "$(go env GOROOT)/lib/wasm/go_wasip1_wasm_exec" \
//		-run '^$' -bench GuestParts ./plugins/pdk/
//
// (go_wasip1_wasm_exec runs the test binary with the wazero CLI on PATH:
// go build -o DIR/wazero github.com/tetratelabs/wazero/cmd/wazero.)
func BenchmarkGuestParts(b *testing.B) {
	merge, err := resolve.ParseMergeParams([]byte(`{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"}}`))
	if err != nil {
		b.Fatal(err)
	}
	plugins := []struct {
		name string
		in   string
		desc resolve.Description
		fn   resolve.Func
	}{
		{"merge", mergeDiffInput, resolve.MergeDescription, merge.Decide},
		{"backoff", backoffInput, resolve.BackoffDescription, func(c *resolve.Conflict) resolve.Decision {
			return resolve.BackoffParams{}.Decide(c, nil)
		}},
		{"retry", backoffInput, resolve.RetryDescription, resolve.RetryParams{}.Decide},
		{"basic", backoffInput, resolve.BasicDescription, resolve.DecideBasic},
	}
	defer Register(resolve.Description{}, nil)
	for _, p := range plugins {
		in := []byte(p.in)
		var c resolve.Conflict
		if err := resolve.DecodeConflictInto(in, &c); err != nil {
			b.Fatal(err)
		}
		d := p.fn(&c)
		var buf []byte
		parts := []struct {
			name string
			run  func()
		}{
			{"decode", func() { _ = resolve.DecodeConflictInto(in, &c) }},
			{"decide", func() { d = p.fn(&c) }},
			{"encode", func() { buf, _ = resolve.AppendDecision(buf[:0], d) }},
			{"all", func() { handleResolve(in) }},
		}
		Register(p.desc, p.fn)
		for _, part := range parts {
			b.Run("plugin="+p.name+"/part="+part.name, func(b *testing.B) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.ReportAllocs()
				for b.Loop() {
					part.run()
				}
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.NumGC-before.NumGC)/float64(b.N), "gcs/op")
			})
		}
	}
}
