//go:build unix

package engine

import (
	"os"
	"syscall"
)

// lockCache takes an exclusive lock on the cache directory shared by
// every process using it, so that one process does not delete as
// unrecorded the entry another has just written and not yet recorded.
// It returns the function that releases it.
func lockCache(dir string) (func(), error) {
	f, err := os.OpenFile(dir+"/lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
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
