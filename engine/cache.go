package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
)

// ErrUnsafeCache: the compilation cache directory is not private to its
// owner (it is group- or world-writable), or is not a directory. The
// compiled code in it runs unchecked, so [New] refuses it.
var ErrUnsafeCache = errors.New("unsafe compilation cache directory")

// sumsDir is where, under the cache directory, the engine keeps the
// SHA-256 of each entry of wazero's compilation cache, recorded when the
// entry was written.
const sumsDir = "accord-sums"

// prepareCacheDir creates dir (0700) if it does not exist, and refuses it
// if it is not a directory, is group- or world-writable, or belongs to
// another user (who could have filled it).
func prepareCacheDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{dir, filepath.Join(dir, sumsDir)} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a directory", ErrUnsafeCache, d)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%w: %s is writable by others (mode %v)", ErrUnsafeCache, d, fi.Mode().Perm())
		}
		if ownedByOther(fi) {
			return fmt.Errorf("%w: %s belongs to another user", ErrUnsafeCache, d)
		}
	}
	return nil
}

// compile compiles wasm with w, through the compilation cache on disk
// if there is one, which it checks first: wazero maps the cached machine
// code and runs it as it is, so an entry that is not what this engine
// wrote (corrupted, truncated, or replaced by the code of another module)
// could hang or crash the host. An entry recorded as no module's is
// deleted; the entries this module's compilation wrote before are hashed,
// and deleted if they do not match their recorded SHA-256, so that wazero
// compiles the module afresh. Entries written by this compilation get
// their SHA-256 recorded, and are recorded as the module's.
//
// This detects corruption and tampering by whoever can write the cache
// but not the record beside it; the cache is as trusted as its directory,
// which New requires to be writable only by its owner.
//
// A warm load (every entry recorded, the module's matching their sums)
// holds the cache directory's lock shared, so that warm loads, of this
// process and of others, run side by side; only a load that has to
// delete entries or record new ones (a compile) holds it exclusively,
// from its check to its record, so that no one deletes as unrecorded the
// entry it has written and not yet recorded.
//
// module is the hex SHA-256 of wasm, if the caller knows it, or "".
func (rt *Runtime) compile(ctx context.Context, w wazero.Runtime, wasm []byte, module string) (wazero.CompiledModule, error) {
	if !rt.cacheOn() {
		return w.CompileModule(ctx, wasm)
	}
	if module == "" {
		module = hexSum(wasm)
	}
	compiled, ok, err := rt.compileRecorded(ctx, w, wasm, module)
	if ok || err != nil {
		return compiled, err
	}
	rt.cacheMu.Lock()
	defer rt.cacheMu.Unlock()
	unlock, err := lockCache(filepath.Join(rt.cfg.CacheDir, sumsDir), true)
	if err != nil {
		return nil, fmt.Errorf("compilation cache: lock: %w", err)
	}
	defer unlock()
	before, mine, err := rt.verifyCache(module)
	if err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	compiled, err = w.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	entries, err := rt.cacheEntries()
	if err != nil {
		return compiled, nil // the cache is an optimisation
	}
	for _, e := range entries {
		if _, ok := before[e]; !ok && rt.recordSum(e) == nil {
			mine = append(mine, e)
		}
	}
	// The record lists what is there: entries added, and no longer those
	// deleted (else every load would come here).
	if len(mine) > 0 {
		record := []byte(strings.Join(mine, "\n") + "\n")
		if old, err := readSmall(rt.modulePath(module)); err != nil || !bytes.Equal(old, record) {
			_ = rt.writeRecord(rt.modulePath(module), record)
		}
	}
	return compiled, nil
}

