// Package askit builds AssemblyScript resolvers: the flags every
// AssemblyScript plugin is compiled with, and where to find the pinned
// compiler. tools/wasmbuild (the committed example plugins) and
// tools/resolver (an author's plugin) build with the same flags, so an
// author's build is what CI checks.
package askit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Flags are asc's flags for a resolver, after the entry file and before
// -o: the incremental runtime (a garbage collector, so that memory stays
// bounded over millions of calls), no abort import (a failed assertion
// traps, and the module imports nothing the host refuses), full
// optimisation, and none of the features the engine refuses (reference
// types, GC types, SIMD).
var Flags = []string{
	"--runtime", "incremental",
	"--use", "abort=",
	"-O3", "--noAssert",
	"--disable", "reference-types,gc,simd",
}

// ErrNoCompiler is matched by the error of [Compiler] when no asc is
// installed.
var ErrNoCompiler = errors.New("the AssemblyScript compiler (asc) is not installed")

// Compiler returns the asc script under the first of dirs that holds
// node_modules/.bin/asc.
func Compiler(dirs ...string) (string, error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		asc := filepath.Join(dir, "node_modules", ".bin", "asc")
		if fi, err := os.Stat(asc); err == nil && !fi.IsDir() {
			return asc, nil
		}
	}
	return "", fmt.Errorf("%w under %q: run npm ci (it is pinned in package.json)", ErrNoCompiler, dirs)
}

// Command returns the command that compiles entry (a path relative to
// dir) to out with asc; path lists more directories holding node_modules
// to resolve imports from (asc --path).
func Command(asc, dir, entry, out string, path ...string) *exec.Cmd {
	args := append([]string{entry}, Flags...)
	for _, p := range path {
		args = append(args, "--path", p)
	}
	args = append(args, "-o", out)
	cmd := exec.Command(asc, args...)
	cmd.Dir = dir
	return cmd
}
