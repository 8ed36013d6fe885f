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
// debug.SetGCPercent in its init function, which runs after pdk's
// (runtime/debug adds some 0.4 MB to the module: pdk itself sets it
// without importing it).
//
// pdk and package resolve link neither encoding/json, fmt nor reflect, so
// that a plugin's module is about 2 MB, not 3.6 MB: what a warm load
// costs grows with it. A plugin that imports them itself gets them back.
//
// The exports (accord_abi_version, accord_alloc, accord_resolve,
// accord_configure, accord_describe) exist only when building for wasip1;
// on other platforms the package still compiles, so that its logic can be
// tested natively.
package pdk

import (
	"errors"

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
// The *Conflict handed to decide is reused from call to call, and its
// documents are slices of the buffer the host wrote the conflict into,
// which the next conflict overwrites (see [resolve.DecodeConflictInto]):
// it is valid until decide returns, so copy what you keep.
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
		err = errors.New(description.Name + " takes no parameters")
	}
	return resolve.EncodeConfigureResult(err)
}

// handleDescribe encodes the registered description.
func handleDescribe() []byte {
	return resolve.EncodeDescription(description)
}

// emptyParams reports whether params are no parameters: nothing, null or
// an empty object, white space around.
func emptyParams(params []byte) bool {
	p := trimSpace(params)
	switch {
	case len(params) == 0, string(p) == "null":
		return true
	case len(p) >= 2 && p[0] == '{' && p[len(p)-1] == '}':
		return len(trimSpace(p[1:len(p)-1])) == 0
	}
	return false
}

// trimSpace cuts JSON's white space from both ends of b.
func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func failed(reason string) resolve.Decision {
	return resolve.Decision{Action: resolve.ActionFail, Reason: reason}
}
