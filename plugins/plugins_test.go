package plugins_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/plugins"
)

func TestBuiltin(t *testing.T) {
	require.Equal(t, []string{"backoff", "basic", "merge", "retry"}, plugins.Names())
	for _, name := range plugins.Names() {
		wasm, err := plugins.Builtin(name)
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")), "%s is a WebAssembly module", name)
		gz, err := plugins.Compressed(name)
		require.NoError(t, err)
		assert.Less(t, len(gz), len(wasm)/2, "%s is committed compressed", name)
	}
	for _, name := range []string{"", "multimaster", "pdk", "../basic", "basic/basic"} {
		_, err := plugins.Builtin(name)
		assert.ErrorIs(t, err, plugins.ErrUnknown, "Builtin(%q)", name)
	}
}

func ExampleNames() {
	for _, name := range plugins.Names() {
		wasm, err := plugins.Builtin(name)
		if err != nil {
			panic(err)
		}
		fmt.Println(name, len(wasm) > 1<<20)
	}
	// Output:
	// backoff true
	// basic true
	// merge true
	// retry true
}
