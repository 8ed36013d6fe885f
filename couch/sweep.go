package couch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accord-db/accord/resolve"
)

// AbsorbedField is the field of a tombstone the [Sweeper] writes on a
// losing leaf it settled: the revision that took over the leaf's content
// (a merge of it, or the winner that was preferred to it). A later sweep
// reads it to find the right common ancestor when a child of the settled
// leaf turns up, so that the leaf's changes are neither lost nor counted
// twice.
const AbsorbedField = "accord_absorbed_into"

// AbsorbsField is the field of a merge the [Sweeper] writes: the losing
// leaves it settled, the other end of their tombstones' [AbsorbedField].
// Replication copies a document's leaves in no set order, and a server
// may hold the merge before its tombstones (pouchdb-server writes them
// one by one): the merge itself must say what it holds, or a sweep there
// counts the leaves' changes twice. The sweeper strips it from what the
// resolver sees. A [Store] writing over a revision keeps that revision's
// claim (the new one holds that content too, and replication may bring
// it without its parent's body), and never takes one from new content.
const AbsorbsField = "accord_absorbs"

// maxBranchReads bounds the inner revisions of a document's branches a
// sweep reads to learn what merges among them absorbed.
const maxBranchReads = 32

// The bounds of a sweep.
const (
	// MaxSweepLeaves is how many live leaves a document may have for
	// the sweeper to settle it; one with more is reported, not touched.
	MaxSweepLeaves = 128
	// MaxSweepDeletedLeaves is how many deleted leaves it may have. Every
	// settled conflict leaves one (the tombstone of the losing leaf), so a
	// document written hard on a cluster gathers hundreds: 48 concurrent
	// tastings through two coordinators made up to 230. The whole
	// answer is bounded by [Config.MaxResponseBytes] too.
	MaxSweepDeletedLeaves = 8192
	// DefaultSweepRounds is how many times [Sweeper.Settle] settles a
	// document that is still in conflict after its write (a new write or
	// another sweeper raced it) before it leaves it to the next sweep.
	DefaultSweepRounds = 5
)

// ErrTooManyLeaves is matched by the error of a sweep of a document with
// more than [MaxSweepLeaves] live or [MaxSweepDeletedLeaves] deleted
// leaves.
var ErrTooManyLeaves = errors.New("document has too many leaves to settle")

// ErrAttachments is matched by the error of a sweep of a conflicted
// document with attachments, which the sweeper does not settle: it would
// have to copy them into the merged revision.
var ErrAttachments = errors.New("conflicted document has attachments")

// SweepConfig configures a [Sweeper].
type SweepConfig struct {
	// Resolver decides each replication conflict (Conflict.Kind is
	// [resolve.KindReplication]). Required.
	Resolver resolve.Resolver
	// Logger receives a line per settled document; nil means
	// slog.Default().
	Logger *slog.Logger
	// Rounds is [DefaultSweepRounds] when zero.
	Rounds int
	// Sealer, if set, is the stores' (see [Sealer]): every leaf and
	// ancestor the sweeper reads is opened (verified, decrypted) before
	// the resolver sees it, and the merge it writes is sealed (signed,
	// encrypted) by the host. A leaf the Sealer refuses stops the
	// document's sweep with a [*RefusedError], nothing written, and
	// raises the alarm as a store does. With encryption the merge's
	// revision id differs from one sweeper to another (a fresh nonce), so
	// two sweepers of replicating servers no longer write the same
	// revision; signing alone keeps them alike.
	Sealer Sealer
	// Stats, if set, counts the documents the Sealer refused
	// ([Stats.Refused]).
	Stats *Stats
	// Peers are the other replicas of the database (multi-master): an
	// ancestor whose body this server lacks is read from them, in order.
	// Replication copies leaves only, so after criss-cross merges the
	// bodies a base needs can be on different servers; without peers
	// such a conflict is left (base_missing). A peer that fails is
	// skipped.
	Peers []*DB
}

