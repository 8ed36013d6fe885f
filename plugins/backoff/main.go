//go:build wasip1

// Command backoff is the exponential backoff resolver plugin: before
// retry n it waits a jittered exponential wait, exp = (2^n) * base_ms at
// most max_delay_ms (25 ms and 10 s by default), drawn by the "jitter"
// strategy: "full" (the default, uniform in [0, exp]), "equal" (the seed's,
// exp ± jitter_ms) or "decorrelated"; it gives up after max_retries (20).
// It reads no document. Its decisions come from
// resolve.BackoffParams.Decide with the host's random source (WASI's
// random_get, which crypto/rand reads too, read without linking it) as
// the jitter source and its parameters from
// resolve.ParseBackoffParams, the same code as its native twin.
package main

import (
	"github.com/accord-db/accord/plugins/pdk"
	"github.com/accord-db/accord/resolve"
)

var params resolve.BackoffParams

func init() {
	pdk.Register(resolve.BackoffDescription, func(c *resolve.Conflict) resolve.Decision {
		return params.Decide(c, nil) // the host's random source, through WASI
	})
	pdk.OnConfigure(func(raw []byte) error {
		p, err := resolve.ParseBackoffParams(raw)
		if err != nil {
			return err
		}
		params = p
		return nil
	})
}

func main() {}
