//go:build wasip1

// Command basic is the basic resolver plugin: it gives up on the first
// conflict. It reads no document and takes no parameters. Its decisions
// come from resolve.DecideBasic, the same function as its native twin.
package main

import (
	"github.com/accord-db/accord/plugins/pdk"
	"github.com/accord-db/accord/resolve"
)

func init() {
	pdk.Register(resolve.BasicDescription, resolve.DecideBasic)
}

func main() {}
