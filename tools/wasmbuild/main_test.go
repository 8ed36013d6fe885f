package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// watRoot makes a repository root holding one WAT test module.
func watRoot(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Fatal("wat2wasm is missing: install Debian's wabt (make tools)")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "engine", "testdata")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	src, err := os.ReadFile(filepath.Join("..", "..", "engine", "testdata", "accept.wat"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accept.wat"), src, 0o644))
	return root
}

func runTool(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBuildThenCheck(t *testing.T) {
	root := watRoot(t)
	wasm := filepath.Join(root, "engine", "testdata", "accept.wasm")

	code, _, stderr := runTool("-check", "-root", root)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, "engine/testdata/accept.wasm is missing: run go run ./tools/wasmbuild")

	code, stdout, stderr := runTool("-root", root)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "wrote engine/testdata/accept.wasm")
	built, err := os.ReadFile(wasm)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(built, []byte("\x00asm")))

	code, stdout, stderr = runTool("-check", "-root", root)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "ok engine/testdata/accept.wasm")

	require.NoError(t, os.WriteFile(wasm, append(built, 0), 0o644))
	code, _, stderr = runTool("-check", "-root", root)
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, "engine/testdata/accept.wasm differs from a fresh build")
	assert.Contains(t, stderr, "with wat2wasm")
}

func TestUsage(t *testing.T) {
	code, _, stderr := runTool("-nonesuch")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "usage: wasmbuild")

	code, _, stderr = runTool("extra")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, `unexpected arguments ["extra"]`)

	code, _, _ = runTool("-h")
	assert.Equal(t, exitOK, code)

	code, _, stderr = runTool("-root", t.TempDir())
	assert.Equal(t, exitFail, code)
	assert.Contains(t, stderr, "nothing to build")
}

func TestGzipIsReproducible(t *testing.T) {
	data := bytes.Repeat([]byte("accord "), 1000)
	a, err := Gzip(data)
	require.NoError(t, err)
	b, err := Gzip(data)
	require.NoError(t, err)
	assert.Equal(t, a, b)

	zr, err := gzip.NewReader(bytes.NewReader(a))
	require.NoError(t, err)
	assert.Empty(t, zr.Name)
	assert.True(t, zr.ModTime.IsZero() || zr.ModTime.Unix() == 0)
	back, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, data, back)
}
