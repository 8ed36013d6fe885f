//go:build !unix

package engine

import "os"

// lockCache does nothing where the engine has no file locks: processes
// sharing a cache directory may then make each other compile afresh.
func lockCache(string) (func(), error) { return func() {}, nil }

// ownedByOther cannot tell owners apart here; it says no.
func ownedByOther(os.FileInfo) bool { return false }
