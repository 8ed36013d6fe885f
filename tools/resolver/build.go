package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/accord-db/accord/internal/askit"
	"github.com/accord-db/accord/internal/guestbuild"
)

func runBuild(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("build", stderr)
	out := fs.String("o", "", "the output `file` (default DIR/NAME.wasm)")
	verbose := fs.Bool("v", false, "print the build command")
	rest, code, ok := parse(fs, args, 0, 1)
	if !ok {
		return code
	}
	dir := "."
	if len(rest) == 1 {
		dir = rest[0]
	}
	m, err := readManifest(dir)
	if err != nil {
		return fail(stderr, "build: %v", err)
	}
	if *out == "" {
		*out = filepath.Join(dir, m.Name+".wasm")
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return fail(stderr, "build: %v", err)
	}
	var cmd *exec.Cmd
	switch m.Lang {
	case "go":
		cmd = exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", abs, ".")
		cmd.Dir = dir
		cmd.Env = guestbuild.Env()
	case "assemblyscript":
		// The plugin's own node_modules (npm install there) first, else
		// the accord checkout's (npm ci there).
		asc, err := askit.Compiler(dir, m.Accord)
		if err != nil {
			return fail(stderr, "build: %v", err)
		}
		cmd = askit.Command(asc, dir, "index.ts", abs,
			filepath.Join(m.Accord, "plugins"), filepath.Join(m.Accord, "node_modules"))
	default:
		return fail(stderr, "build: %s: unknown lang %q (want go or assemblyscript)", manifestFile, m.Lang)
	}
	if *verbose {
		fmt.Fprintf(stderr, "+ %s\n", strings.Join(cmd.Args, " "))
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fail(stderr, "build: %s: %v\n%s", strings.Join(cmd.Args, " "), err, log.Bytes())
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return fail(stderr, "build: %v", err)
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(stdout, "built %s: %d bytes, sha256 %s\n", *out, len(data), hex.EncodeToString(sum[:]))
	return exitOK
}

// readManifest reads dir's resolver.json; a directory without one that
// holds a Go main package (go.mod and main.go) or an index.ts is built
// as such, against the checkout the working directory is in.
func readManifest(dir string) (manifest, error) {
	var m manifest
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &m); err != nil {
			return m, fmt.Errorf("%s: %w", filepath.Join(dir, manifestFile), err)
		}
	case !os.IsNotExist(err):
		return m, err
	case exists(filepath.Join(dir, "go.mod")) && exists(filepath.Join(dir, "main.go")):
		m.Lang = "go"
	case exists(filepath.Join(dir, "index.ts")):
		m.Lang = "assemblyscript"
	default:
		return m, fmt.Errorf("%s has no %s, no go.mod with main.go and no index.ts: not a plugin (resolver new makes one)", dir, manifestFile)
	}
	if m.Name == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return m, err
		}
		m.Name = filepath.Base(abs)
	}
	if m.Lang == "assemblyscript" {
		root, err := accordRoot(m.Accord)
		if err != nil {
			return m, err
		}
		m.Accord = root
	}
	return m, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
