package couch

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadURL is matched by the errors of [ParseURL] (and of [New] for a
// bad Config.URL). Their messages never quote the URL they refuse, which
// may carry a password.
var ErrBadURL = errors.New("couch: bad URL")

// encodeHint says how to write a password with URL-special characters.
const encodeHint = "percent-encode special characters in the user name and password " +
	"(/ as %2F, ? as %3F, # as %23, @ as %40, : as %3A, % as %25)"

// ParseURL parses a server or database URL such as
// http://admin:secret@127.0.0.1:5984/accord_sample. It is for parsing URLs
// that may hold credentials: its error says what is wrong without quoting
// any of raw, because a password that is not percent-encoded ends up in
// url.Parse's messages ("invalid port \":hunter2\"") or, when the rest
// still parses, in the host, path, query or fragment (a password with a
// '/', '?' or '#' before its '@'). So an '@' anywhere but in the user
// information is refused too. On success, print the URL with
// [url.URL.Redacted] only.
//
// # Errors
//
// The error matches [ErrBadURL].
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid URL; %s", ErrBadURL, encodeHint)
	}
	if u.User == nil && strings.Contains(raw, "@") {
		return nil, fmt.Errorf("%w: an '@' outside the user information; %s", ErrBadURL, encodeHint)
	}
	if u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL with a host, such as %s", ErrBadURL, DefaultURL)
	}
	return u, nil
}

// SplitDatabaseURL splits the URL of a database, its name the last path
// element (http://host:5984/accord_sample), into the server's URL and
// the name. Errors say the URL redacted, and match [ErrBadURL] or
// [ErrInvalidDBName].
func SplitDatabaseURL(raw string) (server *url.URL, name string, err error) {
	u, err := ParseURL(raw)
	if err != nil {
		return nil, "", err
	}
	escaped := strings.TrimSuffix(u.EscapedPath(), "/")
	i := strings.LastIndex(escaped, "/")
	if i < 0 {
		return nil, "", fmt.Errorf("%w: %s: no database name at the end of the path", ErrBadURL, u.Redacted())
	}
	if name, err = url.PathUnescape(escaped[i+1:]); err != nil || name == "" {
		return nil, "", fmt.Errorf("%w: %s: no database name at the end of the path", ErrBadURL, u.Redacted())
	}
	if err := CheckDBName(name); err != nil {
		return nil, "", fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	s := *u
	if s.Path, err = url.PathUnescape(escaped[:i]); err != nil {
		return nil, "", fmt.Errorf("%w: %s: %w", ErrBadURL, u.Redacted(), err)
	}
	s.RawPath = ""
	return &s, name, nil
}
