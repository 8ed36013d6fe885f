package couch

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// typePattern is the shape of a versioned document type: a name without
// white space, "_v", and a major.minor version, such as "fruit_v1.0".
var typePattern = regexp.MustCompile(`^[^\s]+_v\d+\.\d+$`)

// CheckType returns an error matching [ErrInvalidType] unless the JSON
// object doc has a "type" property that is a versioned type name such as
// "fruit_v1.0" (the pattern ^[^\s]+_v\d+\.\d+$). Every write of the model
// layer ([Store]) checks it before sending anything, so that documents of
// different shapes and versions can always be told apart.
func CheckType(doc json.RawMessage) error {
	var v struct {
		Type *json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("%w: document is not a JSON object: %w", ErrInvalidType, err)
	}
	_, err := typeName(v.Type)
	return err
}

// maxTypeEcho bounds how much of a bad "type" value an error repeats: the
// value comes from a client or the database, and errors reach logs and
// HTTP answers.
const maxTypeEcho = 64

// typeName checks a document's "type" property as decoded (nil if the
// document has none) the way [CheckType] does, and returns it.
func typeName(raw *json.RawMessage) (string, error) {
	if raw == nil {
		return "", fmt.Errorf(`%w: document has no "type" property (want a versioned type such as "fruit_v1.0")`, ErrInvalidType)
	}
	var t string
	if err := json.Unmarshal(*raw, &t); err != nil {
		return "", fmt.Errorf(`%w: "type" is %s, not a string`, ErrInvalidType, bounded(string(*raw), maxTypeEcho))
	}
	if !typePattern.MatchString(t) {
		return "", fmt.Errorf(`%w: "type" %q does not match %s (such as "fruit_v1.0")`, ErrInvalidType, bounded(t, maxTypeEcho), typePattern)
	}
	return t, nil
}

// ValidType reports whether name is a versioned type name.
func ValidType(name string) bool { return typePattern.MatchString(name) }
