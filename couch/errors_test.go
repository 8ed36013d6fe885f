package couch_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/accord-db/accord/couch"
)

func TestErrorIs(t *testing.T) {
	tests := []struct {
		err    *couch.Error
		target error
		want   bool
	}{
		{&couch.Error{StatusCode: 409, Name: "conflict", Reason: "Document update conflict."}, couch.ErrConflict, true},
		{&couch.Error{StatusCode: 404, Name: "not_found", Reason: "deleted"}, couch.ErrNotFound, true},
		{&couch.Error{StatusCode: 404}, couch.ErrConflict, false},
		{&couch.Error{StatusCode: 401, Name: "unauthorized"}, couch.ErrUnauthorized, true},
		{&couch.Error{StatusCode: 403, Name: "forbidden"}, couch.ErrForbidden, true},
		{&couch.Error{StatusCode: 412, Name: "file_exists"}, couch.ErrPreconditionFailed, true},
		{&couch.Error{StatusCode: 503, Name: "service_unavailable"}, couch.ErrServerError, true},
		{&couch.Error{StatusCode: 500}, couch.ErrServerError, true},
		{&couch.Error{StatusCode: 400}, couch.ErrServerError, false},
		{&couch.Error{StatusCode: 409}, errors.New("conflict"), false},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("couch: put %q: %w", "x", tt.err)
		if got := errors.Is(wrapped, tt.target); got != tt.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", wrapped, tt.target, got, tt.want)
		}
	}
}

func TestErrorMessageKeepsCouchDBWords(t *testing.T) {
	err := fmt.Errorf("couch: put %q: %w", "x", &couch.Error{StatusCode: 409, Name: "conflict", Reason: "Document update conflict."})
	assert.Equal(t, `couch: put "x": conflict (409): Document update conflict.`, err.Error())
	assert.Equal(t, "Not Found (404)", (&couch.Error{StatusCode: 404}).Error())
}

func TestHTTPStatus(t *testing.T) {
	assert.Equal(t, 409, couch.HTTPStatus(fmt.Errorf("wrapped: %w", &couch.Error{StatusCode: 409})))
	assert.Equal(t, 0, couch.HTTPStatus(errors.New("dial tcp: refused")))
	assert.Equal(t, 0, couch.HTTPStatus(nil))
}

func TestBulkResultErr(t *testing.T) {
	assert.NoError(t, couch.BulkResult{ID: "a", Rev: "1-x"}.Err())
	assert.ErrorIs(t, couch.BulkResult{ID: "a", Error: "conflict", Reason: "Document update conflict."}.Err(), couch.ErrConflict)
	assert.ErrorIs(t, couch.BulkResult{ID: "a", Error: "forbidden"}.Err(), couch.ErrForbidden)
	assert.ErrorIs(t, couch.BulkResult{ID: "a", Error: "weird"}.Err(), couch.ErrServerError)
}
