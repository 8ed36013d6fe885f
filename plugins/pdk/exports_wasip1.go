//go:build wasip1

package pdk

import (
	"runtime"
	"unsafe"

	"github.com/accord-db/accord/resolve"
)

// The buffers handed to the host stay referenced here until the next
// call, so that the garbage collector does not reclaim them while the host
// reads or writes them.
var (
	input  []byte
	output []byte
)

// gcPercent is the guest's GOGC. Go's default, 100, lets the heap of a
// fresh instance grow by its 4 MiB minimum before the first collection,
// and linear memory never shrinks: an instance of a built-in grew from
// 3.4 MiB at start to 7.8 MiB after 100,000 decisions (engine's
// BenchmarkMemory). At 25 it stays at 4.8 MiB, with no cost measured per
// decision: a decision allocates little (pdk reuses its buffers), so the
// collections are rare and short.
//
// Lower values do not help: below about 25 the runtime lets the heap grow
// by 1 MiB past what the last collection kept before it collects again
// (its minimum sweep distance), whatever GOGC says. Measured on backoff
// (2.44 MiB at start): 4.06 MiB after 100,000 decisions at GOGC 25 and 10
// alike, and with a memory limit of 3 MiB; a guest whose decisions
// allocated nothing kept the heap it started with over 100,000 of them.
// What keeps an instance small is allocating nothing per decision, or
// collecting before the runtime would (collectEvery).
const gcPercent = 25

func init() { setGCPercent(gcPercent) }

// setGCPercent is runtime/debug.SetGCPercent without runtime/debug, which
// imports os, time and fmt: importing it alone adds 0.4 MB to an empty
// reactor (1.85 MB to 2.26 MB with Go 1.26). It is the function the runtime
// provides to runtime/debug under this name; if a Go release renames it,
// building a plugin fails at link time, not silently.
//
//go:linkname setGCPercent runtime/debug.setGCPercent
func setGCPercent(int32) int32

//go:wasmexport accord_abi_version
func abiVersion() int32 { return resolve.ABIVersion }

//go:wasmexport accord_alloc
func alloc(size uint32) uint32 {
	if cap(input) < int(size) || cap(input) == 0 {
		input = make([]byte, max(size, 1))
	}
	input = input[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(input[:1]))))
}

//go:wasmexport accord_resolve
func resolveExport(ptr unsafe.Pointer, size uint32) uint64 {
	out := put(handleResolve(view(ptr, size)))
	if decisions++; decisions%collectEvery == 0 {
		runtime.GC()
	}
	return out
}

// collectEvery is how many decisions an instance makes between the
// collections pdk starts itself. Left to itself, the runtime lets a small
// heap grow by about 1.6 MiB before it collects (see gcPercent), and linear
// memory never shrinks: a built-in that allocates a few dozen bytes per
// decision grew from 2.44 to 4.06 MiB. A collection every 4096 decisions
// keeps the garbage between two of them to 4096 decisions' worth.
const collectEvery = 4096

// decisions counts the instance's decisions, for collectEvery.
var decisions uint32

//go:wasmexport accord_configure
func configureExport(ptr unsafe.Pointer, size uint32) uint64 {
	return put(handleConfigure(view(ptr, size)))
}

//go:wasmexport accord_describe
func describeExport() uint64 {
	return put(handleDescribe())
}

// view is the host's input, written into the buffer alloc returned.
func view(ptr unsafe.Pointer, size uint32) []byte {
	if size == 0 || ptr == nil {
		return nil
	}
	return unsafe.Slice((*byte)(ptr), size)
}

// put keeps out alive and packs its address and length for the host.
func put(out []byte) uint64 {
	output = out
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}
