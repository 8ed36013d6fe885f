package resolve

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MergeRule names how the merge strategy settles one field that both
// sides of a conflict hold.
type MergeRule string

// The merge rules. "mine" is the document the conflicting writer tried to
// write, "theirs" the current revision, "base" the revision both started
// from.
const (
	// MergeLatestBy takes the value of the side whose [FieldRule.By]
	// field is the greater (see [CompareJSON]), when both sides changed
	// the field; when only one did, its value. A tie on By takes the
	// greater of the two values, so the result does not depend on which
	// side is called mine.
	MergeLatestBy MergeRule = "latest_by"
	// MergeMax takes the greater value of mine and theirs.
	MergeMax MergeRule = "max"
	// MergeMin takes the lesser value of mine and theirs.
	MergeMin MergeRule = "min"
	// MergeUnion merges arrays as sets: every element of mine or theirs,
	// but for an element of base that one side removed; duplicates (equal
	// as canonical JSON) once; sorted by [CompareJSON]. An absent array
	// is empty.
	MergeUnion MergeRule = "union"
	// MergeCounter adds both sides' increments: mine + theirs - base,
	// exactly (decimal numbers of at most [MaxMergeNumberBytes]). An
	// absent value, base included, counts as 0, and the decision's reason
	// says so when base was.
	MergeCounter MergeRule = "counter"
	// MergeMine takes mine's value (or its absence).
	MergeMine MergeRule = "mine"
	// MergeTheirs takes theirs' value (or its absence).
	MergeTheirs MergeRule = "theirs"
)

// FieldRule is how one field is merged.
type FieldRule struct {
	// Rule is the rule's name.
	Rule MergeRule
	// By is the dotted path, from the document's root, of the field that
	// MergeLatestBy compares; empty for the other rules.
	By string
}

func (r FieldRule) String() string {
	if r.Rule == MergeLatestBy {
		return string(r.Rule) + " " + r.By
	}
	return string(r.Rule)
}

// MergeParams configures the merge strategy: a three-way, field-level
// merge of base, mine and theirs. The zero value merges every field by
// the default rule.
type MergeParams struct {
	// Fields maps a dotted path ("color", "address.city") to its rule.
	// Path segments cannot contain dots or start a top-level field with
	// "_"; a path cannot lie under another listed path.
	Fields map[string]FieldRule
	// Default settles a field no rule lists, when both sides changed it
	// to different values; a field only one side changed takes that
	// side's value, and a field that is an object on both sides is merged
	// field by field. The zero value means MergeMine: the conflicting
	// writer's change wins, as a retry would have it.
	Default FieldRule
	// MaxRetries is how many conflicts the strategy answers, with a merge
	// or (for a delete, or a document deleted meanwhile) a retry, before
	// giving up. Zero means DefaultMaxRetries; a negative value means
	// never.
	MaxRetries int
	// OnBaseMissing says what to do when a replication conflict's common
	// ancestor has no body on this server (Conflict.BaseMissing):
	// CouchDB's replication copies leaves only, and compaction removes
	// the others, so it happens. [BaseMissingLeave] (the zero value)
	// fails the decision, and the sweeper leaves the conflict for a
	// replica that has the ancestor, or for an operator; [BaseMissingMerge]
	// merges without a base, which counts a counter's common part twice.
	OnBaseMissing string
}

// The values of [MergeParams.OnBaseMissing].
const (
	BaseMissingLeave = "leave"
	BaseMissingMerge = "merge"
)

// The bounds of the merge strategy's parameters and inputs.
const (
	// MaxMergeFields is how many field rules the params may list.
	MaxMergeFields = 256
	// MaxMergePathBytes is the longest dotted path a rule may name.
	MaxMergePathBytes = 256
	// MaxMergeDepth is how deep documents may nest objects and arrays.
	MaxMergeDepth = 64
	// MaxMergeNumberBytes is the longest number the merge compares or
	// adds; a longer one fails the merge.
	MaxMergeNumberBytes = 64
)

