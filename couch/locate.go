package couch

import (
	"context"
	"encoding/json"
	"errors"
)

// ByIDOr finds a document by its id when that is cheap and right, and
// through fallback otherwise: it reads the document id (one document
// GET, what a point read costs) and takes it if match accepts it; if
// there is no such document, or match refuses it, it asks fallback.
//
// It is for documents whose id is usually derived from the key a view
// finds them by (as the fruit service writes a fruit under _id =
// fruit_id), while documents written with other ids must still be found
// through the view:
//
//	loc := couch.ByIDOr(fruitID, hasFruitID(fruitID),
//		couch.ByView("fruit_by_fruit_id", "fruit_by_fruit_id", fruitID))
//
// match sees the document as stored, before the store's [Sealer] opens
// it, and must accept only a document fallback could have found under
// the same key (check the field the view emits), or the two ways would
// find different documents. A nil match accepts any document.
//
// A missing document costs two requests (the GET's 404, then fallback);
// a missing database fails at once with [ErrDatabaseNotFound].
func ByIDOr(id string, match func(doc json.RawMessage) bool, fallback Locator) Locator {
	return byIDOr{id: id, match: match, fallback: fallback}
}

type byIDOr struct {
	id       string
	match    func(json.RawMessage) bool
	fallback Locator
}

func (l byIDOr) label() string { return l.fallback.label() }

func (l byIDOr) locate(ctx context.Context, db *DB) (string, json.RawMessage, error) {
	var raw json.RawMessage
	err := db.Get(ctx, l.id, &raw)
	switch {
	case err == nil && (l.match == nil || l.match(raw)):
		return l.id, raw, nil
	case err == nil, errors.Is(err, ErrNotFound) && !errors.Is(err, ErrDatabaseNotFound):
		return l.fallback.locate(ctx, db)
	}
	return "", nil, err
}
