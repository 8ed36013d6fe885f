// Package tamper detects direct tampering with documents in the database:
// a [Signer] signs every document a store writes with HMAC-SHA256 and
// verifies every document it reads.
//
//	ring, err := keys.Load("ACCORD_SIGNING_KEYS", "signing.keys")
//	signer, err := tamper.New(tamper.Config{Keys: ring})
//	store, err := couch.NewStore[Fruit](db, couch.StoreConfig{Type: "fruit_v1.0", Sealer: signer})
//
// # The scheme
//
// The signature covers the document's canonical form ([Canonical], RFC
// 8785): every top-level member except those whose names start with "_"
// (_id, _rev, _conflicts, _revisions, _attachments: the server's
// bookkeeping, which CouchDB rewrites) and the signature itself, so key
// order, white space, string escapes and number spelling do not matter,
// and a document still verifies after CouchDB re-encodes it (1.0 as 1,
// 1e2 as 100). The document's id is bound in as well, so a signed body
// copied under another id does not verify. The MAC is
//
//	HMAC-SHA256(key, "accord-tamper-v1\n" + kid + "\n" + _id + "\n" + canonical body)
//
// and it is stored, with the id of the key that made it, in a top-level
// member ([DefaultField], "accord_signature"; CouchDB refuses unknown
// top-level "_" members):
//
//	"accord_signature": {"kid": "k2", "hmac": "base64url of 32 bytes"}
//
// The ring's active key signs; every key of the ring verifies, so keys
// rotate without re-signing: add a new first key, and drop the old one
// once every document was written since.
//
// What it does not detect: attachments are not covered (CouchDB keeps
// their own MD5 digests); a document deleted in the database is simply
// gone; and a document put back to an earlier revision's content (with
// that revision's signature) verifies, since the signature cannot bind the
// revision the server has yet to assign. Keep the database's own access
// control and history for those.
//
// # Errors
//
// A document that fails verification (unsigned, an unknown key id, a
// malformed signature, a MAC that does not match, a body with no
// canonical form) gives an [*Error] matching [ErrTampered]. Errors never
// quote the document or a key; they name the id (bounded) and a fixed
// reason.
package tamper

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/accord-db/accord/couch/keys"
)

// DefaultField is the member that holds a document's signature.
const DefaultField = "accord_signature"

// context is the MAC's domain separation prefix: a version of the scheme.
const context = "accord-tamper-v1\n"

// ErrTampered is matched by every [*Error]: a document that failed
// verification.
var ErrTampered = errors.New("document failed verification")

// Reasons an [Error] gives.
const (
	ReasonUnsigned     = "no signature"
	ReasonMalformed    = "malformed signature"
	ReasonUnknownKey   = "signed with an unknown key id"
	ReasonMismatch     = "signature does not match the content"
	ReasonNotCanonical = "content has no canonical form"
	ReasonNotObject    = "not a JSON object"
)

// Error is a document that failed verification.
type Error struct {
	// ID is the document's id.
	ID string
	// Reason is one of the Reason constants.
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("document %q failed verification: %s", clip(e.ID, 128), e.Reason)
}

// Is makes every Error match [ErrTampered].
func (e *Error) Is(target error) bool { return target == ErrTampered }

// Config configures a [Signer].
type Config struct {
	// Keys signs (its active key) and verifies (every key). Required.
	Keys *keys.Ring
	// Field is the member that holds the signature. Default
	// DefaultField. It must not start with "_".
	Field string
}

// Signer signs and verifies documents. It implements couch.Sealer, so a
// store signs every document it writes (merges written for a resolver
// included: the host signs them, and a signature member a resolver
// returns is replaced) and verifies every document it reads. It is safe
// for concurrent use.
type Signer struct {
	ring  *keys.Ring
	field string
	macs  map[string]*sync.Pool // by key id: hash.Hash of HMAC-SHA256
}

