package couch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/accord-db/accord/resolve"
)

// DefaultMaxAttempts is the hard cap on the writes one [Store] call makes.
const DefaultMaxAttempts = 100

// StoreConfig configures a [Store]. Type is required; every other field
// has a default, and with the default resolver the store gives up on the
// first conflict.
type StoreConfig struct {
	// Type is the versioned type every document of the store carries,
	// such as "fruit_v1.0". Writes of documents with another type are
	// refused before anything is sent. Required.
	Type string
	// Resolver decides what to do about each conflicting write. If it
	// implements [resolve.Describer], the store reads only the documents
	// its description needs. Default: [resolve.Basic], which gives up at
	// once.
	Resolver resolve.Resolver
	// MaxAttempts caps the writes one call makes, whatever the resolver
	// decides. Default DefaultMaxAttempts.
	MaxAttempts int
	// Stats, if set, counts conflicts and decisions. Stores may share
	// one.
	Stats *Stats
	// Logger receives a line per conflict, as the seed's samples logged
	// them. Default: slog.Default().
	Logger *slog.Logger
	// Sealer, if set, sees every document the store writes, just before
	// it is sent, and every document it reads, before anything else does
	// (signing and verification, encryption of sensitive properties; see
	// [Sealer]). Default: none.
	Sealer Sealer
	// Sweeper, if set, settles the document when a write answered 202
	// Accepted is not the winner (see [ErrNotWinner]): the write is
	// acknowledged once the sweep has merged it into the winning
	// revision. Without one, or when the sweep leaves it, the store
	// deletes the write's leaf and hands it to the resolver as a
	// conflict. With sweepers running, this is what keeps the store and
	// a sweep from both taking over the same leaf (and a counter from
	// counting it twice). Give it a sweeper whose resolver merges.
	Sweeper *Sweeper
}

// Store is the model layer over a database: documents of one versioned
// type, decoded into T, written through the conflict loop. Every update
// takes the caller's change as a function, not a finished document, so
// that a retry can re-apply it to the fresh revision:
//
//  1. read the current revision (by id or through a view)
//  2. apply the change, write with _rev
//  3. on 409 build a [resolve.Conflict] and ask the resolver
//  4. act on the decision: retry (after its delay), merge (write the
//     resolver's document on the current revision), accept (keep the
//     current revision and report ours superseded) or fail
//
// The loop is bounded by MaxAttempts and by the context's deadline, and
// every decision is validated; a resolver that fails or answers an
// invalid decision fails the write closed with a [*ResolverError], and
// nothing it returned is written.
//
// T is the document's content; it need not hold _id or _rev (the store
// keeps them in [Doc]), nor every field the stored documents have: an
// update or a merge writes the fields T declares over the revision it
// updates, and keeps that revision's other fields and its attachments
// (T's fields are those a round trip of the stored document through T
// gives back). A Store is safe for concurrent use.
type Store[T any] struct {
	db          *DB
	typ         string
	entity      string
	resolver    resolve.Resolver
	desc        resolve.Description
	maxAttempts int
	stats       *Stats
	logger      *slog.Logger
	quorum      readQuorum
	sealer      Sealer
	sweeper     *Sweeper
}

