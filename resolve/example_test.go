package resolve_test

import (
	"context"
	"fmt"

	"github.com/accord-db/accord/resolve"
)

// constByte is a random source that always yields the same byte, so the
// example's jitter is known: 0x00 draws the lowest, -jitter_ms.
type constByte byte

func (b constByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func ExampleBackoff() {
	params, err := resolve.ParseBackoffParams([]byte(`{"max_retries":3,"jitter":"equal"}`))
	if err != nil {
		panic(err)
	}
	backoff := resolve.Backoff(params, constByte(0x00))
	for attempt := 1; attempt <= 4; attempt++ {
		d, err := backoff.Resolve(context.Background(), &resolve.Conflict{
			ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
			DB: "fruits", ID: "apple", Attempt: attempt,
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %d ms: %s\n", d.Action, d.DelayMS, d.Reason)
	}
	// Output:
	// retry 40 ms: retry 1 of 3 after 40 ms
	// retry 90 ms: retry 2 of 3 after 90 ms
	// retry 190 ms: retry 3 of 3 after 190 ms
	// fail 0 ms: conflict on "apple": giving up after 3 retries
}

func ExampleDecision_Validate() {
	c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, DB: "fruits", ID: "apple", Attempt: 1}
	d, err := resolve.DecodeDecision([]byte(`{"action":"merge","doc":{"_id":"pear"}}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Validate(c))
	// Output:
	// resolve: invalid decision: merge doc has _id "pear", the conflict is about "apple"
}
