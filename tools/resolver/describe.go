package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/accord-db/accord/engine"
	"github.com/accord-db/accord/resolve"
)

func runDescribe(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("describe", stderr)
	params := fs.String("params", "", "the plugin's parameters, a `JSON` object (default none)")
	rest, code, ok := parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	file := rest[0]
	raw, err := os.ReadFile(file)
	if err != nil {
		return fail(stderr, "describe: %v", err)
	}
	sum := sha256.Sum256(raw)
	fmt.Fprintf(stdout, "file:    %s (%d bytes, sha256 %s)\n", file, len(raw), hex.EncodeToString(sum[:]))
	wasm, err := plainModule(raw)
	if err != nil {
		return fail(stderr, "describe: %v", err)
	}
	exports, imports, err := listSections(wasm)
	if err != nil {
		return fail(stderr, "describe: %s: %v", file, err)
	}
	fmt.Fprintf(stdout, "exports: %s\n", strings.Join(exports, ", "))
	if len(imports) == 0 {
		fmt.Fprintf(stdout, "imports: none\n")
	} else {
		fmt.Fprintf(stdout, "imports: %s\n", strings.Join(imports, ", "))
	}

	ctx := context.Background()
	rt, err := engine.New(ctx, engine.Config{Deterministic: true, CallTimeout: 10 * time.Second, StartTimeout: time.Minute})
	if err != nil {
		return fail(stderr, "describe: %v", err)
	}
	defer rt.Close(ctx)
	r, err := rt.Load(ctx, engine.Plugin{Path: file, Params: json.RawMessage(*params)})
	if err != nil {
		fmt.Fprintf(stdout, "abi:     refused: %v\n", err)
		if errors.Is(err, engine.ErrConfigure) {
			fmt.Fprintf(stdout, "         (pass its parameters with -params)\n")
		}
		return exitFail
	}
	d := r.Describe()
	fmt.Fprintf(stdout, "abi:     %d, loads in this host\n", resolve.ABIVersion)
	fmt.Fprintf(stdout, "name:    %s\nversion: %s\nabout:   %s\n", d.Name, d.Version, d.Description)
	switch {
	case d.Needs == nil:
		fmt.Fprintf(stdout, "needs:   (no accord_describe or no needs: it is sent every document)\n")
	case len(d.Needs) == 0:
		fmt.Fprintf(stdout, "needs:   nothing (it is sent no document)\n")
	default:
		ns := make([]string, len(d.Needs))
		for i, n := range d.Needs {
			ns[i] = string(n)
		}
		fmt.Fprintf(stdout, "needs:   %s\n", strings.Join(ns, ", "))
	}
	if d.Needs != nil && !d.Has(resolve.NeedTheirs) {
		fmt.Fprintf(stdout, "merges:  a merge from it would be refused by the store: it does not declare \"theirs\"\n")
	}
	return exitOK
}

// plainModule returns the WebAssembly bytes of a plain or gzip-compressed
// module.
func plainModule(raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		return raw, nil
	}
	return gunzip(raw)
}

// maxModuleBytes bounds a module after decompression, as the engine does.
const maxModuleBytes = 16 << 20

// listSections lists a module's exports (name and kind) and imports.
func listSections(wasm []byte) (exports, imports []string, err error) {
	if len(wasm) < 8 || string(wasm[:8]) != "\x00asm\x01\x00\x00\x00" {
		return nil, nil, errors.New("not a WebAssembly 1.0 binary")
	}
	r := &reader{b: wasm, pos: 8}
	kinds := []string{"func", "table", "memory", "global"}
	kind := func(k byte) string {
		if int(k) < len(kinds) {
			return kinds[k]
		}
		return fmt.Sprintf("kind %d", k)
	}
	for r.pos < len(r.b) && r.err == nil {
		id := r.byte()
		size := int(r.u32())
		if r.err != nil || size > len(r.b)-r.pos {
			return nil, nil, errors.New("truncated section")
		}
		sec := &reader{b: r.b[:r.pos+size], pos: r.pos}
		r.pos += size
		switch id {
		case 2:
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				mod, name := sec.name(), sec.name()
				k := sec.byte()
				switch k {
				case 0:
					sec.u32()
				case 1:
					sec.byte()
					sec.limits()
				case 2:
					sec.limits()
				case 3:
					sec.byte()
					sec.byte()
				}
				imports = append(imports, fmt.Sprintf("%s.%s (%s)", mod, name, kind(k)))
			}
		case 7:
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				name := sec.name()
				k := sec.byte()
				sec.u32()
				exports = append(exports, fmt.Sprintf("%s (%s)", name, kind(k)))
			}
		}
		if sec.err != nil {
			return nil, nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	return exports, imports, r.err
}

// reader reads the binary encoding; its first error sticks.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.err = errors.New("unexpected end")
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("integer too long")
	return 0
}

// name reads a length-prefixed name, clipped for printing.
func (r *reader) name() string {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)-r.pos {
		r.err = errors.New("unexpected end")
		return ""
	}
	s := string(r.b[r.pos : r.pos+n])
	r.pos += n
	return resolve.Clip(fmt.Sprintf("%q", s)[1 : len(fmt.Sprintf("%q", s))-1])
}

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}