// ErrMerge is matched by every error [MergeDocs] returns: the documents
// cannot be merged by the rules (a counter that is not a number, a
// document that is not an object, a bound passed).
var ErrMerge = errors.New("cannot merge")

// MergeDescription describes the merge strategy.
var MergeDescription = Description{
	Name:        "merge",
	Version:     "1.0.0",
	Description: "merges base, mine and theirs field by field (latest_by, max, min, union, counter, mine, theirs)",
	Needs:       []Need{NeedBase, NeedMine, NeedTheirs, NeedDiff},
	Actions:     []Action{ActionMerge, ActionRetry, ActionFail},
}

// ParseMergeParams decodes the merge strategy's JSON parameters:
//
//	{"fields": {"color": {"latest_by": "updated_on"}, "updated_on": "max", "tastings": "counter"},
//	 "default": "mine", "max_retries": 20, "on_base_missing": "leave"}
//
// A rule is a rule's name, or {"latest_by": path}. Unknown keys, unknown
// rules and paths past the bounds are errors.
func ParseMergeParams(raw []byte) (MergeParams, error) {
	var in struct {
		Fields      map[string]RawJSON
		Default     RawJSON
		MaxRetries  *int
		BaseMissing string
	}
	err := decodeParams(raw, []paramField{
		{"fields", func(v []byte) error {
			if v[0] == 'n' {
				in.Fields = nil
				return nil
			}
			if in.Fields == nil {
				in.Fields = map[string]RawJSON{}
			}
			// A second "fields" adds to the first, as encoding/json
			// decodes into the map it already made.
			return jsonObject(v, func(key []byte, start, end int) error {
				in.Fields[unquote(key)] = decodeRaw(v[start:end])
				return nil
			})
		}},
		{"default", func(v []byte) error { in.Default = decodeRaw(v); return nil }},
		{"max_retries", optInt(&in.MaxRetries)},
		{"on_base_missing", func(v []byte) error { return decodeString(v, &in.BaseMissing) }},
	})
	if err != nil {
		return MergeParams{}, errorf("merge params: %w", err)
	}
	var p MergeParams
	if len(in.Fields) > MaxMergeFields {
		return MergeParams{}, errorf("merge params: %d fields, at most %d", len(in.Fields), MaxMergeFields)
	}
	if len(in.Fields) > 0 {
		p.Fields = make(map[string]FieldRule, len(in.Fields))
	}
	for path, rawRule := range in.Fields {
		r, err := parseRule(rawRule)
		if err != nil {
			return MergeParams{}, errorf("merge params: field %q: %w", Clip(path), err)
		}
		p.Fields[path] = r
	}
	if in.Default != nil {
		r, err := parseRule(in.Default)
		if err != nil {
			return MergeParams{}, errorf("merge params: default: %w", err)
		}
		p.Default = r
	}
	if in.MaxRetries != nil {
		p.MaxRetries = explicit(*in.MaxRetries)
	}
	p.OnBaseMissing = in.BaseMissing
	return p, p.validate()
}

// errRuleForm is the error of a rule that is neither a name nor
// {"latest_by": path}.
var errRuleForm = errors.New(`a rule is a name ("max", "min", "union", "counter", "mine", "theirs") or {"latest_by": "field"}`)

// parseRule decodes one rule: "max", or {"latest_by": "path"}. raw is a
// value the params' decoder accepted.
func parseRule(raw RawJSON) (FieldRule, error) {
	if raw[0] == '"' || raw[0] == 'n' {
		// A name; null decodes as no name, which validate refuses, as
		// encoding/json decoding null into a string leaves it empty.
		var name string
		_ = decodeString(raw, &name)
		if name == string(MergeLatestBy) {
			return FieldRule{}, errors.New(`latest_by needs its field: {"latest_by": "updated_on"}`)
		}
		return FieldRule{Rule: MergeRule(name)}, nil
	}
	var latestBy *string
	if err := decodeParams(raw, []paramField{{"latest_by", optString(&latestBy)}}); err != nil || raw[0] != '{' || latestBy == nil {
		return FieldRule{}, errRuleForm
	}
	return FieldRule{Rule: MergeLatestBy, By: *latestBy}, nil
}