// compileRecorded is compile's warm path, under the cache directory's
// lock held shared: if every cache entry is recorded as some module's,
// and module has entries, all of which match their recorded SHA-256, it
// compiles wasm (which wazero then reads from the cache) and reports ok.
// (Every entry the record lists as module's must be there.)
// Otherwise it reports !ok, having deleted nothing: compile then checks
// the cache under the exclusive lock. (An unrecorded entry could be this
// module's, which wazero would use unchecked; a mismatch is deleted
// there.)
func (rt *Runtime) compileRecorded(ctx context.Context, w wazero.Runtime, wasm []byte, module string) (_ wazero.CompiledModule, ok bool, _ error) {
	unlock, err := lockCache(filepath.Join(rt.cfg.CacheDir, sumsDir), false)
	if err != nil {
		return nil, false, fmt.Errorf("compilation cache: lock: %w", err)
	}
	defer unlock()
	owner, entries, err := rt.cacheOwners(module)
	if err != nil || len(entries) == 0 {
		return nil, false, nil
	}
	// listed counts the entries the record lists as the module's, mine
	// those of them that are there and match their sums.
	var mine, listed int
	for _, isMine := range owner {
		if isMine {
			listed++
		}
	}
	for _, e := range entries {
		isMine, recorded := owner[e]
		if !recorded {
			return nil, false, nil
		}
		if isMine {
			if !rt.sumMatches(e) {
				return nil, false, nil
			}
			mine++
		}
	}
	// Every entry listed must be there: else wazero might not find the
	// one it looks for and compile, writing an entry under the shared
	// lock that no one records.
	if mine == 0 || mine != listed {
		return nil, false, nil
	}
	compiled, err := w.CompileModule(ctx, wasm)
	return compiled, true, err
}

// cacheOwners lists the cache entries and, for each recorded one, whether
// it is module's (true) or only another module's (false).
func (rt *Runtime) cacheOwners(module string) (map[string]bool, []string, error) {
	entries, err := rt.cacheEntries()
	if err != nil {
		return nil, nil, err
	}
	owner := make(map[string]bool)
	records, err := filepath.Glob(filepath.Join(rt.cfg.CacheDir, sumsDir, "module-*"))
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range records {
		b, err := readSmall(rec)
		if err != nil {
			continue
		}
		mine := rec == rt.modulePath(module)
		for _, e := range strings.Fields(string(b)) {
			owner[e] = owner[e] || mine
		}
	}
	return owner, entries, nil
}

// sumMatches reports whether the cache entry e matches the SHA-256
// recorded for it.
func (rt *Runtime) sumMatches(e string) bool {
	want, err := readSmall(rt.sumPath(e))
	if err != nil {
		return false
	}
	got, err := fileSum(filepath.Join(rt.cfg.CacheDir, e))
	return err == nil && strings.TrimSpace(string(want)) == got
}

// maxCacheRecordBytes bounds a file of the record read back: a module's list
// of entries or an entry's sum.
const maxCacheRecordBytes = 64 << 10

// readSmall reads a file of the record, at most maxCacheRecordBytes of it.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheRecordBytes+1))
	if err == nil && len(b) > maxCacheRecordBytes {
		err = fmt.Errorf("%s: more than %d bytes", filepath.Base(path), maxCacheRecordBytes)
	}
	return b, err
}

// cacheEntries lists wazero's cache entries, as paths relative to the
// cache directory.
func (rt *Runtime) cacheEntries() ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(rt.cfg.CacheDir, "wazero-*"))
	if err != nil {
		return nil, err
	}
	var entries []string
	for _, d := range dirs {
		files, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			// wazero writes an entry to NAME.*.tmp, then renames it.
			if strings.HasSuffix(f.Name(), ".tmp") {
				continue
			}
			entries = append(entries, filepath.Join(filepath.Base(d), f.Name()))
		}
	}
	return entries, nil
}

// verifyCache deletes every cache entry that is not recorded as some
// module's, and those of module's entries whose SHA-256 is not the
// recorded one; it leaves the other modules' entries to be checked when
// they are loaded. It returns the entries left, and module's among them.
func (rt *Runtime) verifyCache(module string) (map[string]struct{}, []string, error) {
	owner, entries, err := rt.cacheOwners(module)
	if err != nil {
		return nil, nil, err
	}
	ok := make(map[string]struct{}, len(entries))
	var mine []string
	for _, e := range entries {
		path := filepath.Join(rt.cfg.CacheDir, e)
		isMine, recorded := owner[e]
		switch {
		case recorded && !isMine:
			ok[e] = struct{}{} // another module's: checked when it is loaded
			continue
		case recorded:
			if rt.sumMatches(e) {
				ok[e] = struct{}{}
				mine = append(mine, e)
				continue
			}
			rt.cfg.Logger.Warn("engine: compilation cache entry does not match its recorded SHA-256; deleting it", "entry", e)
		default:
			rt.cfg.Logger.Debug("engine: compilation cache entry not recorded; deleting it", "entry", e)
		}
		if err := os.RemoveAll(path); err != nil {
			return nil, nil, err
		}
		_ = os.Remove(rt.sumPath(e))
	}
	return ok, mine, nil
}

