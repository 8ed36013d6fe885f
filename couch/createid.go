package couch

import (
	"context"
	"errors"
	"fmt"
)

// CreateWithID writes v as a new document under the id the caller
// chose, and returns it; otherwise it is [Store.Create]. A document id
// derived from the key the documents are looked up by (a fruit's
// fruit_id, say) lets a point read be one document GET rather than a
// view query: see [ByIDOr].
//
// The id must be new: if a document has it already, the write fails
// with an error matching [ErrConflict] and nothing is changed. As with
// Create, a create whose answer was lost and whose resend was refused is
// taken for ours (checked against what we sent while the document is at
// its first revision); that is sound for an id nobody else writes, such
// as a fresh random one (the fruit service's fruit_id is 128 random
// bits), not for an id others may choose too.
func (s *Store[T]) CreateWithID(ctx context.Context, id string, v T) (Doc[T], error) {
	if err := checkID(id); err != nil {
		return Doc[T]{}, fmt.Errorf("couch: create: %w", err)
	}
	body, err := s.encode(v, id, "")
	if err == nil {
		body, err = s.seal(id, body)
	}
	if err != nil {
		return Doc[T]{}, fmt.Errorf("couch: create %q: %w", id, err)
	}
	rev, err := s.db.Put(ctx, id, body)
	if errors.Is(err, ErrAmbiguous) && errors.Is(err, ErrConflict) {
		rev, err = s.landedCreate(ctx, id, body)
	}
	if err != nil {
		return Doc[T]{}, fmt.Errorf("couch: create %q: %w", id, err)
	}
	return Doc[T]{ID: id, Rev: rev, Value: v}, nil
}
