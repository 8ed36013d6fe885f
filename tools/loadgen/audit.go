package main

import (
	"fmt"
	"slices"
)

// The lost-update audit.
//
// For every fruit it touched, loadgen counts the tastings the service
// acknowledged (answered 200); the ones it refused with a definite answer
// (a 4xx such as 409 or 404, or a 503 "resolver_failed": a resolver that
// fails fails the write closed), which took no effect; and the
// indeterminate ones, whose effect it cannot know: no answer (a timeout,
// a transport error) or any other 5xx, which may come after the database
// took the write. After the workers have stopped it reads every
// fruit back, and the stored counter must lie in
//
//	[base + acknowledged, base + acknowledged + indeterminate]
//
// where base is the counter the fruit was created with. Below that range
// an acknowledged tasting was lost; above it a refused tasting was
// written anyway (a phantom). Both fail the audit, and so does a fruit
// that vanished though nobody deleted it.
//
// Only the spare fruit (created by -percent-post) are ever deleted. One
// whose DELETE was answered 200 must be gone: if it is still there, the
// acknowledged delete did not happen, and the audit fails ("undeleted");
// its tastings are not audited. One whose DELETE got no definite answer
// is audited only if it is still there.
//
// With -audit-couch the fruit are read from the database, every leaf of
// them (leaves.go): the stored counter is still the winner's, and a
// tasting parked in a losing leaf is lost.

// fruitRecord is loadgen's ledger of one fruit.
type fruitRecord struct {
	ID            string `json:"fruit_id"`
	Spare         bool   `json:"spare,omitempty"` // created by a post during the mix, so deletable
	Base          int64  `json:"base"`            // tastings when created
	Acknowledged  int64  `json:"acknowledged"`
	Indeterminate int64  `json:"indeterminate"`
	Refused       int64  `json:"refused"`
	// Deleted: a DELETE of it was answered 200.
	Deleted bool `json:"deleted,omitempty"`
	// DeleteUnknown: a DELETE of it got no definite answer.
	DeleteUnknown bool `json:"delete_unknown,omitempty"`
}

// readBack is a fruit as read at the end: found with its counter, not
// found (404), or not read at all (Err).
type readBack struct {
	Found    bool
	Tastings int64
	Err      string
	// Leaves counts the document's live losing leaves, and Parked the
	// most tastings beyond the winner's that one of them holds; both are
	// known only when every leaf was read (-audit-couch).
	Leaves int
	Parked int64
}

// The verdicts of one fruit.
const (
	verdictClean        = "clean"
	verdictLost         = "lost"         // stored < base + acknowledged
	verdictPhantom      = "phantom"      // stored > base + acknowledged + indeterminate
	verdictMissing      = "missing"      // 404, yet never deleted
	verdictDeleted      = "deleted"      // deleted by loadgen, and gone: not audited
	verdictUndeleted    = "undeleted"    // its DELETE was answered 200, yet it is still there
	verdictUnverifiable = "unverifiable" // a DELETE without a definite answer, and now gone
	verdictUnread       = "unread"       // the read back failed
)

