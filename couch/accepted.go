package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
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
//   - our revision is in the winner's history (someone wrote over it
//     since), or is the winner and the document has no other live leaf
//     of its generation or later: the write is acknowledged (older leaves
//     are branches left behind, for a replication-conflict resolver);
//   - our revision is the winner, but the document has other live leaves
//     of its generation or later (another writer's revision, which may have
//     reached the quorum and been acknowledged): ours yields. It is
//     deleted, so that the other leaf wins, and the write is a conflict,
//     handed to the resolver as a 409 is. Acknowledging ours would park
//     the other writer's acknowledged change in a losing leaf: measured on
//     a 3-node cluster, 48 concurrent tastings split over two
//     coordinators, that lost 1 to 6 acknowledged tastings per trial.
//     Should every leaf end up deleted (two writers that got 202 each
//     deleting theirs at once), the store writes its change back over the
//     deletion and acknowledges that; see [AcceptedStats.Restored]. (A
//     document deleted on purpose at that very moment is written back
//     too.);
//   - otherwise our revision is a losing leaf, or is not seen yet (the
//     copy that holds it did not answer): it is deleted, and the write is
//     a conflict, handed to the resolver as a 409 is, so a retry
//     re-applies the change on the winner.
//
// The error of a write that yielded or lost matches [ErrNotWinner] and
// [ErrConflict].
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
// With a sweeper ([StoreConfig.Sweeper], a resolver that merges), a
// write answered 202 that is not the winner alone is not deleted: the
// store settles the document with the sweeper (one sweep of a document
// at a time in a process) until the winner holds our revision, by
// descent or by a merge that absorbed it, and acknowledges it then (see
// settledBySweep); the sweepers settle every other leaf the cluster
// makes. Measured on a 3-node Apache CouchDB 3.4.3 cluster (q=2, n=3),
// two fruit services on two coordinators, 48 concurrent tastings of one
// fruit (samples/fruit's TestClusterContention), 5 trials each of the
// retry, backoff and merge samples on 2026-12-01: every trial exact, 1
// to 8 writes a trial answered 202, no conflict left 28 ms to 2.2 s
// after the last answer. Without a sweeper, 7 of 10 retry and backoff
// trials lost 1 to 3 tastings to live losing leaves the cluster made
// from writes it did not answer 202.
//
// A limit: a write refused with 409 by a quorum of copies can still land
// on one copy, as a leaf no one acknowledged; a sweeper merges it like
// any leaf, and the retry applies the change again. The revision trees
// of those 15 trials held exactly one store write per acknowledged
// tasting, so it was not seen there.
//
// Reading back every write answered 201 on a cluster too (and handling a
// losing one as above) was tried and made it worse: in 10 trials the
// winner held up to 2 tastings more than were acknowledged, because a
// revision found losing can be extended by another writer before its
// tombstone lands, and the retry then applies the change a second time.
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
	// Won counts those found in the winning revision, alone: they were
	// acknowledged.
	Won int64 `json:"won"`
	// Yielded counts those that were the winner beside other live
	// leaves: deleted, and handed to the resolver as a conflict.
	Yielded int64 `json:"yielded"`
	// Lost counts those whose revision was a losing leaf or not seen:
	// deleted, and handed to the resolver as a conflict.
	Lost int64 `json:"lost"`
	// Restored counts the yields that found the document deleted
	// afterwards (every leaf deleted at once) and wrote the change back.
	Restored int64 `json:"restored"`
	// Swept counts those that were not the winner (or not alone) and
	// that the store's sweeper merged into the winning revision.
	Swept int64 `json:"swept"`
	// Unsettled counts those the sweeper had not merged after a few
	// seconds: left to the sweepers, answered with [ErrUnsettled].
	Unsettled int64 `json:"unsettled"`
}

// acceptedOutcome is what a read-back found.
type acceptedOutcome int

const (
	acceptedWon acceptedOutcome = iota
	acceptedYielded
	acceptedLost
	acceptedRestored
	acceptedSwept
	acceptedUnsettled
)

// accepted records the outcome of a read-back.
func (s *Stats) accepted(o acceptedOutcome) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch o {
	case acceptedWon:
		s.acc.Accepted++
		s.acc.Won++
	case acceptedYielded:
		s.acc.Accepted++
		s.acc.Yielded++
	case acceptedLost:
		s.acc.Accepted++
		s.acc.Lost++
	case acceptedRestored:
		s.acc.Restored++
	case acceptedSwept:
		s.acc.Accepted++
		s.acc.Swept++
	case acceptedUnsettled:
		s.acc.Accepted++
		s.acc.Unsettled++
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
		Rev       string     `json:"_rev"`
		Conflicts []string   `json:"_conflicts"`
		Revisions revHistory `json:"_revisions"`
	}
	_, err := s.db.c.doJSON(ctx, r, &cur)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%q: reading back a write answered 202 Accepted: %w", a.id, err)
	}
	gen, hash, ok := splitRev(rev)
	if !ok {
		return "", fmt.Errorf("%q: a write answered 202 Accepted with revision %q", a.id, bounded(rev, 80))
	}
	lost := fmt.Errorf("%q: revision %s: %w: %w", a.id, rev, ErrNotWinner,
		&Error{StatusCode: http.StatusConflict, Name: "conflict", Reason: "write answered 202 Accepted is not the winning revision"})
	if err == nil {
		i := cur.Revisions.Start - gen
		inWinner := i >= 0 && i < len(cur.Revisions.IDs) && cur.Revisions.IDs[i] == hash
		switch {
		case inWinner && (i > 0 || !rivalOf(gen, cur.Conflicts)):
			s.stats.accepted(acceptedWon)
			return rev, nil
		case inWinner:
			if r, ok, err := s.settledBySweep(ctx, a, rev); ok {
				return r, err
			}
			// Ours won, beside other live leaves: yield.
			s.stats.accepted(acceptedYielded)
			if err := s.deleteLeaf(ctx, a, gen, hash); err != nil {
				return "", fmt.Errorf("%q: write answered 202 Accepted won over %d other leaves, and deleting it failed: %w", a.id, len(cur.Conflicts), err)
			}
			s.logger.LogAttrs(ctx, slog.LevelInfo, "write answered 202 Accepted won over other leaves: its leaf deleted, handled as a conflict",
				slog.String("id", a.id), slog.String("rev", rev), slog.Int("leaves", len(cur.Conflicts)))
			return s.restoreIfDeleted(ctx, a, lost)
		}
	}
	if r, ok, err := s.settledBySweep(ctx, a, rev); ok {
		return r, err
	}
	s.stats.accepted(acceptedLost)
	if err := s.deleteLeaf(ctx, a, gen, hash); err != nil {
		return "", fmt.Errorf("%q: write answered 202 Accepted lost to another revision, and deleting its leaf %s failed: %w", a.id, rev, err)
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "write answered 202 Accepted is not the winner: its leaf deleted, handled as a conflict",
		slog.String("id", a.id), slog.String("rev", rev), slog.String("winner", bounded(cur.Rev, 80)))
	return "", lost
}

