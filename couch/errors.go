package couch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error answer from the server. It keeps CouchDB's own error
// name and reason. Compare it with the sentinels using [errors.Is]:
//
//	if errors.Is(err, couch.ErrConflict) { … }
//
// and read the status with [HTTPStatus].
type Error struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Name is CouchDB's "error" field, such as "conflict" or "not_found".
	Name string
	// Reason is CouchDB's "reason" field.
	Reason string
	// Status is the "status" field of an answer that names no error, as
	// CouchDB's /_up answers 404 {"status":"maintenance_mode"}.
	Status string
}

// The sentinels an [Error] matches, by HTTP status.
var (
	ErrBadRequest         = &Error{StatusCode: http.StatusBadRequest, Name: "bad_request"}
	ErrUnauthorized       = &Error{StatusCode: http.StatusUnauthorized, Name: "unauthorized"}
	ErrForbidden          = &Error{StatusCode: http.StatusForbidden, Name: "forbidden"}
	ErrNotFound           = &Error{StatusCode: http.StatusNotFound, Name: "not_found"}
	ErrMethodNotAllowed   = &Error{StatusCode: http.StatusMethodNotAllowed, Name: "method_not_allowed"}
	ErrConflict           = &Error{StatusCode: http.StatusConflict, Name: "conflict"}
	ErrPreconditionFailed = &Error{StatusCode: http.StatusPreconditionFailed, Name: "file_exists"}
	ErrTooLarge           = &Error{StatusCode: http.StatusRequestEntityTooLarge, Name: "too_large"}
	ErrServerError        = &Error{StatusCode: http.StatusInternalServerError, Name: "internal_server_error"}
)

func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = http.StatusText(e.StatusCode)
	}
	if e.Reason == "" {
		return fmt.Sprintf("%s (%d)", name, e.StatusCode)
	}
	return fmt.Sprintf("%s (%d): %s", name, e.StatusCode, e.Reason)
}

// Is reports whether target is a sentinel with e's status. Every 5xx
// status matches [ErrServerError].
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == ErrServerError {
		return e.StatusCode >= 500
	}
	return t.StatusCode == e.StatusCode
}

// HTTPStatus returns the HTTP status of the first [Error] in err's chain,
// or 0 if there is none (a transport failure, say).
func HTTPStatus(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.StatusCode
	}
	return 0
}

// ErrDatabaseNotFound is matched, beside [ErrNotFound], by the error of
// a request on a database that does not exist: a set-up or operations
// failure, not a missing document.
var ErrDatabaseNotFound = errors.New("database does not exist")

// ErrViewNotFound is matched, beside [ErrNotFound], by the error of a view
// query whose design document or view does not exist in a database that
// does: the design documents were not installed.
var ErrViewNotFound = errors.New("design document or view does not exist")

// ErrInvalidType is matched by the error a model-layer write returns when
// a document lacks a versioned type; see [CheckType].
var ErrInvalidType = errors.New("document type is not versioned")

// decodeError builds an *Error from a non-2xx answer's body.
func decodeError(status int, body []byte) *Error {
	var v struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
		Status string `json:"status"`
	}
	e := &Error{StatusCode: status}
	if json.Unmarshal(body, &v) == nil {
		e.Name, e.Reason = v.Error, v.Reason
		if v.Error == "" {
			e.Status = v.Status
		}
	}
	return e
}
