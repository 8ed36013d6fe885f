package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

// zeros is a random source of zero bytes: backoff's jitter is then
// always its lowest, -jitter_ms.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func Example() {
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, Rand: zeros{}})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx) // closes every resolver it loaded

	r, err := rt.Load(ctx, engine.Plugin{Builtin: "backoff", Params: json.RawMessage(`{"max_retries":2,"jitter":"equal"}`)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s needs %d documents\n", r.Describe().Name, len(r.Describe().Needs))
	for attempt := 1; attempt <= 3; attempt++ {
		d, err := r.Resolve(ctx, &resolve.Conflict{
			ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
			DB: "fruits", ID: "apple", Attempt: attempt,
		})
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Action, d.Delay())
	}
	// Output:
	// backoff needs 0 documents
	// retry 40ms
	// retry 90ms
	// fail 0s
}

// A plugin that never returns is interrupted at its deadline: the call
// fails closed with ErrTimeout, and the resolver goes on serving.
func ExampleResolver_Resolve_timeout() {
	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{CallTimeout: 200 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)

	// testdata/moody.wasm loops forever on a conflict in a database whose
	// name starts with "l", and accepts any other.
	r, err := rt.Load(ctx, engine.Plugin{Path: "testdata/moody.wasm"})
	if err != nil {
		panic(err)
	}
	conflict := func(db string) *resolve.Conflict {
		return &resolve.Conflict{ABI: 1, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: db, ID: "apple", Attempt: 1}
	}
	_, err = r.Resolve(ctx, conflict("loop"))
	fmt.Println(errors.Is(err, engine.ErrTimeout))
	d, err := r.Resolve(ctx, conflict("fruits"))
	fmt.Println(d.Action, err)
	// Output:
	// true
	// accept <nil>
}

// A recording (as a Recorder writes it) replayed through another
// resolver: here basic, natively, which gives up where the recorded
// backoff retried.
func ExampleReplay() {
	recording := `{"time":"2026-12-01T12:00:00Z","resolver":"backoff","conflict":{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":1},"decision":{"action":"retry","delay_ms":40},"took_us":6}
{"time":"2026-12-01T12:00:00Z","resolver":"backoff","conflict":{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":3},"decision":{"action":"fail","reason":"gave up"},"took_us":5}
`
	rep, err := engine.Replay(context.Background(), strings.NewReader(recording), resolve.Basic())
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d replayed: %d same, %d changed %v\n", rep.Replayed, rep.Same, rep.Changed, rep.Changes)
	for _, d := range rep.Differences {
		fmt.Printf("line %d, %s attempt %d: %s became %s\n", d.Line, d.ID, d.Attempt, d.Recorded.Action, d.Replayed.Action)
	}
	// Output:
	// 2 replayed: 1 same, 1 changed map[retry→fail:1]
	// line 1, apple attempt 1: retry became fail
}
