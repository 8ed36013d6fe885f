package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/accord-db/accord/resolve"
)

// instance is one instantiated module. It is not safe for concurrent
// use: the pool hands it to one caller at a time.
type instance struct {
	r       *Resolver
	mod     api.Module
	mem     api.Memory
	alloc   api.Function
	resolve api.Function
	memory  *limitedMemory
	// stack is the parameter and result stack of every call.
	stack [2]uint64
	// memSize is the memory size at the end of the last call, as
	// counted in Resolver.memory.
	memSize uint32
	// output is what the guest may still write to stdout and stderr in
	// the current call.
	output *outputBudget
	// watch is the instance's entry in the runtime's watcher, if its
	// plugin is untrusted (its module instrumented, see interrupt.go);
	// interrupted is why the watcher interrupted the last call, or nil.
	watch       *watch
	interrupted error
}

// start instantiates the module, runs _initialize (through wazero's start
// functions), then hook if not nil, then accord_configure with the
// plugin's parameters. It is bounded by Config.StartTimeout.
func (r *Resolver) start(ctx context.Context, hook func(*instance, context.Context) error) (*instance, error) {
	timeout := r.rt.cfg.StartTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	inst := &instance{r: r, memory: &limitedMemory{limit: uint64(r.rt.cfg.MemoryLimitMiB) << 20}, output: &outputBudget{}}
	inst.output.reset()
	cfg := r.rt.cfg
	// An untrusted module's _initialize is called below, once the
	// instance is watched: wazero's start functions run before the
	// instance exists for the host.
	start := []string{exportInitialize}
	if r.enforce {
		start = nil
	}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(start...).
		WithStdout(&guestLog{log: cfg.Logger, plugin: r.name, stream: "stdout", level: slog.LevelInfo, budget: inst.output}).
		WithStderr(&guestLog{log: cfg.Logger, plugin: r.name, stream: "stderr", level: slog.LevelInfo, budget: inst.output})
	if !cfg.Deterministic {
		mc = mc.WithSysWalltime().WithSysNanotime()
	}
	if cfg.Rand != nil {
		mc = mc.WithRandSource(cfg.Rand)
	}
	began := time.Now()
	mod, err := r.wrt.InstantiateModule(experimental.WithMemoryAllocator(ctx, inst.memory), r.compiled, mc)
	if err != nil {
		if mod != nil {
			_ = mod.Close(context.Background())
		}
		return nil, fmt.Errorf("%w: %w", errStart, inst.classify(ctx, err, timeout, began))
	}
	r.created.Add(1)
	r.memory.Add(r.overhead)
	inst.mod, inst.mem = mod, mod.Memory()
	inst.alloc, inst.resolve = mod.ExportedFunction(exportAlloc), mod.ExportedFunction(exportResolve)
	inst.account()
	fail := func(err error) (*instance, error) {
		r.discard(inst)
		return nil, err
	}
	if r.enforce {
		flag, ok := mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
		if !ok {
			return fail(fmt.Errorf("%w: %w: no interrupt global", errStart, ErrInvalidModule))
		}
		inst.watch = r.rt.watch.add(flag)
		for _, name := range []string{startExport, exportInitialize} {
			if fn := mod.ExportedFunction(name); fn != nil {
				if err := inst.call(ctx, fn, inst.stack[:], timeout, began); err != nil {
					return fail(fmt.Errorf("%w: %s: %w", errStart, name, err))
				}
			}
		}
	}
	if hook != nil {
		if err := hook(inst, ctx); err != nil {
			return fail(fmt.Errorf("%w: %w", errStart, err))
		}
	}
	if err := inst.configure(ctx); err != nil {
		return fail(fmt.Errorf("%w: %w", errStart, err))
	}
	inst.account()
	return inst, nil
}

// configure hands the plugin its parameters.
func (inst *instance) configure(ctx context.Context) error {
	r := inst.r
	if !r.hasConfigure {
		if !emptyParams(r.params) {
			return fmt.Errorf("%w: it takes no parameters (it has no %s), got %s", ErrConfigure, exportConfigure, resolve.Clip(string(r.params)))
		}
		return nil
	}
	out, err := inst.exchange(ctx, inst.mod.ExportedFunction(exportConfigure), r.params, r.rt.cfg.StartTimeout)
	if err != nil {
		return fmt.Errorf("%s: %w", exportConfigure, err)
	}
	var answer struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		return fmt.Errorf("%w: %s answered %q: %w", ErrBadOutput, exportConfigure, resolve.Clip(string(out)), err)
	}
	if answer.Error != nil {
		return fmt.Errorf("%w: %s", ErrConfigure, resolve.Clip(*answer.Error))
	}
	return nil
}