// NewStore returns a store for documents of cfg.Type in db.
func NewStore[T any](db *DB, cfg StoreConfig) (*Store[T], error) {
	if !ValidType(cfg.Type) {
		return nil, fmt.Errorf("couch: new store: %w: type %q does not match %s (such as \"fruit_v1.0\")", ErrInvalidType, cfg.Type, typePattern)
	}
	s := &Store[T]{
		db:          db,
		typ:         cfg.Type,
		entity:      cfg.Type[:strings.LastIndex(cfg.Type, "_v")],
		resolver:    cfg.Resolver,
		maxAttempts: cfg.MaxAttempts,
		stats:       cfg.Stats,
		logger:      cfg.Logger,
		sealer:      cfg.Sealer,
		sweeper:     cfg.Sweeper,
	}
	if s.resolver == nil {
		s.resolver = resolve.Basic()
	}
	if d, ok := s.resolver.(resolve.Describer); ok {
		s.desc = d.Describe()
	} else {
		s.desc = resolve.Description{Name: fmt.Sprintf("%T", s.resolver)}
	}
	if s.desc.Actions != nil && s.desc.MayAnswer(resolve.ActionMerge) && !s.desc.Has(resolve.NeedTheirs) {
		// Every merge it answered would be refused (see checkMerge):
		// say so now, not at the first conflict.
		return nil, fmt.Errorf("couch: new store: %w: resolver %q may answer merge but does not read theirs: declare \"theirs\" in its needs",
			ErrUnsafeResolver, resolve.Clip(s.desc.Name))
	}
	if s.maxAttempts <= 0 {
		s.maxAttempts = DefaultMaxAttempts
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s, nil
}

// DB returns the store's database.
func (s *Store[T]) DB() *DB { return s.db }

// Resolver returns the description of the store's resolver.
func (s *Store[T]) Resolver() resolve.Description { return s.desc }

// Doc is a document of a store: its id and revision and its content.
type Doc[T any] struct {
	ID    string
	Rev   string
	Value T
}

// Status says how a write ended.
type Status string

// How a write can end.
const (
	// StatusWritten: our change was written.
	StatusWritten Status = "written"
	// StatusMerged: the resolver's merge of our change and theirs was
	// written.
	StatusMerged Status = "merged"
	// StatusSuperseded: the resolver kept the current revision; our
	// change was dropped.
	StatusSuperseded Status = "superseded"
)

// Result is the outcome of a write through the conflict loop.
type Result[T any] struct {
	// Doc is the document as the database now has it. After a delete
	// that was written, it is the deleted document's last content.
	Doc[T]
	// Status says whether our change was written, merged or superseded.
	Status Status
	// Attempts counts the writes made; Conflicts the 409s among them.
	Attempts  int
	Conflicts int
}

// Locator says how a store finds a document: by id or through a view.
type Locator interface {
	locate(ctx context.Context, db *DB) (id string, doc json.RawMessage, err error)
	// label names the document in log lines: the id, or the view key
	// the caller knows it by.
	label() string
}

// ByID finds the document with this id.
func ByID(id string) Locator { return byID(id) }

type byID string

func (l byID) label() string { return string(l) }

func (l byID) locate(ctx context.Context, db *DB) (string, json.RawMessage, error) {
	var raw json.RawMessage
	if err := db.Get(ctx, string(l), &raw); err != nil {
		return "", nil, err
	}
	return string(l), raw, nil
}

// ByView finds the first document the view ddoc/view emits under key, as
// the seed's samples find a fruit by its fruit_id. A nil key is the key
// null (it never means "any key"). When the view links to another
// document (it emits a value {"_id": other}), the store reads and writes
// that linked document, under its own id, not the emitting one.
func ByView(ddoc, view string, key any) Locator {
	if key == nil {
		key = json.RawMessage("null")
	}
	return byView{ddoc, view, key}
}

type byView struct {
	ddoc, view string
	key        any
}

func (l byView) label() string {
	if s, ok := l.key.(string); ok {
		return s
	}
	b, _ := json.Marshal(l.key)
	return string(b)
}

func (l byView) locate(ctx context.Context, db *DB) (string, json.RawMessage, error) {
	res, err := db.Query(ctx, l.ddoc, l.view, ViewQuery{Key: l.key, IncludeDocs: true, Limit: 1, Reduce: Bool(false)})
	if err != nil {
		return "", nil, err
	}
	for _, r := range res.Rows {
		if r.Doc == nil || string(r.Doc) == "null" {
			continue
		}
		// The document's own id: a row of a linked document carries the
		// emitter's id beside the linked document's body and revision.
		var meta struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(r.Doc, &meta); err != nil || meta.ID == "" {
			return "", nil, fmt.Errorf("view %s/%s: a row's document has no _id", l.ddoc, l.view)
		}
		return meta.ID, r.Doc, nil
	}
	k, _ := json.Marshal(l.key)
	return "", nil, fmt.Errorf("no document under key %s in view %s/%s: %w", k, l.ddoc, l.view,
		&Error{StatusCode: 404, Name: "not_found", Reason: "missing"})
}

// ErrResolver is matched by every [*ResolverError].
var ErrResolver = errors.New("resolver failed")

// ResolverError is a write that failed closed because its resolver did:
// it returned an error (a trap, a timeout) or an invalid decision. The
// database was left as the conflict found it.
type ResolverError struct {
	Resolver string
	ID       string
	Err      error
}

func (e *ResolverError) Error() string {
	return fmt.Sprintf("resolver %s failed on %q, nothing written: %v", e.Resolver, e.ID, e.Err)
}

// Unwrap returns the resolver's error, so errors.Is sees through it (to
// resolve.ErrInvalidDecision, say).
func (e *ResolverError) Unwrap() error { return e.Err }

// Is makes every ResolverError match [ErrResolver].
func (e *ResolverError) Is(target error) bool { return target == ErrResolver }

// ConflictError is a write its resolver gave up on (or that reached the
// attempt cap). It matches [ErrConflict].
type ConflictError struct {
	ID       string
	Attempts int
	// Reason is the resolver's.
	Reason string
	// Capped is true when the hard attempt cap ended the loop, not the
	// resolver.
	Capped bool
	// Err is the 409 of the last write.
	Err error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict on %q after %d attempt(s): %s", e.ID, e.Attempts, e.Reason)
}

// Unwrap returns the last 409 answer, which matches [ErrConflict].
func (e *ConflictError) Unwrap() error { return e.Err }

// Create writes v as a new document and returns it. v must encode to a
// JSON object carrying the store's type. The id is made by the client (32
// random hex digits) and the document written with PUT, as CouchDB
// advises: a create sent twice (a retried request) cannot make two
// documents; the second write fails with an error matching [ErrConflict].
func (s *Store[T]) Create(ctx context.Context, v T) (Doc[T], error) {
	return s.CreateWithID(ctx, newID(), v)
}

// landedCreate checks that the document id, which a resent create found
// already there, is the one our first send wrote, and returns its first
// revision. Nobody else knows a fresh random id, but the check costs one
// GET and leaves nothing to luck.
func (s *Store[T]) landedCreate(ctx context.Context, id string, body json.RawMessage) (string, error) {
	var stored json.RawMessage
	if err := s.db.Get(ctx, id, &stored, WithRevs()); err != nil {
		return "", fmt.Errorf("%q: a resent create was refused, and reading what the first one wrote failed: %w: %w", id, ErrAmbiguous, err)
	}
	var meta struct {
		Rev       string     `json:"_rev"`
		Revisions revHistory `json:"_revisions"`
	}
	if err := json.Unmarshal(stored, &meta); err != nil || len(meta.Revisions.IDs) == 0 {
		return "", fmt.Errorf("%q: a resent create was refused, and the document has no revision history: %w", id, ErrAmbiguous)
	}
	first := "1-" + meta.Revisions.IDs[len(meta.Revisions.IDs)-1]
	if strings.HasPrefix(meta.Rev, "1-") && !sameContent(stored, body, false) {
		return "", fmt.Errorf("%q: a resent create was refused, and the document holds another body: %w", id, ErrAmbiguous)
	}
	s.stats.retryEnded(retryOwnWrite)
	s.logger.LogAttrs(ctx, slog.LevelInfo, "conflict was our own create, already applied", slog.String("id", id), slog.String("rev", first))
	return first, nil
}

// newID returns a fresh document id: 128 random bits in hex, as CouchDB's
// own uuids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Get finds and decodes a document.
func (s *Store[T]) Get(ctx context.Context, loc Locator) (Doc[T], error) {
	id, raw, err := loc.locate(ctx, s.db)
	if err == nil {
		raw, err = s.open(ctx, id, raw)
	}
	if err != nil {
		return Doc[T]{}, fmt.Errorf("couch: get: %w", err)
	}
	d, err := s.decode(id, raw)
	if err != nil {
		return Doc[T]{}, fmt.Errorf("couch: get %q: %w", id, err)
	}
	return d, nil
}

// Update finds a document, applies change to its content and writes it,
// resolving conflicts as the store's resolver decides. An error from
// change stops the update and is returned as it is (wrapped); nothing is
// written.
//
// The write keeps what T does not hold: the fields T does not declare and
// the attachments of the revision it updates (see [Store]).
//
// change may be called more than once: on each retry, on the fresh
// revision, and on each conflict, again on the revision it was first
// applied to, so that the resolver sees the change as of now. It must
// compute the same change each time (a timestamp aside).
func (s *Store[T]) Update(ctx context.Context, loc Locator, change func(*T) error) (Result[T], error) {
	res, err := s.loop(ctx, loc, resolve.OpUpdate, change)
	if err != nil {
		return res, fmt.Errorf("couch: update: %w", err)
	}
	return res, nil
}

// Delete finds a document and deletes it, resolving conflicts as the
// store's resolver decides. check, if not nil, sees the current content
// before every attempt and can refuse the delete by returning an error.
//
// A document with conflicting leaves (left by a replication) is deleted
// whole: the current revision and every other live leaf are deleted in
// one _bulk_docs request, so that no older leaf becomes the document.
// Should a leaf survive (written meanwhile), Delete fails with an error
// matching [ErrStillExists] rather than report a delete that did not
// happen.
func (s *Store[T]) Delete(ctx context.Context, loc Locator, check func(*T) error) (Result[T], error) {
	res, err := s.loop(ctx, loc, resolve.OpDelete, check)
	if err != nil {
		return res, fmt.Errorf("couch: delete: %w", err)
	}
	return res, nil
}

// attempt is the state of one write of the loop.
type attempt struct {
	id   string
	rev  string
	base json.RawMessage // what the change was applied to
	mine json.RawMessage // what we tried to write, as sent (sealed)
	// plain is mine before the Sealer saw it, which the resolver is
	// shown; nil when it is mine.
	plain json.RawMessage
}

// loop is the conflict loop behind Update and Delete.
func (s *Store[T]) loop(ctx context.Context, loc Locator, op resolve.Op, change func(*T) error) (Result[T], error) {
	start := time.Now()
	var (
		res    Result[T]
		fresh  json.RawMessage // a current revision already read, to start the next attempt from
		lastID string
	)
	capped := func(id string, last error) error {
		return &ConflictError{ID: id, Attempts: res.Attempts, Capped: true,
			Reason: fmt.Sprintf("giving up after %d attempts, the hard cap", res.Attempts), Err: last}
	}
	var lastConflict error // the 409 of the last write
	for {
		if res.Attempts >= s.maxAttempts {
			return res, capped(lastID, lastConflict)
		}
		// 1. Read the current revision.
		var id string
		var base json.RawMessage
		var err error
		opened := fresh != nil // theirs of the last conflict, opened already
		switch {
		case fresh != nil:
			id, base, fresh = lastID, fresh, nil
		case lastID != "":
			id, base, err = ByID(lastID).locate(ctx, s.db)
		default:
			id, base, err = loc.locate(ctx, s.db)
		}
		stored := base
		if err == nil && !opened {
			base, err = s.open(ctx, id, base)
		}
		if err != nil {
			return res, err
		}
		lastID = id
		cur, err := s.decode(id, base)
		if err != nil {
			return res, fmt.Errorf("%q: %w", id, err)
		}
		if !opened {
			s.db.c.revs.put(s.db.name, id, cur.Rev, stored)
		}
		before, err := json.Marshal(cur.Value)
		if err != nil {
			return res, fmt.Errorf("%q: %w", id, err)
		}
		// 2. Apply the change and write.
		if change != nil {
			if err := change(&cur.Value); err != nil {
				return res, fmt.Errorf("%q: %w", id, err)
			}
		}
		a := attempt{id: id, rev: cur.Rev, base: base}
		var newRev string
		res.Attempts++
		if op == resolve.OpDelete {
			a.mine = deletion(id, cur.Rev)
			newRev, err = s.deleteAll(ctx, a)
		} else {
			var after json.RawMessage
			if after, err = json.Marshal(cur.Value); err != nil {
				return res, fmt.Errorf("%q: %w", id, err)
			}
			if a.mine, err = keepUnknown(base, before, after, id, cur.Rev); err == nil {
				err = s.checkType(a.mine)
			}
			if err == nil {
				err = s.sealAttempt(&a)
			}
			if err != nil {
				return res, fmt.Errorf("%q: %w", id, err)
			}
			newRev, err = s.write(ctx, a, false)
		}
		if errors.Is(err, ErrStillExists) {
			return res, err
		}
		if err == nil {
			res.Doc, res.Status = Doc[T]{ID: id, Rev: newRev, Value: cur.Value}, StatusWritten
			return res, nil
		}
		if !errors.Is(err, ErrConflict) {
			return res, err
		}
		lastConflict = err
		// 3. A conflict: ask the resolver, about the change re-applied
		// to the revision it was made on, so that what a merge writes
		// is as of now: a field the change sets from the clock (an
		// updated_on) is then newer than theirs, and two writers that
		// merge over the same revision do not write the same document,
		// which CouchDB takes for one revision (on a cluster it can
		// acknowledge both).
		res.Conflicts++
		if op == resolve.OpUpdate && change != nil && s.desc.Has(resolve.NeedMine) {
			if again, err := s.reapply(id, base, before, cur.Rev, change); err == nil {
				a.mine = again
			}
		}
		c, theirs, err := s.conflict(ctx, op, a, res.Conflicts, start)
		if err != nil {
			return res, err
		}
		d, err := s.decide(ctx, c)
		if err != nil {
			return res, err
		}
		// 4. Act on the decision, unless the next write would pass the
		// cap: then there is nothing to wait for.
		if (d.Action == resolve.ActionRetry || d.Action == resolve.ActionMerge) && res.Attempts >= s.maxAttempts {
			s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected %s %s '%s' - giving up after %d attempt(s), the hard cap", verb(op), s.entity, loc.label(), res.Attempts),
				slog.String("resolver", s.desc.Name), slog.String("id", id))
			return res, capped(id, lastConflict)
		}
		switch d.Action {
		case resolve.ActionRetry:
			if we := waitPastDeadline(ctx, d.Delay()); we != nil {
				// Say what happens: no wait, no retry.
				s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected %s %s '%s' - giving up: %v", verb(op), s.entity, loc.label(), we),
					slog.String("resolver", s.desc.Name), slog.String("id", id), slog.Int("attempt", res.Conflicts))
				return res, fmt.Errorf("%q: retry after a conflict: %w", id, we)
			}
			s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected %s %s '%s' - retrying after waiting %d ms", verb(op), s.entity, loc.label(), d.DelayMS),
				slog.String("resolver", s.desc.Name), slog.String("id", id), slog.Int("attempt", res.Conflicts))
			if d.DelayMS > 0 {
				if err := sleep(ctx, d.Delay()); err != nil {
					return res, fmt.Errorf("%q: retry after a conflict: %w", id, err)
				}
			} else if theirs != nil {
				fresh = theirs
			}
		case resolve.ActionMerge:
			if err := s.checkMerge(op, c, theirs); err != nil {
				return res, err
			}
			res.Attempts++
			merged, err := s.merge(ctx, a, theirs, d.Doc)
			if errors.Is(err, ErrConflict) && !errors.Is(err, ErrResolver) {
				lastConflict = err
				continue // theirs moved on meanwhile: start over from it
			}
			if err != nil {
				return res, err
			}
			res.Doc, res.Status = merged, StatusMerged
			return res, nil
		case resolve.ActionAccept:
			if theirs == nil {
				if _, theirs, err = ByID(id).locate(ctx, s.db); err == nil {
					theirs, err = s.open(ctx, id, theirs)
				}
				if err != nil {
					return res, err
				}
			}
			doc, err := s.decode(id, theirs)
			if err != nil {
				return res, fmt.Errorf("%q: %w", id, err)
			}
			res.Doc, res.Status = doc, StatusSuperseded
			return res, nil
		case resolve.ActionFail:
			s.logger.LogAttrs(ctx, slog.LevelInfo, fmt.Sprintf("Conflict detected %s %s '%s' - giving up after %d attempt(s): %s", verb(op), s.entity, loc.label(), res.Attempts, d.Reason),
				slog.String("resolver", s.desc.Name), slog.String("id", id))
			return res, &ConflictError{ID: id, Attempts: res.Attempts, Reason: d.Reason, Err: lastConflict}
		}
	}
}