func (rt *Runtime) modulePath(module string) string {
	return filepath.Join(rt.cfg.CacheDir, sumsDir, "module-"+module)
}

func (rt *Runtime) sumPath(entry string) string {
	return filepath.Join(rt.cfg.CacheDir, sumsDir, strings.ReplaceAll(entry, string(filepath.Separator), "_")+".sha256")
}

// recordSum writes the SHA-256 of a cache entry beside the cache.
func (rt *Runtime) recordSum(entry string) error {
	sum, err := fileSum(filepath.Join(rt.cfg.CacheDir, entry))
	if err != nil {
		return err
	}
	return rt.writeRecord(rt.sumPath(entry), []byte(sum+"\n"))
}

// writeRecord writes a file of the record beside the cache, atomically.
func (rt *Runtime) writeRecord(path string, content ...[]byte) error {
	f, err := os.CreateTemp(filepath.Join(rt.cfg.CacheDir, sumsDir), "record-*.tmp")
	if err != nil {
		return err
	}
	var werr error
	for _, c := range content {
		if _, werr = f.Write(c); werr != nil {
			break
		}
	}
	if cerr := f.Close(); werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return errors.Join(werr, cerr)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return nil
}

// fileSum returns the hex SHA-256 of a regular file.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if sum, ok := sumMapped(f, fi.Size()); ok {
		return hex.EncodeToString(sum[:]), nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cacheOn reports whether the runtime uses a compilation cache on disk.
func (rt *Runtime) cacheOn() bool { return !rt.cfg.NoCache && rt.cfg.CacheDir != "" }

// hexSum is the hex SHA-256 of b.
func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// decompress returns the WebAssembly module raw, gunzipped if it is
// gzip-compressed, and its hex SHA-256 (that of raw, sum, if it is not
// compressed).
//
// With a compilation cache on disk, the decompressed bytes of a
// compressed module are kept in the record beside it, in plain-SUM (SUM
// being sum, that of the compressed bytes): the hex SHA-256 of the
// decompressed bytes, a newline, and the bytes. A load reads them instead
// of decompressing if they match that SHA-256 (which is the module's
// key in the record: computing it is no extra cost); if they do not, it
// decompresses, and keepPlain writes them afresh once the module compiled. They are as trusted as the
// record, which vouches for the compiled code too; the record maps bytes
// a pin vouches for to what they decompress to.
//
// kept reports whether the bytes were read from the record.
func (rt *Runtime) decompress(raw []byte, sum string) (wasm []byte, wasmSum string, kept bool, err error) {
	if !bytes.HasPrefix(raw, gzipMagic) {
		return raw, sum, false, nil
	}
	if rt.cacheOn() {
		if wasm, wasmSum, ok := readPlain(rt.plainPath(sum)); ok {
			return wasm, wasmSum, true, nil
		}
	}
	if wasm, err = gunzip(raw); err != nil {
		return nil, "", false, err
	}
	return wasm, hexSum(wasm), false, nil
}

func (rt *Runtime) plainPath(sum string) string {
	return filepath.Join(rt.cfg.CacheDir, sumsDir, "plain-"+sum)
}

// keepPlain keeps the decompressed bytes of the compressed module raw
// (of SHA-256 sum), of SHA-256 wasmSum, in the record: see decompress.
// It is called once the module has compiled, so that modules that do not
// (refused by checkBinary, say) take no room.
func (rt *Runtime) keepPlain(raw []byte, sum string, wasm []byte, wasmSum string) {
	if rt.cacheOn() && bytes.HasPrefix(raw, gzipMagic) {
		_ = rt.writeRecord(rt.plainPath(sum), []byte(wasmSum+"\n"), wasm)
	}
}

var gzipMagic = []byte{0x1f, 0x8b}

// readPlain reads a module's decompressed bytes kept in the record, and
// reports whether they are there and match the SHA-256 they are kept
// with.
func readPlain(path string) (wasm []byte, sum string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, "", false
	}
	const header = 2*sha256.Size + 1
	b, err := readAll(io.LimitReader(f, header+maxModuleBytes), fi.Size())
	if err != nil || len(b) < header || b[header-1] != '\n' {
		return nil, "", false
	}
	want, wasm := string(b[:header-1]), b[header:]
	if got := hexSum(wasm); got != want {
		return nil, "", false
	}
	return wasm, want, true
}