// sweepWaits are the pauses between the store's sweeps of a document
// whose write answered 202 Accepted has not reached the winner yet: the
// write is on fewer copies than the quorum, and the cluster's internal
// replication brings it to the others in milliseconds.
var sweepWaits = []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}

// ErrUnsettled is matched by the error of a write answered 202 Accepted
// that is neither the winner nor merged into it by the store's sweeper
// within a few seconds. The write is stored, as a leaf the sweepers will
// merge: do not repeat it, its outcome is unknown to the caller (it also
// matches [ErrAmbiguous]).
var ErrUnsettled = errors.New("write answered 202 Accepted is not settled yet")

// settledBySweep settles document a.id with the store's sweeper, if it
// has one, until the winning revision holds revision rev (by descent, or
// by a merge that absorbed it), and returns the winner's revision: the
// write is acknowledged. ok is false without a sweeper; with one, an
// error says why the write could not be acknowledged, and the write's
// leaf is left for the sweepers, so that the store and a sweep never
// both take over its change.
func (s *Store[T]) settledBySweep(ctx context.Context, a attempt, rev string) (winner string, ok bool, err error) {
	if s.sweeper == nil {
		return "", false, nil
	}
	var last error
	for _, wait := range sweepWaits {
		if err := sleep(ctx, wait); err != nil {
			s.stats.accepted(acceptedUnsettled)
			return "", true, fmt.Errorf("%q: revision %s answered 202 Accepted: %w: %w: %w", a.id, rev, ErrUnsettled, ErrAmbiguous, err)
		}
		if _, err := s.sweeper.Settle(ctx, a.id); err != nil {
			// Still in conflict, or an error: the winner may hold our
			// revision all the same (another sweeper merged it).
			last = err
		}
		t, err := s.sweeper.readTree(ctx, a.id)
		if err != nil {
			last = err
			continue
		}
		if t.content(t.winner.rev)[rev] {
			s.stats.accepted(acceptedSwept)
			s.logger.LogAttrs(ctx, slog.LevelInfo, "write answered 202 Accepted was not the winner: the sweep merged it into the winner",
				slog.String("id", a.id), slog.String("rev", rev), slog.String("winner", bounded(t.winner.rev, 80)))
			return t.winner.rev, true, nil
		}
	}
	s.stats.accepted(acceptedUnsettled)
	why := "the winner does not hold it yet"
	if last != nil {
		why = last.Error()
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn, "a write answered 202 Accepted is not settled: its leaf is left to the sweepers",
		slog.String("id", a.id), slog.String("rev", rev), slog.String("why", why))
	return "", true, fmt.Errorf("%q: revision %s answered 202 Accepted: %w: %w (%s)", a.id, rev, ErrUnsettled, ErrAmbiguous, why)
}

// rivalOf says whether one of the leaves is of generation gen or later: a
// concurrent write our revision must yield to. An older leaf is a branch
// left behind, not a rival: yielding to it would have every later write
// yield in turn.
func rivalOf(gen int, leaves []string) bool {
	for _, l := range leaves {
		if g, _, ok := splitRev(l); ok && g >= gen {
			return true
		}
	}
	return false
}

// restoreIfDeleted checks, after our winning leaf yielded, that the
// document still has a live revision. If every leaf was deleted (each
// writer of a 202 deleting its own at once), it writes our change again
// over the deletion and returns its revision; else it returns lost.
func (s *Store[T]) restoreIfDeleted(ctx context.Context, a attempt, lost error) (string, error) {
	var cur json.RawMessage
	err := s.db.Get(ctx, a.id, &cur)
	if !errors.Is(err, ErrNotFound) {
		return "", lost // still there (or unknown: the loop's next read will say)
	}
	body, err := setMeta(a.mine, a.id, "")
	if err != nil {
		return "", fmt.Errorf("%q: %w", a.id, err)
	}
	rev, err := s.db.Put(ctx, a.id, body)
	if err != nil {
		return "", fmt.Errorf("%q: every leaf was deleted after a write answered 202 Accepted, and writing it back failed: %w", a.id, err)
	}
	s.stats.accepted(acceptedRestored)
	s.logger.LogAttrs(ctx, slog.LevelWarn, "every leaf was deleted after a write answered 202 Accepted: the change written back",
		slog.String("id", a.id), slog.String("rev", rev))
	return rev, nil
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
