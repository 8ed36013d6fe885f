//go:build unix

package engine

import (
	"crypto/sha256"
	"os"
	"runtime/debug"
	"syscall"
)

// lockCache takes a lock on the cache directory shared by every process
// using it (and by every runtime of this one: each takes it on a file of
// its own), exclusive or shared, so that one load does not delete as
// unrecorded the entry another has just written and not yet recorded:
// a load that deletes or records entries holds it exclusive, a load that
// only reads entries shared. It returns the function that releases it.
func lockCache(dir string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(dir+"/lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ownedByOther reports whether fi belongs to another user than the one
// running the engine: such a cache's entries could have been written by
// anyone who owns it.
func ownedByOther(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) != os.Getuid()
}

// sumMapped returns the SHA-256 of the first size bytes of f, read
// through a read-only mapping (no copy through a buffer), or ok false if
// f cannot be mapped or shrank while it was read.
func sumMapped(f *os.File, size int64) (sum [32]byte, ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return sum, false
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return sum, false
	}
	defer syscall.Munmap(b)
	// A file truncated while it is read faults past its new end: that is
	// a panic here, recovered as a file that cannot be read so.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			sum, ok = [32]byte{}, false
		}
	}()
	return sha256.Sum256(b), true
}