// fruitVerdict is the audit of one fruit.
type fruitVerdict struct {
	fruitRecord
	Stored *int64 `json:"stored,omitempty"`
	// Leaves and Parked: see readBack.
	Leaves  int    `json:"losing_leaves,omitempty"`
	Parked  int64  `json:"parked,omitempty"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
}

// auditResult is the audit of a run.
type auditResult struct {
	Pass          bool   `json:"pass"`
	Verdict       string `json:"verdict"`
	Audited       int    `json:"audited"` // fruit read back and compared
	Clean         int    `json:"clean"`
	Lost          int    `json:"lost"`         // fruit with lost updates
	LostUpdates   int64  `json:"lost_updates"` // tastings lost over all of them
	Phantom       int    `json:"phantom"`
	Missing       int    `json:"missing"`
	Undeleted     int    `json:"undeleted"` // acknowledged deletes that did not happen
	Deleted       int    `json:"deleted"`
	Unverifiable  int    `json:"unverifiable"`
	Unread        int    `json:"unread"`
	Acknowledged  int64  `json:"acknowledged"` // over the audited fruit
	Indeterminate int64  `json:"indeterminate"`
	Stored        int64  `json:"stored"` // tastings added over the audited fruit, as read back
	// WithLeaves counts the audited fruit that have live losing leaves,
	// and Parked the tastings beyond their winners' that those leaves
	// hold, counted as lost (-audit-couch only).
	WithLeaves int   `json:"with_losing_leaves,omitempty"`
	Parked     int64 `json:"parked,omitempty"`
	// Problems lists the fruit that failed or could not be read, by id.
	Problems []fruitVerdict `json:"problems,omitempty"`
	// Fruit lists every fruit's verdict, by id (JSON output only).
	Fruit []fruitVerdict `json:"fruit"`
}

// audit compares each record with its fruit as read back.
func audit(records []fruitRecord, stored map[string]readBack) auditResult {
	var res auditResult
	for _, r := range records {
		v := judge(r, stored[r.ID])
		res.Fruit = append(res.Fruit, v)
		switch v.Verdict {
		case verdictDeleted:
			res.Deleted++
			continue
		case verdictUnverifiable:
			res.Unverifiable++
			continue
		case verdictUnread:
			res.Unread++
			res.Problems = append(res.Problems, v)
			continue
		case verdictMissing:
			res.Missing++
			res.Problems = append(res.Problems, v)
			continue
		case verdictUndeleted:
			res.Undeleted++
			res.Problems = append(res.Problems, v)
			continue
		}
		res.Audited++
		res.Acknowledged += r.Acknowledged
		res.Indeterminate += r.Indeterminate
		res.Stored += *v.Stored - r.Base
		if v.Leaves > 0 {
			res.WithLeaves++
			res.Parked += v.Parked
		}
		switch v.Verdict {
		case verdictClean:
			res.Clean++
		case verdictLost:
			res.Lost++
			res.LostUpdates += r.Base + r.Acknowledged - *v.Stored
			res.Problems = append(res.Problems, v)
		case verdictPhantom:
			res.Phantom++
			res.Problems = append(res.Problems, v)
		}
	}
	byID := func(a, b fruitVerdict) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	}
	slices.SortFunc(res.Fruit, byID)
	slices.SortFunc(res.Problems, byID)
	res.Pass = res.Lost == 0 && res.Phantom == 0 && res.Missing == 0 && res.Undeleted == 0 && res.Unread == 0
	switch {
	case res.Lost+res.Phantom+res.Missing+res.Undeleted > 0:
		res.Verdict = "FAIL"
	case res.Unread > 0:
		res.Verdict = "INCOMPLETE"
	default:
		res.Verdict = "PASS"
	}
	return res
}

// judge audits one fruit.
func judge(r fruitRecord, rb readBack) fruitVerdict {
	v := fruitVerdict{fruitRecord: r}
	if rb.Err != "" {
		v.Verdict, v.Detail = verdictUnread, rb.Err
		return v
	}
	if r.Deleted {
		if rb.Found {
			v.Verdict = verdictUndeleted
			v.Detail = "a DELETE of it was answered 200, yet it is still there"
			return v
		}
		v.Verdict = verdictDeleted
		return v
	}
	if !rb.Found {
		if r.DeleteUnknown {
			v.Verdict = verdictUnverifiable
			v.Detail = "gone after a DELETE that got no definite answer"
			return v
		}
		v.Verdict = verdictMissing
		v.Detail = fmt.Sprintf("not found, yet never deleted (%d tastings acknowledged)", r.Acknowledged)
		return v
	}
	stored := rb.Tastings
	v.Stored = &stored
	v.Leaves, v.Parked = rb.Leaves, rb.Parked
	lo, hi := r.Base+r.Acknowledged, r.Base+r.Acknowledged+r.Indeterminate
	switch {
	case stored < lo:
		v.Verdict = verdictLost
		v.Detail = fmt.Sprintf("stored %d, want at least %d: %d acknowledged tastings lost", stored, lo, lo-stored)
	case stored > hi:
		v.Verdict = verdictPhantom
		v.Detail = fmt.Sprintf("stored %d, want at most %d: %d tastings written that were refused or never sent", stored, hi, stored-hi)
	default:
		v.Verdict = verdictClean
	}
	if rb.Leaves > 0 {
		if v.Detail != "" {
			v.Detail += "; "
		}
		v.Detail += fmt.Sprintf("%d live losing leaves", rb.Leaves)
		if rb.Parked > 0 {
			v.Detail += fmt.Sprintf(", one holding %d tastings beyond the winner's (parked in a losing leaf: not stored)", rb.Parked)
		}
	}
	return v
}