// decide runs accord_resolve on the encoded conflict in and validates
// the decision against c.
func (inst *instance) decide(ctx context.Context, in []byte, c *resolve.Conflict) (resolve.Decision, error) {
	began := time.Now()
	out, err := inst.exchange(ctx, inst.resolve, in, inst.r.timeout)
	if time.Since(began) > renewStacksAfter {
		inst.renewStacks()
	}
	if err != nil {
		if errors.Is(err, errOutOfBounds) {
			err = fmt.Errorf("%w: %w", resolve.ErrInvalidDecision, err)
		}
		return resolve.Decision{}, fmt.Errorf("call: %w", err)
	}
	// DecodeDecision copies what it keeps, so the decision does not alias
	// guest memory once the instance serves another call.
	d, err := resolve.DecodeDecision(out)
	if err == nil {
		err = d.Validate(c)
	}
	if err != nil {
		return resolve.Decision{}, fmt.Errorf("call: %w: %w", ErrBadOutput, err)
	}
	inst.account()
	return d, nil
}

// renewStacksAfter is how long a call may run before the instance's
// functions are renewed after it. wazero grows a function's call stack
// as deep as a call recurses (up to some 100 MiB) and keeps it for the
// function's next calls; a call that grew its stack far took time to do
// it, so renewing the functions after slow calls bounds what an idle
// instance keeps to what a fast call can grow, at no cost to fast calls.
// (A call that fails discards its instance.)
const renewStacksAfter = time.Millisecond

// renewStacks replaces the instance's functions, and so their stacks.
func (inst *instance) renewStacks() {
	inst.alloc, inst.resolve = inst.mod.ExportedFunction(exportAlloc), inst.mod.ExportedFunction(exportResolve)
}

// errNotCalled marks a call that did not enter the guest (the caller's
// context was already done), and errAnsweredLate one whose guest returned
// normally but too late to be used: the instance is sound after either,
// and goes back to the pool.
var (
	errNotCalled    = errors.New("not called")
	errAnsweredLate = errors.New("answered late")
)

// errOutOfBounds marks an exchange whose output lies outside memory.
var errOutOfBounds = errors.New("outside the guest's memory")

// exchange writes in to a buffer from accord_alloc, calls fn(ptr, len)
// and returns the bytes fn's packed ptr<<32|len result points to: a view
// of guest memory, valid until the next call.
func (inst *instance) exchange(ctx context.Context, fn api.Function, in []byte, timeout time.Duration) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotCalled, err)
	}
	// A refusal to grow counts for this call only; so does the output.
	inst.memory.refused, inst.memory.asked = false, 0
	inst.output.reset()
	began := time.Now()
	s := inst.stack[:]
	s[0] = uint64(len(in))
	if err := inst.call(ctx, inst.alloc, s, timeout, began); err != nil {
		return nil, fmt.Errorf("%s: %w", exportAlloc, err)
	}
	ptr := uint32(s[0])
	if !inst.mem.Write(ptr, in) {
		return nil, fmt.Errorf("%w: %s(%d) returned %#x, %w (%d bytes)", ErrBadOutput, exportAlloc, len(in), ptr, errOutOfBounds, inst.mem.Size())
	}
	s[0], s[1] = uint64(ptr), uint64(len(in))
	if err := inst.call(ctx, fn, s, timeout, began); err != nil {
		return nil, err
	}
	if !inst.r.enforce {
		// A trusted guest cannot be interrupted. An answer that came
		// after its CallTimeout is still a sound answer of reviewed code
		// (on a loaded host the wall clock runs while the goroutine waits
		// for a CPU), so it is used, and logged; one that came after the
		// caller stopped waiting is refused. The instance returned
		// normally and stays usable either way.
		if took := time.Since(began); took > timeout {
			inst.r.late.Add(1)
			inst.r.rt.cfg.Logger.Warn("engine: a trusted plugin answered after its call timeout; the answer is used",
				"plugin", inst.r.name, "took", took.Round(time.Microsecond), "limit", timeout)
		}
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w: %w", errAnsweredLate, errTimeout("returned after the caller's deadline", timeout, err))
			}
			return nil, fmt.Errorf("%w: abandoned: %w", errAnsweredLate, context.Cause(ctx))
		}
	}
	return inst.read(s[0])
}