// reapply applies change again to base, the revision a write was made
// on, and returns the document to write, as the loop made it.
func (s *Store[T]) reapply(id string, base, before json.RawMessage, rev string, change func(*T) error) (json.RawMessage, error) {
	d, err := s.decode(id, base)
	if err != nil {
		return nil, err
	}
	if err := change(&d.Value); err != nil {
		return nil, err
	}
	after, err := json.Marshal(d.Value)
	if err != nil {
		return nil, err
	}
	mine, err := keepUnknown(base, before, after, id, rev)
	if err != nil {
		return nil, err
	}
	return mine, s.checkType(mine)
}

// conflict builds the Conflict for the resolver, reading theirs only if
// the resolver needs it. theirs is nil when not read or deleted.
func (s *Store[T]) conflict(ctx context.Context, op resolve.Op, a attempt, n int, start time.Time) (*resolve.Conflict, json.RawMessage, error) {
	c := &resolve.Conflict{
		ABI:       resolve.ABIVersion,
		Kind:      resolve.KindWrite,
		Op:        op,
		DB:        s.db.name,
		ID:        a.id,
		Attempt:   n,
		ElapsedMS: time.Since(start).Milliseconds(),
	}
	if s.desc.Has(resolve.NeedBase) {
		c.Base = a.base
	}
	if s.desc.Has(resolve.NeedMine) {
		c.Mine = a.mine
		if a.plain != nil {
			c.Mine = a.plain
		}
	}
	var theirs json.RawMessage
	if s.desc.Has(resolve.NeedTheirs) {
		err := s.db.Get(ctx, a.id, &theirs)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		if err == nil {
			s.db.c.revs.put(s.db.name, a.id, revOf(theirs), theirs)
			if theirs, err = s.open(ctx, a.id, theirs); err != nil {
				return nil, nil, err
			}
		}
		c.Theirs = theirs
	}
	return c, theirs, nil
}

