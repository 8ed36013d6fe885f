// Package secure declares, per model, which properties of a document are
// sensitive, and keeps them out of the database in plain text:
//
//   - hashed with bcrypt: secrets checked by comparison (a PIN, a
//     password); see [Properties.Check];
//   - hashed with SHA3-512 and a per-database pepper: values looked up by
//     equality (an e-mail address to find a record by); see
//     [Properties.LookupHashes];
//   - encrypted with AES-256-GCM: values that must be read back (an
//     e-mail address to show).
//
// A [Properties] is a couch.Sealer: give it to a store and every document
// the store writes has its sensitive properties hashed or encrypted, and
// every document it reads has its encrypted properties decrypted.
//
//	enc, err := keys.Load("ACCORD_ENCRYPTION_KEYS", "encryption.keys")
//	props, err := secure.New(secure.Config{
//		Model:          secure.Model{Bcrypt: []string{"grower_pin"}, Encrypted: []string{"grower_email"}},
//		EncryptionKeys: enc,
//	})
//	store, err := couch.NewStore[Fruit](db, couch.StoreConfig{Type: "fruit_v1.0", Sealer: props})
//
// Properties are top-level members of the document.
//
// # Stored forms
//
// A bcrypt property holds bcrypt's own string ($2a$10$…): a string that
// already is one is kept, any other string is hashed. A lookup property
// holds "sha3-512:PEPPER-ID:" and 128 hex digits, computed as
// SHA3-512(pepper || value); one already in that form with a known pepper
// id is kept. An encrypted property holds "aes256gcm:KEY-ID:" and the
// base64url of a 12-byte random nonce and the ciphertext of the value's
// JSON, authenticated with the document id and the property's name as
// additional data (a ciphertext moved to another document or property
// does not decrypt). null and absent properties are left alone.
//
// # Keys and rotation
//
// Keys come from [keys.Load]: a file or an environment variable, never
// the configuration file's own text, and they never appear in errors. An
// encrypted property is always written with the active key, and read
// with the key its id names: after a rotation (a new first key in the
// ring, the old one kept) old documents still read, and are re-encrypted
// with the new key on their next write. Lookup hashes cannot be
// re-computed without the value, so a lookup checks the hashes under
// every pepper of the ring.
//
// # Errors
//
// A property that cannot be decrypted (unknown key id, a ciphertext that
// does not authenticate, plain text where a ciphertext belongs) fails
// Open with an error matching [ErrUndecryptable]; the store then refuses
// the document as tampered with.
package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/accord-db/accord/couch/keys"
)

// Model declares a model's sensitive properties.
type Model struct {
	// Bcrypt lists the properties hashed with bcrypt: secrets checked by
	// comparison. Their values are strings of at most 72 bytes.
	Bcrypt []string
	// Lookup lists the properties hashed with SHA3-512 and the pepper:
	// values looked up by equality. Their values are strings.
	Lookup []string
	// Encrypted lists the properties encrypted with AES-256-GCM: values
	// read back. Any JSON value.
	Encrypted []string
}

// Config configures a [Properties].
type Config struct {
	// Model declares the sensitive properties. Required.
	Model Model
	// EncryptionKeys encrypt (the active key) and decrypt (every key).
	// Required if the model has encrypted properties.
	EncryptionKeys *keys.Ring
	// Pepper is the secret mixed into lookup hashes, one per database;
	// the active one hashes. Required if the model has lookup
	// properties.
	Pepper *keys.Ring
	// BcryptCost is bcrypt's cost. Default bcrypt.DefaultCost (10); at
	// least bcrypt.MinCost (4).
	BcryptCost int
}

// Prefixes of the stored forms.
const (
	lookupPrefix    = "sha3-512:"
	encryptedPrefix = "aes256gcm:"
)

// ErrUndecryptable is matched by the error of [Properties.Open] for a
// property that cannot be decrypted.
var ErrUndecryptable = errors.New("property cannot be decrypted")

