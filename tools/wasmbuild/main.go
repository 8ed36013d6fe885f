// Command wasmbuild rebuilds every WebAssembly module committed to the
// repository, or checks that the committed bytes are what a fresh build
// produces.
//
//	go run ./tools/wasmbuild          # rebuild and overwrite (make plugins)
//	go run ./tools/wasmbuild -check   # build to a temporary directory and compare (make check-plugins)
//
// It builds two kinds of module:
//
//   - every Go plugin plugins/NAME (a directory with a main.go) with
//     GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath,
//     written gzip-compressed (best compression, no name, no time) to
//     plugins/NAME/NAME.wasm.gz;
//   - every AssemblyScript plugin plugins/NAME (a directory with an
//     index.ts) with the pinned asc from node_modules (npm ci) and the
//     flags of internal/askit, written plain to plugins/NAME/NAME.wasm:
//     an example for authors, loaded from its file, not a built-in;
//   - every hand-written test module engine/testdata/NAME.wat with
//     wat2wasm (Debian's wabt), written to engine/testdata/NAME.wasm.
//
// The builds are byte-reproducible with one Go toolchain and one wabt
// version: a different toolchain may produce different bytes, and -check
// says which toolchain it used. With -check it also vets the guest code
// (GOOS=wasip1 GOARCH=wasm go vet ./plugins/pdk ./plugins/NAME…), which a
// plain go vet on the host skips.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/accord-db/accord/internal/askit"
	"github.com/accord-db/accord/internal/guestbuild"
	"github.com/accord-db/accord/internal/modroot"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// The exit codes of run.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// fixCommand is what to run to refresh the committed modules.
