package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// Sealer transforms the documents of a [Store] on their way to and from
// the database: Seal sees every document the store writes (creates,
// updates, and merges a resolver answered), just before it is sent;
// Open sees every document the store reads, before it is decoded or
// shown to a resolver. Packages couch/tamper (signing) and couch/secure
// (hashed and encrypted properties) provide Sealers; [Seals] chains them.
//
// Both get the document's id and its JSON object, _id and _rev included,
// and return the object to send or to use. Open returns an error for a
// document that must not be used (it failed verification, or cannot be
// decrypted); the store then refuses the document (see [ErrRefused]).
// Deletions are not sealed. A Sealer must be safe for concurrent use.
type Sealer interface {
	Seal(id string, doc []byte) ([]byte, error)
	Open(id string, doc []byte) ([]byte, error)
}

// Seals chains sealers: Seal runs them in order, Open in the reverse
// order, so that the first one sees the model's plain document both ways
// (encrypt, then sign; verify, then decrypt).
func Seals(s ...Sealer) Sealer { return chain(s) }

type chain []Sealer

func (c chain) Seal(id string, doc []byte) ([]byte, error) {
	var err error
	for _, s := range c {
		if doc, err = s.Seal(id, doc); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func (c chain) Open(id string, doc []byte) ([]byte, error) {
	var err error
	for i := len(c) - 1; i >= 0; i-- {
		if doc, err = c[i].Open(id, doc); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// ErrRefused is matched by the error of a read whose document the
// store's [Sealer] refused: it failed verification (tampered with, or
// unsigned) or could not be opened. Such a document is never returned:
// [Store.Get] and the writes fail with a [*RefusedError], and
// [Store.Query] leaves it out. Each refusal is an alarm: an ERROR log
// line naming the document, and a count in [Stats.Refused].
var ErrRefused = errors.New("document refused")

// RefusedError is a document the store's [Sealer] refused on read. It
// matches [ErrRefused], and through Unwrap the Sealer's own error (such
// as tamper.ErrTampered).
type RefusedError struct {
	ID  string
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("document %q refused: %v", bounded(e.ID, 128), e.Err)
}

// Unwrap returns the Sealer's error.
func (e *RefusedError) Unwrap() error { return e.Err }

// Is makes every RefusedError match [ErrRefused].
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// seal passes a document to be written through the store's Sealer.
func (s *Store[T]) seal(id string, doc json.RawMessage) (json.RawMessage, error) {
	if s.sealer == nil {
		return doc, nil
	}
	out, err := s.sealer.Seal(id, doc)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}

// sealAttempt seals a.mine, keeping the plain document for the resolver.
func (s *Store[T]) sealAttempt(a *attempt) error {
	if s.sealer == nil {
		return nil
	}
	sealed, err := s.seal(a.id, a.mine)
	if err != nil {
		return err
	}
	a.plain, a.mine = a.mine, sealed
	return nil
}

// open passes a document read through the store's Sealer; a document it
// refuses raises the alarm and gives a *RefusedError.
func (s *Store[T]) open(ctx context.Context, id string, doc json.RawMessage) (json.RawMessage, error) {
	if s.sealer == nil {
		return doc, nil
	}
	out, err := s.sealer.Open(id, doc)
	if err != nil {
		s.stats.docRefused()
		s.logger.LogAttrs(ctx, slog.LevelError, "document refused: it failed verification or could not be opened; it may have been tampered with in the database",
			slog.String("db", s.db.name), slog.String("id", bounded(id, 128)), slog.String("error", bounded(err.Error(), 512)))
		return nil, &RefusedError{ID: id, Err: err}
	}
	return out, nil
}

// Query reads the documents the view ddoc/view emits for q (include_docs
// is always on), opens each through the store's Sealer and decodes it.
// A document the Sealer refuses is left out, and raises the alarm (see
// [ErrRefused]); rows without a document are skipped. The documents are
// in the view's order.
func (s *Store[T]) Query(ctx context.Context, ddoc, view string, q ViewQuery) ([]Doc[T], error) {
	q.IncludeDocs = true
	res, err := s.db.Query(ctx, ddoc, view, q)
	if err != nil {
		return nil, fmt.Errorf("couch: query: %w", err)
	}
	out := make([]Doc[T], 0, len(res.Rows))
	for _, r := range res.Rows {
		if r.Doc == nil || string(r.Doc) == "null" {
			continue
		}
		var meta struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(r.Doc, &meta); err != nil || meta.ID == "" {
			return nil, fmt.Errorf("couch: query %s/%s: a row's document has no _id", ddoc, view)
		}
		raw, err := s.open(ctx, meta.ID, r.Doc)
		if errors.Is(err, ErrRefused) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("couch: query: %w", err)
		}
		d, err := s.decode(meta.ID, raw)
		if err != nil {
			return nil, fmt.Errorf("couch: query %q: %w", meta.ID, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// docRefused counts a document refused by a Sealer.
func (s *Stats) docRefused() {
	if s != nil {
		s.refused.Add(1)
	}
}

// Refused returns how many documents the Sealers of the [Store]s sharing
// s refused on read (see [ErrRefused]): the tamper alarms.
func (s *Stats) Refused() int64 {
	if s == nil {
		return 0
	}
	return s.refused.Load()
}