// ErrInvalidValue is matched by the error of [Properties.Seal] for a
// value a hashed property cannot take (not a string, too long for
// bcrypt).
var ErrInvalidValue = errors.New("invalid value for a sensitive property")

type kind int

const (
	kindBcrypt kind = iota + 1
	kindLookup
	kindEncrypted
)

// Properties hashes and encrypts a model's sensitive properties. It is a
// couch.Sealer and safe for concurrent use.
type Properties struct {
	props map[string]kind
	enc   *keys.Ring
	aeads map[string]cipher.AEAD
	pep   *keys.Ring
	cost  int
}

// New returns the Properties for cfg.
func New(cfg Config) (*Properties, error) {
	p := &Properties{props: map[string]kind{}, enc: cfg.EncryptionKeys, pep: cfg.Pepper, cost: cfg.BcryptCost, aeads: map[string]cipher.AEAD{}}
	if p.cost == 0 {
		p.cost = bcrypt.DefaultCost
	}
	if p.cost < bcrypt.MinCost || p.cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("secure: bcrypt cost %d is not in [%d, %d]", p.cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	for k, names := range map[kind][]string{kindBcrypt: cfg.Model.Bcrypt, kindLookup: cfg.Model.Lookup, kindEncrypted: cfg.Model.Encrypted} {
		for _, n := range names {
			if n == "" || strings.HasPrefix(n, "_") {
				return nil, fmt.Errorf("secure: property %q: empty, or a _ member", n)
			}
			if _, dup := p.props[n]; dup {
				return nil, fmt.Errorf("secure: property %q declared twice", n)
			}
			p.props[n] = k
		}
	}
	if len(p.props) == 0 {
		return nil, errors.New("secure: the model declares no sensitive property")
	}
	if len(cfg.Model.Encrypted) > 0 {
		if p.enc == nil {
			return nil, errors.New("secure: encrypted properties need encryption keys")
		}
		for _, id := range p.enc.IDs() {
			key, _ := p.enc.Key(id)
			block, err := aes.NewCipher(key)
			if err != nil {
				return nil, fmt.Errorf("secure: key %s: %w", id, err)
			}
			if p.aeads[id], err = cipher.NewGCM(block); err != nil {
				return nil, fmt.Errorf("secure: key %s: %w", id, err)
			}
		}
	}
	if len(cfg.Model.Lookup) > 0 && p.pep == nil {
		return nil, errors.New("secure: lookup properties need a pepper")
	}
	return p, nil
}

// Seal returns doc with its sensitive properties hashed or encrypted.
func (p *Properties) Seal(id string, doc []byte) ([]byte, error) {
	m, err := object(doc)
	if err != nil {
		return nil, fmt.Errorf("secure: seal %q: %w", clip(id), err)
	}
	for name, k := range p.props {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var out string
		switch k {
		case kindBcrypt:
			out, err = p.bcrypt(raw)
		case kindLookup:
			out, err = p.lookup(raw)
		case kindEncrypted:
			out, err = p.encrypt(id, name, raw)
		}
		if err != nil {
			return nil, fmt.Errorf("secure: seal %q: property %s: %w", clip(id), name, err)
		}
		m[name], _ = json.Marshal(out)
	}
	return json.Marshal(m)
}

// Open returns doc with its encrypted properties decrypted; hashed ones
// are left as stored.
func (p *Properties) Open(id string, doc []byte) ([]byte, error) {
	m, err := object(doc)
	if err != nil {
		return nil, fmt.Errorf("secure: open %q: %w", clip(id), err)
	}
	for name, k := range p.props {
		raw, ok := m[name]
		if k != kindEncrypted || !ok || string(raw) == "null" {
			continue
		}
		plain, err := p.decrypt(id, name, raw)
		if err != nil {
			return nil, fmt.Errorf("secure: open %q: property %s: %w", clip(id), name, err)
		}
		m[name] = plain
	}
	return json.Marshal(m)
}

func (p *Properties) bcrypt(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: not a string", ErrInvalidValue)
	}
	if IsBcrypt(s) {
		return s, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(s), p.cost)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidValue, err)
	}
	return string(h), nil
}