// Decide asks the store's resolver about c, a conflict its caller found
// without a write to CouchDB (two changes of one document queued in the
// same process, say: see samples/fruit's write coalescing), exactly as
// the conflict loop asks about a 409: the conflict and the decision count
// in the store's [Stats], the decision is validated against c, and a
// resolver that fails or answers an invalid decision is a
// [*ResolverError] (logged). The caller fills in c, leaving out the
// documents [Store.Resolver] does not need, and acts on the decision
// itself; nothing is written.
func (s *Store[T]) Decide(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	return s.decide(ctx, c)
}

// decide asks the resolver about c and validates its answer.
func (s *Store[T]) decide(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	s.stats.conflict(s.desc.Name)
	began := time.Now()
	d, err := s.resolver.Resolve(ctx, c)
	if err == nil {
		err = d.Validate(c)
	}
	took := time.Since(began)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The caller's deadline or cancellation, not the resolver's
		// fault; nothing was written.
		return resolve.Decision{}, fmt.Errorf("%q: waiting for the resolver: %w", c.ID, err)
	}
	if err != nil {
		s.stats.decided(s.desc.Name, "", took)
		s.logger.LogAttrs(ctx, slog.LevelError, "resolver failed, write failed closed",
			slog.String("resolver", s.desc.Name), slog.String("id", c.ID), slog.String("error", err.Error()))
		return resolve.Decision{}, &ResolverError{Resolver: s.desc.Name, ID: c.ID, Err: err}
	}
	s.stats.decided(s.desc.Name, d.Action, took)
	return d, nil
}

