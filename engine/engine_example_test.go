package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