// IsBcrypt reports whether s is a bcrypt hash, the stored form of a
// bcrypt property.
func IsBcrypt(s string) bool {
	if len(s) != 60 || !strings.HasPrefix(s, "$2") {
		return false
	}
	_, err := bcrypt.Cost([]byte(s))
	return err == nil
}

// Check reports whether plain is the secret whose bcrypt hash is stored.
// It takes bcrypt's time (about 50 ms at the default cost), on purpose.
func (p *Properties) Check(stored, plain string) bool {
	return IsBcrypt(stored) && bcrypt.CompareHashAndPassword([]byte(stored), []byte(plain)) == nil
}

func (p *Properties) lookup(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: not a string", ErrInvalidValue)
	}
	if p.isLookup(s) {
		return s, nil
	}
	id, _ := p.pep.Active()
	return p.lookupHash(id, s), nil
}

func (p *Properties) isLookup(s string) bool {
	rest, ok := strings.CutPrefix(s, lookupPrefix)
	if !ok {
		return false
	}
	id, h, ok := strings.Cut(rest, ":")
	if _, known := p.pep.Key(id); !ok || !known || len(h) != 128 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (p *Properties) lookupHash(pepperID, value string) string {
	pepper, _ := p.pep.Key(pepperID)
	h := sha3.New512()
	h.Write(pepper)
	h.Write([]byte(value))
	return lookupPrefix + pepperID + ":" + hex.EncodeToString(h.Sum(nil))
}

// LookupHashes returns the stored forms value takes under each pepper of
// the ring, the active one first: look a document up by any of them.
func (p *Properties) LookupHashes(value string) []string {
	if p.pep == nil {
		return nil
	}
	var out []string
	for _, id := range p.pep.IDs() {
		out = append(out, p.lookupHash(id, value))
	}
	return out
}

// MatchLookup reports, in constant time per pepper, whether stored is the
// lookup hash of value.
func (p *Properties) MatchLookup(stored, value string) bool {
	ok := false
	for _, h := range p.LookupHashes(value) {
		if subtle.ConstantTimeCompare([]byte(h), []byte(stored)) == 1 {
			ok = true
		}
	}
	return ok
}

// aad binds a ciphertext to its document and property.
func aad(id, name string) []byte { return []byte("accord-secure-v1\n" + id + "\n" + name) }

func (p *Properties) encrypt(id, name string, raw json.RawMessage) (string, error) {
	kid, _ := p.enc.Active()
	aead := p.aeads[kid]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(raw)+aead.Overhead())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	sealed := aead.Seal(nonce, nonce, raw, aad(id, name))
	return encryptedPrefix + kid + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (p *Properties) decrypt(id, name string, raw json.RawMessage) (json.RawMessage, error) {
	fail := func(why string) error { return fmt.Errorf("%w: %s", ErrUndecryptable, why) }
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fail("not a ciphertext")
	}
	rest, ok := strings.CutPrefix(s, encryptedPrefix)
	if !ok {
		return nil, fail("not a ciphertext")
	}
	kid, b64, ok := strings.Cut(rest, ":")
	aead, known := p.aeads[kid]
	if !ok || !known {
		return nil, fail("unknown key id")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fail("malformed ciphertext")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(id, name))
	if err != nil || !json.Valid(plain) {
		return nil, fail("the ciphertext does not authenticate")
	}
	return plain, nil
}

// KeyID returns the id of the key an encrypted property's stored form
// names, or "" if stored is not one.
func KeyID(stored string) string {
	rest, ok := strings.CutPrefix(stored, encryptedPrefix)
	if !ok {
		return ""
	}
	kid, _, _ := strings.Cut(rest, ":")
	return kid
}

func object(doc []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

func clip(s string) string {
	if len(s) <= 128 {
		return s
	}
	return s[:128] + "…"
}
