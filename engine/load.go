package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/accord-db/accord/plugins"
	"github.com/accord-db/accord/resolve"
)

// Plugin says which plugin to load and how. Exactly one of Builtin, Path
// and Wasm names the module.
type Plugin struct {
	// Name names the resolver in errors and logs ([Resolver.Name]): 1 to
	// 64 letters, digits, '.', '_' and '-'. Default: the built-in's name,
	// the file's name without extensions (or "plugin" if that is no such
	// name), or the name the plugin describes itself with (a plugin whose
	// description has a longer name or version is refused). [Resolver.Describe]
	// reports the plugin's own description, whatever Name says.
	Name string
	// Builtin is the name of a built-in plugin: see [plugins.Names].
	Builtin string
	// Path is a module file, plain WebAssembly or gzip-compressed.
	Path string
	// Wasm is the module itself, plain WebAssembly or gzip-compressed.
	Wasm []byte
	// SHA256, if set, pins the module: the hex SHA-256 of its bytes as
	// given, before any decompression (what sha256sum prints for the
	// file). Any other module is refused with [ErrHashMismatch].
	SHA256 string
	// Params are the plugin's parameters, a JSON value handed to its
	// accord_configure on every new instance. Nil means none, sent as {}.
	// A plugin without accord_configure accepts none but {} or null.
	Params json.RawMessage
	// Trust says whether calls are interrupted at their deadline. The
	// default trusts the built-in plugins and nothing else.
	Trust Trust
}

// Trust says how far the engine trusts a plugin's code to return on its
// own, which decides whether its calls can be interrupted.
//
// An untrusted plugin's module is instrumented before it is compiled: a
// check at the start of every function and loop counts down, and every
// few thousand checks the guest steps into the host, which stops it if
// its call ran past its deadline or its caller gave up (see
// interrupt.go). That is the only way to stop a guest that never
// returns, and it costs a check per loop iteration and function call,
// and per call a clock reading and two uncontended locks. (wazero's own
// mechanism, WithCloseOnContextDone, which the engine used before, made
// a Go plugin's decision about 4.7x slower: it leaves native code at
// every loop header, and starts a goroutine every call.) The built-in
// plugins are pure, bounded functions built reproducibly from this
// module's source (CI checks the committed bytes are that build), as
// trustworthy as their native twins; anything else is not.
type Trust int

const (
	// TrustDefault is Trusted for built-in plugins and Untrusted for
	// modules from a file or from bytes.
	TrustDefault Trust = iota
	// Untrusted plugins are interrupted when a call runs past
	// Config.CallTimeout or the caller's deadline, even in an infinite
	// loop, and fail with ErrTimeout; within about a millisecond of it.
	// An answer that comes after the deadline is refused.
	Untrusted
	// Trusted plugins run without deadline enforcement: a call that
	// never returns cannot be stopped. An answer that comes after
	// Config.CallTimeout is used (it is the answer of reviewed code, and
	// on a loaded host the wall clock also counts waits for a CPU), logged
	// and counted in Stats.LateAnswers; one that comes after the caller's
	// context is done fails with ErrTimeout. Use it only for code you
	// built and reviewed.
	Trusted
)

// enforce reports whether calls into plugin p are interrupted at their
// deadline.
func (p Plugin) enforce() bool {
	switch p.Trust {
	case Trusted:
		return false
	case Untrusted:
		return true
	}
	return p.Builtin == ""
}

// maxModuleBytes bounds a module, as given and after decompression. A Go
// plugin is about 3.5 MB; compiling 16 MiB of code takes some 5 s of CPU.
const maxModuleBytes = 16 << 20

