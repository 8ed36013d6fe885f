// Package guestbuild holds what every reproducible build of a Go guest
// (a resolver built for GOOS=wasip1) shares: tools/wasmbuild builds the
// built-ins with it, and tools/resolver an author's resolver, so that the
// two agree byte for byte.
package guestbuild

import (
	"os"
	"strings"
)

// Env is the environment of a reproducible guest build: the caller's,
// with everything that changes the output pinned.
func Env() []string {
	pinned := map[string]string{
		"GOOS":         "wasip1",
		"GOARCH":       "wasm",
		"CGO_ENABLED":  "0",
		"GOWASM":       "",
		"GOEXPERIMENT": "",
		"GOFLAGS":      "-buildvcs=false",
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := pinned[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range pinned {
		env = append(env, k+"="+v)
	}
	return env
}