// callScalar calls a function without parameters and one result.
func (inst *instance) callScalar(ctx context.Context, name string) (uint64, error) {
	began := time.Now()
	timeout := inst.r.rt.cfg.StartTimeout
	s := inst.stack[:]
	if err := inst.call(ctx, inst.mod.ExportedFunction(name), s, timeout, began); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return s[0], nil
}

// call calls fn with the parameters and results in s, bounded by
// timeout from began and by ctx (see interrupt.go for how an untrusted
// plugin's call is interrupted), and returns the package's error for a
// failure. A trusted plugin's call cannot be interrupted: exchange
// judges how long it took.
func (inst *instance) call(ctx context.Context, fn api.Function, s []uint64, timeout time.Duration, began time.Time) error {
	if inst.watch == nil {
		if err := fn.CallWithStack(ctx, s); err != nil {
			return inst.classify(ctx, err, timeout, began)
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", errNotCalled, err)
	}
	w := inst.r.rt.watch
	deadline := began.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	w.begin(inst.watch, ctx, deadline)
	err := fn.CallWithStack(ctx, s)
	inst.interrupted = w.end(inst.watch)
	switch {
	case err != nil:
		return inst.classify(ctx, err, timeout, began)
	case inst.interrupted == nil && time.Now().Before(deadline):
		return nil
	case inst.interrupted == nil || errors.Is(inst.interrupted, context.DeadlineExceeded):
		// The guest returned after its deadline, before the watcher
		// interrupted it or before it reached a check: its answer is not
		// used; the instance is sound.
		return fmt.Errorf("%w: %w", errAnsweredLate, errTimeout("returned after its deadline", timeout, ctx.Err()))
	}
	return fmt.Errorf("%w: abandoned: %w", errAnsweredLate, context.Cause(ctx))
}

// read returns the guest memory a packed ptr<<32|len result points to.
func (inst *instance) read(packed uint64) ([]byte, error) {
	ptr, n := uint32(packed>>32), uint32(packed)
	out, ok := inst.mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: output at %#x, %d bytes, is %w (%d bytes)", ErrBadOutput, ptr, n, errOutOfBounds, inst.mem.Size())
	}
	return out, nil
}

// classify turns the error of a guest call into one of the package's.
func (inst *instance) classify(ctx context.Context, err error, timeout time.Duration, began time.Time) error {
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case inst.interrupted != nil && !inst.memory.refused:
		// The watcher made the guest trap (see interrupt.go).
		if errors.Is(inst.interrupted, context.DeadlineExceeded) {
			return errTimeout(fmt.Sprintf("ran %v", time.Since(began).Round(time.Millisecond)), timeout, ctx.Err())
		}
		return fmt.Errorf("abandoned: %w", context.Cause(ctx))
	case inst.memory.refused:
		return fmt.Errorf("%w: the guest asked for %d MiB, the limit is %d MiB: %w",
			ErrMemoryLimit, (inst.memory.asked+(1<<20)-1)>>20, inst.r.rt.cfg.MemoryLimitMiB, guestError{err})
	case isExit && exit.ExitCode() == sys.ExitCodeDeadlineExceeded,
		ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errTimeout(fmt.Sprintf("ran %v", time.Since(began).Round(time.Millisecond)), timeout, ctx.Err())
	case isExit && exit.ExitCode() == sys.ExitCodeContextCanceled, ctx.Err() != nil:
		return fmt.Errorf("abandoned: %w", context.Cause(ctx))
	case isExit:
		return fmt.Errorf("%w: exited with code %d", ErrTrap, exit.ExitCode())
	}
	return fmt.Errorf("%w: %w", ErrTrap, guestError{err})
}

// guestError is the error of a call that failed inside the guest, its text
// bounded: wazero's trap message carries a stack trace of up to 30 frames
// named by the module itself (its name section), so a plugin could make
// every failed call log megabytes. Error keeps the message's first line,
// clipped; Unwrap keeps the error.
type guestError struct{ err error }

func (e guestError) Error() string {
	msg, _, cut := strings.Cut(e.err.Error(), "\n")
	msg = resolve.Clip(msg)
	if cut {
		msg += " (stack trace left out)"
	}
	return msg
}

func (e guestError) Unwrap() error { return e.err }

