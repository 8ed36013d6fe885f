package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/accord-db/accord/resolve"
)

// A plugin that lists "diff" in its needs gets, of base, mine, theirs and
// the conflicting leaves, only the fields on which they differ: the host
// compares the documents natively, field by field and into nested
// objects, and sends each document cut down to those fields (and _id and
// _rev). A merge decision's doc is then read the same way: for each field
// sent, its value in the doc, or its removal if the doc leaves it out;
// every other field is theirs'. The host rebuilds the whole document
// before it validates the decision. A merge over 10 KB documents that
// differ in three fields costs the plugin three fields' worth of parsing,
// not 30 KB.
//
// The host sends whole documents when one of them is absent or not a
// JSON object: the plugin must handle both.

// diffNode is where documents differ: a leaf (the whole value differs),
// or an object in every document whose kids differ.
type diffNode struct {
	kids map[string]*diffNode // nil for a leaf
	// theirs is theirs' object at this place, as scanned: applyDiff
	// rebuilds from it without scanning it again.
	theirs rawObject
}

// maxDiffDepth bounds the nesting the diff descends into; deeper values
// are compared and sent whole.
const maxDiffDepth = 32

// diffConflict returns c with its documents cut down to where they
// differ, and the tree of those places; ok is false when c's documents
// cannot be diffed (one is absent or not an object), and c is to be sent
// whole.
func diffConflict(c *resolve.Conflict) (cut *resolve.Conflict, node *diffNode, ok bool) {
	docs := []json.RawMessage{c.Base, c.Mine, c.Theirs}
	docs = append(docs, c.Conflicts...)
	objs := make([]rawObject, len(docs))
	for i, d := range docs {
		if objs[i], ok = scanObject(d); !ok {
			return c, nil, false
		}
	}
	parts, node := diffObjects(objs, 0, true)
	t := *c
	t.Base, t.Mine, t.Theirs = parts[0], parts[1], parts[2]
	if len(c.Conflicts) > 0 {
		t.Conflicts = parts[3:]
	}
	return &t, node, true
}

// rawObject is a JSON object's members as they are written (raw keys,
// quoted, and raw values), sorted by key.
type rawObject []rawMember

type rawMember struct {
	key   []byte // the key, unquoted; escapes undone
	raw   []byte // the key as written, quoted
	value []byte
}

func (o rawObject) get(key []byte) []byte {
	i, ok := slices.BinarySearchFunc(o, key, func(m rawMember, k []byte) int { return bytes.Compare(m.key, k) })
	if !ok {
		return nil
	}
	return o[i].value
}

// diffObjects compares objects and returns each cut down to the members
// where they differ (and, at the top, _id and _rev), and where that is.
func diffObjects(objs []rawObject, depth int, top bool) ([]json.RawMessage, *diffNode) {
	node := &diffNode{kids: map[string]*diffNode{}, theirs: objs[2%len(objs)]}
	// The objects' keys, merged in order (each object is sorted).
	var sorted []rawMember
	for _, o := range objs {
		sorted = mergeKeys(sorted, o)
	}
	parts := make([][]byte, len(objs))
	for i := range parts {
		parts[i] = append(parts[i], '{')
	}
	add := func(i int, key, value []byte) {
		if len(parts[i]) > 1 {
			parts[i] = append(parts[i], ',')
		}
		parts[i] = append(append(append(parts[i], key...), ':'), value...)
	}
	vals := make([][]byte, len(objs))
	for _, km := range sorted {
		k := km.key
		present, equal := 0, true
		for i, o := range objs {
			vals[i] = o.get(k)
			if vals[i] != nil {
				present++
			}
			if i > 0 && !bytes.Equal(vals[i], vals[0]) {
				equal = false
			}
		}
		if top && isMeta(k) {
			for i, v := range vals {
				if v != nil {
					add(i, km.raw, v)
				}
			}
			continue
		}
		if present == len(objs) && equal {
			continue
		}
		if present == len(objs) && depth < maxDiffDepth {
			subs := make([]rawObject, len(objs))
			all := true
			for i, v := range vals {
				if subs[i], all = scanObject(v); !all {
					break
				}
			}
			if all {
				sub, kid := diffObjects(subs, depth+1, false)
				if len(kid.kids) == 0 {
					continue // the same members, written differently
				}
				node.kids[string(k)] = kid
				for i := range parts {
					add(i, km.raw, sub[i])
				}
				continue
			}
		}
		node.kids[string(k)] = &diffNode{}
		for i, v := range vals {
			if v != nil {
				add(i, km.raw, v)
			}
		}
	}
	out := make([]json.RawMessage, len(parts))
	for i, p := range parts {
		out[i] = append(p, '}')
	}
	return out, node
}

// errDiffDoc is the error of a merge doc that does not fit the diff it
// answers.
var errDiffDoc = errors.New("merge doc is not a JSON object where the diff sent one")

