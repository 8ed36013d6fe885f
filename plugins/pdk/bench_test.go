package pdk

import (
	"testing"

	"github.com/accord-db/accord/resolve"
)

// BenchmarkHandleResolve is the guest's work for one backoff decision,
// run natively: decode the conflict, decide, encode the decision.
func BenchmarkHandleResolve(b *testing.B) {
	Register(resolve.BackoffDescription, func(c *resolve.Conflict) resolve.Decision {
		return resolve.BackoffParams{}.Decide(c, nil)
	})
	defer Register(resolve.Description{}, nil)
	in := []byte(`{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":3,"elapsed_ms":0,"base":null,"mine":null,"theirs":null,"conflicts":[],"base_missing":false}`)
	b.ReportAllocs()
	for b.Loop() {
		handleResolve(in)
	}
}
