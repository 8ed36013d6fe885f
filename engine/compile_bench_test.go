package engine

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// worstModule builds a module of n functions () -> i32 whose bodies are
// as large as limits allow, made of body repeated.
func worstModule(n, bodyBytes int, unit, tail []byte) []byte {
	var code bytes.Buffer
	reps := (bodyBytes - 16 - len(tail)) / len(unit)
	var body bytes.Buffer
	body.WriteByte(0) // no locals
	for range reps {
		body.Write(unit)
	}
	body.Write(tail)
	body.WriteByte(0x0b)
	for range n {
		code.Write(leb(uint64(body.Len())))
		code.Write(body.Bytes())
	}
	var m bytes.Buffer
	m.WriteString("\x00asm\x01\x00\x00\x00")
	m.Write([]byte{1, 5, 1, 0x60, 0, 1, 0x7f}) // type () -> i32
	fn := append(leb(uint64(n)), bytes.Repeat([]byte{0}, n)...)
	m.WriteByte(3)
	m.Write(leb(uint64(len(fn))))
	m.Write(fn)
	m.WriteByte(10)
	sec := append(leb(uint64(n)), code.Bytes()...)
	m.Write(leb(uint64(len(sec))))
	m.Write(sec)
	return m.Bytes()
}

func leb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// BenchmarkCompileWorstCase compiles modules whose functions are as large
// as checkBinary allows, of code shaped to be costly to compile: what a
// hostile plugin can make the host spend at load, with compiling bounded
// by a 10 s deadline. It reports the module's size and the bytes
// allocated by the compiler.
func BenchmarkCompileWorstCase(b *testing.B) {
	shapes := []struct {
		name       string
		unit, tail []byte
		fixup      func(reps int) []byte
	}{
		// i32.const 1 (pushes): one live value per 2 bytes, then one
		// i32.add per push would not fit, so drop them; the tail
		// answers.
		{"arith", []byte{0x41, 0x01, 0x41, 0x02, 0x6a, 0x1a}, []byte{0x41, 0x00}, nil},
		{"blocks", []byte{0x02, 0x40, 0x0b}, []byte{0x41, 0x00}, nil},
		{"branches", []byte{0x41, 0x01, 0x04, 0x40, 0x0b}, []byte{0x41, 0x00}, nil},
	}
	for _, sh := range shapes {
		// As many of the shape's blocks as a function may have, in one
		// function or in a module of 16 MiB of such functions.
		size := int(limits.blocks)*len(sh.unit) + 16 + len(sh.tail)
		for _, n := range []int{1, (maxModuleBytes - 1024) / size} {
			wasm := worstModule(n, size, sh.unit, sh.tail)
			_, err := checkBinary(wasm, limits)
			require.NoError(b, err)
			b.Run(sh.name+"/"+itoa(n)+"funcs", func(b *testing.B) {
				b.ReportAllocs()
				b.ReportMetric(float64(len(wasm)), "module-bytes")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctx = experimental.WithCompilationWorkers(ctx, max(2, runtime.GOMAXPROCS(0)))
				for b.Loop() {
					w := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures).WithCloseOnContextDone(true))
					_, err := w.CompileModule(ctx, wasm)
					if err != nil {
						b.Logf("%d functions: %v", n, err)
					}
					require.NoError(b, w.Close(context.Background()))
				}
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