// checkMerge refuses a merge the store cannot write safely: on a delete
// (a merge writes a document, not a deletion, so the caller could not be
// told its delete happened), or without the current revision the
// resolver was shown (the merge would overwrite a revision it never saw,
// or bring back a deleted document). Such a merge fails closed.
func (s *Store[T]) checkMerge(op resolve.Op, c *resolve.Conflict, theirs json.RawMessage) error {
	var why string
	switch {
	case op == resolve.OpDelete:
		why = "a merge cannot answer a conflicting delete"
	case !s.desc.Has(resolve.NeedTheirs):
		why = `a merge needs the current revision: declare "theirs" in the resolver's needs`
	case theirs == nil:
		why = "the document was deleted meanwhile; a merge would bring it back"
	default:
		return nil
	}
	err := fmt.Errorf("%w: %s", resolve.ErrInvalidDecision, why)
	s.logger.LogAttrs(context.Background(), slog.LevelError, "resolver failed, write failed closed",
		slog.String("resolver", s.desc.Name), slog.String("id", c.ID), slog.String("error", err.Error()))
	return &ResolverError{Resolver: s.desc.Name, ID: c.ID, Err: err}
}

// merge writes the resolver's document on the revision of theirs, the
// one the resolver was shown; if the document moved on since, the write
// fails with ErrConflict and the loop starts over.
func (s *Store[T]) merge(ctx context.Context, a attempt, theirs, doc json.RawMessage) (Doc[T], error) {
	var meta struct {
		Rev string `json:"_rev"`
	}
	if err := json.Unmarshal(theirs, &meta); err != nil || meta.Rev == "" {
		return Doc[T]{}, fmt.Errorf("%q: the current revision has no _rev", a.id)
	}
	// The document may have become another type meanwhile (a migration
	// to the next version): a merge must not write it back to ours.
	cur, err := s.decode(a.id, theirs)
	if err != nil {
		return Doc[T]{}, fmt.Errorf("%q: merge over the current revision: %w", a.id, err)
	}
	before, err := json.Marshal(cur.Value)
	if err != nil {
		return Doc[T]{}, fmt.Errorf("%q: %w", a.id, err)
	}
	var v T
	if err := json.Unmarshal(doc, &v); err != nil {
		return Doc[T]{}, &ResolverError{Resolver: s.desc.Name, ID: a.id, Err: fmt.Errorf("merged document: %w", err)}
	}
	body, err := keepUnknown(theirs, before, doc, a.id, meta.Rev)
	if err == nil {
		err = s.checkType(body)
	}
	if err != nil {
		return Doc[T]{}, &ResolverError{Resolver: s.desc.Name, ID: a.id, Err: fmt.Errorf("merged document: %w", err)}
	}
	m := attempt{id: a.id, rev: meta.Rev, mine: body}
	if err := s.sealAttempt(&m); err != nil {
		return Doc[T]{}, fmt.Errorf("%q: merged document: %w", a.id, err)
	}
	newRev, err := s.write(ctx, m, false)
	if err != nil {
		return Doc[T]{}, err
	}
	return Doc[T]{ID: a.id, Rev: newRev, Value: v}, nil
}

