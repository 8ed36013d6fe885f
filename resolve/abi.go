package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDelay is the longest wait a decision may ask for before a retry.
// Anything longer is treated as a broken resolver, not a policy.
const MaxDelay = 60_000 // milliseconds

// MaxReasonBytes is the longest reason a decision may carry.
const MaxReasonBytes = 4096

// ErrInvalidDecision is matched by every error that says a decision broke
// the ABI v1 contract.
var ErrInvalidDecision = errors.New("invalid decision")

// ErrInvalidConflict is matched by every error that says a conflict is not
// a well-formed ABI v1 conflict.
var ErrInvalidConflict = errors.New("invalid conflict")

// EncodeConflict returns the ABI v1 JSON encoding of c. Absent documents
// encode as null and absent losing revisions as [].
func EncodeConflict(c *Conflict) ([]byte, error) {
	if b, ok := encodeConflictFast(c); ok {
		return b, nil
	}
	if c.Conflicts == nil {
		cc := *c
		cc.Conflicts = []json.RawMessage{}
		c = &cc
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("resolve: encode conflict: %w", err)
	}
	return b, nil
}

// DecodeConflict parses the ABI v1 JSON encoding of a conflict. It checks
// the ABI version, kind and op, so a plugin can trust what it receives.
func DecodeConflict(b []byte) (*Conflict, error) {
	c := new(Conflict)
	if err := DecodeConflictInto(b, c); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeConflictInto is [DecodeConflict] into a Conflict the caller owns,
// so that a plugin can reuse one from call to call. It overwrites all of c.
func DecodeConflictInto(b []byte, c *Conflict) error {
	var ok bool
	if *c, ok = decodeConflictFast(b); !ok {
		*c = Conflict{}
		if err := decodeOne(b, c, false); err != nil {
			return fmt.Errorf("resolve: %w: %w", ErrInvalidConflict, err)
		}
		c.Base, c.Mine, c.Theirs = nullToNil(c.Base), nullToNil(c.Mine), nullToNil(c.Theirs)
		for i, raw := range c.Conflicts {
			c.Conflicts[i] = nullToNil(raw)
		}
	}
	return c.Validate()
}

// Validate checks what a resolver relies on in c: the ABI version, a known
// kind and op. A host calls it before handing c to a plugin. Every error
// matches [ErrInvalidConflict].
func (c *Conflict) Validate() error {
	if c.ABI != ABIVersion {
		return fmt.Errorf("resolve: %w: abi %d, want %d", ErrInvalidConflict, c.ABI, ABIVersion)
	}
	switch c.Kind {
	case KindWrite, KindReplication:
	default:
		return fmt.Errorf("resolve: %w: unknown kind %q", ErrInvalidConflict, Clip(string(c.Kind)))
	}
	switch c.Op {
	case OpCreate, OpUpdate, OpDelete:
	default:
		return fmt.Errorf("resolve: %w: unknown op %q", ErrInvalidConflict, Clip(string(c.Op)))
	}
	return nil
}

// EncodeDecision returns the ABI v1 JSON encoding of d.
func EncodeDecision(d Decision) ([]byte, error) {
	return AppendDecision(nil, d)
}

// AppendDecision appends the ABI v1 JSON encoding of d to dst, so that a
// plugin can reuse one buffer from call to call.
func AppendDecision(dst []byte, d Decision) ([]byte, error) {
	if b, ok := appendDecisionFast(dst, d); ok {
		return b, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return dst, fmt.Errorf("resolve: encode decision: %w", err)
	}
	return append(dst, b...), nil
}

// DecodeDecision parses the ABI v1 JSON encoding of a decision: exactly one
// JSON object. Fields it does not know are ignored, so a plugin built
// against a later minor revision of the contract still works. It does not
// validate the decision against its conflict; call [Decision.Validate].
func DecodeDecision(b []byte) (Decision, error) {
	if d, ok := decodeDecisionFast(b); ok {
		d.Doc = nullToNil(d.Doc)
		return d, nil
	}
	var d Decision
	if err := decodeOne(b, &d, false); err != nil {
		return Decision{}, fmt.Errorf("resolve: %w: %w", ErrInvalidDecision, err)
	}
	d.Doc = nullToNil(d.Doc)
	return d, nil
}

// Validate checks d against the conflict it answers: a known action; a
// delay within [0, MaxDelay] ms and only on a retry; a document on a merge
// and only there, which must be a JSON object whose _id, if present, is the
// conflict's id, and with no other top-level field starting with "_" than
// _id and _rev; a reason of at most MaxReasonBytes of UTF-8. Every error
// matches [ErrInvalidDecision].
func (d Decision) Validate(c *Conflict) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("resolve: %w: "+format, append([]any{ErrInvalidDecision}, args...)...)
	}
	if !d.Action.Valid() {
		return invalid("unknown action %q", Clip(string(d.Action)))
	}
	if d.DelayMS < 0 || d.DelayMS > MaxDelay {
		return invalid("delay_ms %d outside [0, %d]", d.DelayMS, MaxDelay)
	}
	if d.DelayMS != 0 && d.Action != ActionRetry {
		return invalid("delay_ms %d on action %q (only retry waits)", d.DelayMS, d.Action)
	}
	if len(d.Reason) > MaxReasonBytes {
		return invalid("reason is %d bytes, limit %d", len(d.Reason), MaxReasonBytes)
	}
	if !utf8.ValidString(d.Reason) {
		return invalid("reason is not valid UTF-8")
	}
	if d.Action != ActionMerge {
		if d.Doc != nil {
			return invalid("doc on action %q (only merge writes a document)", d.Action)
		}
		return nil
	}
	if d.Doc == nil {
		return invalid("merge without a doc")
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(d.Doc, &doc); err != nil {
		return invalid("merge doc is not a JSON object: %w", err)
	}
	if raw, ok := doc["_id"]; ok {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || id != c.ID {
			return invalid("merge doc has _id %s, the conflict is about %q", Clip(string(raw)), Clip(c.ID))
		}
	}
	for key := range doc {
		// CouchDB gives the other underscore fields meaning (_deleted
		// turns a write into a delete, _attachments adds files): a
		// merge writes content only.
		if strings.HasPrefix(key, "_") && key != "_id" && key != "_rev" {
			return invalid("merge doc has the special field %q; only _id and _rev may start with _", Clip(key))
		}
	}
	return nil
}

// MaxClipBytes is how much of a text from outside (a plugin's answer, a
// conflict's field) an error message quotes: see [Clip].
const MaxClipBytes = 64

// Clip returns s, or its first MaxClipBytes bytes (cut on a rune
// boundary) followed by "...(N bytes)" if it is longer: what an error
// message may quote of a text it does not control, so that a 4 MB
// answer does not become a 4 MB log line or HTTP body.
func Clip(s string) string {
	if len(s) <= MaxClipBytes {
		return s
	}
	cut := MaxClipBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:cut], len(s))
}

// decodeOne decodes exactly one JSON value from b into v: anything but
// white space after it is an error, and so is an unknown field if strict.
func decodeOne(b []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(b[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("trailing data after the JSON value at offset %d", dec.InputOffset())
	}
	return nil
}

func nullToNil(m json.RawMessage) json.RawMessage {
	if m == nil || bytes.Equal(bytes.TrimSpace(m), []byte("null")) {
		return nil
	}
	return m
}