func (p MergeParams) validate() error {
	switch p.OnBaseMissing {
	case "", BaseMissingLeave, BaseMissingMerge:
	default:
		return errorf("merge params: on_base_missing %q is not leave or merge", Clip(p.OnBaseMissing))
	}
	if p.MaxRetries > 1000 {
		return errorf("merge params: max_retries %d is more than 1000", p.MaxRetries)
	}
	if len(p.Fields) > MaxMergeFields {
		return errorf("merge params: %d fields, at most %d", len(p.Fields), MaxMergeFields)
	}
	for _, path := range sortedKeys(p.Fields) {
		if err := checkPath(path); err != nil {
			return errorf("merge params: field %q: %w", Clip(path), err)
		}
		if err := p.Fields[path].validate(); err != nil {
			return errorf("merge params: field %q: %w", Clip(path), err)
		}
		for other := range p.Fields {
			if strings.HasPrefix(path, other+".") {
				return errorf("merge params: field %q lies under field %q, which has its own rule", Clip(path), Clip(other))
			}
		}
	}
	if p.Default.Rule != "" {
		if err := p.Default.validate(); err != nil {
			return errorf("merge params: default: %w", err)
		}
	}
	return nil
}

func (r FieldRule) validate() error {
	switch r.Rule {
	case MergeLatestBy:
		return checkPath(r.By)
	case MergeMax, MergeMin, MergeUnion, MergeCounter, MergeMine, MergeTheirs:
		if r.By != "" {
			return errorf("rule %q takes no field", string(r.Rule))
		}
		return nil
	}
	return errorf("unknown rule %q (want latest_by, max, min, union, counter, mine or theirs)", Clip(string(r.Rule)))
}

// checkPath checks a dotted field path.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("empty path")
	case len(path) > MaxMergePathBytes:
		return errorf("path of %d bytes, at most %d", len(path), MaxMergePathBytes)
	case !utf8.ValidString(path):
		return errors.New("path is not valid UTF-8")
	case strings.HasPrefix(path, "_"):
		return errors.New("fields starting with _ are CouchDB's: they come from theirs")
	case strings.Count(path, ".") >= MaxMergeDepth:
		return errorf("path deeper than %d", MaxMergeDepth)
	}
	if slices.Contains(strings.Split(path, "."), "") {
		return errors.New("empty segment in path")
	}
	return nil
}

func (p MergeParams) maxRetries() int { return orDefault(p.MaxRetries, DefaultMaxRetries) }

// Decide is the merge strategy. It answers a conflicting update with a
// merge of base, mine and theirs by [MergeDocs]; a delete, or an update of
// a document deleted meanwhile, with a retry (a merge cannot delete, and
// the store's re-read will see the deletion); documents it cannot merge
// (see [ErrMerge]) with a failure. After MaxRetries conflicts it gives up.
func (p MergeParams) Decide(c *Conflict) Decision {
	n := p.maxRetries()
	if c.Attempt > n {
		return giveUp(c, n)
	}
	// A host may hand over an absent document as null.
	base, mine, theirs := nullToNil(c.Base), nullToNil(c.Mine), nullToNil(c.Theirs)
	if c.Op == OpDelete || mine == nil || theirs == nil {
		why := "the document was deleted meanwhile"
		switch {
		case c.Op == OpDelete:
			why = "a delete is retried, not merged"
		case mine == nil:
			why = "no document of ours to merge"
		}
		return Decision{Action: ActionRetry, Reason: "retry " + strconv.Itoa(c.Attempt) + " of " + strconv.Itoa(n) + ": " + why}
	}
	if c.BaseMissing && p.OnBaseMissing != BaseMissingMerge {
		return Decision{Action: ActionFail, Reason: "conflict on " + strconv.Quote(Clip(c.ID)) +
			": the common ancestor's body is gone (base_missing); merging without it would count what both sides share twice, so it is left (on_base_missing: merge merges anyway)"}
	}
	doc, notes, err := MergeDocs(base, mine, theirs, p)
	if err != nil {
		return Decision{Action: ActionFail, Reason: "conflict on " + strconv.Quote(Clip(c.ID)) + ": " + Clip(err.Error())}
	}
	reason := "merged on conflict " + strconv.Itoa(c.Attempt)
	if base == nil {
		reason += ", without a base"
		if c.BaseMissing {
			reason += " (base_missing)"
		}
	}
	if len(notes) > 0 {
		reason += ": " + strings.Join(notes, "; ")
	}
	if len(reason) > MaxReasonBytes {
		reason = Clip(reason)
	}
	return Decision{Action: ActionMerge, Doc: doc, Reason: reason}
}