// Sweeper settles replication conflicts: documents that concurrent edits
// on two replicas (or on a cluster's nodes) left with _conflicts. For each
// such document it reads every leaf with its history, asks the resolver
// about each losing leaf in turn, and writes the outcome in one
// _bulk_docs: the merged document as a child of the winner, and a
// tombstone on each losing leaf it settled.
//
// # How a sweep loses nothing
//
// The resolver is asked once per losing leaf, in revision order: mine is
// the losing leaf, theirs the winner with the leaves before it folded in,
// and base the two's common ancestor (base_missing when compaction has
// removed its body). A merge decision becomes the new theirs; accept keeps
// theirs and settles the leaf without its changes; retry and fail leave
// the leaf for a later sweep.
//
// The outcome is written with new_edits=false and revision ids computed
// from the content, so that two sweepers that settle the same conflict on
// two replicating servers write the same revisions and converge instead
// of making a new conflict, and so that a write that races the sweep
// (a new revision on the winner) does not make it fail: the sweep's merge
// becomes a sibling of the new revision, a conflict the next round
// settles from their common ancestor, the old winner. Each tombstone
// names the revision that absorbed its leaf ([AbsorbedField]); the common
// ancestor of a later conflict accounts for it, so a leaf's changes are
// counted once.
//
// Each merge also names the leaves it absorbed ([AbsorbsField]), since
// replication may bring a merge before its tombstones, and a sweep reads
// the inner revisions of each branch to find such merges under later
// writes.
//
// A document a sweep leaves in conflict (the resolver left a leaf, or an
// error) is tried again by every later sweep until it is settled: the
// changes feed would show it again only when it changes. On a cluster,
// the sweeper reads leaves and ancestors from every copy (r=n): a copy
// that missed writes gets leaves, not the ancestors' bodies, from the
// cluster's internal replication.
//
// A Sweeper is safe for concurrent use.
type Sweeper struct {
	db      *DB
	r       resolve.Resolver
	name    string
	logger  *slog.Logger
	rounds  int
	sealer  Sealer
	refused *Stats // counts the Sealer's refusals (sweep_seal.go)
	peers   []*DB

	quorum readQuorum // r=n on a cluster: every copy's leaves and bodies

	mu    sync.Mutex
	since Seq
	stats SweepStats
	// pending holds the documents a sweep left in conflict (a leaf the
	// resolver left, or an error): the changes feed shows a document
	// again only when it changes, so each sweep tries these again first.
	pending map[string]bool
	// settling holds the documents a Settle is settling now.
	settling map[string]*settleCall
}

// MaxSweepPending bounds how many unsettled documents a [Sweeper]
// remembers to try again; beyond it, a document is tried again only when
// it changes.
const MaxSweepPending = 10000

// SweepStats counts what a [Sweeper] did since it was made.
type SweepStats struct {
	// Sweeps counts calls of Sweep.
	Sweeps int64 `json:"sweeps"`
	// Checked counts the documents with several leaves sweeps read.
	Checked int64 `json:"checked"`
	// Settled counts documents left without _conflicts by a sweep.
	Settled int64 `json:"settled"`
	// Merged, Accepted and Left count losing leaves the resolver merged,
	// accepted away, or left for later (retry or fail).
	Merged   int64 `json:"merged"`
	Accepted int64 `json:"accepted"`
	Left     int64 `json:"left"`
	// Absorbed counts losing leaves the winner already held (a merge
	// named them, and their tombstones had not arrived): settled without
	// asking the resolver, so that their changes count once.
	Absorbed int64 `json:"absorbed"`
	// Failed counts documents a sweep could not settle (an error).
	Failed int64 `json:"failed"`
	// Pending is how many documents left in conflict the next sweep
	// tries again (at most [MaxSweepPending]).
	Pending int64 `json:"pending"`
}

// NewSweeper returns a Sweeper of db's replication conflicts.
func NewSweeper(db *DB, cfg SweepConfig) (*Sweeper, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("couch: sweeper: no resolver")
	}
	s := &Sweeper{db: db, r: cfg.Resolver, logger: cfg.Logger, rounds: cfg.Rounds, name: "resolver", sealer: cfg.Sealer, refused: cfg.Stats, pending: map[string]bool{}, settling: map[string]*settleCall{}, peers: cfg.Peers}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.rounds <= 0 {
		s.rounds = DefaultSweepRounds
	}
	if d, ok := cfg.Resolver.(resolve.Describer); ok {
		s.name = d.Describe().Name
	}
	return s, nil
}

// Stats returns what the sweeper did so far.
func (s *Sweeper) Stats() SweepStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = int64(len(s.pending))
	return st
}

// SweepReport is what one [Sweeper.Sweep] did.
type SweepReport struct {
	// Checked counts the documents with more than one leaf it read.
	Checked int
	// Settled lists the documents it left without _conflicts.
	Settled []string
	// Unsettled lists the documents still in conflict after it: a leaf
	// the resolver left, or an error (see Errs).
	Unsettled []string
	// Errs holds the errors met, at most one per document.
	Errs []error
	// LastSeq is where the next sweep starts.
	LastSeq Seq
}

// Sweep settles the documents changed since the last sweep (all of them,
// the first time) that have conflicts, after trying again those earlier
// sweeps left in conflict. It returns the first error that stopped it
// reading the changes feed; errors of single documents are in the
// report.
func (s *Sweeper) Sweep(ctx context.Context) (SweepReport, error) {
	s.mu.Lock()
	since := s.since
	s.stats.Sweeps++
	again := slices.Sorted(maps.Keys(s.pending))
	s.mu.Unlock()
	var rep SweepReport
	done := make(map[string]bool, len(again))
	settle := func(id string) {
		done[id] = true
		rep.Checked++
		settled, err := s.Settle(ctx, id)
		switch {
		case err != nil:
			rep.Unsettled = append(rep.Unsettled, id)
			rep.Errs = append(rep.Errs, err)
		case settled.Left > 0:
			rep.Unsettled = append(rep.Unsettled, id)
		case settled.Rounds > 0:
			rep.Settled = append(rep.Settled, id)
		}
		s.remember(ctx, id, err != nil || settled.Left > 0)
	}
	for _, id := range again {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("couch: sweep: %w", ctx.Err())
		}
		settle(id)
	}
	for {
		ch, err := s.db.Changes(ctx, ChangesQuery{Since: since, AllLeaves: true, Limit: 500})
		if err != nil {
			return rep, fmt.Errorf("couch: sweep: %w", err)
		}
		for _, c := range ch.Results {
			if len(c.Changes) < 2 || done[c.ID] {
				continue
			}
			settle(c.ID)
		}
		since = ch.LastSeq
		if len(ch.Results) < 500 {
			break
		}
	}
	rep.LastSeq = since
	s.mu.Lock()
	s.since = since
	s.stats.Checked += int64(rep.Checked)
	s.mu.Unlock()
	return rep, nil
}

