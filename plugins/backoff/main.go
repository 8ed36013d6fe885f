//go:build wasip1

// Command backoff is the exponential backoff resolver plugin: before
// retry n it waits (2^n) * base_ms ± jitter_ms (25 ms ± 10 ms by
// default), at most max_delay_ms, and gives up after max_retries (20).
// It reads no document. Its decisions come from
// resolve.BackoffParams.Decide with crypto/rand as the jitter source (the
// host's random source, through WASI) and its parameters from
// resolve.ParseBackoffParams, the same code as its native twin.
package main

import (
	"crypto/rand"

	"github.com/accord-db/accord/plugins/pdk"
	"github.com/accord-db/accord/resolve"
)

var params resolve.BackoffParams

func init() {
	pdk.Register(resolve.BackoffDescription, func(c *resolve.Conflict) resolve.Decision {
		return params.Decide(c, rand.Reader)
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