// account updates the resolver's memory gauge after a call.
func (inst *instance) account() {
	if size := inst.mem.Size(); size != inst.memSize {
		inst.r.memory.Add(int64(size) - int64(inst.memSize))
		inst.memSize = size
	}
}

func (inst *instance) close(ctx context.Context) {
	if inst.watch != nil {
		inst.r.rt.watch.remove(inst.watch)
	}
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// limitedMemory backs an instance's linear memory and refuses to grow it
// past limit. It is wazero's default allocation with a limit that, unlike
// RuntimeConfig.WithMemoryLimitPages, lets the engine tell a refused
// growth (then a trap) from any other trap.
type limitedMemory struct {
	limit   uint64
	buf     []byte
	refused bool
	asked   uint64
}

func (m *limitedMemory) Allocate(capacity, _ uint64) experimental.LinearMemory {
	m.buf = make([]byte, 0, min(capacity, m.limit))
	return m
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused, m.asked = true, size
		return nil
	}
	if n := uint64(len(m.buf)); size > uint64(cap(m.buf)) {
		// Grown as append grows a slice (by a quarter for large ones).
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	// Memory never shrinks, and the guest cannot write past its length:
	// the bytes up to the capacity are still the zeros they were
	// allocated as, so extending the length needs no clearing (which
	// was a second pass over the whole initial memory of every instance).
	m.buf = m.buf[:size]
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }

// The output budget of one call (or of starting an instance): what a
// guest may write to stdout and stderr together before its writes fail.
const (
	maxOutputBytes  = 16 << 10
	maxOutputLines  = 64
	maxOutputWrites = 1024
	// maxLogLine cuts longer lines.
	maxLogLine = 1024
)

// errOutputBudget is what a guest's write past its budget fails with
// (the guest sees EIO).
var errOutputBudget = errors.New("output budget exhausted")

// outputBudget is what an instance's guest may still write in the
// current call, shared by its stdout and stderr. A flood of writes is
// refused, not logged: past the budget each write fails at once and one
// record says that output was dropped.
type outputBudget struct {
	bytes, lines, writes int
	// exhausted is set once the drop has been logged for this call.
	exhausted bool
}

func (b *outputBudget) reset() {
	*b = outputBudget{bytes: maxOutputBytes, lines: maxOutputLines, writes: maxOutputWrites}
}

// guestLog sends what a guest writes to a stream to the logger, one
// record a line, within the instance's output budget. Lines longer than
// maxLogLine are cut.
type guestLog struct {
	log    *slog.Logger
	plugin string
	stream string
	level  slog.Level
	budget *outputBudget
	line   []byte
	cut    bool
}

func (w *guestLog) Write(p []byte) (int, error) {
	b := w.budget
	if b.writes--; b.writes < 0 || b.bytes <= 0 || b.lines <= 0 {
		w.exhausted()
		return 0, errOutputBudget
	}
	n := min(len(p), b.bytes)
	b.bytes -= n
	short := n < len(p)
	p = p[:n]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLogLine - len(w.line); len(chunk) > room {
			chunk, w.cut = chunk[:room], true
		}
		w.line = append(w.line, chunk...)
		if i < 0 {
			break
		}
		w.flush()
		p = p[i+1:]
		if b.lines--; b.lines <= 0 {
			break
		}
	}
	if b.bytes <= 0 || b.lines <= 0 {
		w.exhausted()
	}
	if short {
		return n, errOutputBudget
	}
	return n, nil
}

// exhausted logs, once a call, that the guest's further output is
// dropped, with what it had written of an unfinished line.
func (w *guestLog) exhausted() {
	if w.budget.exhausted {
		return
	}
	w.budget.exhausted = true
	if len(w.line) > 0 {
		w.cut = true
		w.flush()
	}
	w.log.Warn("engine: the plugin wrote more than its output budget; the rest of this call's output is dropped",
		"plugin", w.plugin, "stream", w.stream, "max_bytes", maxOutputBytes, "max_lines", maxOutputLines)
}

func (w *guestLog) flush() {
	if w.cut {
		w.log.Log(context.Background(), w.level, string(w.line), "plugin", w.plugin, "stream", w.stream, "cut", true)
	} else {
		w.log.Log(context.Background(), w.level, string(w.line), "plugin", w.plugin, "stream", w.stream)
	}
	w.line, w.cut = w.line[:0], false
}

// emptyParams reports whether params is empty, null or {}.
func emptyParams(params []byte) bool {
	params = bytes.TrimSpace(params)
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(params, &m) == nil && len(m) == 0
}
