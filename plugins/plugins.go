// Package plugins holds Accord's built-in resolver plugins, compiled to
// WebAssembly and embedded, for a host to load by name:
//
//	wasm, err := plugins.Builtin("backoff")
//	if err != nil {
//		return err
//	}
//	// hand wasm to engine.Runtime.Load, or use engine.Plugin{Builtin: "backoff"}
//
// Each plugin's Go source is in the directory of its name (basic, retry,
// backoff, merge); it is a WASI reactor written with [pdk] around the
// decision functions of package resolve, so each built-in decides exactly
// as its native twin (resolve.Basic, resolve.Retry, resolve.Backoff,
// resolve.Merge).
//
// The built modules are committed gzip-compressed beside their sources
// (NAME/NAME.wasm.gz) and rebuilt reproducibly with
//
//	go run ./tools/wasmbuild         # make plugins
//	go run ./tools/wasmbuild -check  # make check-plugins: fails if a fresh build differs
//
// which runs, for each NAME,
//
//	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -o NAME.wasm ./plugins/NAME
//
// and compresses the result with compress/gzip at best compression,
// without name or time.
//
// asretry is not a built-in: it is the example of the AssemblyScript kit
// (pdk/assemblyscript), the twin of retry, committed plain as
// asretry/asretry.wasm and loaded from its file like an author's plugin.
// tools/wasmbuild builds it too, with the compiler pinned in package.json.
package plugins

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed */*.wasm.gz
var builtins embed.FS

// ErrUnknown is matched by the error [Builtin] returns for a name that
// is not a built-in plugin.
var ErrUnknown = errors.New("unknown built-in plugin")

// Names lists the built-in plugins, sorted.
func Names() []string {
	matches, _ := fs.Glob(builtins, "*/*.wasm.gz")
	var names []string
	for _, m := range matches {
		dir, file := path.Split(m)
		name := strings.TrimSuffix(dir, "/")
		if file == name+".wasm.gz" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// Compressed returns the committed, gzip-compressed module of the
// built-in plugin name. The bytes are shared: do not modify them.
func Compressed(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\.`) {
		return nil, fmt.Errorf("plugins: %w %q (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	b, err := builtins.ReadFile(name + "/" + name + ".wasm.gz")
	if err != nil {
		return nil, fmt.Errorf("plugins: %w %q (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Builtin returns the WebAssembly module of the built-in plugin name,
// decompressed. Each call decompresses afresh.
func Builtin(name string) ([]byte, error) {
	gz, err := Compressed(name)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("plugins: %s: %w", name, err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("plugins: %s: %w", name, err)
	}
	return wasm, nil
}