const fixCommand = "go run ./tools/wasmbuild (make plugins)"

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasmbuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "build to a temporary directory and fail if any committed module differs")
	root := fs.String("root", "", "repository root (default: the directory holding go.mod, from the working directory up)")
	verbose := fs.Bool("v", false, "print every command")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wasmbuild [-check] [-root DIR] [-v]\n\nRebuilds plugins/*/*.wasm.gz, plugins/*/*.wasm and engine/testdata/*.wasm, or with -check compares a fresh build with them.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wasmbuild: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return exitUsage
	}
	b := &builder{root: *root, stdout: stdout, stderr: stderr, verbose: *verbose}
	if b.root == "" {
		r, err := findRoot()
		if err != nil {
			fmt.Fprintf(stderr, "wasmbuild: %v\n", err)
			return exitFail
		}
		b.root = r
	}
	targets, err := b.targets()
	if err != nil {
		fmt.Fprintf(stderr, "wasmbuild: %v\n", err)
		return exitFail
	}
	if *check {
		return b.check(targets)
	}
	return b.build(targets)
}

// A target is one committed module and how to produce it.
type target struct {
	// out is the committed file, relative to the root.
	out string
	// produce writes the module's bytes to a file under dir.
	produce func(b *builder, dir string) (string, error)
}

type builder struct {
	root           string
	stdout, stderr io.Writer
	verbose        bool
}

// targets lists the Go plugins and the WAT test modules under the root.
func (b *builder) targets() ([]target, error) {
	var ts []target
	plugins, err := filepath.Glob(filepath.Join(b.root, "plugins", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	for _, m := range plugins {
		name := filepath.Base(filepath.Dir(m))
		ts = append(ts, target{
			out:     filepath.Join("plugins", name, name+".wasm.gz"),
			produce: func(b *builder, dir string) (string, error) { return b.goPlugin(name, dir) },
		})
	}
	asPlugins, err := filepath.Glob(filepath.Join(b.root, "plugins", "*", "index.ts"))
	if err != nil {
		return nil, err
	}
	for _, m := range asPlugins {
		name := filepath.Base(filepath.Dir(m))
		ts = append(ts, target{
			out:     filepath.Join("plugins", name, name+".wasm"),
			produce: func(b *builder, dir string) (string, error) { return b.asPlugin(name, dir) },
		})
	}
	wats, err := filepath.Glob(filepath.Join(b.root, "engine", "testdata", "*.wat"))
	if err != nil {
		return nil, err
	}
	for _, w := range wats {
		name := strings.TrimSuffix(filepath.Base(w), ".wat")
		src := filepath.Join("engine", "testdata", name+".wat")
		ts = append(ts, target{
			out:     filepath.Join("engine", "testdata", name+".wasm"),
			produce: func(b *builder, dir string) (string, error) { return b.wat(src, dir) },
		})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].out < ts[j].out })
	if len(ts) == 0 {
		return nil, fmt.Errorf("nothing to build under %s: no plugins/*/main.go, no plugins/*/index.ts and no engine/testdata/*.wat", b.root)
	}
	return ts, nil
}

// build produces every target and overwrites the committed files.
func (b *builder) build(ts []target) int {
	tmp, err := os.MkdirTemp("", "wasmbuild-")
	if err != nil {
		fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
		return exitFail
	}
	defer os.RemoveAll(tmp)
	for _, t := range ts {
		got, err := t.produce(b, tmp)
		if err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: %s: %v\n", t.out, err)
			return exitFail
		}
		data, err := os.ReadFile(got)
		if err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
			return exitFail
		}
		if err := os.WriteFile(filepath.Join(b.root, t.out), data, 0o644); err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(b.stdout, "wrote %s (%d bytes)\n", t.out, len(data))
	}
	return exitOK
}

// check produces every target in a temporary directory, compares it with
// the committed file and vets the guest code.
func (b *builder) check(ts []target) int {
	tmp, err := os.MkdirTemp("", "wasmbuild-check-")
	if err != nil {
		fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
		return exitFail
	}
	defer os.RemoveAll(tmp)
	code := exitOK
	if _, err := os.Stat(filepath.Join(b.root, "plugins")); err == nil {
		if err := b.vetGuests(); err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: vet the guest code: %v\n", err)
			code = exitFail
		}
	}
	for _, t := range ts {
		got, err := t.produce(b, tmp)
		if err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: %s: %v\n", t.out, err)
			code = exitFail
			continue
		}
		fresh, err := os.ReadFile(got)
		if err != nil {
			fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
			code = exitFail
			continue
		}
		committed, err := os.ReadFile(filepath.Join(b.root, t.out))
		switch {
		case errors.Is(err, os.ErrNotExist):
			fmt.Fprintf(b.stderr, "wasmbuild: %s is missing: run %s and commit it\n", t.out, fixCommand)
			code = exitFail
		case err != nil:
			fmt.Fprintf(b.stderr, "wasmbuild: %v\n", err)
			code = exitFail
		case !bytes.Equal(fresh, committed):
			fmt.Fprintf(b.stderr, "wasmbuild: %s differs from a fresh build (%d bytes committed, %d built%s): run %s and commit it\n",
				t.out, len(committed), len(fresh), b.toolchainNote(t), fixCommand)
			code = exitFail
		default:
			fmt.Fprintf(b.stdout, "ok %s\n", t.out)
		}
	}
	return code
}

// goPlugin builds plugins/name and gzips it into dir.
func (b *builder) goPlugin(name, dir string) (string, error) {
	wasm := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", wasm, "./plugins/"+name)
	cmd.Env = guestbuild.Env()
	if err := b.exec(cmd); err != nil {
		return "", err
	}
	data, err := os.ReadFile(wasm)
	if err != nil {
		return "", err
	}
	gz, err := Gzip(data)
	if err != nil {
		return "", err
	}
	out := wasm + ".gz"
	return out, os.WriteFile(out, gz, 0o644)
}

// asPlugin builds the AssemblyScript plugin plugins/name into dir.
func (b *builder) asPlugin(name, dir string) (string, error) {
	asc, err := askit.Compiler(b.root)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name+".wasm")
	cmd := askit.Command(asc, filepath.Join(b.root, "plugins", name), "index.ts", out)
	if b.verbose {
		fmt.Fprintf(b.stderr, "+ %s\n", strings.Join(cmd.Args, " "))
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, log.Bytes())
	}
	return out, nil
}

// watNames is the line by which a .wat file asks for a name section
// (wat2wasm --debug-names): the functions' names, as a module built with
// debug information carries them.
const watNames = ";; wasmbuild: --debug-names"

// wat assembles src (relative to the root) into dir.
func (b *builder) wat(src, dir string) (string, error) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		return "", fmt.Errorf("wat2wasm not found: install Debian's wabt (make tools, or apt-get install wabt)")
	}
	text, err := os.ReadFile(filepath.Join(b.root, src))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
	args := []string{src, "-o", out}
	if bytes.Contains(text, []byte("\n"+watNames+"\n")) || bytes.HasPrefix(text, []byte(watNames+"\n")) {
		args = append(args, "--debug-names")
	}
	return out, b.exec(exec.Command("wat2wasm", args...))
}

// vetGuests runs go vet on the plugins as the wasip1 guests they are.
func (b *builder) vetGuests() error {
	pkgs := []string{"./plugins/pdk"}
	mains, err := filepath.Glob(filepath.Join(b.root, "plugins", "*", "main.go"))
	if err != nil {
		return err
	}
	for _, m := range mains {
		pkgs = append(pkgs, "./plugins/"+filepath.Base(filepath.Dir(m)))
	}
	// Only what a guest links: the host-side packages under plugins/
	// (the embedding package, pdktest) import the engine, which is
	// built for hosts only, and the plain go vet covers them.
	cmd := exec.Command("go", append([]string{"vet"}, pkgs...)...)
	cmd.Env = guestbuild.Env()
	return b.exec(cmd)
}

// exec runs cmd in the root, its output going to stderr.
func (b *builder) exec(cmd *exec.Cmd) error {
	cmd.Dir = b.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if b.verbose {
		fmt.Fprintf(b.stderr, "+ %s\n", strings.Join(cmd.Args, " "))
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out.Bytes())
	}
	return nil
}

// toolchainNote names the toolchain that made the fresh bytes, since
// another toolchain is the likeliest reason for a difference.
func (b *builder) toolchainNote(t target) string {
	if strings.HasSuffix(t.out, ".wasm.gz") {
		return ", with " + b.tool("go", "env", "GOVERSION")
	}
	if strings.HasPrefix(t.out, "plugins"+string(filepath.Separator)) {
		if asc, err := askit.Compiler(b.root); err == nil {
			return ", with " + b.tool(asc, "--version")
		}
	}
	return ", with " + b.tool("wat2wasm", "--version")
}

func (b *builder) tool(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = b.root
	out, err := cmd.Output()
	if err != nil {
		return name + " (version unknown)"
	}
	return name + " " + strings.TrimSpace(string(out))
}

// Gzip compresses data reproducibly: best compression, and a header
// without name, comment or modification time.
func Gzip(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// findRoot returns the repository's root.
func findRoot() (string, error) {
	root, err := modroot.Find()
	if err != nil {
		return "", fmt.Errorf("%w: run from the repository or pass -root", err)
	}
	return root, nil
}