// Load compiles the plugin p (or takes it from the compilation cache),
// starts its first instance, checks its ABI version, reads its
// description and configures it with p.Params. The resolver it returns
// is goroutine-safe: concurrent calls are served by a pool of up to
// Config.PoolSize instances. Close the resolver, or the runtime, to
// release it.
func (rt *Runtime) Load(ctx context.Context, p Plugin) (*Resolver, error) {
	name := p.displayName()
	fail := func(err error) (*Resolver, error) {
		return nil, fmt.Errorf("engine: load %s: %w", name, err)
	}
	if p.Name != "" && !validName(p.Name) {
		name = "plugin"
		return fail(fmt.Errorf("%w: Name %q is not 1 to %d letters, digits, '.', '_' or '-'", ErrInvalidModule, resolve.Clip(p.Name), maxNameBytes))
	}
	raw, sum, err := p.pinned()
	if err != nil {
		return fail(err)
	}
	if p.Trust < TrustDefault || p.Trust > Trusted {
		return fail(fmt.Errorf("unknown Trust %d", p.Trust))
	}
	w, share, err := rt.wazeroRuntime(ctx, p.enforce())
	if err != nil {
		return fail(err)
	}
	build := func() (wazero.CompiledModule, int64, error) {
		return rt.build(ctx, w, raw, sum, p.enforce())
	}
	var compiled wazero.CompiledModule
	var overhead int64
	var release func(context.Context) error
	if share != nil {
		m, rel, err := share.module(ctx, shareKey{sum: sum, enforce: p.enforce()}, build)
		if err != nil {
			return fail(err)
		}
		compiled, overhead, release = m.compiled, m.overhead, rel
	} else {
		if compiled, overhead, err = build(); err != nil {
			return fail(err)
		}
		release = compiled.Close
	}
	if err := rt.checkModule(compiled); err != nil {
		_ = release(ctx)
		return fail(err)
	}
	params := []byte(p.Params)
	if len(bytes.TrimSpace(params)) == 0 {
		params = []byte("{}")
	}
	r := &Resolver{
		rt:              rt,
		name:            name,
		sha256:          sum,
		wrt:             w,
		compiled:        compiled,
		releaseCompiled: release,
		params:          params,
		enforce:         p.enforce(),
		overhead:        overhead,
		timeout:         rt.cfg.CallTimeout,
		slots:           make(chan struct{}, rt.cfg.PoolSize),
		done:            make(chan struct{}),
	}
	r.changed.L = &r.mu
	_, r.hasConfigure = compiled.ExportedFunctions()[exportConfigure]
	first, err := r.start(ctx, func(inst *instance, ctx context.Context) error {
		return r.inspect(ctx, inst, p.Name == "" && p.Builtin == "" && p.Path == "")
	})
	if err != nil {
		_ = release(ctx)
		return fail(err)
	}
	r.idle = append(r.idle, first)
	r.live = 1

	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		_ = r.Close(ctx)
		return fail(ErrClosed)
	}
	rt.loaded[r] = struct{}{}
	rt.mu.Unlock()
	return r, nil
}

// build decompresses the module raw if it is compressed, checks it,
// instruments it if enforce, and compiles it with w (or takes it from the
// compilation cache). It returns the compiled module and the host memory
// an instance of it takes besides its linear memory.
func (rt *Runtime) build(ctx context.Context, w wazero.Runtime, raw []byte, sum string, enforce bool) (wazero.CompiledModule, int64, error) {
	wasm, wasmSum, kept, err := rt.decompress(raw, sum)
	if err != nil {
		return nil, 0, err
	}
	plain, plainSum := wasm, wasmSum
	shape, err := checkBinary(wasm, limits)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if enforce {
		if wasm, err = instrument(wasm); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrInvalidModule, err)
		}
		wasmSum = ""
	}
	// wazero stops compiling between functions when its context is done,
	// if it compiles with more than one worker; checkBinary bounds what
	// one function costs.
	cctx, cancel := context.WithTimeout(ctx, rt.cfg.CompileTimeout)
	defer cancel()
	cctx = experimental.WithCompilationWorkers(cctx, max(2, runtime.GOMAXPROCS(0)))
	began := time.Now()
	compiled, err := rt.compile(cctx, w, wasm, wasmSum)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return nil, 0, errTimeout(fmt.Sprintf("compile: ran %v", time.Since(began).Round(time.Millisecond)), rt.cfg.CompileTimeout, cctx.Err())
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if !kept {
		rt.keepPlain(raw, sum, plain, plainSum)
	}
	return compiled, shape.hostBytes(), nil
}

// The caps on what names a plugin: its name and version (as it describes
// itself, or as Plugin.Name gives it) go into every log record and metric
// about it.
const (
	maxNameBytes        = 64
	maxVersionBytes     = 64
	maxDescriptionBytes = 1024
	maxDescribeBytes    = 16 << 10
)

