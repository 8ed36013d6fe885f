package engine

import (
	"bytes"
	"errors"
	"fmt"
)

// moduleLimits are the hard caps the engine checks in a module's binary
// before handing it to wazero's compiler. wazero bounds a module's linear
// memory (Config.MemoryLimitMiB) but not what else an instance or a
// compilation costs the host: each table entry, global, element and local
// costs host memory per instance, and compiling a function costs time and
// memory that grow faster than its size. The caps are far above what a
// resolver needs (a Go plugin of about 3.2 MB has some 2,400 functions,
// a table of about 2,400 entries, a few globals and bodies under 100 KB;
// see TestBuiltinsWithinLimits) and far below what hurts the host.
type moduleLimits struct {
	// tableEntries caps the minimum size of the module's table (without
	// reference types a table cannot grow at run time).
	tableEntries uint64
	// globals caps the number of globals.
	globals uint64
	// elements caps the function indices in all element segments.
	elements uint64
	// functions caps the number of functions the module defines.
	functions uint64
	// bodyBytes caps the size of one function body.
	bodyBytes uint64
	// locals caps the locals one function declares.
	locals uint64
	// blocks caps the control structures (block, loop, if) of one
	// function: wazero's compile time grows with their square.
	blocks uint64
	// types, imports and exports cap those sections' entries.
	types, imports, exports uint64
}

// limits are the caps every plugin is checked against.
var limits = moduleLimits{
	tableEntries: 1 << 16,
	globals:      1 << 10,
	elements:     1 << 16,
	functions:    1 << 15,
	bodyBytes:    512 << 10,
	locals:       1 << 12,
	blocks:       1 << 11,
	types:        1 << 12,
	imports:      1 << 8,
	exports:      1 << 10,
}

// errLimit marks a module refused by checkBinary for exceeding a cap
// (rather than for being malformed).
var errLimit = errors.New("over the engine's limit")

// moduleShape is what checkBinary counted in a module.
type moduleShape struct {
	functions, globals, tableEntries, elements uint64
	// maxBody is the largest function body in bytes, maxLocals the most
	// locals a function declares, maxBlocks the most control structures
	// in one.
	maxBody, maxLocals, maxBlocks uint64
}

// checkBinary parses the sections of a WebAssembly binary just enough to
// check it against lim, without compiling anything. It refuses a module
// that is malformed at the level it parses, or over a cap; what it does
// not look at (instructions, types of values) is left to wazero's
// validation. Its own cost is linear in len(wasm) and allocation-free.
func checkBinary(wasm []byte, lim moduleLimits) (moduleShape, error) {
	var shape moduleShape
	r := &wasmReader{b: wasm}
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		return shape, errors.New("not a WebAssembly 1.0 binary")
	}
	r.pos = 8
	over := func(what string, n, limit uint64) error {
		return fmt.Errorf("%w: %d %s, at most %d", errLimit, n, what, limit)
	}
	for r.pos < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return shape, fmt.Errorf("section header at byte %d: %w", r.pos, r.err)
		}
		if uint64(len(r.b)-r.pos) < size {
			return shape, fmt.Errorf("section %d at byte %d runs past the end", id, r.pos)
		}
		sec := &wasmReader{b: r.b[:r.pos+int(size)], pos: r.pos}
		r.pos += int(size)
		switch id {
		case 0: // custom: names, producers; bounded by the module's size
			continue
		case 1: // type
			if n := sec.u32(); n > lim.types {
				return shape, over("types", n, lim.types)
			}
		case 2: // import
			n := sec.u32()
			if n > lim.imports {
				return shape, over("imports", n, lim.imports)
			}
			for range n {
				sec.name()
				sec.name()
				if kind := sec.byte(); kind != 0 && sec.err == nil {
					return shape, fmt.Errorf("imports a table, memory or global (kind %d); a plugin may import only functions", kind)
				}
				sec.u32()
			}
		case 3: // function
			shape.functions = sec.u32()
			if shape.functions > lim.functions {
				return shape, over("functions", shape.functions, lim.functions)
			}
		case 4: // table
			n := sec.u32()
			if n > 1 {
				return shape, over("tables", n, 1)
			}
			for range n {
				sec.byte() // reference type
				flags := sec.byte()
				shape.tableEntries = sec.u32()
				if flags&1 != 0 {
					sec.u32()
				}
			}
			if shape.tableEntries > lim.tableEntries {
				return shape, over("table entries", shape.tableEntries, lim.tableEntries)
			}
		case 6: // global
			shape.globals = sec.u32()
			if shape.globals > lim.globals {
				return shape, over("globals", shape.globals, lim.globals)
			}
		case 7: // export
			if n := sec.u32(); n > lim.exports {
				return shape, over("exports", n, lim.exports)
			}
		case 9: // element
			n := sec.u32()
			if n > lim.elements {
				return shape, over("element segments", n, lim.elements)
			}
			for range n {
				// Without reference types only the MVP form is valid:
				// flags 0, an i32 offset expression, function indices.
				if flags := sec.u32(); flags != 0 && sec.err == nil {
					return shape, fmt.Errorf("element segment of kind %d; a plugin may use only active function segments", flags)
				}
				sec.constExpr()
				count := sec.u32()
				shape.elements += count
				if shape.elements > lim.elements {
					return shape, over("elements", shape.elements, lim.elements)
				}
				for range count {
					sec.u32()
				}
			}
		case 10: // code
			n := sec.u32()
			if n > lim.functions {
				return shape, over("functions", n, lim.functions)
			}
			for range n {
				bodySize := sec.u32()
				if bodySize > lim.bodyBytes {
					return shape, over("bytes in a function body", bodySize, lim.bodyBytes)
				}
				shape.maxBody = max(shape.maxBody, bodySize)
				if sec.err != nil || uint64(len(sec.b)-sec.pos) < bodySize {
					break
				}
				body := &wasmReader{b: sec.b[:sec.pos+int(bodySize)], pos: sec.pos}
				sec.pos += int(bodySize)
				var locals uint64
				for range body.u32() {
					locals += body.u32()
					body.byte()
					if locals > lim.locals {
						return shape, over("locals in a function", locals, lim.locals)
					}
					if body.err != nil {
						break
					}
				}
				shape.maxLocals = max(shape.maxLocals, locals)
				blocks := body.countBlocks(lim.blocks)
				if body.err != nil {
					return shape, fmt.Errorf("code section: %w", body.err)
				}
				if blocks > lim.blocks {
					return shape, over("blocks in a function", blocks, lim.blocks)
				}
				shape.maxBlocks = max(shape.maxBlocks, blocks)
			}
		}
		if sec.err != nil {
			return shape, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	return shape, nil
}

