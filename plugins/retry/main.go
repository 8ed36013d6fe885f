//go:build wasip1

// Command retry is the retry resolver plugin: it re-reads and re-applies
// at once, at most max_retries times (default 20), then gives up. It reads
// no document. Its decisions come from resolve.RetryParams.Decide and its
// parameters from resolve.ParseRetryParams, the same code as its native
// twin.
package main

import (
	"github.com/accord-db/accord/plugins/pdk"
	"github.com/accord-db/accord/resolve"
)

var params resolve.RetryParams

func init() {
	pdk.Register(resolve.RetryDescription, func(c *resolve.Conflict) resolve.Decision {
		return params.Decide(c)
	})
	pdk.OnConfigure(func(raw []byte) error {
		p, err := resolve.ParseRetryParams(raw)
		if err != nil {
			return err
		}
		params = p
		return nil
	})
}

func main() {}