// remember keeps id for the next sweep to try again if it is unsettled,
// and forgets it otherwise.
func (s *Sweeper) remember(ctx context.Context, id string, unsettled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !unsettled:
		delete(s.pending, id)
	case s.pending[id]:
	case len(s.pending) >= MaxSweepPending:
		s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: too many unsettled documents to remember; this one is tried again when it changes",
			slog.String("db", s.db.name), slog.String("id", resolve.Clip(id)), slog.Int("remembered", len(s.pending)))
	default:
		s.pending[id] = true
	}
}

// Run sweeps until ctx ends: at once, then whenever the changes feed
// shows a change, and at least every interval. Errors are logged and the
// next sweep tries again. It returns ctx's error.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		rep, err := s.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep failed", slog.String("db", s.db.name), slog.String("error", err.Error()))
		}
		for i, e := range rep.Errs {
			if i == 8 {
				s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: more documents failed", slog.Int("failed", len(rep.Errs)))
				break
			}
			s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: a document was not settled", slog.String("db", s.db.name), slog.String("error", resolve.Clip(e.Error())))
		}
		if len(rep.Settled)+len(rep.Unsettled) > 0 {
			s.logger.LogAttrs(ctx, slog.LevelInfo, "sweep", slog.String("db", s.db.name),
				slog.Int("settled", len(rep.Settled)), slog.Int("unsettled", len(rep.Unsettled)))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Wait for the next change, or the interval.
		wait, cancel := context.WithTimeout(ctx, interval)
		_, err = s.db.Changes(wait, ChangesQuery{Feed: FeedLongPoll, Since: rep.LastSeq, Limit: 1, Timeout: interval})
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			// The feed failed (the server is down, say): do not spin.
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Settled is what [Sweeper.Settle] did to one document.
type Settled struct {
	// Rev is the document's winning revision afterwards.
	Rev string
	// Rounds counts the writes it made; 0 when there was nothing to do.
	Rounds int
	// Merged, Accepted and Left count losing leaves, as in
	// [SweepStats].
	Merged, Accepted, Left int
}

// Settle settles the replication conflicts of document id, if it has
// any. It writes nothing when the resolver fails (the error matches
// [ErrResolver]) or decides to leave every losing leaf.
//
// A call while another is settling the same document waits for that
// one and returns its outcome: concurrent sweeps of one document, each
// merging what it saw, would make merges of merges (a criss-cross) for
// the next sweep to unpick. Stores whose writes a cluster answered 202
// Accepted call Settle, many at once under contention.
func (s *Sweeper) Settle(ctx context.Context, id string) (Settled, error) {
	s.mu.Lock()
	if c, ok := s.settling[id]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.out, c.err
		case <-ctx.Done():
			return Settled{}, fmt.Errorf("couch: sweep %q: %w", id, ctx.Err())
		}
	}
	c := &settleCall{done: make(chan struct{})}
	s.settling[id] = c
	s.mu.Unlock()
	c.out, c.err = s.settle(ctx, id)
	s.mu.Lock()
	delete(s.settling, id)
	s.mu.Unlock()
	close(c.done)
	return c.out, c.err
}

// settleCall is a [Sweeper.Settle] under way, for others to wait on.
type settleCall struct {
	done chan struct{}
	out  Settled
	err  error
}

func (s *Sweeper) settle(ctx context.Context, id string) (Settled, error) {
	var out Settled
	for round := 1; ; round++ {
		t, err := s.readTree(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return out, nil
		}
		if err != nil {
			s.failed()
			return out, err
		}
		out.Rev = t.winner.rev
		losers := t.losers()
		if len(losers) == 0 {
			if out.Rounds > 0 {
				s.mu.Lock()
				s.stats.Settled++
				s.mu.Unlock()
			}
			return out, nil
		}
		if round > s.rounds {
			s.failed()
			return out, fmt.Errorf("couch: sweep %q: still %d conflicting leaves after %d rounds", id, len(losers), s.rounds)
		}
		plan, err := s.plan(ctx, t, losers, round)
		if err != nil {
			s.failed()
			return out, err
		}
		out.Merged += plan.merged
		out.Accepted += plan.accepted
		s.count(plan)
		if len(plan.docs) == 0 {
			out.Left = plan.left
			return out, nil
		}
		if err := s.write(ctx, id, plan.docs); err != nil {
			s.failed()
			return out, err
		}
		out.Rounds++
		out.Rev = plan.rev
		s.logger.LogAttrs(ctx, slog.LevelInfo, "replication conflict settled",
			slog.String("db", s.db.name), slog.String("id", resolve.Clip(id)), slog.String("rev", resolve.Clip(plan.rev)),
			slog.Int("merged", plan.merged), slog.Int("accepted", plan.accepted),
			slog.Int("left", plan.left), slog.Int("round", round))
		if plan.left > 0 {
			out.Left = plan.left
			return out, nil
		}
	}
}