// encode turns v into the JSON object to write, with _id and _rev when
// given, and checks its type.
func (s *Store[T]) encode(v T, id, rev string) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if id != "" || rev != "" {
		if b, err = setMeta(b, id, rev); err != nil {
			return nil, err
		}
	}
	if err := s.checkType(b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkType refuses a document without a versioned type, or with another
// type than the store's.
func (s *Store[T]) checkType(doc json.RawMessage) error {
	var v struct {
		Type *json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("%w: document is not a JSON object: %w", ErrInvalidType, err)
	}
	return s.checkTypeValue(v.Type)
}

// checkTypeValue is checkType given the document's "type" property as
// decoded (nil if absent): [CheckType]'s checks, then the store's type.
func (s *Store[T]) checkTypeValue(raw *json.RawMessage) error {
	t, err := typeName(raw)
	if err != nil {
		return err
	}
	if t != s.typ {
		return fmt.Errorf("%w: type %q, this store holds %q", ErrInvalidType, t, s.typ)
	}
	return nil
}

// decode reads a stored document into a Doc: one pass for its revision
// and type, one for its content.
func (s *Store[T]) decode(id string, raw json.RawMessage) (Doc[T], error) {
	var meta struct {
		Rev  string           `json:"_rev"`
		Type *json.RawMessage `json:"type"`
	}
	d := Doc[T]{ID: id}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return d, fmt.Errorf("decode: %w", err)
	}
	if err := s.checkTypeValue(meta.Type); err != nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &d.Value); err != nil {
		return d, fmt.Errorf("decode: %w", err)
	}
	d.Rev = meta.Rev
	return d, nil
}