// maxMergeNotes bounds how many notes MergeDocs returns.
const maxMergeNotes = 8

// MergeDocs merges three JSON objects field by field, by the rules of p
// (see [MergeParams] and [MergeRule]); base may be nil (no common
// ancestor: every field is then "changed" on both sides). It is the merge
// strategy's engine, for plugin authors to reuse.
//
// The result is a compact JSON object, the same bytes for the same inputs
// on every host: keys sorted, values copied from the inputs as they were
// written (numbers exact), but for counters. Its _id and _rev are
// theirs' (the store writes it on theirs' revision); other
// fields starting with "_" are left out (the store keeps theirs'
// _attachments). notes say what the merge assumed (a counter without a
// base, counted from 0), at most 8 of them, each bounded.
//
// # Errors
//
// Every error matches [ErrMerge].
func MergeDocs(base, mine, theirs RawJSON, p MergeParams) (doc RawJSON, notes []string, err error) {
	a := getArena()
	defer putArena(a)
	m := merger{p: p, a: a}
	for path := range p.Fields {
		if strings.IndexByte(path, '.') >= 0 {
			m.nested = true
			break
		}
	}
	var b, mi, th *jsonValue
	if base != nil {
		if b, err = parseObject(a, base, "base"); err != nil {
			return nil, nil, err
		}
	}
	if mi, err = parseObject(a, mine, "mine"); err != nil {
		return nil, nil, err
	}
	if th, err = parseObject(a, theirs, "theirs"); err != nil {
		return nil, nil, err
	}
	m.root = [3]*jsonValue{b, mi, th}
	out, err := m.object("", b, mi, th, 0)
	if err != nil {
		return nil, nil, err
	}
	return out.appendTo(make([]byte, 0, len(theirs)+len(mine)/8)), m.notes, nil
}

func parseObject(a *arena, raw RawJSON, side string) (*jsonValue, error) {
	v, err := parseJSON(a, raw)
	if err != nil {
		return nil, errorf("resolve: %w: %s: %w", ErrMerge, side, err)
	}
	if v.kind != kindObject {
		return nil, errorf("resolve: %w: %s is not a JSON object", ErrMerge, side)
	}
	return v, nil
}

// merger holds one merge's state.
type merger struct {
	p      MergeParams
	a      *arena
	nested bool          // a rule's path has a dot: hasRulesUnder must look
	root   [3]*jsonValue // base, mine, theirs
	notes  []string
}

func (m *merger) note(s string) {
	if len(m.notes) < maxMergeNotes {
		m.notes = append(m.notes, Clip(s))
	}
}