func (s *Sweeper) failed() {
	s.mu.Lock()
	s.stats.Failed++
	s.mu.Unlock()
}

func (s *Sweeper) count(p sweepPlan) {
	s.mu.Lock()
	s.stats.Merged += int64(p.merged)
	s.stats.Accepted += int64(p.accepted)
	s.stats.Left += int64(p.left)
	s.stats.Absorbed += int64(p.absorbed)
	s.mu.Unlock()
}

// sweepLeaf is one leaf of a document's revision tree.
type sweepLeaf struct {
	rev      string
	deleted  bool
	history  []string // rev ids from the leaf down: history[0] == rev
	body     json.RawMessage
	absorbed string // AbsorbedField of a tombstone
}

// sweepTree is what the sweeper knows of a document: its leaves, the
// winner among them, and which revisions each revision holds the content
// of.
type sweepTree struct {
	id     string
	winner *sweepLeaf
	leaves []*sweepLeaf
	// holds maps a revision to the revisions whose content it holds
	// directly: its parent, and the leaves tombstones say it absorbed.
	holds map[string][]string
	// bodies caches the bodies of inner revisions read (nil: compacted).
	bodies map[string]json.RawMessage
	// baseMerges counts the resolver calls that merged common ancestors.
	baseMerges int
	// bases remembers the base made for each set of common ancestors
	// (see [Sweeper.mergeBase]), under the holds known when it was made
	// (version): criss-cross histories need the same virtual ancestor
	// many times, and making it again each time costs resolver calls
	// exponential in the depth of the nesting.
	bases   map[string]madeBase
	version int
}

// madeBase is a base [Sweeper.mergeBase] made.
type madeBase struct {
	version int
	body    json.RawMessage
	missing bool
}

// losers returns the live leaves other than the winner, in revision
// order, so that every sweeper folds them alike.
func (t *sweepTree) losers() []*sweepLeaf {
	var out []*sweepLeaf
	for _, l := range t.leaves {
		if !l.deleted && l != t.winner {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b *sweepLeaf) int { return compareRevs(a.rev, b.rev) })
	return out
}

