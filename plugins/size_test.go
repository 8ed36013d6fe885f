package plugins_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/plugins"
)

// maxBuiltinBytes bounds a built-in module. A Go reactor that does
// nothing is 1.85 MB with Go 1.26; the built-ins were 3.6 to 4.0 MB while
// resolve and pdk linked encoding/json, fmt and reflect, and are 2.0 to
// 2.3 MB without them. A warm load's cost grows with the module's size.
const maxBuiltinBytes = 2_500_000

// TestBuiltinsLinkNoHeavyPackages reads the function names of each
// built-in module (its name section) and checks that the guest links none
// of the packages that made it large: encoding/json, fmt, reflect and
// math/big directly, and os, time and crypto through the packages that
// import them (runtime/debug, crypto/rand, context).
func TestBuiltinsLinkNoHeavyPackages(t *testing.T) {
	forbidden := []string{"encoding_json.", "fmt.", "reflect.", "math_big.", "os.", "time.", "crypto_", "runtime_debug.", "context."}
	// Functions the runtime itself defines under those packages' names
	// (go:linkname), in every Go module.
	runtimes := map[string]bool{"runtime_debug.setGCPercent": true, "runtime_debug.SetTraceback": true, "time.now": true}
	for _, name := range plugins.Names() {
		t.Run(name, func(t *testing.T) {
			wasm, err := plugins.Builtin(name)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(wasm), maxBuiltinBytes, "module size")
			names, err := functionNames(wasm)
			require.NoError(t, err)
			require.NotEmpty(t, names, "the module has a name section")
			linked := map[string]int{}
			for _, fn := range names {
				for _, pkg := range forbidden {
					if strings.HasPrefix(fn, pkg) && !runtimes[fn] {
						linked[pkg]++
					}
				}
			}
			assert.Empty(t, linked, "functions of packages a guest must not link, by package")
		})
	}
}

// functionNames returns the names of a module's functions from its
// "name" custom section (Go's linker writes one, with packages' paths
// spelt with _ for / and .).
func functionNames(wasm []byte) ([]string, error) {
	errTruncated := errors.New("truncated module")
	uleb := func(b []byte, i *int) (int, error) {
		v, n := binary.Uvarint(b[*i:])
		if n <= 0 {
			return 0, errTruncated
		}
		*i += n
		return int(v), nil
	}
	var names []string
	for i := 8; i < len(wasm); {
		id := wasm[i]
		i++
		size, err := uleb(wasm, &i)
		if err != nil || i+size > len(wasm) {
			return nil, errTruncated
		}
		end := i + size
		if id == 0 {
			n, err := uleb(wasm, &i)
			if err != nil || i+n > end {
				return nil, errTruncated
			}
			section := string(wasm[i : i+n])
			i += n
			for section == "name" && i < end {
				sub := wasm[i]
				i++
				subSize, err := uleb(wasm, &i)
				if err != nil {
					return nil, err
				}
				subEnd := i + subSize
				if sub == 1 { // function names
					count, err := uleb(wasm, &i)
					if err != nil {
						return nil, err
					}
					for range count {
						if _, err := uleb(wasm, &i); err != nil { // index
							return nil, err
						}
						l, err := uleb(wasm, &i)
						if err != nil || i+l > subEnd {
							return nil, errTruncated
						}
						names = append(names, string(wasm[i:i+l]))
						i += l
					}
				}
				i = subEnd
			}
		}
		i = end
	}
	return names, nil
}