// ErrUnsafeResolver is matched by the error of [NewStore] given a
// resolver whose description says it may merge (Description.Actions) but
// does not list theirs among its needs: each of its merges would be
// refused, since a merge is written only over the revision it was shown.
var ErrUnsafeResolver = errors.New("resolver cannot merge safely")

// ErrStillExists is matched by the error of a [Store.Delete] that deleted
// the revisions it read, but found the document still there afterwards: a
// leaf written meanwhile (by a replication, say) is now the document.
var ErrStillExists = errors.New("document still exists after its delete")

// deleteAll deletes the document a.id: first, if a.rev is still the
// winner, its conflicting leaves (the losing revisions of a replication
// conflict, in one _bulk_docs request), then revision a.rev (through
// [Store.write], which recognises our own delete behind an ambiguous
// answer), and checks that the document is gone. A conflict on a.rev is
// returned as an error matching [ErrConflict]: the winner is as it was
// shown, but the conflicting leaves deleted first stay deleted (they were
// the losing side of a replication conflict; deleting them is what the
// caller's delete asked). A conflict on another leaf (it moved on
// meanwhile) is left to the final check, which fails with
// [ErrStillExists] if the document is still there.
func (s *Store[T]) deleteAll(ctx context.Context, a attempt) (string, error) {
	id, rev := a.id, a.rev
	var cur struct {
		Rev       string   `json:"_rev"`
		Conflicts []string `json:"_conflicts"`
	}
	err := s.db.Get(ctx, id, &cur, WithConflicts())
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	var losers []any
	if err == nil && cur.Rev == rev {
		// Only while rev is the winner are the conflicts its rivals; once
		// it moved on, the delete of rev is a conflict for the loop.
		for _, c := range cur.Conflicts {
			losers = append(losers, deletion(id, c))
		}
	}
	if len(losers) > 0 {
		if _, err := s.db.BulkDocs(ctx, losers); err != nil {
			return "", err
		}
	}
	newRev, err := s.write(ctx, a, true)
	if err != nil {
		return "", err
	}
	var left struct {
		Rev string `json:"_rev"`
	}
	err = s.db.Get(ctx, id, &left)
	switch {
	case errors.Is(err, ErrNotFound):
		return newRev, nil
	case err != nil:
		return "", err
	}
	return "", fmt.Errorf("couch: delete %q: deleted revision %s and %d conflicting leaves, but revision %s is now the document: %w",
		id, rev, len(losers), bounded(left.Rev, 80), ErrStillExists)
}