// readTree reads every leaf of id with its history (open_revs=all,
// revs=true) and picks the winner as CouchDB does: a live leaf before a
// deleted one, then the longest history, then the greatest revision id.
func (s *Sweeper) readTree(ctx context.Context, id string) (*sweepTree, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("couch: sweep: %w", err)
	}
	r := s.db.req(http.MethodGet, id)
	r.query = s.readAll(ctx, url.Values{"open_revs": {"all"}, "revs": {"true"}})
	var answer []struct {
		OK json.RawMessage `json:"ok"`
	}
	if _, err := s.db.c.doJSON(ctx, r, &answer); err != nil {
		return nil, fmt.Errorf("couch: sweep %q: read leaves: %w", id, err)
	}
	if len(answer) > MaxSweepLeaves+MaxSweepDeletedLeaves {
		return nil, fmt.Errorf("couch: sweep %q: %d leaves, at most %d: %w", id, len(answer), MaxSweepLeaves+MaxSweepDeletedLeaves, ErrTooManyLeaves)
	}
	t := &sweepTree{id: id, holds: map[string][]string{}, bodies: map[string]json.RawMessage{}}
	for _, a := range answer {
		if a.OK == nil {
			continue
		}
		l, err := parseLeaf(a.OK)
		if err != nil {
			return nil, fmt.Errorf("couch: sweep %q: %w", id, err)
		}
		if !l.deleted {
			s.db.c.revs.put(s.db.name, id, l.rev, l.body)
			if l.body, err = s.open(ctx, id, l.body); err != nil {
				return nil, fmt.Errorf("couch: sweep %q: leaf %s: %w", id, resolve.Clip(l.rev), err)
			}
			var absorbs []string
			l.body, absorbs = takeAbsorbs(l.body)
			for _, a := range absorbs {
				t.addHold(l.rev, a)
			}
		}
		t.leaves = append(t.leaves, l)
		for i := 0; i+1 < len(l.history); i++ {
			t.addHold(l.history[i], l.history[i+1])
		}
		if l.deleted && l.absorbed != "" && len(l.history) > 1 {
			t.addHold(l.absorbed, l.history[1])
		}
		if t.winner == nil || beats(l, t.winner) {
			t.winner = l
		}
	}
	if t.winner == nil || t.winner.deleted {
		return nil, fmt.Errorf("couch: sweep %q: %w", id, ErrNotFound)
	}
	live := 0
	for _, l := range t.leaves {
		if !l.deleted {
			live++
		}
	}
	if live > MaxSweepLeaves || len(t.leaves)-live > MaxSweepDeletedLeaves {
		return nil, fmt.Errorf("couch: sweep %q: %d live and %d deleted leaves, at most %d and %d: %w", id, live, len(t.leaves)-live, MaxSweepLeaves, MaxSweepDeletedLeaves, ErrTooManyLeaves)
	}
	if len(t.losers()) > 0 {
		if err := s.readBranches(ctx, t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readBranches reads the bodies of the inner revisions of every live
// branch, from its leaf down to the history all live leaves share, to
// learn what the merges among them absorbed ([AbsorbsField]): a merge
// that replication brought without its tombstones, under a later write.
// It reads at most maxBranchReads bodies.
func (s *Sweeper) readBranches(ctx context.Context, t *sweepTree) error {
	var shared map[string]bool
	for _, l := range t.leaves {
		if l.deleted {
			continue
		}
		if shared == nil {
			shared = map[string]bool{}
			for _, r := range l.history {
				shared[r] = true
			}
			continue
		}
		in := map[string]bool{}
		for _, r := range l.history {
			if shared[r] {
				in[r] = true
			}
		}
		shared = in
	}
	reads := 0
	for _, l := range t.leaves {
		if l.deleted {
			continue
		}
		for _, r := range l.history[1:] {
			if shared[r] {
				break
			}
			if _, ok := t.bodies[r]; ok {
				continue
			}
			if reads == maxBranchReads {
				return nil
			}
			reads++
			if _, err := s.body(ctx, t, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// takeAbsorbs removes [AbsorbsField] from body and returns the revisions
// it names (at most [MaxSweepLeaves]; none when it is malformed).
func takeAbsorbs(body json.RawMessage) (json.RawMessage, []string) {
	if !bytes.Contains(body, []byte(AbsorbsField)) {
		return body, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body, nil
	}
	raw, ok := m[AbsorbsField]
	if !ok {
		return body, nil
	}
	delete(m, AbsorbsField)
	stripped, err := json.Marshal(m)
	if err != nil {
		return body, nil
	}
	var revs []string
	if json.Unmarshal(raw, &revs) != nil || len(revs) > MaxSweepLeaves {
		return stripped, nil
	}
	out := revs[:0]
	for _, r := range revs {
		if _, _, ok := splitRev(r); ok {
			out = append(out, r)
		}
	}
	return stripped, out
}

// readAll makes q read every copy of a cluster's document (r=n), and
// returns it. A copy that missed writes (a 202 Accepted, a node that was
// down) gets the leaves it lacks from the cluster's internal replication,
// which copies leaves, not the ancestors' bodies: a read of the default
// quorum may see fewer leaves than there are, or no body for an ancestor
// another copy has.
func (s *Sweeper) readAll(ctx context.Context, q url.Values) url.Values {
	if n := s.quorum.get(ctx, s.db); n > 1 {
		q.Set("r", strconv.Itoa(n))
	}
	return q
}

func (t *sweepTree) addHold(rev, held string) {
	if !slices.Contains(t.holds[rev], held) {
		t.holds[rev] = append(t.holds[rev], held)
		t.version++
	}
}

// beats reports whether leaf a wins over leaf b by CouchDB's rule.
func beats(a, b *sweepLeaf) bool {
	if a.deleted != b.deleted {
		return !a.deleted
	}
	return compareRevs(a.rev, b.rev) > 0
}

// compareRevs orders revision ids by generation, then by hash.
func compareRevs(a, b string) int {
	ga, ha, _ := splitRev(a)
	gb, hb, _ := splitRev(b)
	if ga != gb {
		if ga < gb {
			return -1
		}
		return 1
	}
	return strings.Compare(ha, hb)
}

// revHistory is a document's _revisions: its revision ids from the
// newest, the newest at generation Start.
type revHistory struct {
	Start int      `json:"start"`
	IDs   []string `json:"ids"`
}

// parseLeaf decodes one leaf of an open_revs answer.
func parseLeaf(raw json.RawMessage) (*sweepLeaf, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("a leaf is not a JSON object")
	}
	var meta struct {
		Rev       string     `json:"_rev"`
		Deleted   bool       `json:"_deleted"`
		Revisions revHistory `json:"_revisions"`
		Absorbed  string     `json:"accord_absorbed_into"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("decode a leaf: %w", err)
	}
	if _, ok := m["_attachments"]; ok && !meta.Deleted {
		return nil, ErrAttachments
	}
	l := &sweepLeaf{rev: meta.Rev, deleted: meta.Deleted, absorbed: meta.Absorbed}
	for i, h := range meta.Revisions.IDs {
		l.history = append(l.history, strconv.Itoa(meta.Revisions.Start-i)+"-"+h)
	}
	if len(l.history) == 0 || l.history[0] != l.rev {
		return nil, fmt.Errorf("leaf %s: its _revisions do not start with it", resolve.Clip(meta.Rev))
	}
	for k := range m {
		if strings.HasPrefix(k, "_") && k != "_id" && k != "_rev" {
			delete(m, k)
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	l.body = body
	return l, nil
}

// content returns every revision whose content rev holds: itself, its
// ancestors, and the leaves it absorbed with theirs.
func (t *sweepTree) content(revs ...string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(revs)
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[r] {
			continue
		}
		seen[r] = true
		stack = append(stack, t.holds[r]...)
	}
	return seen
}

// maximal returns the revisions whose content both rev and the fold
// hold (held), less those another of them holds: the common ancestors
// of rev and the fold, latest first. Content is held through parents and
// through merges (a tombstone names the merge that absorbed its leaf).
// One ancestor is the usual case. After criss-cross merges (two
// sweepers on two replicas each merged what they had seen) there are
// several, and no single revision is the base: see [Sweeper.mergeBase].
//
// A held revision's generation is always below its holder's (a merge is
// written on the winner, whose history is the longest), so the
// candidates, latest first, meet each maximal one before those it holds.
func (t *sweepTree) maximal(rev string, held map[string]bool) []string {
	var cands []string
	for r := range t.content(rev) {
		if r != rev && held[r] {
			cands = append(cands, r)
		}
	}
	slices.SortFunc(cands, func(a, b string) int { return compareRevs(b, a) })
	var out []string
	covered := map[string]bool{}
	for _, c := range cands {
		if covered[c] {
			continue
		}
		out = append(out, c)
		for r := range t.content(c) {
			covered[r] = true
		}
	}
	return out
}

// maxBaseDepth bounds the recursion of [Sweeper.mergeBase], and
// maxBaseMerges the resolver calls it makes for one document's sweep.
// Two sweepers merging what each has seen, over and over (a cluster's
// two coordinators under contention), nest criss-cross merges deeply.
// Each virtual ancestor is made once per sweep (sweepTree.bases), so
// the calls grow with the number of distinct ancestor sets, not with
// the paths through them.
const (
	maxBaseDepth  = 32
	maxBaseMerges = 1024
)

// mergeBase returns the base for a three-way merge of revision rev into
// the fold whose content is held: the body of their common ancestor or,
// when there are several, their merge (made by the resolver, from their
// own common ancestors, recursively): the content every side started
// from, so that nothing counts twice. missing is true when a body it
// needs was compacted away, or the ancestors cannot be merged; no base
// and not missing means the two have no common ancestor.
func (s *Sweeper) mergeBase(ctx context.Context, t *sweepTree, held map[string]bool, rev string, depth int) (base json.RawMessage, missing bool, err error) {
	cands := t.maximal(rev, held)
	if len(cands) == 0 {
		return nil, false, nil
	}
	key := strings.Join(cands, " ")
	if m, ok := t.bases[key]; ok && m.version == t.version {
		return m.body, m.missing, nil
	}
	base, missing, err = s.makeBase(ctx, t, cands, depth)
	if err == nil {
		if t.bases == nil {
			t.bases = map[string]madeBase{}
		}
		t.bases[key] = madeBase{version: t.version, body: base, missing: missing}
	}
	return base, missing, err
}

// makeBase returns the base of [Sweeper.mergeBase] for the common
// ancestors cands, latest first.
func (s *Sweeper) makeBase(ctx context.Context, t *sweepTree, cands []string, depth int) (base json.RawMessage, missing bool, err error) {
	if depth > maxBaseDepth || t.baseMerges >= maxBaseMerges {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: the common ancestors nest too deep to merge",
			slog.String("db", s.db.name), slog.String("id", resolve.Clip(t.id)), slog.Int("depth", depth), slog.Int("merges", t.baseMerges))
		return nil, true, nil
	}
	acc, err := s.body(ctx, t, cands[0])
	if acc == nil || err != nil {
		s.goneBody(ctx, t, cands[0], err)
		return nil, err == nil, err
	}
	accHeld := t.content(cands[0])
	for _, c := range cands[1:] {
		b, miss, err := s.mergeBase(ctx, t, accHeld, c, depth+1)
		if err != nil || miss {
			return nil, miss, err
		}
		mine, err := s.body(ctx, t, c)
		if mine == nil || err != nil {
			s.goneBody(ctx, t, c, err)
			return nil, err == nil, err
		}
		t.baseMerges++
		d, err := s.ask(ctx, &resolve.Conflict{
			ABI: resolve.ABIVersion, Kind: resolve.KindReplication, Op: resolve.OpUpdate,
			DB: s.db.name, ID: t.id, Attempt: 1, Base: b, Mine: mine, Theirs: acc,
		})
		if err != nil {
			return nil, false, err
		}
		if d.Action != resolve.ActionMerge {
			// The resolver does not merge: there is no base to give it.
			return nil, true, nil
		}
		acc = d.Doc
		for r := range t.content(c) {
			accHeld[r] = true
		}
	}
	return acc, false, nil
}

// goneBody logs that the body of the common ancestor rev is gone.
func (s *Sweeper) goneBody(ctx context.Context, t *sweepTree, rev string, err error) {
	if err == nil {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: a common ancestor's body is gone",
			slog.String("db", s.db.name), slog.String("id", resolve.Clip(t.id)), slog.String("rev", resolve.Clip(rev)))
	}
}

// body returns the body of revision rev of the document, without its
// special fields but _id and _rev; nil if compaction removed it.
func (s *Sweeper) body(ctx context.Context, t *sweepTree, rev string) (json.RawMessage, error) {
	for _, l := range t.leaves {
		if l.rev == rev && !l.deleted {
			return l.body, nil
		}
	}
	if b, ok := t.bodies[rev]; ok {
		return b, nil
	}
	var doc json.RawMessage
	err := s.db.Get(ctx, t.id, &doc, WithRev(rev), func(q url.Values) { s.readAll(ctx, q) })
	for _, p := range s.peers {
		if !errors.Is(err, ErrNotFound) {
			break
		}
		err = p.Get(ctx, t.id, &doc, WithRev(rev))
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.logger.LogAttrs(ctx, slog.LevelWarn, "sweep: a peer could not be read",
				slog.String("db", p.name), slog.String("id", resolve.Clip(t.id)), slog.String("error", resolve.Clip(err.Error())))
			err = ErrNotFound
		}
	}
	if errors.Is(err, ErrNotFound) {
		// Compacted away (the server keeps the bodies of leaves only):
		// this client may have seen it.
		if doc = s.db.c.revs.get(s.db.name, t.id, rev); doc != nil {
			doc, err = setMeta(doc, t.id, rev)
		}
	} else if err == nil {
		s.db.c.revs.put(s.db.name, t.id, rev, doc)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		doc = nil
	case err != nil:
		return nil, fmt.Errorf("couch: sweep %q: read the common ancestor %s: %w", t.id, rev, err)
	default:
		if doc, err = s.open(ctx, t.id, stripSpecial(doc)); err != nil {
			return nil, fmt.Errorf("couch: sweep %q: the common ancestor %s: %w", t.id, resolve.Clip(rev), err)
		}
		var absorbs []string
		doc, absorbs = takeAbsorbs(doc)
		for _, a := range absorbs {
			t.addHold(rev, a)
		}
	}
	t.bodies[rev] = doc
	return doc, nil
}

// ask asks the resolver and validates its answer; a failure is logged
// and returned as a *ResolverError.
func (s *Sweeper) ask(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	d, err := s.r.Resolve(ctx, c)
	if err == nil {
		err = d.Validate(c)
	}
	if err != nil {
		s.logger.LogAttrs(ctx, slog.LevelError, "resolver failed, sweep wrote nothing",
			slog.String("resolver", s.name), slog.String("id", resolve.Clip(c.ID)), slog.String("error", err.Error()))
		return resolve.Decision{}, &ResolverError{Resolver: s.name, ID: c.ID, Err: err}
	}
	return d, nil
}

// sweepPlan is the outcome of asking the resolver about every losing
// leaf: the documents to write, and counts.
type sweepPlan struct {
	docs                   []any
	rev                    string // the winner after the write
	merged, accepted, left int
	absorbed               int
}

// plan asks the resolver about each losing leaf and builds the write.
func (s *Sweeper) plan(ctx context.Context, t *sweepTree, losers []*sweepLeaf, round int) (sweepPlan, error) {
	w := t.winner
	acc := w.body
	held := t.content(w.rev)
	var settled []*sweepLeaf
	var p sweepPlan
	changed := false
	for _, l := range losers {
		if held[l.rev] {
			// A merge in the fold named this leaf as absorbed, and its
			// tombstone has not arrived (replication copies a
			// document's leaves in no set order): its changes are in
			// already.
			settled = append(settled, l)
			p.absorbed++
			continue
		}
		c := &resolve.Conflict{
			ABI: resolve.ABIVersion, Kind: resolve.KindReplication, Op: resolve.OpUpdate,
			DB: s.db.name, ID: t.id, Attempt: round,
			Mine: l.body, Theirs: acc,
		}
		base, missing, err := s.mergeBase(ctx, t, held, l.rev, 0)
		if err != nil {
			return sweepPlan{}, err
		}
		c.Base, c.BaseMissing = base, missing
		if base == nil {
			why := "the leaves have no common ancestor"
			if missing {
				why = "the common ancestor's body is gone (compacted)"
			}
			s.logger.LogAttrs(ctx, slog.LevelWarn, "replication conflict without a base: "+why,
				slog.String("db", s.db.name), slog.String("id", resolve.Clip(t.id)), slog.String("leaf", resolve.Clip(l.rev)), slog.String("winner", resolve.Clip(w.rev)))
		}
		for _, o := range losers {
			if o != l {
				c.Conflicts = append(c.Conflicts, o.body)
			}
		}
		d, err := s.ask(ctx, c)
		if err != nil {
			return sweepPlan{}, err
		}
		switch d.Action {
		case resolve.ActionMerge:
			doc, err := setMeta(d.Doc, t.id, w.rev)
			if err != nil {
				return sweepPlan{}, &ResolverError{Resolver: s.name, ID: t.id, Err: fmt.Errorf("merged document: %w", err)}
			}
			acc, changed = doc, true
			p.merged++
		case resolve.ActionAccept:
			p.accepted++
		default:
			p.left++
			continue
		}
		settled = append(settled, l)
		for r := range t.content(l.rev) {
			held[r] = true
		}
	}
	if len(settled) == 0 {
		return p, nil
	}
	p.rev = w.rev
	var merged map[string]json.RawMessage
	if changed {
		acc, err := withAbsorbs(acc, settled)
		if err != nil {
			return sweepPlan{}, &ResolverError{Resolver: s.name, ID: t.id, Err: fmt.Errorf("merged document: %w", err)}
		}
		sealed, err := s.seal(t.id, acc)
		if err != nil {
			return sweepPlan{}, fmt.Errorf("couch: sweep %q: %w", t.id, err)
		}
		doc, rev, err := childOf(w, sealed)
		if err != nil {
			return sweepPlan{}, fmt.Errorf("couch: sweep %q: %w", t.id, err)
		}
		merged, p.rev = doc, rev
		if b, err := json.Marshal(doc); err == nil {
			s.db.c.revs.put(s.db.name, t.id, rev, b)
		}
	}
	// The tombstones go first. CouchDB writes the revisions of one
	// document in one _bulk_docs at once; pouchdb-server writes them one
	// by one, and a replication that reads in between must not see the
	// merge without the tombstones that say what it absorbed (the leaves
	// would then count twice). Tombstones without their merge only hide
	// the leaves' changes until the merge follows.
	for _, l := range settled {
		p.docs = append(p.docs, tombstone(t.id, l, p.rev))
	}
	if merged != nil {
		p.docs = append(p.docs, merged)
	}
	return p, nil
}

// write stores the plan's documents with new_edits=false: they carry
// their revisions, so the write cannot conflict, and a race shows up as
// a new conflict the next round settles.
func (s *Sweeper) write(ctx context.Context, id string, docs []any) error {
	res, err := s.db.BulkDocs(ctx, docs, NewEdits(false))
	if err != nil {
		return fmt.Errorf("couch: sweep %q: write: %w", id, err)
	}
	for _, r := range res {
		if err := r.Err(); err != nil {
			return fmt.Errorf("couch: sweep %q: write %s: %w", id, resolve.Clip(r.Rev), err)
		}
	}
	return nil
}

// childOf returns body as a new revision on top of leaf w, with a
// revision id computed from w's and the body's canonical JSON, so that
// every sweeper that merges alike writes the same revision.
func childOf(w *sweepLeaf, body json.RawMessage) (map[string]json.RawMessage, string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, "", errors.New("merged document is not a JSON object")
	}
	delete(m, "_rev")
	canon, err := canonicalJSON(m)
	if err != nil {
		return nil, "", err
	}
	gen, _, _ := splitRev(w.rev)
	hash := revHash("merge", w.rev, string(canon))
	rev := strconv.Itoa(gen+1) + "-" + hash
	m["_rev"], _ = json.Marshal(rev)
	m["_revisions"] = revisions(gen+1, hash, w.history)
	return m, rev, nil
}

// withAbsorbs returns the merged document doc naming the leaves it
// settled in [AbsorbsField], in revision order.
func withAbsorbs(doc json.RawMessage, settled []*sweepLeaf) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	revs := make([]string, len(settled))
	for i, l := range settled {
		revs[i] = l.rev
	}
	slices.SortFunc(revs, compareRevs)
	m[AbsorbsField], _ = json.Marshal(revs)
	return json.Marshal(m)
}

// tombstone returns the deletion of leaf l, absorbed into revision into.
func tombstone(id string, l *sweepLeaf, into string) map[string]json.RawMessage {
	gen, _, _ := splitRev(l.rev)
	hash := revHash("absorbed", l.rev, into)
	m := map[string]json.RawMessage{}
	m["_id"], _ = json.Marshal(id)
	m["_rev"], _ = json.Marshal(strconv.Itoa(gen+1) + "-" + hash)
	m["_deleted"] = json.RawMessage("true")
	m["_revisions"] = revisions(gen+1, hash, l.history)
	m[AbsorbedField], _ = json.Marshal(into)
	return m
}

// revisions is the _revisions of a new revision hash at generation gen
// on top of history.
func revisions(gen int, hash string, history []string) json.RawMessage {
	ids := []string{hash}
	for _, r := range history {
		_, h, _ := splitRev(r)
		ids = append(ids, h)
	}
	b, _ := json.Marshal(map[string]any{"start": gen, "ids": ids})
	return b
}

// revHash is a revision id's hash part: 32 hex digits of SHA-256 over
// the parts.
func revHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// canonicalJSON encodes v with sorted keys and numbers as they came.
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// stripSpecial returns doc without its special fields but _id and _rev.
func stripSpecial(doc json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc
	}
	for k := range m {
		if strings.HasPrefix(k, "_") && k != "_id" && k != "_rev" {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	return b
}