// validName reports whether s may name a plugin: 1 to maxNameBytes
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func validName(s string) bool {
	if s == "" || len(s) > maxNameBytes {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkDescription refuses a description whose name or version could not
// go into a log record or a metric's label as it is.
func checkDescription(d resolve.Description) error {
	switch {
	case d.Name != "" && !validName(d.Name):
		return fmt.Errorf("name %q is not 1 to %d letters, digits, '.', '_' or '-'", resolve.Clip(d.Name), maxNameBytes)
	case len(d.Version) > maxVersionBytes || !printableASCII(d.Version):
		return fmt.Errorf("version %q is not at most %d printable ASCII bytes", resolve.Clip(d.Version), maxVersionBytes)
	case len(d.Description) > maxDescriptionBytes:
		return fmt.Errorf("description is %d bytes, at most %d", len(d.Description), maxDescriptionBytes)
	case len(d.Needs) > 8:
		return fmt.Errorf("%d needs, at most 8", len(d.Needs))
	case len(d.Actions) > 4:
		return fmt.Errorf("%d actions, at most 4", len(d.Actions))
	}
	for _, a := range d.Actions {
		if !a.Valid() {
			return fmt.Errorf("unknown action %q in actions", resolve.Clip(string(a)))
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// displayName is the name used until the plugin describes itself.
func (p Plugin) displayName() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.Builtin != "":
		return p.Builtin
	case p.Path != "":
		base := filepath.Base(p.Path)
		for _, ext := range []string{".gz", ".wasm"} {
			base = strings.TrimSuffix(base, ext)
		}
		if !validName(base) {
			return "plugin"
		}
		return base
	}
	return "plugin"
}

// pinned returns the plugin's module bytes as given, checked against its
// pin, and their hex SHA-256. (Their decompressed bytes, if the cache
// keeps them, are checked against what the record says they decompress
// to: see Runtime.decompress.)
func (p Plugin) pinned() (raw []byte, sum string, err error) {
	raw, err = p.raw()
	if err != nil {
		return nil, "", err
	}
	h := sha256.Sum256(raw)
	sum = hex.EncodeToString(h[:])
	if p.SHA256 != "" && !strings.EqualFold(sum, strings.TrimSpace(p.SHA256)) {
		return nil, "", fmt.Errorf("%w: the module's is %s, pinned %s", ErrHashMismatch, sum, resolve.Clip(p.SHA256))
	}
	return raw, sum, nil
}

// raw returns the plugin's module bytes as given: compressed or not, not
// yet checked against the pin.
func (p Plugin) raw() ([]byte, error) {
	var raw []byte
	var err error
	switch n := btoi(p.Builtin != "") + btoi(p.Path != "") + btoi(p.Wasm != nil); {
	case n != 1:
		return nil, fmt.Errorf("%w: set exactly one of Builtin, Path and Wasm (%d set)", ErrInvalidModule, n)
	case p.Builtin != "":
		raw, err = plugins.Compressed(p.Builtin)
	case p.Path != "":
		raw, err = readModule(p.Path)
	default:
		raw = p.Wasm
	}
	if err != nil {
		return nil, err
	}
	if len(raw) > maxModuleBytes {
		return nil, fmt.Errorf("%w: more than %d MiB", ErrInvalidModule, maxModuleBytes>>20)
	}
	return raw, nil
}

// readModule reads a module file: a regular file of at most
// maxModuleBytes (one byte more is read to tell).
func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidModule, filepath.Base(path))
	}
	return readAll(f, fi.Size())
}

// readAll reads r to its end, or to one byte past maxModuleBytes, into a
// buffer allocated for size bytes (a hint, bounded by maxModuleBytes):
// io.ReadAll would copy a module of 3.5 MB through some twenty growing
// buffers.
func readAll(r io.Reader, size int64) ([]byte, error) {
	size = max(0, min(size, maxModuleBytes))
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(r, maxModuleBytes+1))
	return buf.Bytes(), err
}

