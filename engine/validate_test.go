package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/plugins"
)

// TestBuiltinsWithinLimits checks that the built-in plugins, Go programs
// like any plugin an author builds with plugins/pdk, pass checkBinary
// with room to spare: at most half of each cap.
func TestBuiltinsWithinLimits(t *testing.T) {
	for _, name := range plugins.Names() {
		wasm, err := plugins.Builtin(name)
		require.NoError(t, err)
		shape, err := checkBinary(wasm, limits)
		require.NoError(t, err, "checkBinary(%s)", name)
		t.Logf("%s: %d bytes, %+v", name, len(wasm), shape)
		require.LessOrEqual(t, shape.functions, limits.functions/2)
		require.LessOrEqual(t, shape.globals, limits.globals/2)
		require.LessOrEqual(t, shape.tableEntries, limits.tableEntries/2)
		require.LessOrEqual(t, shape.elements, limits.elements/2)
		require.LessOrEqual(t, shape.maxBody, limits.bodyBytes/2)
		require.LessOrEqual(t, shape.maxLocals, limits.locals/2)
		require.LessOrEqual(t, shape.maxBlocks, limits.blocks/2)
	}
}