// hostBytes estimates the host memory an instance of the module takes
// besides its linear memory: its table (a pointer an entry), its globals
// (wazero's GlobalInstance, with the pointer to it) and the stacks of the
// two functions an instance keeps (10 KiB each to start).
func (s moduleShape) hostBytes() int64 {
	return int64(s.tableEntries)*8 + int64(s.globals)*40 + 2*10<<10
}

// wasmReader reads the binary encoding; its first error sticks and makes
// every later read return zero.
type wasmReader struct {
	b   []byte
	pos int
	err error
	// loops, if not nil, receives from countBlocks the position after
	// each loop instruction's block type: where its body begins.
	loops *[]int
	// globals, if checkGlobals, is how many globals the module declares:
	// countBlocks refuses a global.get or global.set of any other. The
	// globals instrument adds come after the module's own, and its code
	// must not name them (a loop that refuels itself would never stop).
	globals      uint64
	checkGlobals bool
}

var errShort = errors.New("unexpected end")

func (r *wasmReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() uint64 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if v > 0xffffffff {
				r.err = errors.New("integer too large")
				return 0
			}
			return v
		}
	}
	r.err = errors.New("integer too long")
	return 0
}

// name skips a length-prefixed name.
func (r *wasmReader) name() {
	n := r.u32()
	if r.err == nil && uint64(len(r.b)-r.pos) < n {
		r.err = errShort
		return
	}
	r.pos += int(n)
}

// constExpr skips a constant expression: one instruction and end.
func (r *wasmReader) constExpr() {
	switch op := r.byte(); op {
	case 0x41: // i32.const
		for r.byte()&0x80 != 0 && r.err == nil {
		}
	case 0x23: // global.get
		r.u32()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("unsupported constant expression opcode %#x", op)
		}
		return
	}
	if r.byte() != 0x0b && r.err == nil {
		r.err = errors.New("constant expression without end")
	}
}

// countBlocks reads a function's instructions to the end of its body and
// counts its control structures (block, loop, if), stopping once they
// are more than limit. It knows the instructions of the features the
// engine enables (see coreFeatures) and fails on any other.
func (r *wasmReader) countBlocks(limit uint64) uint64 {
	var blocks uint64
	for r.err == nil && r.pos < len(r.b) {
		op := r.byte()
		switch {
		case op >= 0x02 && op <= 0x04: // block, loop, if
			blocks++
			if blocks > limit {
				return blocks
			}
			if t := r.byte(); t != 0x40 && (t < 0x7b || t > 0x7f) {
				r.pos--
				r.leb() // a type index
			}
			if op == 0x03 && r.loops != nil && r.err == nil {
				*r.loops = append(*r.loops, r.pos)
			}
		case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b,
			op >= 0x45 && op <= 0xc4: // no immediates
		case op == 0x23, op == 0x24: // global.get, global.set
			if i := r.u32(); r.checkGlobals && r.err == nil && i >= r.globals {
				r.err = fmt.Errorf("global %d does not exist", i)
			}
		case op == 0x0c, op == 0x0d, op == 0x10, op >= 0x20 && op <= 0x22: // one index
			r.leb()
		case op == 0x0e: // br_table
			for range r.u32() + 1 {
				r.leb()
				if r.err != nil {
					break
				}
			}
		case op == 0x11: // call_indirect
			r.leb()
			r.leb()
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			r.leb()
			r.leb()
		case op == 0x3f, op == 0x40: // memory.size, memory.grow
			r.byte()
		case op == 0x41, op == 0x42: // i32.const, i64.const
			r.leb()
		case op == 0x43:
			r.skip(4)
		case op == 0x44:
			r.skip(8)
		case op == 0xfc:
			switch sub := r.u32(); {
			case sub <= 7: // saturating conversions
			case sub == 8: // memory.init
				r.leb()
				r.byte()
			case sub == 9: // data.drop
				r.leb()
			case sub == 10: // memory.copy
				r.skip(2)
			case sub == 11: // memory.fill
				r.byte()
			default:
				if r.err == nil {
					r.err = fmt.Errorf("instruction 0xfc %d is not allowed", sub)
				}
			}
		default:
			if r.err == nil {
				r.err = fmt.Errorf("instruction %#x is not allowed", op)
			}
		}
	}
	return blocks
}

// leb skips a LEB128 integer of at most 10 bytes.
func (r *wasmReader) leb() {
	for range 10 {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	if r.err == nil {
		r.err = errors.New("integer too long")
	}
}

func (r *wasmReader) skip(n int) {
	if r.err == nil && len(r.b)-r.pos < n {
		r.err = errShort
		return
	}
	r.pos += n
}
