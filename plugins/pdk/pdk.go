// Package pdk is the kit for writing an Accord resolver plugin in Go. A
// plugin registers one decision function, and optionally a function that
// takes its parameters, from an init function; pdk implements the ABI v1
// exports around them.
//
//	//go:build wasip1
//
//	package main
//
//	import (
//		"github.com/accord-db/accord/plugins/pdk"
//		"github.com/accord-db/accord/resolve"
//	)
//
//	func init() {
//		pdk.Register(resolve.Description{Name: "giveup", Version: "1.0.0", Needs: []resolve.Need{}},
//			func(c *resolve.Conflict) resolve.Decision {
//				return resolve.Decision{Action: resolve.ActionFail, Reason: "no"}
//			})
//	}
//
//	func main() {}
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o giveup.wasm .
//
// A reactor's main is never called: register from init, which the host
// runs through the module's _initialize export.
//
// A plugin built with pdk runs its garbage collector at GOGC 25, not Go's
// default 100: an instance's linear memory never shrinks, and at 100 a
// fresh instance's heap grows by Go's 4 MiB minimum before it is first
// collected. A plugin whose decisions allocate much may set its own with
// debug.SetGCPercent in its init function, which runs after pdk's.
//
// The exports (accord_abi_version, accord_alloc, accord_resolve,
// accord_configure, accord_describe) exist only when building for wasip1;
// on other platforms the package still compiles, so that its logic can be
// tested natively.
package pdk

import (
	"encoding/json"
	"fmt"

	"github.com/accord-db/accord/resolve"
)

// The plugin's registration. A reactor's exports are called by one host
// thread at a time, so no locking is needed.
var (
	// conflict and answer are handleResolve's, reused from call to call.
	conflict resolve.Conflict
	answer   []byte

	description resolve.Description
	decide      resolve.Func
	configure   func(params []byte) error
)

// Register makes decide the plugin's resolver and desc what
// accord_describe reports. Call it once, from an init function. Declare
// in desc.Needs the documents decide reads (an empty, non-nil list for
// none), so that the host reads no document only to hand it over.
//
// The *Conflict handed to decide is reused from call to call: it is
// valid until decide returns, so copy what you keep.
func Register(desc resolve.Description, fn resolve.Func) {
	description, decide = desc, fn
}

// OnConfigure sets the function that receives the plugin's parameters (a
// JSON value from the service's configuration, "{}" when there are none)
// before the instance decides anything. An error refuses the parameters,
// and the host refuses to load the plugin. Without it, a plugin accepts
// no parameters but an empty object. fn may keep params.
func OnConfigure(fn func(params []byte) error) {
	configure = fn
}

// handleResolve decodes a conflict, asks the registered function and
// encodes its decision. A conflict that is not well formed, or a missing
// registration, is answered with a fail decision saying so.
func handleResolve(in []byte) []byte {
	// The conflict and the answer's buffer are reused from call to call:
	// a decision that allocates little keeps the guest's garbage
	// collector, slow in WebAssembly, out of the way.
	var d resolve.Decision
	switch err := resolve.DecodeConflictInto(in, &conflict); {
	case decide == nil:
		d = failed("pdk: no resolver registered: call pdk.Register from an init function")
	case err != nil:
		d = failed("pdk: " + err.Error())
	default:
		d = decide(&conflict)
	}
	out, err := resolve.AppendDecision(answer[:0], d)
	if err != nil {
		out, _ = resolve.AppendDecision(answer[:0], failed("pdk: "+err.Error()))
	}
	answer = out
	return out
}

// handleConfigure passes the parameters to the registered function and
// answers {} or {"error":"..."}.
func handleConfigure(params []byte) []byte {
	var err error
	if configure != nil {
		// A copy: the host's buffer is reused for the conflicts to come,
		// and a plugin may keep its parameters.
		err = configure(append([]byte(nil), params...))
	} else if !emptyParams(params) {
		err = fmt.Errorf("%s takes no parameters", description.Name)
	}
	if err == nil {
		return []byte("{}")
	}
	out, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{err.Error()})
	return out
}

// handleDescribe encodes the registered description.
func handleDescribe() []byte {
	out, err := json.Marshal(description)
	if err != nil {
		return []byte(`{}`)
	}
	return out
}

func emptyParams(params []byte) bool {
	var v any
	if len(params) == 0 || json.Unmarshal(params, &v) != nil {
		return len(params) == 0
	}
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func failed(reason string) resolve.Decision {
	return resolve.Decision{Action: resolve.ActionFail, Reason: reason}
}
