//go:build wasip1

// Command merge is the merge resolver plugin: it answers a conflicting
// update with one merged write instead of a wait and a retry, merging
// base, mine and theirs field by field by the rules its parameters give
// each field path:
//
//	{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"}}
//
// (latest_by, max, min, union, counter, mine, theirs; a default for the
// others). A delete, or an update of a document deleted meanwhile, is
// retried. Its decisions come from resolve.MergeParams.Decide and its
// parameters from resolve.ParseMergeParams, the same code as its native
// twin resolve.Merge.
package main

import (
	"github.com/accord-db/accord/plugins/pdk"
	"github.com/accord-db/accord/resolve"
)

var params resolve.MergeParams

func init() {
	pdk.Register(resolve.MergeDescription, func(c *resolve.Conflict) resolve.Decision {
		return params.Decide(c)
	})
	pdk.OnConfigure(func(raw []byte) error {
		p, err := resolve.ParseMergeParams(raw)
		if err != nil {
			return err
		}
		params = p
		return nil
	})
}

func main() {}
