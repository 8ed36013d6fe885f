//go:build wasip1

package resolve

import (
	"io"
	"strconv"
	"unsafe"
)

// RawJSON is a raw JSON value: a document of a [Conflict] or a
// [Decision]. On a host it is encoding/json's RawMessage; in a
// WebAssembly guest, as here, a type of its own that encodes and decodes
// as RawMessage does, so that a plugin does not link encoding/json: on
// its own, that package adds 0.45 MB to a module.
type RawJSON []byte

// MarshalJSON returns m, or null if m is nil.
func (m RawJSON) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON sets *m to a copy of data.
func (m *RawJSON) UnmarshalJSON(data []byte) error {
	if m == nil {
		return errNilRawJSON
	}
	*m = append((*m)[0:0], data...)
	return nil
}

var errNilRawJSON = wrapError("resolve: RawJSON: UnmarshalJSON on nil pointer")

// defaultRandom is what [BackoffParams.Decide] draws from when given nil:
// the host's random source, which crypto/rand reads too in a guest, read
// without crypto/rand (which links math/big and fmt).
var defaultRandom wasiRandom

type wasiRandom struct{}

//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf unsafe.Pointer, size uint32) uint32

// Read fills p from WASI's random_get.
func (wasiRandom) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if errno := randomGet(unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p))); errno != 0 {
		return 0, wrapError("resolve: random_get failed with WASI errno " + strconv.Itoa(int(errno)))
	}
	return len(p), nil
}

// random64 is readUint64, but that from the host's random source it reads
// into a buffer of the package: through the io.Reader interface, or
// handed to the import as a pointer, a buffer on the stack escapes, which
// cost each backoff decision an allocation. The bytes are copied out
// before any function call, where another goroutine could run.
func random64(rnd io.Reader) (uint64, error) {
	if _, ok := rnd.(wasiRandom); !ok {
		return readUint64(rnd)
	}
	errno := randomGet(unsafe.Pointer(&randomBuf[0]), uint32(len(randomBuf)))
	b := randomBuf
	if errno != 0 {
		return 0, wrapError("resolve: random_get failed with WASI errno " + strconv.Itoa(int(errno)))
	}
	return leUint64(b), nil
}

// randomBuf is random64's buffer.
var randomBuf [8]byte