// hasRulesUnder reports whether a rule names a path under prefix.
func (m *merger) hasRulesUnder(prefix string) bool {
	if !m.nested {
		return false
	}
	for path := range m.p.Fields {
		if len(path) > len(prefix) && path[len(prefix)] == '.' && path[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// object merges three objects (base may be nil) found at path. Their
// fields are sorted and their keys unique (see expand): it walks the
// three lists in step, in key order.
func (m *merger) object(path string, base, mine, theirs *jsonValue, depth int) (*jsonValue, error) {
	if depth >= MaxMergeDepth {
		return nil, errorf("resolve: %w: objects nested deeper than %d", ErrMerge, MaxMergeDepth)
	}
	var lists [3][]field
	n := 0
	for i, v := range [3]*jsonValue{base, mine, theirs} {
		if v != nil {
			v.expand()
			lists[i] = v.fields
			n += len(v.fields)
		}
	}
	out := m.a.value(jsonValue{kind: kindObject, expanded: true})
	fields := m.a.reserveFields(n)
	for {
		// The least key at the head of a list, and each list's value
		// for it.
		key, found := "", false
		for _, l := range lists {
			if len(l) > 0 && (!found || l[0].key < key) {
				key, found = l[0].key, true
			}
		}
		if !found {
			break
		}
		var vals [3]*jsonValue
		for i, l := range lists {
			if len(l) > 0 && l[0].key == key {
				vals[i] = l[0].val
				lists[i] = l[1:]
			}
		}
		bv, mv, tv := vals[0], vals[1], vals[2]
		if path == "" && strings.HasPrefix(key, "_") {
			if (key == "_id" || key == "_rev") && tv != nil {
				fields = append(fields, field{key, tv})
			}
			continue
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		v, err := m.field(p, bv, mv, tv, depth)
		if err != nil {
			return nil, err
		}
		if v != nil {
			fields = append(fields, field{key, v})
		}
	}
	out.fields = fields
	return out, nil
}

// field merges the values of one field (nil: absent) at path.
func (m *merger) field(path string, base, mine, theirs *jsonValue, depth int) (*jsonValue, error) {
	if r, ok := m.p.Fields[path]; ok && !strings.Contains(path, "._") {
		return m.apply(path, r, base, mine, theirs)
	}
	rulesUnder := m.hasRulesUnder(path)
	if !rulesUnder && (sameBytes(mine, theirs) || sameBytes(base, mine)) {
		// Unchanged on one side, written alike: no need to look inside.
		return theirs, nil
	}
	if !rulesUnder && sameBytes(base, theirs) {
		return mine, nil
	}
	bothObjects := mine != nil && theirs != nil && mine.kind == kindObject && theirs.kind == kindObject &&
		(base == nil || base.kind == kindObject)
	if bothObjects {
		return m.object(path, base, mine, theirs, depth+1)
	}
	if rulesUnder && (mine == nil || mine.kind == kindObject) && (theirs == nil || theirs.kind == kindObject) &&
		(base == nil || base.kind == kindObject) {
		return m.object(path, base, mine, theirs, depth+1)
	}
	if v, settled := threeWay(base, mine, theirs); settled {
		return v, nil
	}
	def := m.p.Default
	if def.Rule == "" {
		def.Rule = MergeMine
	}
	return m.apply(path, def, base, mine, theirs)
}

// threeWay settles a field that at most one side changed: it returns
// that side's value. It reports false when both changed it differently.
func threeWay(base, mine, theirs *jsonValue) (*jsonValue, bool) {
	switch {
	case equalJSON(mine, theirs):
		return theirs, true
	case equalJSON(base, mine):
		return theirs, true
	case equalJSON(base, theirs):
		return mine, true
	}
	return nil, false
}

// apply merges a field by the rule r.
func (m *merger) apply(path string, r FieldRule, base, mine, theirs *jsonValue) (*jsonValue, error) {
	switch r.Rule {
	case MergeMine:
		return mine, nil
	case MergeTheirs:
		return theirs, nil
	case MergeMax, MergeMin:
		c, err := compareJSON(mine, theirs)
		if err != nil {
			return nil, errorf("resolve: %w: field %q: %w", ErrMerge, Clip(path), err)
		}
		if (c > 0) == (r.Rule == MergeMax) && c != 0 {
			return mine, nil
		}
		return theirs, nil
	case MergeLatestBy:
		if v, settled := threeWay(base, mine, theirs); settled {
			return v, nil
		}
		c, err := compareJSON(m.root[1].at(r.By), m.root[2].at(r.By))
		if err == nil && c == 0 {
			c, err = compareJSON(mine, theirs)
		}
		if err != nil {
			return nil, errorf("resolve: %w: field %q: %w", ErrMerge, Clip(path), err)
		}
		if c > 0 {
			return mine, nil
		}
		return theirs, nil
	case MergeCounter:
		return m.counter(path, base, mine, theirs)
	case MergeUnion:
		return m.union(path, base, mine, theirs)
	}
	return nil, errorf("resolve: %w: field %q: unknown rule %q", ErrMerge, Clip(path), Clip(string(r.Rule)))
}

// counter is mine + theirs - base, absent values counting as 0.
func (m *merger) counter(path string, base, mine, theirs *jsonValue) (*jsonValue, error) {
	if base == nil {
		m.note("counter " + path + " had no base value, counted from 0")
	}
	if sum, ok := smallCounter(mine, theirs, base); ok {
		// Integers of up to 18 digits, the usual counters, add as
		// int64s, which cannot overflow three of them; the sum is what
		// the decimal below would write.
		start := len(m.a.bytes)
		m.a.bytes = strconv.AppendInt(m.a.bytes, sum, 10)
		return m.a.value(jsonValue{kind: kindNumber, raw: m.a.bytes[start:len(m.a.bytes):len(m.a.bytes)]}), nil
	}
	var sum decimal
	scale := 0
	for i, v := range []*jsonValue{mine, theirs, base} {
		if v == nil {
			continue
		}
		if v.kind != kindNumber {
			return nil, errorf("resolve: %w: counter %q is not a number", ErrMerge, Clip(path))
		}
		r, s, err := parseNumber(v.raw)
		if err != nil {
			return nil, errorf("resolve: %w: counter %q: %w", ErrMerge, Clip(path), err)
		}
		scale = max(scale, s)
		if i == 2 && len(r.digits) > 0 {
			r.neg = !r.neg
		}
		sum = addDecimal(sum, r)
	}
	return m.a.value(jsonValue{kind: kindNumber, raw: []byte(sum.format(scale))}), nil
}

// smallCounter is mine + theirs - base when each is absent or an integer
// of at most 18 digits; ok is false otherwise.
func smallCounter(mine, theirs, base *jsonValue) (sum int64, ok bool) {
	for i, v := range [3]*jsonValue{mine, theirs, base} {
		if v == nil {
			continue
		}
		if v.kind != kindNumber {
			return 0, false
		}
		x, ok := smallInt(v.raw)
		if !ok {
			return 0, false
		}
		if i == 2 {
			x = -x
		}
		sum += x
	}
	return sum, true
}

// union merges arrays as sets.
func (m *merger) union(path string, base, mine, theirs *jsonValue) (*jsonValue, error) {
	var elems [3][]*jsonValue
	for i, v := range []*jsonValue{base, mine, theirs} {
		if v == nil {
			continue
		}
		if v.kind != kindArray {
			return nil, errorf("resolve: %w: union %q is not an array", ErrMerge, Clip(path))
		}
		v.expand()
		elems[i] = v.elems
	}
	contains := func(list []*jsonValue, v *jsonValue) bool {
		return slices.ContainsFunc(list, func(e *jsonValue) bool { return equalJSON(e, v) })
	}
	out := m.a.reserveElems(len(elems[1]) + len(elems[2]))
	for _, side := range [][]*jsonValue{elems[1], elems[2]} {
		for _, e := range side {
			if contains(out, e) {
				continue
			}
			// Removed by one side: in base, missing from mine or theirs.
			if contains(elems[0], e) && (!contains(elems[1], e) || !contains(elems[2], e)) {
				continue
			}
			out = append(out, e)
		}
	}
	var cmpErr error
	slices.SortStableFunc(out, func(a, b *jsonValue) int {
		c, err := compareJSON(a, b)
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		return c
	})
	if cmpErr != nil {
		return nil, errorf("resolve: %w: union %q: %w", ErrMerge, Clip(path), cmpErr)
	}
	return m.a.value(jsonValue{kind: kindArray, expanded: true, elems: out}), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
