package couch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
)

// A CouchDB cluster answers a write 202 Accepted instead of 201 Created
// when it reached fewer copies of the document than the write quorum (w,
// 2 of 3 by default): another write of the same revision may have reached
// the others. When the copies reconcile, one of the two becomes the winner
// and the other a losing leaf, which no read shows: a write acknowledged
// on the 202 alone can vanish. So the store does not take a 202 at its
// word. It reads the document back (conflicts=true, revs=true, and r= the
// database's n, so that every copy is asked) and:
//
//   - our revision is the winner, or in the winner's history (someone
//     wrote over it since): the write is acknowledged. Other leaves the
//     document may have are left as they are, counted in
//     [AcceptedStats.OtherLeaves] and logged: they hold other writers'
//     changes, which those writers' stores check for themselves, and
//     settling them is the work of a replication-conflict resolver, not
//     of this write;
//   - otherwise our revision is a losing leaf, or is not seen yet (the
//     copy that holds it did not answer): it is deleted, and the write is
//     a conflict, handed to the resolver as a 409 is, so a retry
//     re-applies the change on the winner. The write's error matches
//     [ErrNotWinner] and [ErrConflict].
//
// The losing leaf is deleted with a tombstone written under it with
// new_edits=false (revision history: the tombstone, our revision, our
// base): it lands on every copy whether or not that copy has our revision
// yet, where a plain delete of a revision a copy does not have is a 409.
// It is deleted before the resolver is asked, whatever the resolver
// decides: a write that was not acknowledged must not win later. The
// tombstone and the retry cannot share one _bulk_docs request, because
// the retry must be written with new edits to meet its own conflicts.
//
// A delete answered 202 needs no read-back of its own: [Store.Delete]
// checks afterwards that the document is gone. A create answered 202 is
// acknowledged: its id is new and random, so no other write competes.

// ErrNotWinner is matched by the error of a write answered 202 Accepted
// whose revision the read-back did not find in the winning revision. The
// error matches [ErrConflict] too, so the conflict loop hands it to the
// resolver as it does a 409.
var ErrNotWinner = errors.New("accepted write is not the winning revision")

// AcceptedStats counts the writes of the [Store]s sharing a [Stats] that
// the server answered 202 Accepted, and what their read-back found.
type AcceptedStats struct {
	// Accepted counts the writes answered 202 and read back.
	Accepted int64 `json:"accepted"`
	// Won counts those whose revision is in the winning revision; they
	// were acknowledged.
	Won int64 `json:"won"`
	// OtherLeaves counts those among Won whose document had other leaves
	// (left in place; see [Store]).
	OtherLeaves int64 `json:"other_leaves"`
	// Lost counts those whose revision was a losing leaf or not seen:
	// deleted, and handed to the resolver as a conflict.
	Lost int64 `json:"lost"`
}

// accepted records the outcome of a read-back.
func (s *Stats) accepted(won, otherLeaves bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acc.Accepted++
	switch {
	case won && otherLeaves:
		s.acc.Won++
		s.acc.OtherLeaves++
	case won:
		s.acc.Won++
	default:
		s.acc.Lost++
	}
}

// Accepted returns the counts of writes answered 202 Accepted.
func (s *Stats) Accepted() AcceptedStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acc
}

// readQuorum caches a database's n (how many copies of each document
// a cluster keeps), to read an accepted write back from every copy; -1
// when the server does not say (a single node, pouchdb-server).
type readQuorum struct{ n atomic.Int32 }

func (q *readQuorum) get(ctx context.Context, db *DB) int {
	if n := q.n.Load(); n != 0 {
		return int(n)
	}
	info, err := db.Info(ctx)
	if err != nil {
		return -1 // not cached: ask again next time
	}
	n := int32(-1)
	if info.Cluster != nil && info.Cluster.N > 0 {
		n = int32(min(info.Cluster.N, 16))
	}
	q.n.Store(n)
	return int(n)
}

// checkAccepted reads back the document of a write a answered 202
// Accepted with revision rev, as described above. It returns rev if the
// write is acknowledged, else an error matching [ErrNotWinner] and
// [ErrConflict] once our leaf is deleted, or the error that kept it from
// knowing.
func (s *Store[T]) checkAccepted(ctx context.Context, a attempt, rev string) (string, error) {
	q := url.Values{"conflicts": {"true"}, "revs": {"true"}}
	if n := s.quorum.get(ctx, s.db); n > 0 {
		q.Set("r", strconv.Itoa(n))
	}
	r := s.db.req(http.MethodGet, a.id)
	r.query = q
	var cur struct {
		Rev       string   `json:"_rev"`
		Conflicts []string `json:"_conflicts"`
		Revisions struct {
			Start int      `json:"start"`
			IDs   []string `json:"ids"`
		} `json:"_revisions"`
	}
	_, err := s.db.c.doJSON(ctx, r, &cur)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%q: reading back a write answered 202 Accepted: %w", a.id, err)
	}
	gen, hash, ok := splitRev(rev)
	if !ok {
		return "", fmt.Errorf("%q: a write answered 202 Accepted with revision %q", a.id, bounded(rev, 80))
	}
	if err == nil {
		if i := cur.Revisions.Start - gen; i >= 0 && i < len(cur.Revisions.IDs) && cur.Revisions.IDs[i] == hash {
			s.stats.accepted(true, len(cur.Conflicts) > 0)
			if len(cur.Conflicts) > 0 {
				s.logger.LogAttrs(ctx, slog.LevelInfo, "write answered 202 Accepted is the winner; the document has other leaves, left in place",
					slog.String("id", a.id), slog.String("rev", rev), slog.Int("leaves", len(cur.Conflicts)))
			}
			return rev, nil
		}
	}
	s.stats.accepted(false, false)
	if err := s.deleteLeaf(ctx, a, gen, hash); err != nil {
		return "", fmt.Errorf("%q: write answered 202 Accepted lost to another revision, and deleting its leaf %s failed: %w", a.id, rev, err)
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "write answered 202 Accepted is not the winner: its leaf deleted, handled as a conflict",
		slog.String("id", a.id), slog.String("rev", rev), slog.String("winner", bounded(cur.Rev, 80)))
	return "", fmt.Errorf("%q: revision %s: %w: %w", a.id, rev, ErrNotWinner,
		&Error{StatusCode: http.StatusConflict, Name: "conflict", Reason: "write answered 202 Accepted is not the winning revision"})
}

// deleteLeaf writes, with new_edits=false, a tombstone as the child of
// our revision gen-hash, itself the child of a's base revision.
func (s *Store[T]) deleteLeaf(ctx context.Context, a attempt, gen int, hash string) error {
	ids := []string{newID(), hash}
	if bgen, bhash, ok := splitRev(a.rev); ok && bgen == gen-1 {
		ids = append(ids, bhash)
	}
	tomb := map[string]any{
		"_id":        a.id,
		"_rev":       strconv.Itoa(gen+1) + "-" + ids[0],
		"_deleted":   true,
		"_revisions": map[string]any{"start": gen + 1, "ids": ids},
	}
	res, err := s.db.BulkDocs(ctx, []any{tomb}, NewEdits(false))
	if err != nil {
		return err
	}
	for _, r := range res {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}
