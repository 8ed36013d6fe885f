package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Deadline enforcement for untrusted plugins.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) costs a
// Go plugin some 4 to 5 times its decision: every call starts a goroutine
// that watches the call's context, and the compiled code leaves native
// code for Go at every loop header to ask whether the module was closed
// (Go's wasm backend makes a loop of nearly every function). The engine
// does it another way:
//
//   - Before compiling an untrusted module, instrument adds two mutable
//     i32 globals that the module's own code cannot name (they did not
//     exist when that code was written): fuel, and the interrupt flag,
//     which it exports as interruptExport for the host to set. At the
//     start of every function and of every loop body it inserts a check
//     that counts fuel down; when it runs out, every fuelChecks checks,
//     the guest makes a trip into Go (memory.grow 0, which wazero serves
//     in Go), refuels, and traps if the flag is set. Every way of running
//     forever passes checks: wasm has no backward jump but to a loop, and
//     no other way to repeat code than calling.
//   - One goroutine a runtime, the watcher, looks at the calls in flight
//     every watchTick; it sets the flag of a call that ran past its
//     deadline, or whose caller's context is done, and the guest traps at
//     its next trip into Go. The call fails with ErrTimeout (or as
//     abandoned), and its instance is discarded like after any failure.
//
// The trips into Go are what keeps the host alive, not only the
// deadline: Go's runtime cannot preempt native code, so a guest that
// never left it would hold up every stop-the-world of the garbage
// collector, the watcher's included, and hang the process.
//
// A call so pays two uncontended mutex operations and a clock reading,
// no goroutine, no timer and no context; a check costs a load, a store
// and a branch. The watcher sleeps while no call is in flight. A call is
// interrupted within about a watchTick of its deadline, plus the time to
// its next trip into Go (fuelChecks checks, some microseconds).

// interruptExport is the global instrument adds and exports, and
// startExport the name it exports a module's start function under (see
// instrument). A module that exports either name itself is refused by
// wazero (duplicate export).
const (
	interruptExport = "accord_interrupt"
	startExport     = "accord_start"
)

// watchTick is how often the watcher looks at the calls in flight.
const watchTick = time.Millisecond

// fuelChecks is how many checks a guest passes between trips into Go.
// A trip costs some 100 ns, a check a nanosecond or two.
const fuelChecks = 10000

// interruptCheck is the code instrument inserts, for the fuel global
// and the flag global:
//
//	global.get fuel; i32.const 1; i32.sub; global.set fuel
//	global.get fuel; i32.eqz
//	if
//	  i32.const 0; memory.grow; drop      ;; a trip into Go
//	  i32.const fuelChecks; global.set fuel
//	  global.get flag; i32.eqz; br_if 0
//	  unreachable
//	end
func interruptCheck(fuel, flag uint32) []byte {
	g := func(b []byte, op byte, idx uint32) []byte {
		return binary.AppendUvarint(append(b, op), uint64(idx))
	}
	var b []byte
	b = g(b, 0x23, fuel)
	b = append(b, 0x41, 0x01, 0x6b)
	b = g(b, 0x24, fuel)
	b = g(b, 0x23, fuel)
	b = append(b, 0x45, 0x04, 0x40)
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a)
	b = appendI32Const(b, fuelChecks)
	b = g(b, 0x24, fuel)
	b = g(b, 0x23, flag)
	b = append(b, 0x45, 0x0d, 0x00)
	return append(b, 0x00, 0x0b)
}

