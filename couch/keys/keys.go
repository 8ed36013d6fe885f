// Package keys holds the secret keys of document signing
// ([github.com/accord-db/accord/couch/tamper]) and of sensitive
// properties ([github.com/accord-db/accord/couch/secure]): a ring of
// 32-byte keys, each with an id, the first one active.
//
//	ring, err := keys.Load("ACCORD_SIGNING_KEYS", "/etc/accord/signing.keys")
//
// Keys come from a file or an environment variable, never from a
// configuration file's own text. The format, one key a line:
//
//	# lines starting with # are comments
//	k2 1r4d3Yb0...base64 of 32 bytes...=
//	k1 q8mZxV...the previous key, kept to read what it wrote
//
// The first key is the active one (it signs or encrypts); every key
// verifies or decrypts, so keys rotate by adding a new first line and
// dropping an old line once nothing needs it. In an environment variable,
// lines may also be separated by ";".
//
// A Ring never shows its keys: its String and GoString, and every error of
// this package, name key ids and line numbers only.
package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Size is the length of every key, in bytes: 256 bits, for HMAC-SHA256,
// AES-256 and SHA3-512 peppers alike.
const Size = 32

// MaxKeys caps the keys of a ring.
const MaxKeys = 64

// maxSourceBytes caps a key file or variable.
const maxSourceBytes = 64 << 10

// ErrInvalid is matched by every error about a key source that does not
// hold a valid ring.
var ErrInvalid = errors.New("invalid key ring")

// idPattern is what a key id looks like; ids are stored in documents.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ValidID reports whether id can be a key id: 1 to 32 of A-Z a-z 0-9 _ . -
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Ring is a set of keys by id, one of them active. It is immutable and
// safe for concurrent use.
type Ring struct {
	active string
	keys   map[string][]byte
	ids    []string
}

// Active returns the active key's id and the key. The caller must not
// change the key's bytes.
func (r *Ring) Active() (id string, key []byte) { return r.active, r.keys[r.active] }

// Key returns the key with this id.
func (r *Ring) Key(id string) ([]byte, bool) {
	k, ok := r.keys[id]
	return k, ok
}

// IDs returns the key ids, the active one first.
func (r *Ring) IDs() []string { return append([]string(nil), r.ids...) }

// String names the ring's key ids, never the keys.
func (r *Ring) String() string {
	return fmt.Sprintf("keys.Ring{active: %s, ids: %s}", r.active, strings.Join(r.ids, ","))
}

// GoString is String, so that %#v shows no key either.
func (r *Ring) GoString() string { return r.String() }

// New returns a ring of the keys, the first id given active. It copies
// the keys.
func New(ids []string, keys [][]byte) (*Ring, error) {
	if len(ids) == 0 || len(ids) != len(keys) {
		return nil, fmt.Errorf("keys: %w: no keys, or not one id per key", ErrInvalid)
	}
	if len(ids) > MaxKeys {
		return nil, fmt.Errorf("keys: %w: %d keys, at most %d", ErrInvalid, len(ids), MaxKeys)
	}
	r := &Ring{active: ids[0], keys: make(map[string][]byte, len(ids))}
	for i, id := range ids {
		if !ValidID(id) {
			return nil, fmt.Errorf("keys: %w: key %d: the id is not 1 to 32 of A-Z a-z 0-9 _ . -", ErrInvalid, i+1)
		}
		if len(keys[i]) != Size {
			return nil, fmt.Errorf("keys: %w: key %s: %d bytes, want %d", ErrInvalid, id, len(keys[i]), Size)
		}
		if _, dup := r.keys[id]; dup {
			return nil, fmt.Errorf("keys: %w: key id %s given twice", ErrInvalid, id)
		}
		r.keys[id] = append([]byte(nil), keys[i]...)
		r.ids = append(r.ids, id)
	}
	return r, nil
}

// Parse reads a ring in the format of the package doc. Its errors name
// line numbers, never the line's text.
func Parse(data []byte) (*Ring, error) {
	if len(data) > maxSourceBytes {
		return nil, fmt.Errorf("keys: %w: more than %d bytes", ErrInvalid, maxSourceBytes)
	}
	var ids []string
	var ks [][]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for part := range strings.SplitSeq(line, ";") {
			f := strings.Fields(part)
			if len(f) == 0 {
				continue
			}
			if len(f) != 2 {
				return nil, fmt.Errorf("keys: %w: line %d: want \"ID BASE64-KEY\"", ErrInvalid, i+1)
			}
			k, err := decodeKey(f[1])
			if err != nil {
				return nil, fmt.Errorf("keys: %w: line %d: the key is not base64 of %d bytes", ErrInvalid, i+1, Size)
			}
			ids, ks = append(ids, f[0]), append(ks, k)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("keys: %w: no key", ErrInvalid)
	}
	return New(ids, ks)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == Size {
			return k, nil
		}
	}
	return nil, errors.New("bad key")
}

// ErrNoSource is matched by the error of [Load] given neither a variable
// that is set nor a file.
var ErrNoSource = errors.New("no key source")

// Load reads a ring from the environment variable env if it is set and
// not empty, else from the file path. Either may be empty. The error
// names the variable or the file, never a key.
func Load(env, path string) (*Ring, error) {
	if env != "" {
		if v := os.Getenv(env); v != "" {
			r, err := Parse([]byte(v))
			if err != nil {
				return nil, fmt.Errorf("keys: variable %s: %w", env, err)
			}
			return r, nil
		}
	}
	if path == "" {
		if env != "" {
			return nil, fmt.Errorf("keys: %w: variable %s is not set, and no file is given", ErrNoSource, env)
		}
		return nil, fmt.Errorf("keys: %w: neither a variable nor a file is given", ErrNoSource)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keys: file %s: %w", path, err)
	}
	return r, nil
}