// New returns a signer for cfg.
func New(cfg Config) (*Signer, error) {
	if cfg.Keys == nil {
		return nil, errors.New("tamper: new signer: no keys")
	}
	if cfg.Field == "" {
		cfg.Field = DefaultField
	}
	if strings.HasPrefix(cfg.Field, "_") {
		return nil, fmt.Errorf("tamper: new signer: field %q starts with _, which CouchDB refuses", clip(cfg.Field, 64))
	}
	s := &Signer{ring: cfg.Keys, field: cfg.Field, macs: map[string]*sync.Pool{}}
	for _, id := range cfg.Keys.IDs() {
		key, _ := cfg.Keys.Key(id)
		s.macs[id] = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
	}
	return s, nil
}

// Field returns the member that holds the signature.
func (s *Signer) Field() string { return s.field }

// signature is the signature member.
type signature struct {
	KID  string `json:"kid"`
	HMAC string `json:"hmac"`
}

// Sign returns doc, a JSON object, with its signature member set (any
// signature it had is replaced), signed with the active key for the
// document id.
func (s *Signer) Sign(id string, doc []byte) ([]byte, error) {
	m, err := object(doc)
	if err != nil {
		return nil, fmt.Errorf("tamper: sign %q: %w", clip(id, 128), err)
	}
	kid, _ := s.ring.Active()
	mac, err := s.mac(kid, id, doc)
	if err != nil {
		return nil, fmt.Errorf("tamper: sign %q: %w", clip(id, 128), err)
	}
	m[s.field], _ = json.Marshal(signature{KID: kid, HMAC: base64.RawURLEncoding.EncodeToString(mac)})
	return json.Marshal(m)
}

// Verify checks doc's signature for the document id. It returns nil or
// an [*Error].
func (s *Signer) Verify(id string, doc []byte) error {
	_, err := s.verify(id, doc)
	return err
}

// verify checks doc and returns its members.
func (s *Signer) verify(id string, doc []byte) (map[string]json.RawMessage, error) {
	fail := func(reason string) error { return &Error{ID: id, Reason: reason} }
	m, err := object(doc)
	if err != nil {
		return nil, fail(ReasonNotObject)
	}
	raw, ok := m[s.field]
	if !ok {
		return nil, fail(ReasonUnsigned)
	}
	var sig signature
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sig); err != nil || !keys.ValidID(sig.KID) {
		return nil, fail(ReasonMalformed)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig.HMAC)
	if err != nil || len(got) != sha256.Size {
		return nil, fail(ReasonMalformed)
	}
	if _, ok := s.macs[sig.KID]; !ok {
		return nil, fail(ReasonUnknownKey)
	}
	want, err := s.mac(sig.KID, id, doc)
	if err != nil {
		return nil, fail(ReasonNotCanonical)
	}
	if !hmac.Equal(got, want) {
		return nil, fail(ReasonMismatch)
	}
	return m, nil
}

// Seal signs doc: see [Signer.Sign]. It makes the signer a couch.Sealer.
func (s *Signer) Seal(id string, doc []byte) ([]byte, error) { return s.Sign(id, doc) }

// Open verifies doc and returns it without its signature member, so that
// the signature never reaches the model, nor a resolver. It makes the
// signer a couch.Sealer.
func (s *Signer) Open(id string, doc []byte) ([]byte, error) {
	m, err := s.verify(id, doc)
	if err != nil {
		return nil, err
	}
	delete(m, s.field)
	return json.Marshal(m)
}

// mac computes the MAC of doc for id with the key kid.
func (s *Signer) mac(kid, id string, doc []byte) ([]byte, error) {
	buf := make([]byte, 0, len(context)+len(kid)+len(id)+len(doc)+8)
	buf = append(buf, context...)
	buf = append(buf, kid...)
	buf = append(buf, '\n')
	buf = append(buf, id...)
	buf = append(buf, '\n')
	buf, err := appendCanonical(buf, doc, func(name string) bool {
		return name == s.field || strings.HasPrefix(name, "_")
	})
	if err != nil {
		return nil, err
	}
	p := s.macs[kid]
	h := p.Get().(hash.Hash)
	h.Reset()
	h.Write(buf)
	sum := h.Sum(nil)
	p.Put(h)
	return sum, nil
}

// object decodes doc's top-level members.
func object(doc []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// clip cuts s to n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