// appendI32Const appends i32.const v.
func appendI32Const(b []byte, v int32) []byte {
	b = append(b, 0x41)
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// sectionRank orders the known sections as the binary format requires
// (the data count section, 12, comes before the code section, 10).
func sectionRank(id byte) int {
	switch id {
	case 12:
		return 10
	case 10:
		return 11
	case 11:
		return 12
	}
	return int(id)
}

// instrument returns wasm with an interrupt check (see above) at the
// start of every function body and every loop body, and the two globals
// they use, the flag exported as interruptExport. wasm must have passed
// checkBinary, which refuses imported globals and instructions it does
// not know, so that the new globals' indices follow the module's own.
// Custom sections are kept but DWARF's (.debug_*), whose offsets into
// the code section the checks would make wrong.
//
// A start section is removed and its function exported as startExport
// instead: wazero runs a start function while it instantiates the
// module, before the host holds the instance and can watch it, so the
// engine calls it itself, watched, right after (as wazero would have,
// once memory and tables are initialised).
func instrument(wasm []byte) ([]byte, error) {
	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	r := &wasmReader{b: wasm, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil || uint64(len(r.b)-r.pos) < size {
			return nil, fmt.Errorf("instrument: section at byte %d is malformed", r.pos)
		}
		sections = append(sections, section{id, r.b[r.pos : r.pos+int(size)]})
		r.pos += int(size)
	}
	globals := uint32(0)
	var startFunc []byte // the start section's function index, encoded
	for _, s := range sections {
		if s.id == 8 {
			sr := &wasmReader{b: s.body}
			sr.u32()
			if sr.err != nil || sr.pos != len(s.body) {
				return nil, errors.New("instrument: start section is malformed")
			}
			startFunc = s.body
		}
		if s.id == 6 {
			sr := &wasmReader{b: s.body}
			globals = uint32(sr.u32())
			if sr.err != nil {
				return nil, errors.New("instrument: global section is malformed")
			}
		}
	}
	fuel, flag := globals, globals+1
	check := interruptCheck(fuel, flag)

	// The new globals: fuel, a mutable i32 of fuelChecks, and the flag,
	// a mutable i32 of 0.
	newGlobals := appendI32Const([]byte{0x7f, 0x01}, fuelChecks)
	newGlobals = append(newGlobals, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
	var newExport []byte
	newExport = binary.AppendUvarint(newExport, uint64(len(interruptExport)))
	newExport = append(newExport, interruptExport...)
	newExport = append(newExport, 0x03) // a global
	newExport = binary.AppendUvarint(newExport, uint64(flag))
	newExports := uint64(1)
	if startFunc != nil {
		newExport = binary.AppendUvarint(newExport, uint64(len(startExport)))
		newExport = append(newExport, startExport...)
		newExport = append(newExport, 0x00) // a function
		newExport = append(newExport, startFunc...)
		newExports++
	}

	// appendEntries rewrites a vector section with n more entries.
	appendEntries := func(body []byte, n uint64, entry []byte) ([]byte, error) {
		sr := &wasmReader{b: body}
		count := sr.u32()
		if sr.err != nil {
			return nil, errors.New("instrument: malformed vector section")
		}
		out := binary.AppendUvarint(nil, count+n)
		out = append(out, body[sr.pos:]...)
		return append(out, entry...), nil
	}

	out := bytes.NewBuffer(make([]byte, 0, len(wasm)+len(wasm)/8))
	out.Write(wasm[:8])
	write := func(id byte, body []byte) {
		out.WriteByte(id)
		var n [binary.MaxVarintLen32]byte
		out.Write(n[:binary.PutUvarint(n[:], uint64(len(body)))])
		out.Write(body)
	}
	var addedGlobal, addedExport bool
	// addMissing writes the global and export sections the module lacks,
	// before a section of the given rank.
	addMissing := func(rank int) {
		if !addedGlobal && rank > 6 {
			write(6, append([]byte{2}, newGlobals...))
			addedGlobal = true
		}
		if !addedExport && rank > 7 {
			write(7, append([]byte{byte(newExports)}, newExport...))
			addedExport = true
		}
	}
	for _, s := range sections {
		if s.id == 0 {
			if sr := (&wasmReader{b: s.body}); true {
				n := sr.u32()
				if sr.err == nil && n <= uint64(len(s.body)-sr.pos) && bytes.HasPrefix(s.body[sr.pos:sr.pos+int(n)], []byte(".debug")) {
					continue
				}
			}
			write(0, s.body)
			continue
		}
		addMissing(sectionRank(s.id))
		var err error
		body := s.body
		switch s.id {
		case 6:
			body, err = appendEntries(body, 2, newGlobals)
			addedGlobal = true
		case 7:
			body, err = appendEntries(body, newExports, newExport)
			addedExport = true
		case 8:
			continue // exported as startExport
		case 10:
			body, err = instrumentCode(body, check, globals)
		}
		if err != nil {
			return nil, err
		}
		write(s.id, body)
	}
	addMissing(sectionRank(11) + 1)
	return out.Bytes(), nil
}

// instrumentCode rewrites a code section's bodies with check at the
// start of each and of each of its loops. It refuses a body that names a
// global beyond the module's globals: those are the ones instrument
// adds, which the module's own code must never touch.
func instrumentCode(sec, check []byte, globals uint32) ([]byte, error) {
	r := &wasmReader{b: sec}
	n := r.u32()
	out := binary.AppendUvarint(make([]byte, 0, len(sec)+len(sec)/8), n)
	var loops []int
	var body []byte
	for range n {
		size := r.u32()
		if r.err != nil || uint64(len(r.b)-r.pos) < size {
			return nil, errors.New("instrument: code section is malformed")
		}
		br := &wasmReader{b: r.b[:r.pos+int(size)], pos: r.pos}
		r.pos += int(size)
		for range br.u32() {
			br.u32()
			br.byte()
		}
		entry := br.pos
		loops = loops[:0]
		br.loops = &loops
		br.globals, br.checkGlobals = uint64(globals), true
		br.countBlocks(^uint64(0))
		if br.err != nil {
			return nil, fmt.Errorf("instrument: %w", br.err)
		}
		body = append(body[:0], br.b[r.pos-int(size):entry]...)
		body = append(body, check...)
		at := entry
		for _, l := range loops {
			body = append(body, br.b[at:l]...)
			body = append(body, check...)
			at = l
		}
		body = append(body, br.b[at:br.pos]...)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if r.err != nil || r.pos != len(r.b) {
		return nil, errors.New("instrument: code section is malformed")
	}
	return out, nil
}

// watcher interrupts the calls of instrumented instances that run past
// their deadline or whose caller gave up. One serves a runtime.
type watcher struct {
	mu sync.Mutex
	// watched are the instrumented instances alive.
	watched map[*watch]struct{}
	// parked is true while the watcher sleeps for want of calls; wake
	// ends its sleep.
	parked atomic.Bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// watch is an instrumented instance's side of the watcher: the call in
// flight, if any, and the global that interrupts it.
type watch struct {
	mu     sync.Mutex
	active bool
	// deadline and done bound the call in flight.
	deadline time.Time
	ctx      context.Context
	// cause is why the watcher interrupted the call in flight:
	// context.DeadlineExceeded, or the caller's context's error.
	cause error
	// flag is the instance's interrupt global; set is true while it is
	// not zero.
	flag api.MutableGlobal
	set  bool
}

func newWatcher() *watcher {
	w := &watcher{
		watched: make(map[*watch]struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.run()
	return w
}

// add watches the instance whose interrupt global is flag.
func (w *watcher) add(flag api.MutableGlobal) *watch {
	wt := &watch{flag: flag}
	w.mu.Lock()
	w.watched[wt] = struct{}{}
	w.mu.Unlock()
	return wt
}

// remove stops watching wt (its instance is closed).
func (w *watcher) remove(wt *watch) {
	w.mu.Lock()
	delete(w.watched, wt)
	w.mu.Unlock()
}

// begin marks the start of a call bounded by deadline and ctx.
func (w *watcher) begin(wt *watch, ctx context.Context, deadline time.Time) {
	wt.mu.Lock()
	wt.active, wt.deadline, wt.ctx, wt.cause = true, deadline, ctx, nil
	if wt.set {
		// The last call was interrupted after it returned: the instance
		// is sound, its global must not interrupt this call.
		wt.flag.Set(0)
		wt.set = false
	}
	wt.mu.Unlock()
	if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
		w.wake <- struct{}{}
	}
}

// end marks the end of the call and returns why it was interrupted, or
// nil if it was not.
func (w *watcher) end(wt *watch) error {
	wt.mu.Lock()
	cause := wt.cause
	wt.active, wt.ctx = false, nil
	wt.mu.Unlock()
	return cause
}

// close stops the watcher.
func (w *watcher) close() {
	close(w.stop)
	<-w.done
}

// idleTicks is how many ticks without a call the watcher waits before it
// sleeps: waking it costs the call that does it a goroutine switch.
const idleTicks = 100

func (w *watcher) run() {
	defer close(w.done)
	t := time.NewTicker(watchTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if w.scan() {
			idle = 0
			continue
		}
		if idle++; idle < idleTicks {
			continue
		}
		// Park. A call that begins after parked is set wakes the
		// watcher; one that began before is seen by the scan below.
		w.parked.Store(true)
		if w.scan() {
			if !w.parked.CompareAndSwap(true, false) {
				<-w.wake // a call woke the watcher meanwhile
			}
			idle = 0
			continue
		}
		t.Stop()
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		idle = 0
		t.Reset(watchTick)
	}
}

// scan interrupts the calls past their deadline or abandoned, and
// reports whether any call was in flight.
func (w *watcher) scan() bool {
	now := time.Now()
	busy := false
	w.mu.Lock()
	defer w.mu.Unlock()
	for wt := range w.watched {
		wt.mu.Lock()
		if wt.active {
			busy = true
			if wt.cause == nil {
				if !now.Before(wt.deadline) {
					wt.cause = context.DeadlineExceeded
				} else if err := wt.ctx.Err(); err != nil {
					wt.cause = err
				}
				if wt.cause != nil {
					wt.flag.Set(1)
					wt.set = true
				}
			}
		}
		wt.mu.Unlock()
	}
	return busy
}