func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: gunzip: %w", ErrInvalidModule, err)
	}
	// A gzip stream ends with the size of what it holds, modulo 2^32 (of
	// its last member): the size to read into, if it tells the truth.
	var size int64
	if len(raw) >= 4 {
		size = int64(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
	}
	wasm, err := readAll(zr, size)
	if err != nil {
		return nil, fmt.Errorf("%w: gunzip: %w", ErrInvalidModule, err)
	}
	if len(wasm) > maxModuleBytes {
		return nil, fmt.Errorf("%w: more than %d MiB uncompressed", ErrInvalidModule, maxModuleBytes>>20)
	}
	return wasm, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The ABI v1 exports.
const (
	exportABIVersion = "accord_abi_version"
	exportAlloc      = "accord_alloc"
	exportResolve    = "accord_resolve"
	exportConfigure  = "accord_configure"
	exportDescribe   = "accord_describe"
	exportInitialize = "_initialize"
	exportStart      = "_start"
	exportMemory     = "memory"
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// abiExports are the functions ABI v1 knows, with their signatures.
var abiExports = []struct {
	name            string
	params, results []api.ValueType
	required        bool
}{
	{exportABIVersion, nil, []api.ValueType{i32}, true},
	{exportAlloc, []api.ValueType{i32}, []api.ValueType{i32}, true},
	{exportResolve, []api.ValueType{i32, i32}, []api.ValueType{i64}, true},
	{exportConfigure, []api.ValueType{i32, i32}, []api.ValueType{i64}, false},
	{exportDescribe, nil, []api.ValueType{i64}, false},
	{exportInitialize, nil, nil, false},
}

// wasiModule is the only module a plugin may import from.
const wasiModule = "wasi_snapshot_preview1"

// checkModule refuses a compiled module that cannot speak ABI v1 here:
// missing or mistyped exports, a WASI command (_start without
// _initialize), foreign imports, too large a memory.
func (rt *Runtime) checkModule(m interface {
	ExportedFunctions() map[string]api.FunctionDefinition
	ImportedFunctions() []api.FunctionDefinition
	ExportedMemories() map[string]api.MemoryDefinition
	ImportedMemories() []api.MemoryDefinition
}) error {
	fns := m.ExportedFunctions()
	var errs []error
	for _, e := range abiExports {
		def, ok := fns[e.name]
		switch {
		case !ok && e.required:
			errs = append(errs, fmt.Errorf("%w: no %s", ErrMissingExport, e.name))
		case ok && !sameTypes(def.ParamTypes(), e.params) || ok && !sameTypes(def.ResultTypes(), e.results):
			errs = append(errs, fmt.Errorf("%w: %s is %s, want %s", ErrMissingExport, e.name,
				signature(def.ParamTypes(), def.ResultTypes()), signature(e.params, e.results)))
		}
	}
	if _, start := fns[exportStart]; start {
		if _, init := fns[exportInitialize]; !init {
			// A Go plugin built without -buildmode=c-shared: its exports
			// would trap in runtime.notInitialized on the first call.
			errs = append(errs, fmt.Errorf("%w: exports %s but no %s: it is a WASI command, not a reactor; "+
				"build a Go plugin with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared", ErrMissingExport, exportStart, exportInitialize))
		}
	}
	for _, imp := range m.ImportedFunctions() {
		if mod, name, _ := imp.Import(); mod != wasiModule {
			errs = append(errs, fmt.Errorf("%w: imports %s.%s; a plugin may import only %s", ErrInvalidModule, mod, name, wasiModule))
		}
	}
	if len(m.ImportedMemories()) > 0 {
		errs = append(errs, fmt.Errorf("%w: imports its memory; a plugin must define it", ErrInvalidModule))
	}
	if mem, ok := m.ExportedMemories()[exportMemory]; !ok {
		errs = append(errs, fmt.Errorf("%w: no %s", ErrMissingExport, exportMemory))
	} else if limit := uint64(rt.cfg.MemoryLimitMiB) << 20; uint64(mem.Min())*pageSize > limit {
		errs = append(errs, fmt.Errorf("%w: the module needs at least %d MiB of memory, the limit is %d MiB",
			ErrMemoryLimit, (uint64(mem.Min())*pageSize+(1<<20)-1)>>20, rt.cfg.MemoryLimitMiB))
	}
	return errors.Join(errs...)
}

const pageSize = 65536

func sameTypes(a, b []api.ValueType) bool { return bytes.Equal(a, b) }

func signature(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}

// inspect runs the load-time checks on the first instance: the ABI
// version and the description, read once.
func (r *Resolver) inspect(ctx context.Context, inst *instance, nameFromDescription bool) error {
	v, err := inst.callScalar(ctx, exportABIVersion)
	if err != nil {
		return err
	}
	if int32(v) != resolve.ABIVersion {
		return fmt.Errorf("%w: %s returned %d, this host speaks %d", ErrABIVersion, exportABIVersion, int32(v), resolve.ABIVersion)
	}
	r.desc = resolve.Description{Name: r.name}
	if inst.mod.ExportedFunction(exportDescribe) == nil {
		return nil
	}
	packed, err := inst.callScalar(ctx, exportDescribe)
	if err != nil {
		return err
	}
	out, err := inst.read(packed)
	if err != nil {
		return fmt.Errorf("%s: %w", exportDescribe, err)
	}
	if len(out) > maxDescribeBytes {
		return fmt.Errorf("%w: %s answered %d bytes, at most %d", ErrBadOutput, exportDescribe, len(out), maxDescribeBytes)
	}
	var desc resolve.Description
	if err := json.Unmarshal(out, &desc); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadOutput, exportDescribe, err)
	}
	if err := checkDescription(desc); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadOutput, exportDescribe, err)
	}
	if desc.Name == "" {
		desc.Name = r.name
	} else if nameFromDescription {
		r.name = desc.Name
	}
	r.desc = desc
	r.diff = slices.Contains(desc.Needs, resolve.NeedDiff)
	return nil
}
