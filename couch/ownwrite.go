package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// An ambiguous write is one that landed but whose answer was lost: the
// connection was reset after the request was sent, or a gateway answered
// 502 or 504 after passing it on. The client resends it (see
// [RetryPolicy]), the resend is refused with 409 because the first one
// was applied, and a conflict loop that took that 409 at its word would
// apply the change twice. So when a write's 409 matches [ErrAmbiguous],
// the store first checks whether the database already holds our write: a
// leaf revision whose history has our base revision followed by a
// revision whose body is exactly the one we sent (for a delete: a
// deletion). If so, the write is reported as written, with that revision.
//
// The check costs one GET (two if our revision was written over since),
// and is counted as "own write recognised" in [RetryStats.Ended].
//
// Only a 409 that follows our own resend is checked. A plain 409 is never
// taken for our write, because the body alone cannot tell: two writers
// incrementing a counter from the same revision send the same body, and
// taking the other's revision for ours would lose an increment (measured:
// 32 concurrent increments stored as 3). For the same reason a proxy that
// resends a write on its own, unseen by the client, is not covered: run
// without such retries, or let the client do them. Limits that remain: if
// our resent write was refused and another writer made exactly our body
// from the same base meanwhile, that revision is taken as ours; and if
// our revision was written over and compacted away before the check, the
// 409 goes to the resolver as before.

// write sends the write a: the deletion of a.rev if deletion, else a PUT
// of a.mine. If that gets a 409 (or a delete a 404), it checks whether the database already
// holds our write, and if so returns the revision we made as if the
// answer had come. If the check itself fails, the write's outcome is
// unknown and the error, which matches [ErrAmbiguous] but not
// [ErrConflict], says so.
func (s *Store[T]) write(ctx context.Context, a attempt, deletion bool) (string, error) {
	var rev string
	var err error
	if deletion {
		rev, err = s.db.Delete(ctx, a.id, a.rev)
	} else {
		var status int
		rev, status, err = s.db.put(ctx, a.id, a.mine)
		if err == nil {
			s.db.c.revs.put(s.db.name, a.id, rev, a.mine)
		}
		if err == nil && status == http.StatusAccepted {
			// Not yet known to be the winner: see accepted.go.
			return s.checkAccepted(ctx, a, rev)
		}
	}
	// Only a resend can have been refused because of our own write. A
	// resent delete of a document already deleted is answered 404 by
	// Apache CouchDB (pouchdb-server answers 409).
	if !errors.Is(err, ErrAmbiguous) || !errors.Is(err, ErrConflict) && !(deletion && errors.Is(err, ErrNotFound)) {
		return rev, err
	}
	own, ok, cerr := ownRevision(ctx, s.db, a, deletion)
	if cerr != nil {
		return "", fmt.Errorf("%q: a write got a conflict, and checking whether it had landed failed: %w: %w", a.id, ErrAmbiguous, cerr)
	}
	if !ok {
		return "", err
	}
	s.stats.retryEnded(retryOwnWrite)
	s.logger.LogAttrs(ctx, slog.LevelInfo, "conflict was our own write, already applied",
		slog.String("id", a.id), slog.String("rev", own), slog.Bool("ambiguous", errors.Is(err, ErrAmbiguous)))
	return own, nil
}

// maxLeaves bounds the leaf revisions read back when checking a write.
const maxLeaves = 64

// ownRevision looks for the revision the write a made: the child of a's
// base revision, in the history of a leaf of the document, whose body is
// a.mine (for a deletion, any deletion). It returns that revision.
func ownRevision(ctx context.Context, db *DB, a attempt, deletion bool) (string, bool, error) {
	gen, hash, ok := splitRev(a.rev)
	if !ok {
		return "", false, nil
	}
	r := db.req(http.MethodGet, a.id)
	r.query = url.Values{"open_revs": {"all"}, "revs": {"true"}}
	var leaves []struct {
		OK json.RawMessage `json:"ok"`
	}
	if _, err := db.c.doJSON(ctx, r, &leaves); err != nil {
		return "", false, err
	}
	if len(leaves) > maxLeaves {
		leaves = leaves[:maxLeaves]
	}
	for _, l := range leaves {
		if l.OK == nil {
			continue
		}
		var meta struct {
			Rev       string     `json:"_rev"`
			Deleted   bool       `json:"_deleted"`
			Revisions revHistory `json:"_revisions"`
		}
		if err := json.Unmarshal(l.OK, &meta); err != nil {
			return "", false, fmt.Errorf("decode revision: %w", err)
		}
		// ids[0] is the leaf, generation start; ours is the one right
		// after our base, at index i-1.
		ids := meta.Revisions.IDs
		i := meta.Revisions.Start - gen
		if i < 1 || i >= len(ids) || ids[i] != hash {
			continue
		}
		child := strconv.Itoa(gen+1) + "-" + ids[i-1]
		body := l.OK
		if i > 1 {
			// Someone wrote over our revision since: read it.
			var old json.RawMessage
			err := db.Get(ctx, a.id, &old, WithRev(child))
			if errors.Is(err, ErrNotFound) {
				// Compacted away: its body cannot be checked.
				continue
			}
			if err != nil {
				return "", false, fmt.Errorf("read revision %s: %w", bounded(child, 80), err)
			}
			body = old
		}
		if sameContent(body, a.mine, deletion) {
			return child, true, nil
		}
	}
	return "", false, nil
}

// splitRev splits "3-abc" into 3 and "abc".
func splitRev(rev string) (int, string, bool) {
	g, h, ok := strings.Cut(rev, "-")
	n, err := strconv.Atoi(g)
	if !ok || err != nil || n < 1 || h == "" {
		return 0, "", false
	}
	return n, h, true
}

// sameContent says whether the stored revision stored has the content we
// wrote, mine: the same fields, _id, _rev and _revisions aside. For a
// deletion it is enough that stored is one.
func sameContent(stored, mine json.RawMessage, deletion bool) bool {
	var a, b map[string]any
	if json.Unmarshal(stored, &a) != nil || json.Unmarshal(mine, &b) != nil {
		return false
	}
	if deletion {
		return a["_deleted"] == true
	}
	for _, m := range []map[string]any{a, b} {
		delete(m, "_id")
		delete(m, "_rev")
		delete(m, "_revisions")
	}
	return reflect.DeepEqual(a, b)
}