// keepUnknown returns the document to write over the stored revision
// stored: stored's fields and attachments, less the fields of before
// (stored as T decoded it and encodes it back: the fields T declares,
// whatever their case in stored), plus those of after (the new content).
// So a field T does not declare, and the attachments, survive; a field T
// declares is as after has it, absent if after omits it. _id and _rev are
// set to id and rev; the other special fields of a read (_conflicts,
// _revisions, …) are dropped.
func keepUnknown(storedDoc, before, after json.RawMessage, id, rev string) (json.RawMessage, error) {
	var out, stored, b, a map[string]json.RawMessage
	if err := json.Unmarshal(storedDoc, &out); err != nil || out == nil {
		return nil, fmt.Errorf("stored document is not a JSON object")
	}
	stored = maps.Clone(out)
	if err := json.Unmarshal(before, &b); err != nil {
		return nil, fmt.Errorf("document is not a JSON object")
	}
	if err := json.Unmarshal(after, &a); err != nil || a == nil {
		return nil, fmt.Errorf("document is not a JSON object")
	}
	declared := make(map[string]bool, len(b)+len(a))
	for k := range b {
		declared[strings.ToLower(k)] = true
	}
	for k := range a {
		declared[strings.ToLower(k)] = true
	}
	for k := range out {
		switch {
		case k == "_attachments":
		case strings.HasPrefix(k, "_"):
			delete(out, k)
		case declared[strings.ToLower(k)]:
			delete(out, k)
		}
	}
	for k, v := range a {
		if k == "_id" || k == "_rev" || k == AbsorbsField {
			continue
		}
		out[k] = v
	}
	// What a sweep's merge absorbed ([AbsorbsField]) is a claim about
	// the revision written over, which the new one holds too: it is
	// stored's, never the new content's (a resolver merging mine could
	// otherwise claim what mine's branch absorbed, and theirs lacks).
	if v, ok := stored[AbsorbsField]; ok {
		out[AbsorbsField] = v
	} else {
		delete(out, AbsorbsField)
	}
	out[WriteIDField], _ = json.Marshal(newID()[:writeIDLen])
	out["_id"], _ = json.Marshal(id)
	if rev != "" {
		out["_rev"], _ = json.Marshal(rev)
	}
	return json.Marshal(out)
}

// WriteIDField is a field a [Store] sets to a fresh random id in every
// update it writes. CouchDB computes a revision's id from its parent and
// its body, so two writers making the same change to the same revision
// (two tastings merged over one winner take its updated_on and both add
// one) would write one revision. On a single server the second is
// refused with 409 and tried again; on a cluster it can land on a copy
// the first has not reached and be answered 202 Accepted with that same
// revision, which then reads back as won: a change acknowledged twice
// and stored once. Measured on a 3-node Apache CouchDB 3.4.3 cluster, 48
// concurrent tastings through the merge sample: 3 trials of 34 lost
// one. With the field, every write is a revision of its own.
const WriteIDField = "accord_write"

// writeIDLen is the length of a [WriteIDField] value: 64 random bits in
// hex, unique among the writes of one revision's children.
const writeIDLen = 16

// setMeta sets _id and _rev in the JSON object doc (removing _rev when
// rev is empty).
func setMeta(doc json.RawMessage, id, rev string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return nil, fmt.Errorf("document is not a JSON object")
	}
	if id != "" {
		m["_id"], _ = json.Marshal(id)
	}
	delete(m, "_rev")
	if rev != "" {
		m["_rev"], _ = json.Marshal(rev)
	}
	return json.Marshal(m)
}

// deletion is the document a delete writes, as a resolver sees it.
func deletion(id, rev string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"_id": id, "_rev": rev, "_deleted": true})
	return b
}

func verb(op resolve.Op) string {
	switch op {
	case resolve.OpDelete:
		return "deleting"
	case resolve.OpCreate:
		return "creating"
	}
	return "updating"
}

// ErrWaitPastDeadline is matched by the error of a write whose resolver
// asked to wait, before a retry, longer than the time left before the
// context's deadline. The store does not start such a wait; it stops at
// once, nothing of the change written. The deadline has not passed, so
// the error does not match [context.DeadlineExceeded]; it is a
// [*WaitError] that says how long the wait was and how much time was left.
// [Client.CreateDB] returns one too when its own wait for a database that
// is still being deleted would pass the deadline.
var ErrWaitPastDeadline = errors.New("the wait would pass the deadline")

// WaitError is a wait that was not started because it would have ended
// after the context's deadline. It matches [ErrWaitPastDeadline].
type WaitError struct {
	// Wait is the wait asked for.
	Wait time.Duration
	// Left is the time that was left before the deadline.
	Left time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("a wait of %v would pass the deadline: %v was left", e.Wait.Round(time.Millisecond), e.Left.Round(time.Millisecond))
}

// Is makes every WaitError match [ErrWaitPastDeadline].
func (e *WaitError) Is(target error) bool { return target == ErrWaitPastDeadline }

// waitPastDeadline returns a *WaitError if a wait of d would end after
// ctx's deadline, else nil.
func waitPastDeadline(ctx context.Context, d time.Duration) *WaitError {
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < d {
			return &WaitError{Wait: d, Left: max(left, 0)}
		}
	}
	return nil
}

// sleep waits d, or until ctx is done; it does not start a wait that the
// context's deadline would cut short, and returns a [*WaitError] instead.
func sleep(ctx context.Context, d time.Duration) error {
	if we := waitPastDeadline(ctx, d); we != nil {
		return we
	}
	return waitRetry(ctx, d)
}
