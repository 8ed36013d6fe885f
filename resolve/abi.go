package resolve

import (
	"errors"
	"strconv"
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

// EncodeConflict returns the ABI v1 JSON encoding of c, the bytes
// json.Marshal writes for it: absent documents encode as null and absent
// losing revisions as []. A document that is not valid JSON is an error.
func EncodeConflict(c *Conflict) ([]byte, error) {
	n := 160 + len(c.DB) + len(c.ID) + len(c.Base) + len(c.Mine) + len(c.Theirs)
	for _, doc := range c.Conflicts {
		n += len(doc) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"abi":`...)
	b = strconv.AppendInt(b, int64(c.ABI), 10)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(c.Kind))
	b = append(b, `,"op":`...)
	b = appendString(b, string(c.Op))
	b = append(b, `,"db":`...)
	b = appendString(b, c.DB)
	b = append(b, `,"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(c.Attempt), 10)
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendInt(b, c.ElapsedMS, 10)
	var err error
	for _, doc := range [...]struct {
		key string
		raw RawJSON
	}{{`,"base":`, c.Base}, {`,"mine":`, c.Mine}, {`,"theirs":`, c.Theirs}} {
		b = append(b, doc.key...)
		if b, err = appendRaw(b, doc.raw); err != nil {
			return nil, wrapError("resolve: encode conflict: "+doc.key[2:len(doc.key)-2]+" is not valid JSON", err)
		}
	}
	b = append(b, `,"conflicts":[`...)
	for i, doc := range c.Conflicts {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendRaw(b, doc); err != nil {
			return nil, wrapError("resolve: encode conflict: losing revision "+strconv.Itoa(i)+" is not valid JSON", err)
		}
	}
	b = append(b, `],"base_missing":`...)
	b = strconv.AppendBool(b, c.BaseMissing)
	return append(b, '}'), nil
}

// DecodeConflict parses the ABI v1 JSON encoding of a conflict. It checks
// the ABI version, kind and op, so a plugin can trust what it receives.
func DecodeConflict(b []byte) (*Conflict, error) {
	c := new(Conflict)
	if err := decodeConflict(b, c, false); err != nil {
		return nil, wrapError("resolve: invalid conflict: "+err.Error(), ErrInvalidConflict, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeConflictInto is [DecodeConflict] into a Conflict the caller owns,
// so that a plugin can reuse one from call to call. It overwrites all of
// c. Unlike DecodeConflict it does not copy the documents: c's documents
// and losing revisions are slices of b, valid while b is unchanged. It
// keeps c's DB and ID strings when they are spelt the same again. A
// plugin that decodes every conflict into one Conflict so allocates next
// to nothing per call, and its garbage collector, slow in WebAssembly,
// seldom runs.
//
// It decodes as encoding/json decodes into a Conflict (keys matched to
// the fields' tags regardless of case, unknown keys ignored, null leaving
// a field as it is), but that a document given as null is nil.
func DecodeConflictInto(b []byte, c *Conflict) error {
	db, id := c.DB, c.ID
	*c = Conflict{DB: db, ID: id}
	if err := decodeConflict(b, c, true); err != nil {
		*c = Conflict{}
		return wrapError("resolve: invalid conflict: "+err.Error(), ErrInvalidConflict, err)
	}
	return c.Validate()
}

// conflictKeys are the keys of a conflict, in the order of decodeConflict's
// switch.
var conflictKeys = []string{"abi", "kind", "op", "db", "id", "attempt", "elapsed_ms", "base", "mine", "theirs", "conflicts", "base_missing"}

// decodeConflict decodes b into c, which is empty but for the DB and ID
// strings to keep if spelt the same again. Its documents are copies of
// b's bytes, or with alias, slices of b.
func decodeConflict(b []byte, c *Conflict, alias bool) error {
	db, id := c.DB, c.ID
	c.DB, c.ID = "", ""
	doc := decodeDoc
	if alias {
		doc = aliasDoc
	}
	r := objectReader{b: b}
	for r.next() {
		val := r.val
		var err error
		k := conflictField(r.key)
		switch k {
		case 0:
			err = decodeIntField(val, &c.ABI)
		case 1:
			var s []byte
			if s, err = enumBytes(val); s != nil {
				c.Kind = kindOf(s)
			}
		case 2:
			var s []byte
			if s, err = enumBytes(val); s != nil {
				c.Op = opOf(s)
			}
		case 3:
			err = decodeStringAgain(val, &c.DB, db)
		case 4:
			err = decodeStringAgain(val, &c.ID, id)
		case 5:
			err = decodeIntField(val, &c.Attempt)
		case 6:
			err = decodeInt(val, &c.ElapsedMS, 64)
		case 7:
			c.Base = doc(val)
		case 8:
			c.Mine = doc(val)
		case 9:
			c.Theirs = doc(val)
		case 10:
			c.Conflicts, err = decodeRawArray(val, doc)
		case 11:
			err = decodeBool(val, &c.BaseMissing)
		}
		if err != nil {
			return wrapError(conflictKeys[k]+": "+err.Error(), err)
		}
	}
	if r.err != nil {
		return r.err
	}
	for i, raw := range c.Conflicts {
		c.Conflicts[i] = nullToNil(raw)
	}
	return nil
}

// conflictField is fieldIndex(key, conflictKeys), quicker for a key
// spelt as the host spells it: a plugin decodes a conflict every call.
func conflictField(key []byte) int {
	switch string(key[1 : len(key)-1]) { // compiled without allocating
	case "abi":
		return 0
	case "kind":
		return 1
	case "op":
		return 2
	case "db":
		return 3
	case "id":
		return 4
	case "attempt":
		return 5
	case "elapsed_ms":
		return 6
	case "base":
		return 7
	case "mine":
		return 8
	case "theirs":
		return 9
	case "conflicts":
		return 10
	case "base_missing":
		return 11
	}
	return fieldIndex(key, conflictKeys)
}

// decisionField is fieldIndex(key, decisionKeys), quicker for a key
// spelt as a plugin spells it: a host decodes a decision every call.
func decisionField(key []byte) int {
	switch string(key[1 : len(key)-1]) {
	case "action":
		return 0
	case "delay_ms":
		return 1
	case "doc":
		return 2
	case "reason":
		return 3
	}
	return fieldIndex(key, decisionKeys)
}

// decodeRawArray decodes null (nil) or an array of raw values, each by
// doc.
func decodeRawArray(v []byte, doc func([]byte) RawJSON) ([]RawJSON, error) {
	if v[0] == 'n' {
		return nil, nil
	}
	docs := []RawJSON{}
	if string(v) == "[]" {
		return docs, nil
	}
	err := jsonArray(v, func(start, end int) error {
		docs = append(docs, doc(v[start:end]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// enumBytes returns the decoded bytes of a string, or nil for null. A
// string without escapes is returned without a copy, so that the caller
// can map the known spellings to constants without allocating.
func enumBytes(v []byte) ([]byte, error) {
	switch v[0] {
	case 'n':
		return nil, nil
	case '"':
	default:
		return nil, typeError(v, "a string")
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			return []byte(unquote(v)), nil
		}
	}
	return inner, nil
}

// fieldIndex returns the index of the name in names that the key token
// names, as encoding/json matches a key to a field (see keyIs), or -1.
func fieldIndex(tok []byte, names []string) int {
	inner := tok[1 : len(tok)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= 0x80 || 'A' <= c && c <= 'Z' {
			plain = false
			break
		}
	}
	for i, n := range names {
		if string(inner) == n {
			return i
		}
	}
	if plain {
		return -1 // matched exactly or not at all
	}
	for i, n := range names {
		if keyIs(tok, n) {
			return i
		}
	}
	return -1
}

// kindOf and opOf return the constants for the known spellings, so that
// decoding them allocates nothing; an unknown one is copied for the
// validation error.
func kindOf(b []byte) Kind {
	switch string(b) {
	case string(KindWrite):
		return KindWrite
	case string(KindReplication):
		return KindReplication
	}
	return Kind(b)
}

func opOf(b []byte) Op {
	switch string(b) {
	case string(OpCreate):
		return OpCreate
	case string(OpUpdate):
		return OpUpdate
	case string(OpDelete):
		return OpDelete
	}
	return Op(b)
}

func actionOf(b []byte) Action {
	for _, a := range [...]Action{ActionRetry, ActionMerge, ActionAccept, ActionFail} {
		if string(b) == string(a) {
			return a
		}
	}
	return Action(b)
}

// Validate checks what a resolver relies on in c: the ABI version, a known
// kind and op. A host calls it before handing c to a plugin. Every error
// matches [ErrInvalidConflict].
func (c *Conflict) Validate() error {
	invalid := func(msg string) error {
		return wrapError("resolve: invalid conflict: "+msg, ErrInvalidConflict)
	}
	if c.ABI != ABIVersion {
		return invalid("abi " + strconv.Itoa(c.ABI) + ", want " + strconv.Itoa(ABIVersion))
	}
	switch c.Kind {
	case KindWrite, KindReplication:
	default:
		return invalid("unknown kind " + strconv.Quote(Clip(string(c.Kind))))
	}
	switch c.Op {
	case OpCreate, OpUpdate, OpDelete:
	default:
		return invalid("unknown op " + strconv.Quote(Clip(string(c.Op))))
	}
	return nil
}

// EncodeDecision returns the ABI v1 JSON encoding of d.
func EncodeDecision(d Decision) ([]byte, error) {
	return AppendDecision(nil, d)
}

// AppendDecision appends the ABI v1 JSON encoding of d to dst, the bytes
// json.Marshal writes for it, so that a plugin can reuse one buffer from
// call to call. A document that is not valid JSON is an error.
func AppendDecision(dst []byte, d Decision) ([]byte, error) {
	b := append(dst, `{"action":`...)
	b = appendString(b, string(d.Action))
	if d.DelayMS != 0 {
		b = append(b, `,"delay_ms":`...)
		b = strconv.AppendInt(b, d.DelayMS, 10)
	}
	if len(d.Doc) > 0 {
		b = append(b, `,"doc":`...)
		var err error
		if b, err = appendRaw(b, d.Doc); err != nil {
			return dst, wrapError("resolve: encode decision: doc is not valid JSON", err)
		}
	}
	if d.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, d.Reason)
	}
	return append(b, '}'), nil
}

// DecodeDecision parses the ABI v1 JSON encoding of a decision: exactly one
// JSON object. Fields it does not know are ignored, so a plugin built
// against a later minor revision of the contract still works. It does not
// validate the decision against its conflict; call [Decision.Validate].
// It decodes as encoding/json decodes into a Decision, but that a doc
// given as null is nil.
func DecodeDecision(b []byte) (Decision, error) {
	var d Decision
	if err := decodeDecision(b, &d); err != nil {
		return Decision{}, wrapError("resolve: invalid decision: "+err.Error(), ErrInvalidDecision, err)
	}
	d.Doc = nullToNil(d.Doc)
	return d, nil
}

var decisionKeys = []string{"action", "delay_ms", "doc", "reason"}

func decodeDecision(b []byte, d *Decision) error {
	r := objectReader{b: b}
	for r.next() {
		val := r.val
		var err error
		k := decisionField(r.key)
		switch k {
		case 0:
			var s []byte
			if s, err = enumBytes(val); s != nil {
				d.Action = actionOf(s)
			}
		case 1:
			err = decodeInt(val, &d.DelayMS, 64)
		case 2:
			d.Doc = decodeDoc(val)
		case 3:
			err = decodeString(val, &d.Reason)
		}
		if err != nil {
			return wrapError(decisionKeys[k]+": "+err.Error(), err)
		}
	}
	return r.err
}

// Validate checks d against the conflict it answers: a known action; a
// delay within [0, MaxDelay] ms and only on a retry; a document on a merge
// and only there, which must be a JSON object whose _id, if present, is the
// conflict's id, and with no other top-level field starting with "_" than
// _id and _rev; a reason of at most MaxReasonBytes of UTF-8. Every error
// matches [ErrInvalidDecision].
func (d Decision) Validate(c *Conflict) error {
	invalid := func(msg string, errs ...error) error {
		return wrapError("resolve: invalid decision: "+msg, append([]error{ErrInvalidDecision}, errs...)...)
	}
	if !d.Action.Valid() {
		return invalid("unknown action " + strconv.Quote(Clip(string(d.Action))))
	}
	if d.DelayMS < 0 || d.DelayMS > MaxDelay {
		return invalid("delay_ms " + strconv.FormatInt(d.DelayMS, 10) + " outside [0, " + strconv.Itoa(MaxDelay) + "]")
	}
	if d.DelayMS != 0 && d.Action != ActionRetry {
		return invalid("delay_ms " + strconv.FormatInt(d.DelayMS, 10) + " on action " + strconv.Quote(string(d.Action)) + " (only retry waits)")
	}
	if len(d.Reason) > MaxReasonBytes {
		return invalid("reason is " + strconv.Itoa(len(d.Reason)) + " bytes, limit " + strconv.Itoa(MaxReasonBytes))
	}
	if !utf8.ValidString(d.Reason) {
		return invalid("reason is not valid UTF-8")
	}
	if d.Action != ActionMerge {
		if d.Doc != nil {
			return invalid("doc on action " + strconv.Quote(string(d.Action)) + " (only merge writes a document)")
		}
		return nil
	}
	if d.Doc == nil {
		return invalid("merge without a doc")
	}
	if i := skipSpace(d.Doc, 0); i == len(d.Doc) || d.Doc[i] != '{' {
		// null too: encoding/json would decode it as no map at all.
		if _, err := decodeTop(d.Doc); err != nil {
			return invalid("merge doc is not a JSON object: "+err.Error(), err)
		}
		return invalid("merge doc is not a JSON object")
	}
	var id []byte // the last _id, as a map would keep it
	var special string
	r := objectReader{b: d.Doc}
	for r.next() {
		if r.key[1] != '_' && r.key[1] != '\\' {
			continue // neither _ nor an escape that could spell it
		}
		switch k := unquote(r.key); {
		case k == "_id":
			id = r.val
		case special == "" && len(k) > 0 && k[0] == '_' && k != "_rev":
			// CouchDB gives the other underscore fields meaning
			// (_deleted turns a write into a delete, _attachments
			// adds files): a merge writes content only.
			special = k
		}
	}
	if r.err != nil {
		return invalid("merge doc is not a JSON object: "+r.err.Error(), r.err)
	}
	if id != nil {
		var s string
		if decodeString(id, &s) != nil || s != c.ID {
			return invalid("merge doc has _id " + Clip(string(id)) + ", the conflict is about " + strconv.Quote(Clip(c.ID)))
		}
	}
	if special != "" {
		return invalid("merge doc has the special field " + strconv.Quote(Clip(special)) + "; only _id and _rev may start with _")
	}
	return nil
}

// EncodeDescription returns the ABI v1 JSON encoding of d, what a
// plugin's accord_describe answers: the bytes json.Marshal writes for it.
func EncodeDescription(d Description) []byte {
	b := append([]byte(nil), `{"name":`...)
	b = appendString(b, d.Name)
	b = append(b, `,"version":`...)
	b = appendString(b, d.Version)
	if d.Description != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, d.Description)
	}
	b = append(b, `,"needs":`...)
	if d.Needs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range d.Needs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, string(n))
		}
		b = append(b, ']')
	}
	if len(d.Actions) > 0 {
		b = append(b, `,"actions":[`...)
		for i, a := range d.Actions {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, string(a))
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// EncodeConfigureResult returns the ABI v1 answer of a plugin's
// accord_configure: {} when err is nil, {"error":"…"} with err's message
// otherwise, as json.Marshal writes it.
func EncodeConfigureResult(err error) []byte {
	if err == nil {
		return []byte("{}")
	}
	b := append([]byte(nil), `{"error":`...)
	b = appendString(b, err.Error())
	return append(b, '}')
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
	return s[:cut] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// nullToNil returns nil for a raw value that is null (or absent).
func nullToNil(m RawJSON) RawJSON {
	if m == nil {
		return nil
	}
	i := skipSpace(m, 0)
	if len(m)-i >= 4 && string(m[i:i+4]) == "null" && skipSpace(m, i+4) == len(m) {
		return nil
	}
	return m
}