// applyDiff rebuilds the whole merged document from theirs and doc, the
// plugin's answer to a diff: where node says the documents differed,
// doc's value or, if doc leaves the field out, no field; elsewhere
// theirs' (but for its special fields other than _id and _rev, which a
// merge does not write); and the fields doc adds. Members come out
// sorted by key.
func applyDiff(theirs, doc json.RawMessage, node *diffNode) (json.RawMessage, error) {
	return applyDiffAt(theirs, doc, node, true)
}

func applyDiffAt(theirs, doc []byte, node *diffNode, top bool) (json.RawMessage, error) {
	base, ok := node.theirs, node.theirs != nil
	if !ok {
		base, ok = scanObject(theirs)
	}
	if !ok {
		return nil, errDiffDoc
	}
	answer, ok := scanObject(doc)
	if !ok {
		return nil, errDiffDoc
	}
	out := make([]rawMember, 0, len(base)+len(answer))
	for _, m := range base {
		if top && len(m.key) > 0 && m.key[0] == '_' && !isMeta(m.key) {
			continue
		}
		kid, listed := node.kids[string(m.key)]
		if !listed {
			out = append(out, m)
			continue
		}
		v := answer.get(m.key)
		switch {
		case v == nil:
			// removed
		case kid.kids != nil && isObject(v) && isObject(m.value):
			sub, err := applyDiffAt(m.value, v, kid, false)
			if err != nil {
				return nil, err
			}
			out = append(out, rawMember{m.key, m.raw, sub})
		default:
			out = append(out, rawMember{m.key, m.raw, v})
		}
	}
	for _, m := range answer {
		if top && isMeta(m.key) {
			continue
		}
		if base.get(m.key) == nil {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b rawMember) int { return bytes.Compare(a.key, b.key) })
	b := make([]byte, 0, len(theirs)+len(doc))
	b = append(b, '{')
	for i, m := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, m.raw...), ':'), m.value...)
	}
	return append(b, '}'), nil
}

func isObject(v []byte) bool {
	v = bytes.TrimLeft(v, " \t\r\n")
	return len(v) > 0 && v[0] == '{'
}

// scanObject splits a JSON object into its members without decoding the
// values; ok is false if b is not a well-formed object (the values are
// checked only as far as finding where they end: b comes from the
// database or the host and was decoded before). A duplicate key makes it
// fail: which one counts is not agreed between parsers.
func scanObject(b []byte) (rawObject, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipWS(b, i+1)
	o := make(rawObject, 0, 16)
	if i < len(b) && b[i] == '}' {
		return o, skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		end, ok := endOfString(b, i)
		if !ok {
			return nil, false
		}
		raw := b[i:end]
		key := raw[1 : len(raw)-1]
		if bytes.IndexByte(raw, '\\') >= 0 {
			var k string
			if json.Unmarshal(raw, &k) != nil {
				return nil, false
			}
			key = []byte(k)
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		vend, ok := endOfValue(b, i)
		if !ok {
			return nil, false
		}
		o = append(o, rawMember{key: key, raw: raw, value: b[i:vend]})
		i = skipWS(b, vend)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == '}' {
			if skipWS(b, i+1) != len(b) {
				return nil, false
			}
			slices.SortStableFunc(o, func(x, y rawMember) int { return bytes.Compare(x.key, y.key) })
			for j := 1; j < len(o); j++ {
				if bytes.Equal(o[j].key, o[j-1].key) {
					return nil, false
				}
			}
			return o, true
		}
		if b[i] != ',' {
			return nil, false
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the string starting at b[i] == '"'.
func endOfString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		j += k
		// The quote ends the string unless an odd number of
		// backslashes escapes it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, true
		}
		j++
	}
	return 0, false
}

// isMeta says whether a top-level key is _id or _rev.
func isMeta(k []byte) bool { return string(k) == "_id" || string(k) == "_rev" }

// mergeKeys merges the members of o into sorted (both sorted by key),
// keeping one member per key.
func mergeKeys(sorted []rawMember, o rawObject) []rawMember {
	out := make([]rawMember, 0, len(sorted)+len(o))
	i, j := 0, 0
	for i < len(sorted) || j < len(o) {
		switch {
		case j == len(o) || i < len(sorted) && bytes.Compare(sorted[i].key, o[j].key) < 0:
			out = append(out, sorted[i])
			i++
		case i == len(sorted) || bytes.Compare(sorted[i].key, o[j].key) > 0:
			out = append(out, o[j])
			j++
		default:
			out = append(out, sorted[i])
			i++
			j++
		}
	}
	return out
}

// endOfValue returns the index after the JSON value starting at b[i].
func endOfValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := endOfString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
				if depth > 10000 {
					return 0, false
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}
